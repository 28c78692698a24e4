// Package jwtauth validates Entra bearer tokens the way an API Gateway HTTP
// API JWT authorizer does (RSA signature from the issuer's keys, exact iss,
// aud in an accepted set, exp and nbf), plus what that authorizer lacks:
// the tenant, the calling app, and a role or scope policy.
package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// MaxTokenBytes bounds a bearer token; Entra tokens are a few KiB.
const MaxTokenBytes = 16 << 10

// Policy says which tokens an API accepts.
type Policy struct {
	TenantID       string
	Audiences      []string // aud must be one of these
	Versions       []int    // accepted token versions: 1, 2 or both
	AllowedCallers []string // appid (v1) or azp (v2); empty allows any
	RequiredRole   string   // app-only tokens need this role ("" for none)
	RequiredScope  string   // delegated tokens need this scope ("" for none)
	// DelegatedOnly refuses app-only tokens: only a user's token, carrying
	// RequiredScope, passes (a user token API such as llm-agent's Tc).
	DelegatedOnly bool
	// RequireAgentIdentity accepts only tokens whose actor facets mark an
	// Entra agent identity.
	RequireAgentIdentity bool
	// SkipSignature checks everything but the signature. Only for local
	// debugging; the binary warns loudly when it is set.
	SkipSignature bool
	Leeway        time.Duration
	// CacheFor keeps a token that passed for up to this long (never past its
	// exp), so a caller presenting the same token again is not verified
	// again. A key withdrawn from the tenant's key set is noticed only when
	// entries made with it drop out. 0 disables the cache.
	CacheFor time.Duration
	Now      func() time.Time
}

// Validator checks bearer tokens against a Policy and a key set.
type Validator struct {
	policy Policy
	keys   interface {
		VerifySignature(context.Context, string) ([]byte, error)
	}
	issuers map[string]string // iss -> "1.0" or "2.0"
	cache   resultCache
}

// New returns a Validator. keys is usually a *KeySet.
func New(p Policy, keys oidc.KeySet) (*Validator, error) {
	if p.TenantID == "" || len(p.Audiences) == 0 || len(p.Versions) == 0 {
		return nil, errors.New("jwtauth: a tenant, at least one audience and one token version are required")
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	v := &Validator{policy: p, keys: keys, issuers: map[string]string{}}
	for _, ver := range p.Versions {
		switch ver {
		case 1:
			v.issuers[IssuerV1(p.TenantID)] = "1.0"
		case 2:
			v.issuers[IssuerV2(p.TenantID)] = "2.0"
		default:
			return nil, fmt.Errorf("jwtauth: token version %d is not 1 or 2", ver)
		}
	}
	return v, nil
}

// IssuerV1 and IssuerV2 are Entra's issuer strings for a tenant.
func IssuerV1(tenantID string) string { return "https://sts.windows.net/" + tenantID + "/" }

// IssuerV2 is the v2 issuer.
func IssuerV2(tenantID string) string {
	return "https://login.microsoftonline.com/" + tenantID + "/v2.0"
}

// Refusal codes. The first two are RFC 6750's; a request with no bearer
// token at all gets a bare challenge, as RFC 6750 §3.1 asks.
const (
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
	CodeMissingToken      = "missing_token"
)

// Error is a refusal: 401 missing_token or invalid_token, or 403
// insufficient_scope.
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// WWWAuthenticate is the header value RFC 6750 asks for.
func (e *Error) WWWAuthenticate() string {
	if e.Code == CodeMissingToken {
		return "Bearer"
	}
	return fmt.Sprintf(`Bearer error=%q, error_description=%q`, e.Code, e.Description)
}

func invalid(format string, args ...any) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: fmt.Sprintf(format, args...)}
}

func insufficient(format string, args ...any) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope, Description: fmt.Sprintf(format, args...)}
}

// Caller is who a valid token says is calling.
type Caller struct {
	AppID           string   `json:"app_id"`
	TokenVersion    string   `json:"token_version"`
	Flow            string   `json:"flow"` // app, delegated, agent_user
	UserOID         string   `json:"user_oid,omitempty"`
	UserName        string   `json:"user,omitempty"`
	AgentIdentity   bool     `json:"agent_identity"`
	ParentBlueprint string   `json:"parent_blueprint,omitempty"`
	Roles           []string `json:"roles,omitempty"`
	Scopes          []string `json:"scopes,omitempty"`
	TokenID         string   `json:"uti,omitempty"`
	// payload is the token's claims JSON and gateway the claims a gateway
	// passed on (one of the two), kept so ShownClaims can be computed when
	// an endpoint asks. Never written after validation: clones share them.
	payload []byte
	gateway map[string]string
}

// ShownClaimNames are the claims ShownClaims returns: who and what the
// token names, never its signature or anything secret.
var ShownClaimNames = []string{"iss", "aud", "ver", "tid", "sub", "oid", "azp", "appid", "idtyp", "scp", "roles",
	"preferred_username", "upn", "name", "xms_idrel", "xms_act_fct", "xms_sub_fct", "xms_tnt_fct", "xms_par_app_azp"}

