package jwtauthtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
)

// Gateway stands in for an API Gateway HTTP API JWT authorizer, as
// protocols.md §7 describes it, so a Lambda handler can be driven with the
// claims the real one would hand it:
//   - RSA signatures only, from the issuer's keys;
//   - iss equal to Issuer (exact string);
//   - aud in Audiences, and client_id checked only when aud is absent;
//   - exp in the future, nbf and iat in the past;
//   - one of the route's Scopes in scope or scp, when the route has any.
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
	refuse := func(status int, format string, args ...any) (map[string]string, []string, int, error) {
		return nil, nil, status, fmt.Errorf(format, args...)
	}
	token := strings.TrimSpace(authorization)
	if scheme, rest, ok := strings.Cut(token, " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(rest)
	}
	if _, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512}); err != nil {
		return refuse(401, "not an RSA-signed JWT: %v", err)
	}
	payload, err := g.Keys.VerifySignature(ctx, token)
	if err != nil {
		return refuse(401, "signature: %v", err)
	}
	var all map[string]any
	if err := json.Unmarshal(payload, &all); err != nil {
		return refuse(401, "claims are not a JSON object")
	}
	if all["iss"] != g.Issuer {
		return refuse(401, "issuer %v is not %s", all["iss"], g.Issuer)
	}
	aud, hasAud := all["aud"]
	if !hasAud {
		aud = all["client_id"]
	}
	if !matchesAny(aud, g.Audiences) {
		return refuse(401, "audience %v is not accepted", aud)
	}
	now := float64(time.Now().Unix())
	exp, ok := all["exp"].(float64)
	if !ok || exp <= now {
		return refuse(401, "the token has expired")
	}
	for _, c := range []string{"nbf", "iat"} {
		if v, ok := all[c].(float64); ok && v > now {
			return refuse(401, "%s is in the future", c)
		}
	}
	scopeClaim, _ := all["scope"].(string)
	if scp, ok := all["scp"].(string); ok {
		scopeClaim = scp
	}
	scopes = strings.Fields(scopeClaim)
	if len(g.Scopes) > 0 && !slices.ContainsFunc(g.Scopes, func(s string) bool { return slices.Contains(scopes, s) }) {
		return refuse(403, "insufficient_scope")
	}
	claims = map[string]string{}
	for k, v := range all {
		claims[k] = jwtauth.ClaimString(v)
	}
	return claims, scopes, 200, nil
}

func matchesAny(aud any, accepted []string) bool {
	switch a := aud.(type) {
	case string:
		return slices.Contains(accepted, a)
	case []any:
		return slices.ContainsFunc(a, func(v any) bool { s, _ := v.(string); return slices.Contains(accepted, s) })
	}
	return false
}
