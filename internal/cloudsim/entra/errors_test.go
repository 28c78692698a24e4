package entra_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/entra"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// A second blueprint with its own agent identity, to prove one blueprint
// cannot act as another's agent.
const (
	otherBlueprint = "0d6f5c1e-6f4a-4c2b-9a51-3e3c8b7d2f10"
	otherAgent     = "1e7a6d2f-7a5b-4d3c-8b62-4f4d9c8e3a21"
)

func tenantWithSecondBlueprint(t *testing.T) *tenant.Directory {
	src := string(local.TenantFile)
	src = strings.Replace(src, `"applications": [`, `"applications": [
    {"name": "other-blueprint", "appId": "`+otherBlueprint+`", "servicePrincipalId": "2f8b7e3a-8b6c-4e4d-9c73-5a5eac9f4b32",
     "agentIdentityBlueprint": true, "accessTokenVersion": 2, "secrets": ["other-secret"]},`, 1)
	src = strings.Replace(src, `"agentIdentities": [`, `"agentIdentities": [
    {"name": "other-agent", "appId": "`+otherAgent+`", "blueprint": "`+otherBlueprint+`"},`, 1)
	d, err := tenant.Parse("tenant.jsonc", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type entraError struct {
	status       int
	raw          string
	AccessToken  string `json:"access_token"`  // set on success
	RefreshToken string `json:"refresh_token"` // set on success
	Error        string `json:"error"`
	Desc         string `json:"error_description"`
	Codes        []int  `json:"error_codes"`
	Corr         string `json:"correlation_id"`
}

// post sends a raw form to the token endpoint, for requests MSAL would
// never make.
func (h *harness) post(form url.Values) entraError {
	h.t.Helper()
	resp, err := h.http.PostForm(h.authority()+"/oauth2/v2.0/token", form)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	var e entraError
	_ = json.Unmarshal(raw, &e)
	e.status, e.raw = resp.StatusCode, string(raw)
	return e
}

// mint signs claims with cloudsim's own active key: a token only cloudsim
// could have issued, shaped as a test needs.
func (h *harness) mint(claims map[string]any) string {
	h.t.Helper()
	tok, err := h.sim.Keys.Sign(claims, false)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func (h *harness) miClaims() map[string]any {
	tid := h.env["TENANT_ID"]
	now := time.Now()
	return map[string]any{
		"iss": entra.IssuerV2(tid), "aud": tenant.TokenExchangeAppID, "sub": h.sim.Tenant.ManagedIdentity.ObjectID,
		"oid": h.sim.Tenant.ManagedIdentity.ObjectID, "tid": tid, "idtyp": "app", "ver": "2.0",
		"xms_mirid": h.sim.Tenant.ManagedIdentity.ResourceID,
		"iat":       now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for key, val := range m {
		out[key] = val
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func (h *harness) assertionClient(clientID, assertion string) confidential.Client {
	return h.confidential(clientID, confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
		return assertion, nil
	}))
}

// TestEntraErrorsWithRealClients drives each refusal with MSAL Go where a
// real client can make the request, and asserts the AADSTS code Entra uses.
func TestEntraErrorsWithRealClients(t *testing.T) {
	h := newHarness(t, func(o *cloudsim.Options) { o.Tenant = tenantWithSecondBlueprint(t) })
	env := h.env
	bpID, agentID, weather := env["BLUEPRINT_APP_ID"], env["AGENT_CLIENT_ID"], env["WEATHER_API_APP_ID"]
	weatherDefault := []string{"api://" + weather + "/.default"}
	exchange := []string{exchangeScope}
	alice := h.sim.Tenant.Users[0]
	foreignKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	userTc := func() string { return h.userToken(alice.UPN, alice.Password, "api://"+bpID+"/access_as_user") }
	otherBP := h.secretClient(otherBlueprint, "other-secret")
	past := time.Now().Add(-2 * time.Hour)

	cases := []struct {
		name string
		code string
		do   func() error
	}{
		{"unknown client", "AADSTS700016", func() error {
			_, err := h.secretClient("00000000-1111-2222-3333-444444444444", "x").AcquireTokenByCredential(h.ctx, weatherDefault)
			return err
		}},
		{"wrong secret", "AADSTS7000215", func() error {
			_, err := h.secretClient(bpID, "not-the-secret").AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(agentID))
			return err
		}},
		{"agent identity cannot use a secret", "AADSTS7000215", func() error {
			_, err := h.secretClient(agentID, env["BLUEPRINT_CLIENT_SECRET"]).AcquireTokenByCredential(h.ctx, weatherDefault)
			return err
		}},
		{"garbage assertion", "AADSTS50027", func() error {
			_, err := h.assertionClient(bpID, "not.a.jwt").AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(agentID))
			return err
		}},
		{"expired managed identity assertion", "AADSTS700024", func() error {
			tok := h.mint(with(with(h.miClaims(), "exp", past.Unix()), "nbf", past.Add(-time.Hour).Unix()))
			_, err := h.assertionClient(bpID, tok).AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(agentID))
			return err
		}},
		{"assertion signed by a key cloudsim never published", "AADSTS700027", func() error {
			tok, _ := signing.SignWith(foreignKey, "forged", h.miClaims(), false)
			_, err := h.assertionClient(bpID, tok).AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(agentID))
			return err
		}},
		{"assertion with a known kid and a forged signature", "AADSTS700027", func() error {
			tok, _ := signing.SignWith(foreignKey, h.sim.Keys.ActiveID(), h.miClaims(), false)
			_, err := h.assertionClient(bpID, tok).AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(agentID))
			return err
		}},
		{"assertion from an untrusted issuer", "AADSTS700211", func() error {
			tok := h.mint(with(h.miClaims(), "iss", "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"))
			_, err := h.assertionClient(bpID, tok).AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(agentID))
			return err
		}},
		{"assertion for an untrusted subject", "AADSTS700213", func() error {
			tok := h.mint(with(h.miClaims(), "sub", "9f0c6e1a-0000-4000-8000-000000000000"))
			_, err := h.assertionClient(bpID, tok).AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(agentID))
			return err
		}},
		{"assertion for another audience", "AADSTS700212", func() error {
			tok := h.mint(with(h.miClaims(), "aud", "https://management.azure.com/"))
			_, err := h.assertionClient(bpID, tok).AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(agentID))
			return err
		}},
		{"an Entra token that is not a managed identity's", "AADSTS700222", func() error {
			tok := h.mint(with(h.miClaims(), "xms_mirid", nil))
			_, err := h.assertionClient(bpID, tok).AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(agentID))
			return err
		}},
		{"missing fmi_path", "AADSTS82008", func() error {
			_, err := h.blueprint().AcquireTokenByCredential(h.ctx, exchange)
			return err
		}},
		{"fmi_path naming another blueprint's agent", "AADSTS700016", func() error {
			_, err := h.blueprint().AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(otherAgent))
			return err
		}},
		{"agent presenting another blueprint's T1", "AADSTS700213", func() error {
			t1, err := otherBP.AcquireTokenByCredential(h.ctx, exchange, confidential.WithFMIPath(otherAgent))
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = h.assertionClient(agentID, t1.AccessToken).AcquireTokenByCredential(h.ctx, weatherDefault)
			return err
		}},
		{"blueprint asking for an app-only resource token", "AADSTS82001", func() error {
			_, err := h.blueprint().AcquireTokenByCredential(h.ctx, weatherDefault)
			return err
		}},
		{"blueprint asking for OBO", "AADSTS82002", func() error {
			_, err := h.blueprint().AcquireTokenOnBehalfOf(h.ctx, userTc(), []string{"api://" + weather + "/Weather.Read"})
			return err
		}},
		{"OBO assertion with the wrong audience", "AADSTS50013", func() error {
			agent := h.agentClient(h.blueprint(), agentID)
			tr, err := agent.AcquireTokenByCredential(h.ctx, weatherDefault)
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = agent.AcquireTokenOnBehalfOf(h.ctx, tr.AccessToken, []string{"api://" + weather + "/Weather.Read"})
			return err
		}},
		{"OBO assertion that expired", "AADSTS500133", func() error {
			tc := h.mint(map[string]any{"iss": entra.IssuerV2(env["TENANT_ID"]), "aud": bpID, "oid": alice.ObjectID, "idtyp": "user", "scp": "access_as_user", "exp": past.Unix()})
			_, err := h.agentClient(h.blueprint(), agentID).AcquireTokenOnBehalfOf(h.ctx, tc, []string{"api://" + weather + "/Weather.Read"})
			return err
		}},
		{"OBO assertion not signed by the tenant", "AADSTS50013", func() error {
			tc, _ := signing.SignWith(foreignKey, h.sim.Keys.ActiveID(), map[string]any{"iss": entra.IssuerV2(env["TENANT_ID"]), "aud": bpID, "oid": alice.ObjectID, "exp": time.Now().Add(time.Hour).Unix()}, false)
			_, err := h.agentClient(h.blueprint(), agentID).AcquireTokenOnBehalfOf(h.ctx, tc, []string{"api://" + weather + "/Weather.Read"})
			return err
		}},
		{"OBO for a scope the API does not publish", "AADSTS70011", func() error {
			_, err := h.agentClient(h.blueprint(), agentID).AcquireTokenOnBehalfOf(h.ctx, userTc(), []string{"api://" + weather + "/Weather.Write"})
			return err
		}},
		{"missing consent", "AADSTS65001", func() error {
			_, err := h.ropc([]string{"api://" + weather + "/Weather.Read"}, alice.UPN, alice.Password)
			return err
		}},
		{"client credentials without /.default", "AADSTS1002012", func() error {
			_, err := h.agentClient(h.blueprint(), agentID).AcquireTokenByCredential(h.ctx, []string{"api://" + weather + "/Weather.Read"})
			return err
		}},
		{"unknown resource", "AADSTS500011", func() error {
			_, err := h.agentClient(h.blueprint(), agentID).AcquireTokenByCredential(h.ctx, []string{"api://no-such-api/.default"})
			return err
		}},
		{"wrong user password", "AADSTS50126", func() error {
			_, err := h.ropc([]string{"api://" + bpID + "/access_as_user"}, alice.UPN, "wrong")
			return err
		}},
		{"unknown user", "AADSTS50034", func() error {
			_, err := h.ropc([]string{"api://" + bpID + "/access_as_user"}, "mallory@contoso.example", "x")
			return err
		}},
		{"user_fic for another agent's user", "AADSTS700213", func() error {
			agent := h.agentClient(h.blueprint(), agentID)
			other := h.agentClient(otherBP, otherAgent)
			t2, err := other.AcquireTokenByCredential(h.ctx, exchange)
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = agent.AcquireTokenByUserFederatedIdentityCredential(h.ctx, weatherDefault, t2.AccessToken, confidential.WithUserFICUsername(env["AGENT_USER_UPN"]))
			return err
		}},
		{"user_fic for a user the agent does not own", "AADSTS50034", func() error {
			agent := h.agentClient(h.blueprint(), agentID)
			t2, err := agent.AcquireTokenByCredential(h.ctx, exchange)
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = agent.AcquireTokenByUserFederatedIdentityCredential(h.ctx, weatherDefault, t2.AccessToken, confidential.WithUserFICUsername(alice.UPN))
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.do()
			if err == nil {
				t.Fatalf("accepted; want %s", c.code)
			}
			if strings.Contains(err.Error(), "setup:") || !strings.Contains(err.Error(), c.code+":") {
				t.Fatalf("error does not carry %s:\n%v", c.code, err)
			}
		})
	}
}

