package entra_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
)

// TestSPARedemptionRules drives the auth code flow page's browser rules
// over raw HTTP (issue 21): SPA codes and refresh tokens only cross-origin,
// nothing else cross-origin, the 24-hour SPA refresh chain, and PKCE plain
// and missing.
func TestSPARedemptionRules(t *testing.T) {
	offset := &atomic.Int64{}
	b := newBrowser(t, func(o *cloudsim.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		o.TokenLifetime = time.Hour
	})
	wantErr := func(t *testing.T, what string, resp *http.Response, body map[string]any, oauth, code string) {
		t.Helper()
		desc, _ := body["error_description"].(string)
		if resp.StatusCode != http.StatusBadRequest || body["error"] != oauth || !strings.HasPrefix(desc, code) {
			t.Fatalf("%s: %d %v %s, want 400 %s %s", what, resp.StatusCode, body["error"], desc, oauth, code)
		}
	}
	signedIn := func(t *testing.T) map[string]any {
		t.Helper()
		got := b.signIn(b.authorizeURL(map[string]string{"prompt": "login"}), "bob@contoso.example")
		resp, tokens := b.redeem(b.codeForm(got.Get("code")), spaOrigin)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("redeem with Origin: %d %v", resp.StatusCode, tokens)
		}
		return tokens
	}
	refresh := func(rt any, origin string) (*http.Response, map[string]any) {
		return b.redeem(url.Values{"client_id": {b.env["CLIENT_SPA_APP_ID"]}, "grant_type": {"refresh_token"}, "refresh_token": {rt.(string)},
			"scope": {"api://" + b.env["BLUEPRINT_APP_ID"] + "/access_as_user offline_access"}}, origin)
	}

	t.Run("an SPA code needs an Origin", func(t *testing.T) {
		got := b.signIn(b.authorizeURL(nil), "bob@contoso.example")
		resp, body := b.redeem(b.codeForm(got.Get("code")), "")
		wantErr(t, "code without Origin", resp, body, "invalid_request", "AADSTS9002327")
	})

	t.Run("an SPA refresh token needs an Origin", func(t *testing.T) {
		rt := signedIn(t)["refresh_token"]
		resp, body := refresh(rt, "")
		wantErr(t, "refresh without Origin", resp, body, "invalid_request", "AADSTS9002327")
		if resp, body := refresh(rt, spaOrigin); resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh with Origin: %d %v", resp.StatusCode, body)
		}
	})

	t.Run("a browser redeems nothing but SPA tokens", func(t *testing.T) {
		cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {b.env["BLUEPRINT_APP_ID"]}, "client_secret": {b.env["BLUEPRINT_CLIENT_SECRET"]},
			"scope": {"api://AzureADTokenExchange/.default"}, "fmi_path": {b.env["AGENT_CLIENT_ID"]}}
		resp, body := b.redeem(cc, spaOrigin)
		wantErr(t, "client credentials with Origin", resp, body, "invalid_request", "AADSTS9002326")
		if resp, body := b.redeem(cc, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("client credentials without Origin: %d %v", resp.StatusCode, body)
		}
		ropc := url.Values{"grant_type": {"password"}, "client_id": {b.env["CLIENT_SPA_APP_ID"]}, "username": {"bob@contoso.example"},
			"password": {b.sim.Tenant.UserByUPN("bob@contoso.example").Password}, "scope": {"api://" + b.env["BLUEPRINT_APP_ID"] + "/access_as_user offline_access"}}
		resp, tokens := b.redeem(ropc, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("ROPC: %d %v", resp.StatusCode, tokens)
		}
		resp, body = refresh(tokens["refresh_token"], spaOrigin)
		wantErr(t, "a password grant's refresh token with Origin", resp, body, "invalid_request", "AADSTS9002326")
	})

	t.Run("the SPA refresh chain ends 24 hours after sign-in", func(t *testing.T) {
		offset.Store(0)
		t.Cleanup(func() { offset.Store(0) })
		rt := signedIn(t)["refresh_token"]
		offset.Store(int64(23 * time.Hour))
		resp, renewed := refresh(rt, spaOrigin)
		if resp.StatusCode != http.StatusOK || renewed["refresh_token"] == nil {
			t.Fatalf("refresh at 23 hours: %d %v", resp.StatusCode, renewed)
		}
		// Two hours after its own issue, but 25 after the sign-in.
		offset.Store(int64(25 * time.Hour))
		resp, body := refresh(renewed["refresh_token"], spaOrigin)
		wantErr(t, "refresh at 25 hours", resp, body, "invalid_grant", "AADSTS700084")
	})

	t.Run("PKCE plain, by name or by default", func(t *testing.T) {
		const verifier = "plain-verifier-plain-verifier-plain-verifier"
		for name, method := range map[string]string{"plain": "plain", "no method": ""} {
			got := b.signIn(b.authorizeURL(map[string]string{"code_challenge": verifier, "code_challenge_method": method}), "bob@contoso.example")
			form := b.codeForm(got.Get("code"))
			form.Set("code_verifier", verifier)
			if resp, body := b.redeem(form, spaOrigin); resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %d %v", name, resp.StatusCode, body)
			}
		}
	})

	t.Run("a loopback redirect URI matches on any port", func(t *testing.T) {
		other := "http://127.0.0.1:4999"
		resp, _ := b.get(b.authorizeURL(map[string]string{"redirect_uri": other, "prompt": "none"}))
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, other+"/#") {
			t.Fatalf("port 4999 for a URI registered on 3001: %d %q", resp.StatusCode, loc)
		}
		v, _ := url.ParseQuery(strings.SplitN(loc, "#", 2)[1])
		form := b.codeForm(v.Get("code"))
		form.Set("redirect_uri", other)
		if resp, body := b.redeem(form, other); resp.StatusCode != http.StatusOK {
			t.Fatalf("redeem at port 4999: %d %v", resp.StatusCode, body)
		}
		// Only the port is ignored: scheme, host and path still count.
		for _, uri := range []string{"https://127.0.0.1:3001", "http://[::1]:3001", "http://127.0.0.1:4999/elsewhere"} {
			resp, page := b.get(b.authorizeURL(map[string]string{"redirect_uri": uri}))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "AADSTS50011") {
				t.Errorf("%s: %d %q, want the AADSTS50011 page", uri, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})

	t.Run("no PKCE: the code is issued, its redemption refused", func(t *testing.T) {
		got := b.signIn(b.authorizeURL(map[string]string{"code_challenge": "", "code_challenge_method": ""}), "bob@contoso.example")
		resp, body := b.redeem(b.codeForm(got.Get("code")), spaOrigin)
		wantErr(t, "redeem without PKCE", resp, body, "invalid_request", "AADSTS9002325")
	})
}
