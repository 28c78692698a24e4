package jwtauthtest

import (
	"context"
	"errors"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsfront"
)

// Gateway is API Gateway's HTTP API JWT authorizer for one route, with
// the route's Scopes: cloudsim's (awsfront.HTTPAPIAuthorizer), so a Lambda
// handler can be driven with the claims the real one would hand it.
type Gateway struct {
	Issuer    string
	Audiences []string
	Scopes    []string
	Keys      oidc.KeySet
}

// Authorize checks an Authorization header value (bare or "Bearer ") and
// returns the claims as the authorizer passes them on (every value a
// string) and the token's scopes, or the status the gateway would answer.
func (g Gateway) Authorize(ctx context.Context, authorization string) (claims map[string]string, scopes []string, status int, err error) {
	claims, scopes, refusal := awsfront.HTTPAPIAuthorizer{Issuer: g.Issuer, Audience: g.Audiences, Keys: g.Keys}.Authorize(ctx, authorization, g.Scopes)
	if refusal != nil {
		return nil, nil, refusal.Status, errors.New(refusal.WWWAuthenticate)
	}
	return claims, scopes, 200, nil
}