// TestEntraErrorsOnRawRequests covers what no real client sends.
func TestEntraErrorsOnRawRequests(t *testing.T) {
	h := newHarness(t, nil)
	env := h.env
	spa := env["CLIENT_SPA_APP_ID"]
	alice := h.sim.Tenant.Users[0]
	ropc := url.Values{"grant_type": {"password"}, "client_id": {spa}, "username": {alice.UPN}, "password": {alice.Password},
		"scope": {"api://" + env["BLUEPRINT_APP_ID"] + "/access_as_user offline_access"}}
	issued := h.post(ropc)
	if issued.status != http.StatusOK || issued.RefreshToken == "" {
		t.Fatalf("ROPC with offline_access: %d %s, refresh token given: %v", issued.status, issued.Desc, issued.RefreshToken != "")
	}

	cases := []struct {
		name   string
		form   url.Values
		status int
		code   int
	}{
		{"no grant_type", url.Values{"client_id": {spa}}, 400, 900144},
		{"unsupported grant", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:saml2-bearer"}, "client_id": {spa}}, 400, 70003},
		{"no client_id", url.Values{"grant_type": {"client_credentials"}}, 400, 900144},
		{"confidential client with no credential", url.Values{"grant_type": {"client_credentials"}, "client_id": {env["BLUEPRINT_APP_ID"]}, "scope": {exchangeScope}}, 401, 7000216},
		{"repeated client_id", url.Values{"grant_type": {"client_credentials"}, "client_id": {spa, env["BLUEPRINT_APP_ID"]}}, 400, 9002313},
		{"scope across two resources", url.Values{"grant_type": {"password"}, "client_id": {spa}, "username": {alice.UPN}, "password": {alice.Password}, "scope": {"api://a/x api://b/y"}}, 400, 28000},
		{"OBO without requested_token_use", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {env["STS_APP_ID"]}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {h.mint(h.miClaims())}, "assertion": {"x"}}, 400, 900144},
		{"refresh token that was never issued", url.Values{"grant_type": {"refresh_token"}, "client_id": {spa}, "refresh_token": {"1.Anope"}, "scope": {"api://" + env["BLUEPRINT_APP_ID"] + "/access_as_user"}}, 400, 9002313},
		{"refresh token redeemed by another client", url.Values{"grant_type": {"refresh_token"}, "client_id": {env["STS_APP_ID"]}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {h.mint(h.miClaims())}, "refresh_token": {issued.RefreshToken}, "scope": {"api://" + env["BLUEPRINT_APP_ID"] + "/access_as_user"}}, 400, 70000},
		{"assertion type missing", url.Values{"grant_type": {"client_credentials"}, "client_id": {env["BLUEPRINT_APP_ID"]}, "client_assertion": {"x.y.z"}, "scope": {exchangeScope}}, 400, 900144},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := h.post(c.form)
			if e.status != c.status || len(e.Codes) != 1 || e.Codes[0] != c.code {
				t.Fatalf("got %d %v (%s), want %d AADSTS%d", e.status, e.Codes, e.Desc, c.status, c.code)
			}
			if !strings.HasPrefix(e.Desc, fmt.Sprintf("AADSTS%d: ", c.code)) || e.Corr == "" || e.Error == "" {
				t.Fatalf("not an Entra-shaped error body: %+v", e)
			}
		})
	}

	t.Run("refresh token redeemed by its own client", func(t *testing.T) {
		e := h.post(url.Values{"grant_type": {"refresh_token"}, "client_id": {spa}, "refresh_token": {issued.RefreshToken}, "scope": {"api://" + env["BLUEPRINT_APP_ID"] + "/access_as_user"}})
		if e.status != http.StatusOK {
			t.Fatalf("got %d %s", e.status, e.Desc)
		}
	})

	t.Run("unknown tenant", func(t *testing.T) {
		resp, err := h.http.Get(h.sim.URL + "/contoso.invalid/v2.0/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e entraError
		json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode != 400 || len(e.Codes) != 1 || e.Codes[0] != 90002 {
			t.Fatalf("got %d %v", resp.StatusCode, e.Codes)
		}
	})

	t.Run("wrong method", func(t *testing.T) {
		resp, err := h.http.Get(h.authority() + "/oauth2/v2.0/token")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e entraError
		json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode != http.StatusMethodNotAllowed || len(e.Codes) != 1 || e.Codes[0] != 900561 {
			t.Fatalf("got %d %v", resp.StatusCode, e.Codes)
		}
	})

	t.Run("oversized body", func(t *testing.T) {
		body := "grant_type=client_credentials&client_assertion=" + strings.Repeat("A", 100<<10)
		resp, err := h.http.Post(h.authority()+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d, want 413", resp.StatusCode)
		}
	})

	t.Run("correlation id echoed", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.authority()+"/oauth2/v2.0/token", strings.NewReader("grant_type=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("client-request-id", "11111111-2222-3333-4444-555555555555")
		resp, err := h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e entraError
		json.NewDecoder(resp.Body).Decode(&e)
		if e.Corr != "11111111-2222-3333-4444-555555555555" || resp.Header.Get("client-request-id") != e.Corr {
			t.Fatalf("correlation id %q, header %q", e.Corr, resp.Header.Get("client-request-id"))
		}
	})
}