// ShownClaims returns the token's claims named in ShownClaimNames, as
// strings (as a gateway hands them on), for an endpoint that shows callers
// what it sees. Computed on demand, so validation does not pay for it.
func (c *Caller) ShownClaims() map[string]string {
	out := map[string]string{}
	if c.gateway != nil {
		for _, name := range ShownClaimNames {
			if v, ok := c.gateway[name]; ok {
				out[name] = v
			}
		}
		return out
	}
	var all map[string]any
	json.Unmarshal(c.payload, &all) // it parsed as claims at validation
	for _, name := range ShownClaimNames {
		if v, ok := all[name]; ok {
			out[name] = ClaimString(v)
		}
	}
	return out
}

// clone copies c, so what one request does with its Caller never reaches
// the cache or another request.
func (c *Caller) clone() *Caller {
	out := *c
	out.Roles = slices.Clone(c.Roles)
	out.Scopes = slices.Clone(c.Scopes)
	return &out
}

type claims struct {
	Iss      string          `json:"iss"`
	Aud      json.RawMessage `json:"aud"`
	Exp      *float64        `json:"exp"`
	Nbf      *float64        `json:"nbf"`
	Tid      string          `json:"tid"`
	Ver      string          `json:"ver"`
	AppID    string          `json:"appid"`
	Azp      string          `json:"azp"`
	Oid      string          `json:"oid"`
	Sub      string          `json:"sub"`
	Idtyp    string          `json:"idtyp"`
	Scp      string          `json:"scp"`
	Roles    []string        `json:"roles"`
	Name     string          `json:"name"`
	UPN      string          `json:"upn"`
	Username string          `json:"preferred_username"`
	Uti      string          `json:"uti"`
	ActFct   string          `json:"xms_act_fct"`
	SubFct   string          `json:"xms_sub_fct"`
	ParAzp   string          `json:"xms_par_app_azp"`

	payload []byte            // the verified JSON, for Caller.ShownClaims
	gateway map[string]string // or the gateway's string claims
}

// BearerToken extracts the token from an Authorization header value; the
// scheme is matched case-insensitively.
func BearerToken(header string) (string, *Error) {
	missing := func(why string) (string, *Error) {
		return "", &Error{Status: http.StatusUnauthorized, Code: CodeMissingToken, Description: why}
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return missing("no bearer token in the Authorization header")
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return missing("the Authorization header must be 'Bearer <token>'")
	}
	if !ok {
		return missing("no bearer token in the Authorization header")
	}
	token = strings.TrimSpace(token)
	// Two IndexByte scans, not ContainsAny: this runs on every request,
	// over a token of a few KiB, and ContainsAny reads it a byte at a time.
	if token == "" || len(token) > MaxTokenBytes || strings.IndexByte(token, ' ') >= 0 || strings.IndexByte(token, '\t') >= 0 {
		return "", invalid("the bearer token is malformed")
	}
	return token, nil
}

// Authenticate validates the request's bearer token.
func (v *Validator) Authenticate(r *http.Request) (*Caller, *Error) {
	token, e := BearerToken(r.Header.Get("Authorization"))
	if e != nil {
		return nil, e
	}
	return v.Validate(r.Context(), token)
}

// Validate checks one token: signature, issuer, audience, lifetime, tenant,
// caller and policy, in that order. A token that passed before, within
// Policy.CacheFor, has only its lifetime checked again.
func (v *Validator) Validate(ctx context.Context, token string) (*Caller, *Error) {
	if v.policy.CacheFor <= 0 {
		caller, _, e := v.validate(ctx, token)
		return caller, e
	}
	key := tokenKey(token)
	now := v.policy.Now()
	if r, ok := v.cache.get(key); ok && now.Before(r.dropsAt) {
		if e := v.checkLifetime(now, r.exp, r.nbf); e != nil {
			return nil, e
		}
		return r.caller.clone(), nil
	}
	caller, life, e := v.validate(ctx, token)
	if e != nil {
		return nil, e
	}
	v.cache.put(key, cachedResult{caller: caller.clone(), exp: life.exp, nbf: life.nbf, dropsAt: now.Add(v.policy.CacheFor)}, now)
	return caller, nil
}

// lifetime is a valid token's exp and nbf (zero when absent).
type lifetime struct{ exp, nbf time.Time }

func (v *Validator) checkLifetime(now, exp, nbf time.Time) *Error {
	if now.After(exp.Add(v.policy.Leeway)) {
		return invalid("the token has expired")
	}
	if !nbf.IsZero() && now.Add(v.policy.Leeway).Before(nbf) {
		return invalid("the token is not valid yet")
	}
	return nil
}

