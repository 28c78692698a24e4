// Package jwtauthtest builds the forged, expired, mis-issued and
// mis-audienced tokens that every token-checking API in this module must
// refuse, so jwtauth and each API run the same table.
package jwtauthtest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/jwtpeek"
)

// Target says which API the attacks aim at.
type Target struct {
	TenantID  string
	Audience  string // the API's app ID (v2 aud)
	Caller    string // an allowed caller (the agent identity)
	Forbidden string // an app in the tenant that is not allowed to call
	Role      string // the role the API requires of app tokens
	Keys      *signing.Keys
}

// GoodClaims are what a valid v2 app-only agent token for the target
// carries; each attack changes one thing.
func (tg Target) GoodClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": jwtauth.IssuerV2(tg.TenantID), "aud": tg.Audience, "tid": tg.TenantID, "ver": "2.0",
		"azp": tg.Caller, "oid": tg.Caller, "idtyp": "app", "roles": []string{tg.Role},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "xms_act_fct": "3 9 11",
		"uti": "jwtauthtest-uti",
	}
}

// Sign signs claims with the target tenant's active key.
func (tg Target) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := tg.Keys.Sign(claims, false)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Attack is a token the API must refuse with Status and the RFC 6750 Code.
type Attack struct {
	Name   string
	Token  string
	Status int
	Code   string
}

// Attacks returns the table, and the valid token the attacks derive from.
func (tg Target) Attacks(t testing.TB) (attacks []Attack, valid string) {
	good := tg.GoodClaims()
	sign := func(c map[string]any) string { return tg.Sign(t, c) }
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kid := tg.Keys.ActiveID()
	valid = sign(good)
	parts := strings.Split(valid, ".")
	other := strings.Split(sign(Edit(good, map[string]any{"oid": "someone-else"})), ".")
	published, _ := tg.Keys.JWKS("") // the public key material, used as an HMAC secret
	hsHeader := B64(map[string]string{"alg": "HS256", "kid": kid, "typ": "JWT"})
	mac := hmac.New(sha256.New, published)
	mac.Write([]byte(hsHeader + "." + parts[1]))
	withHeader := func(h map[string]any) string {
		h["alg"], h["kid"] = "RS256", kid
		return B64(h) + "." + parts[1] + "." + parts[2]
	}
	forgedKnownKid, _ := signing.SignWith(foreign, kid, good, false)
	unknownKid, _ := signing.SignWith(foreign, "not-a-published-kid", good, false)
	otherTenant := "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tid := tg.TenantID
	const bad, forbidden = "invalid_token", "insufficient_scope"
	return []Attack{
		{"alg none", B64(map[string]string{"alg": "none"}) + "." + parts[1] + ".", 401, bad},
		{"alg NoNe", B64(map[string]string{"alg": "NoNe"}) + "." + parts[1] + ".", 401, bad},
		{"alg NONE with the real signature", B64(map[string]string{"alg": "NONE", "kid": kid}) + "." + parts[1] + "." + parts[2], 401, bad},
		{"HS256 signed with public material", hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), 401, bad},
		{"unknown kid", unknownKid, 401, bad},
		{"known kid, forged signature", forgedKnownKid, 401, bad},
		{"embedded jwk", withHeader(map[string]any{"jwk": map[string]string{"kty": "RSA"}}), 401, bad},
		{"jku header", withHeader(map[string]any{"jku": "https://attacker.example/keys"}), 401, bad},
		{"x5u header", withHeader(map[string]any{"x5u": "https://attacker.example/cert"}), 401, bad},
		{"expired", sign(Edit(good, map[string]any{"exp": time.Now().Add(-2 * time.Minute).Unix()})), 401, bad},
		{"not yet valid", sign(Edit(good, map[string]any{"nbf": time.Now().Add(5 * time.Minute).Unix()})), 401, bad},
		{"no exp", sign(Edit(good, map[string]any{"exp": nil})), 401, bad},
		{"other tenant's issuer", sign(Edit(good, map[string]any{"iss": jwtauth.IssuerV2(otherTenant)})), 401, bad},
		{"v1 issuer on a v2 token", sign(Edit(good, map[string]any{"iss": jwtauth.IssuerV1(tid)})), 401, bad},
		{"v1 issuer without trailing slash", sign(Edit(good, map[string]any{"iss": strings.TrimSuffix(jwtauth.IssuerV1(tid), "/"), "ver": "1.0"})), 401, bad},
		{"v2 issuer with trailing slash", sign(Edit(good, map[string]any{"iss": jwtauth.IssuerV2(tid) + "/"})), 401, bad},
		{"wrong audience", sign(Edit(good, map[string]any{"aud": tg.Forbidden})), 401, bad},
		{"two audiences", sign(Edit(good, map[string]any{"aud": []string{tg.Audience, "other"}})), 401, bad},
		{"other tid", sign(Edit(good, map[string]any{"tid": otherTenant})), 401, bad},
		{"disallowed caller", sign(Edit(good, map[string]any{"azp": tg.Forbidden})), 403, forbidden},
		{"app token without the role", sign(Edit(good, map[string]any{"roles": nil})), 403, forbidden},
		{"delegated token without the scope", sign(Edit(good, map[string]any{"idtyp": "user", "scp": "User.Read"})), 403, forbidden},
		// A user's markers with roles and no scp: neither app-only nor
		// delegated, so not an app token that happens to name a user.
		{"user-shaped token with roles and no scp", sign(Edit(good, map[string]any{"idtyp": "user", "oid": "5ee2f5f4-1b8c-4bd4-9b43-2f0a7d3c1a11",
			"sub": "pairwise-subject-of-the-user", "name": "Mallory Example", "preferred_username": "mallory@contoso.example"})), 401, bad},
		{"no idtyp, oid other than sub, no scp", sign(Edit(good, map[string]any{"idtyp": nil, "oid": "5ee2f5f4-1b8c-4bd4-9b43-2f0a7d3c1a11",
			"sub": "pairwise-subject-of-the-user"})), 401, bad},
		{"idtyp app with scp", sign(Edit(good, map[string]any{"scp": "Weather.Read"})), 401, bad},
		{"tampered payload", parts[0] + "." + B64(Edit(good, map[string]any{"roles": []string{tg.Role, "Admin"}})) + "." + parts[2], 401, bad},
		{"swapped signature", parts[0] + "." + parts[1] + "." + other[2], 401, bad},
		{"oversized header", B64(map[string]string{"alg": "RS256", "kid": kid, "pad": strings.Repeat("A", 4096)}) + "." + parts[1] + "." + parts[2], 401, bad},
		{"not a JWT", "abc", 401, bad},
	}, valid
}

// Edit copies m with changes applied; a nil value deletes the claim.
func Edit(m map[string]any, changes map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// B64 is a JSON value in a JWT segment's encoding.
func B64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Claims decodes a token's payload without verifying it, so a test can
// re-sign a real token with one claim changed.
func Claims(t testing.TB, token string) map[string]any {
	t.Helper()
	var claims map[string]any
	if err := jwtpeek.Claims(token, &claims); err != nil {
		t.Fatalf("the token's claims: %v", err)
	}
	return claims
}
