// Package refresher keeps AWS_WEB_IDENTITY_TOKEN_FILE holding a valid Entra
// v1 token for the intermediary STS app (chain B): managed identity token
// → the STS app's token → file → the AWS SDK's web identity provider. It
// refreshes ahead of expiry, backs off on failure, keeps the last good
// token in place, and reports its state on /healthz.
package refresher

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/jwtpeek"
)

// Claims are the non-secret claims the refresher logs and checks.
type Claims struct {
	Iss   string    `json:"iss"`
	Aud   string    `json:"aud"`
	Sub   string    `json:"sub"`
	Oid   string    `json:"oid"`
	AppID string    `json:"appid"`
	Ver   string    `json:"ver"`
	Exp   time.Time `json:"-"`
}

// LogArgs are the claims as slog attributes.
func (c Claims) LogArgs() []any {
	return []any{"iss", c.Iss, "aud", c.Aud, "sub", c.Sub, "oid", c.Oid, "appid", c.AppID, "exp", c.Exp.UTC().Format(time.RFC3339)}
}

// CheckError says the token Entra issued is not one AWS will accept; it is
// a configuration problem, so retrying soon will not help.
type CheckError struct{ Reason string }

func (e *CheckError) Error() string { return e.Reason }

// issuerV1 is the issuer AWS's OIDC provider is registered for.
func issuerV1(tenantID string) string { return "https://sts.windows.net/" + tenantID + "/" }

// Expect is what a token written for AWS must be: a v1 token of TenantID
// for the STS app.
type Expect struct {
	TenantID  string
	STSAppID  string
	STSAppURI string
}

// Check decodes the token the STS app got and refuses one that AWS would
// refuse or that is not for this configuration. The signature is Entra's
// and is checked by AWS; this only reads the claims.
func Check(token string, want Expect, now time.Time) (Claims, error) {
	var c Claims
	if strings.Count(token, ".") != 2 {
		return c, &CheckError{"Entra's answer is not a JWT"}
	}
	var raw struct {
		Claims
		Exp *float64 `json:"exp"`
	}
	if err := jwtpeek.Claims(token, &raw); err != nil {
		return c, &CheckError{"Entra's token has an unreadable payload"}
	}
	c = raw.Claims
	if raw.Exp != nil {
		c.Exp = time.Unix(int64(*raw.Exp), 0)
	}
	v2 := c.Iss == "https://login.microsoftonline.com/"+want.TenantID+"/v2.0" || c.Ver == "2.0"
	switch {
	case v2 && c.Aud == want.STSAppID:
		return c, &CheckError{fmt.Sprintf("the STS app issues v2 tokens (iss %s): set requestedAccessTokenVersion=1 in the manifest of STS_APP_ID's app registration; AWS trusts the v1 issuer %s", c.Iss, issuerV1(want.TenantID))}
	case v2 || c.Aud != want.STSAppURI:
		return c, &CheckError{fmt.Sprintf("the token is for %s, not for STS_APP_URI (%s): set STS_APP_URI to the STS app's identifier URI, the client ID of the AWS OIDC provider", c.Aud, want.STSAppURI)}
	case c.Iss != issuerV1(want.TenantID):
		return c, &CheckError{fmt.Sprintf("the token's issuer %s is not the v1 issuer of TENANT_ID (%s)", c.Iss, issuerV1(want.TenantID))}
	case c.Exp.IsZero():
		return c, &CheckError{"the token has no exp"}
	case !now.Before(c.Exp):
		return c, &CheckError{fmt.Sprintf("the token expired at %s, before it was written: check this host's clock", c.Exp.UTC().Format(time.RFC3339))}
	}
	return c, nil
}

// errorsAsCheck reports whether err is a CheckError.
func errorsAsCheck(err error) bool {
	var ce *CheckError
	return errors.As(err, &ce)
}