func TestManagedIdentityEndpointRefusals(t *testing.T) {
	h := newHarness(t, nil)
	mi := h.sim.IdentityEndpoint
	good := url.Values{"api-version": {"2019-08-01"}, "resource": {tenant.TokenExchangeURI}}
	cases := []struct {
		name   string
		method string
		header string
		query  url.Values
		status int
	}{
		{"no identity header", http.MethodGet, "", good, 401},
		{"wrong identity header", http.MethodGet, "guess", good, 401},
		{"old api-version", http.MethodGet, h.sim.IdentityHeader, url.Values{"api-version": {"2017-09-01"}, "resource": {tenant.TokenExchangeURI}}, 400},
		{"no resource", http.MethodGet, h.sim.IdentityHeader, url.Values{"api-version": {"2019-08-01"}}, 400},
		{"another identity's client_id", http.MethodGet, h.sim.IdentityHeader, url.Values{"api-version": {"2019-08-01"}, "resource": {tenant.TokenExchangeURI}, "client_id": {"00000000-0000-0000-0000-000000000001"}}, 400},
		{"two selectors", http.MethodGet, h.sim.IdentityHeader, url.Values{"api-version": {"2019-08-01"}, "resource": {tenant.TokenExchangeURI}, "client_id": {h.env["MANAGED_IDENTITY_CLIENT_ID"]}, "object_id": {h.sim.Tenant.ManagedIdentity.ObjectID}}, 400},
		{"unknown resource", http.MethodGet, h.sim.IdentityHeader, url.Values{"api-version": {"2019-08-01"}, "resource": {"api://nothing"}}, 400},
		{"POST", http.MethodPost, h.sim.IdentityHeader, good, 405},
		{"good", http.MethodGet, h.sim.IdentityHeader, good, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, mi+"?"+c.query.Encode(), nil)
			if c.header != "" {
				req.Header.Set("X-IDENTITY-HEADER", c.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("got %d, want %d", resp.StatusCode, c.status)
			}
		})
	}
}