func (v *Validator) validate(ctx context.Context, token string) (*Caller, lifetime, *Error) {
	var payload []byte
	if v.policy.SkipSignature {
		obj, err := parse(token)
		if err != nil {
			return nil, lifetime{}, invalid("%v", err)
		}
		payload = obj.UnsafePayloadWithoutVerification()
	} else {
		var err error
		payload, err = v.keys.VerifySignature(ctx, token)
		if err != nil {
			return nil, lifetime{}, invalid("%v", err)
		}
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, lifetime{}, invalid("the token's claims are not a JSON object")
	}
	c.payload = payload
	return v.check(c)
}

// check applies everything but the signature to a token's claims.
func (v *Validator) check(c claims) (*Caller, lifetime, *Error) {
	ver, ok := v.issuers[c.Iss]
	if !ok {
		return nil, lifetime{}, invalid("the token's issuer %q is not accepted", c.Iss)
	}
	if c.Ver != ver {
		return nil, lifetime{}, invalid("the token's version %q does not match its issuer", c.Ver)
	}
	aud, ok := audience(c.Aud)
	if !ok || !slices.Contains(v.policy.Audiences, aud) {
		return nil, lifetime{}, invalid("the token is not for this API (audience %q)", aud)
	}
	if c.Exp == nil {
		return nil, lifetime{}, invalid("the token has no expiry")
	}
	life := lifetime{exp: time.Unix(int64(*c.Exp), 0)}
	if c.Nbf != nil {
		life.nbf = time.Unix(int64(*c.Nbf), 0)
	}
	if e := v.checkLifetime(v.policy.Now(), life.exp, life.nbf); e != nil {
		return nil, lifetime{}, e
	}
	if c.Tid != v.policy.TenantID {
		return nil, lifetime{}, invalid("the token is from another tenant")
	}
	caller := &Caller{AppID: c.AppID, TokenVersion: ver, TokenID: c.Uti, ParentBlueprint: c.ParAzp, Roles: c.Roles, payload: c.payload, gateway: c.gateway}
	if ver == "2.0" {
		caller.AppID = c.Azp
	}
	if caller.AppID == "" {
		return nil, lifetime{}, invalid("the token names no calling app")
	}
	if len(v.policy.AllowedCallers) > 0 && !slices.Contains(v.policy.AllowedCallers, caller.AppID) {
		return nil, lifetime{}, insufficient("the calling app %s is not allowed", caller.AppID)
	}
	caller.AgentIdentity = hasFacet(c.ActFct, "11")
	if v.policy.RequireAgentIdentity && !caller.AgentIdentity {
		return nil, lifetime{}, insufficient("only agent identities may call this API")
	}
	// Delegated tokens carry scp; idtyp is an optional claim and may be
	// absent, so it cannot decide alone (access token claims reference).
	// A token without scp is app-only only if it says so: idtyp "app" when
	// the claim is there, else oid equal to sub, as an app's token names
	// its own principal in both ("Verify app-only tokens", Microsoft
	// identity platform, "Secure applications and APIs by validating
	// claims", read 2026-12-06). One that carries a user (idtyp "user", or
	// an oid that is not its sub) but no scp is neither, and a token with
	// scp that says idtyp "app" contradicts itself.
	delegated := c.Scp != ""
	switch {
	case delegated && c.Idtyp == "app":
		return nil, lifetime{}, invalid("the token says idtyp app but carries scp: it is neither an app-only nor a delegated token")
	case !delegated && !appOnly(c):
		return nil, lifetime{}, invalid("the token carries a user (idtyp %q, oid other than sub) but no scp: it is neither an app-only nor a delegated token", c.Idtyp)
	}
	if !delegated && v.policy.DelegatedOnly {
		return nil, lifetime{}, insufficient("the token is app-only (no scp): only a signed-in user's token is accepted")
	}
	if delegated {
		caller.Flow = "delegated"
		if hasFacet(c.SubFct, "13") {
			caller.Flow = "agent_user"
		}
		caller.UserOID = c.Oid
		caller.UserName = firstNonEmpty(c.Username, c.UPN, c.Name)
		caller.Scopes = strings.Fields(c.Scp)
		if v.policy.RequiredScope != "" && !slices.Contains(caller.Scopes, v.policy.RequiredScope) {
			return nil, lifetime{}, insufficient("the token lacks the scope %s", v.policy.RequiredScope)
		}
	} else {
		caller.Flow = "app"
		if v.policy.RequiredRole != "" && !slices.Contains(c.Roles, v.policy.RequiredRole) {
			return nil, lifetime{}, insufficient("the token lacks the app role %s", v.policy.RequiredRole)
		}
	}
	return caller, life, nil
}

// appOnly reports whether a token without scp is shaped as an app's:
// idtyp "app" when present, else its oid is its sub.
func appOnly(c claims) bool {
	if c.Idtyp != "" {
		return c.Idtyp == "app"
	}
	return c.Oid != "" && c.Oid == c.Sub
}

// audience returns a single aud; Entra access tokens carry exactly one.
func audience(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s, true
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) == 1 {
		return list[0], true
	}
	return "", false
}

// hasFacet reports whether a space-separated facet list holds want.
func hasFacet(list, want string) bool {
	return slices.Contains(strings.Fields(list), want)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
