package entra_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
)

// The token vault's app (deploy/local/tenant.jsonc): a multi-tenant web
// app whose one web redirect URI is its provider's callback.
const (
	vaultSecret   = "cloudsim-local-vault-secret-do-not-reuse"
	vaultCallback = "https://127.0.0.1:8443/identities/oauth2/callback/0b7e5c3a-9d2f-4a18-8c6e-5f1d3b7a9e20"
)

// TestWebAppAuthorizationCode: a confidential web app signs a user in at
// a Web platform redirect URI (a loopback one on any port) and redeems
// the code from its server with its secret; the rules that keep that
// code from a browser or a public client, and an unregistered redirect
// URI's AADSTS50011.
func TestWebAppAuthorizationCode(t *testing.T) {
	b := newBrowser(t, func(o *cloudsim.Options) {
		// Consented, so sign-in answers with a code at once.
		o.Tenant.Consents = append(o.Tenant.Consents, &tenant.Consent{Client: "3f9c2b71-5d8e-4a06-b1c4-7e2d9a6f0b58",
			Resource: "b8302fea-6762-4183-a16c-69b510285c49", Scopes: []string{"Weather.Read"}})
	})
	vault, weather := b.env["VAULT_APP_ID"], b.env["WEATHER_API_APP_ID"]
	scope := "api://" + weather + "/Weather.Read offline_access"
	authorize := func(changes map[string]string) string {
		v := url.Values{"client_id": {vault}, "response_type": {"code"}, "redirect_uri": {vaultCallback}, "scope": {scope}, "state": {"st"}}
		for k, val := range changes {
			v.Set(k, val)
		}
		return b.sim.URL + "/" + b.env["TENANT_ID"] + "/oauth2/v2.0/authorize?" + v.Encode()
	}
	code := func(changes map[string]string) string {
		t.Helper()
		u := authorize(changes)
		form, _ := url.ParseQuery(strings.SplitN(u, "?", 2)[1])
		form.Set("login", "alice@contoso.example")
		resp, err := b.client.PostForm(strings.SplitN(u, "?", 2)[0], form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), vaultCallback+"?") || loc.Query().Get("code") == "" {
			t.Fatalf("sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		return loc.Query().Get("code")
	}
	redeem := func(form url.Values, origin string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", b.sim.URL+"/"+b.env["TENANT_ID"]+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	form := func(c string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "client_id": {vault}, "client_secret": {vaultSecret}, "code": {c},
			"redirect_uri": {vaultCallback}, "scope": {scope}}
	}

	status, tokens := redeem(form(code(nil)), "")
	if status != 200 || tokens["refresh_token"] == nil {
		t.Fatalf("redeem: %d %v", status, tokens)
	}
	if c := jwtauthtest.Claims(t, tokens["access_token"].(string)); c["azp"] != vault || c["aud"] != weather || c["scp"] != "Weather.Read" {
		t.Errorf("token claims %v", c)
	}

	wantError := func(name string, status int, body map[string]any, wantStatus int, code string) {
		t.Helper()
		desc, _ := body["error_description"].(string)
		if status != wantStatus || !strings.HasPrefix(desc, code) {
			t.Errorf("%s: %d %v, want %d %s", name, status, body, wantStatus, code)
		}
	}
	s, body := redeem(form(code(nil)), "https://evil.invalid")
	wantError("redeemed from a browser", s, body, 400, "AADSTS9002326")
	noSecret := form(code(nil))
	noSecret.Del("client_secret")
	s, body = redeem(noSecret, "")
	wantError("redeemed without the secret", s, body, 401, "AADSTS7000218")
	wrongVerifier := form(code(map[string]string{"code_challenge": challenge("the-verifier-the-verifier-the-verifier-x"), "code_challenge_method": "S256"}))
	wrongVerifier.Set("code_verifier", "another-verifier-another-verifier-another")
	s, body = redeem(wrongVerifier, "")
	wantError("PKCE asked for, the wrong verifier", s, body, 400, "AADSTS501481")

	// Not a web redirect URI of the app: refused on the page, never
	// redirected to.
	resp, page := b.get(authorize(map[string]string{"redirect_uri": "https://127.0.0.1/identities/oauth2/callback/00000000-0000-4000-8000-000000000000"}))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "AADSTS50011") {
		t.Errorf("unregistered redirect URI: %d %s", resp.StatusCode, page)
	}
	// A web app's sign-in answers in the query only.
	resp, _ = b.get(authorize(map[string]string{"response_mode": "fragment"}))
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "error=invalid_request") {
		t.Errorf("response_mode fragment: %d %s", resp.StatusCode, loc)
	}
}
