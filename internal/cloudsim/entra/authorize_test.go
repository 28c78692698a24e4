package entra_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
)

const spaOrigin = "http://127.0.0.1:3001"

type browser struct {
	t      *testing.T
	sim    *cloudsim.Sim
	env    map[string]string
	client *http.Client
}

// newBrowser is an HTTP client that keeps cookies and does not follow
// redirects, so each hop of the flow can be checked.
func newBrowser(t *testing.T, edit func(*cloudsim.Options)) *browser {
	sim := cloudsimtest.Start(t, edit)
	c := cloudsimtest.Client(sim)
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, sim: sim, env: sim.Env(), client: c}
}

func (b *browser) authorizeURL(changes map[string]string) string {
	v := url.Values{"client_id": {b.env["CLIENT_SPA_APP_ID"]}, "response_type": {"code"}, "redirect_uri": {spaOrigin},
		"scope": {"api://" + b.env["BLUEPRINT_APP_ID"] + "/access_as_user openid profile offline_access"}, "state": {"st4te"}, "nonce": {"n0nce"},
		"code_challenge": {challenge("verifier-verifier-verifier-verifier-verifier")}, "code_challenge_method": {"S256"}, "response_mode": {"fragment"}}
	for k, val := range changes {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return b.sim.URL + "/" + b.env["TENANT_ID"] + "/oauth2/v2.0/authorize?" + v.Encode()
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (b *browser) get(u string) (*http.Response, string) {
	resp, err := b.client.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// signIn picks a demo user on the login page and returns the redirect's
// fragment values.
func (b *browser) signIn(authorize, upn string) url.Values {
	b.t.Helper()
	resp, page := b.get(authorize)
	if resp.StatusCode == http.StatusFound { // a session already: single sign-on
		return fragment(b.t, resp)
	}
	if resp.StatusCode != 200 || !strings.Contains(page, upn) || !strings.Contains(page, "cloudsim") {
		b.t.Fatalf("login page: %d %s", resp.StatusCode, page)
	}
	form, _ := url.ParseQuery(strings.SplitN(authorize, "?", 2)[1])
	form.Set("login", upn)
	resp, err := b.client.PostForm(strings.SplitN(authorize, "?", 2)[0], form)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return fragment(b.t, resp)
}

func fragment(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	loc := resp.Header.Get("Location")
	// The registered URI has no path: Entra returns it with a trailing slash.
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, spaOrigin+"/#") {
		t.Fatalf("not a redirect to the SPA: %d %s", resp.StatusCode, loc)
	}
	v, _ := url.ParseQuery(strings.SplitN(loc, "#", 2)[1])
	return v
}

func (b *browser) redeem(form url.Values, origin string) (*http.Response, map[string]any) {
	req, _ := http.NewRequest("POST", b.sim.URL+"/"+b.env["TENANT_ID"]+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

func (b *browser) codeForm(code string) url.Values {
	return url.Values{"client_id": {b.env["CLIENT_SPA_APP_ID"]}, "grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaOrigin},
		"code_verifier": {"verifier-verifier-verifier-verifier-verifier"}, "scope": {"api://" + b.env["BLUEPRINT_APP_ID"] + "/access_as_user openid profile offline_access"}, "client_info": {"1"}}
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	b := newBrowser(t, nil)
	got := b.signIn(b.authorizeURL(nil), "bob@contoso.example")
	if got.Get("state") != "st4te" || got.Get("code") == "" || got.Get("client_info") == "" {
		t.Fatalf("redirect: %v", got)
	}
	resp, tokens := b.redeem(b.codeForm(got.Get("code")), spaOrigin)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("redeem: %d %v %v", resp.StatusCode, resp.Header, tokens)
	}
	bob := b.sim.Tenant.UserByUPN("bob@contoso.example").ObjectID
	at := jwtauthtest.Claims(t, tokens["access_token"].(string))
	id := jwtauthtest.Claims(t, tokens["id_token"].(string))
	if at["aud"] != b.env["BLUEPRINT_APP_ID"] || at["oid"] != bob || at["scp"] != "access_as_user" || at["azp"] != b.env["CLIENT_SPA_APP_ID"] {
		t.Errorf("access token: %v", at)
	}
	if id["nonce"] != "n0nce" || id["aud"] != b.env["CLIENT_SPA_APP_ID"] || id["preferred_username"] != "bob@contoso.example" {
		t.Errorf("ID token: %v", id)
	}
	// The SPA's refresh token works for it, from the browser.
	resp, refreshed := b.redeem(url.Values{"client_id": {b.env["CLIENT_SPA_APP_ID"]}, "grant_type": {"refresh_token"}, "refresh_token": {tokens["refresh_token"].(string)},
		"scope": {"api://" + b.env["BLUEPRINT_APP_ID"] + "/access_as_user openid offline_access"}}, spaOrigin)
	if resp.StatusCode != 200 || refreshed["access_token"] == nil {
		t.Errorf("refresh: %d %v", resp.StatusCode, refreshed)
	}
	// A code is single use; a wrong verifier or redirect URI is refused.
	if resp, body := b.redeem(b.codeForm(got.Get("code")), spaOrigin); resp.StatusCode != 400 || !strings.HasPrefix(body["error_description"].(string), "AADSTS54005") {
		t.Errorf("a code redeemed twice: %d %v", resp.StatusCode, body)
	}
	for name, change := range map[string][2]string{
		"wrong verifier":     {"code_verifier", "another-verifier-another-verifier-another"},
		"other redirect URI": {"redirect_uri", "http://localhost:3001"},
	} {
		fresh := b.signIn(b.authorizeURL(nil), "alice@contoso.example")
		form := b.codeForm(fresh.Get("code"))
		form.Set(change[0], change[1])
		want := map[string]string{"wrong verifier": "AADSTS501481", "other redirect URI": "AADSTS50011"}[name]
		if resp, body := b.redeem(form, spaOrigin); resp.StatusCode != 400 || !strings.HasPrefix(body["error_description"].(string), want) {
			t.Errorf("%s: %d %v", name, resp.StatusCode, body)
		}
	}
	// The token endpoint allows only SPA origins; discovery and keys anyone.
	fresh := b.signIn(b.authorizeURL(nil), "alice@contoso.example")
	if resp, _ := b.redeem(b.codeForm(fresh.Get("code")), "https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("the token endpoint allowed a foreign origin")
	}
	req, _ := http.NewRequest("GET", b.sim.URL+"/"+b.env["TENANT_ID"]+"/v2.0/.well-known/openid-configuration", nil)
	req.Header.Set("Origin", "https://anyone.example")
	if resp, _ := b.client.Do(req); resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("discovery is not open to browsers")
	}
	req, _ = http.NewRequest("OPTIONS", b.sim.URL+"/"+b.env["TENANT_ID"]+"/oauth2/v2.0/token", nil)
	req.Header.Set("Origin", spaOrigin)
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	if resp, _ := b.client.Do(req); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	b := newBrowser(t, nil)
	// Never redirect to an unknown client's or an unregistered URI.
	for name, changes := range map[string]map[string]string{
		"unknown client":        {"client_id": "00000000-0000-0000-0000-000000000009"},
		"unregistered redirect": {"redirect_uri": "https://evil.example/callback"},
		"redirect with a path":  {"redirect_uri": spaOrigin + "/elsewhere"},
	} {
		resp, page := b.get(b.authorizeURL(changes))
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, resp.Header.Get("Location"))
		}
		want := map[string]string{"unknown client": "AADSTS700016", "unregistered redirect": "AADSTS50011", "redirect with a path": "AADSTS50011"}[name]
		if !strings.Contains(page, want) {
			t.Errorf("%s: page lacks %s", name, want)
		}
	}
	for name, c := range map[string]struct {
		changes map[string]string
		err     string
		code    string
	}{
		"unknown PKCE method": {map[string]string{"code_challenge_method": "S512"}, "invalid_request", "Invalid code challenge method: 'S512'"},
		"implicit flow":       {map[string]string{"response_type": "token"}, "unsupported_response_type", "AADSTS700054"},
		"silent, signed out":  {map[string]string{"prompt": "none"}, "login_required", "AADSTS50058"},
	} {
		resp, _ := b.get(b.authorizeURL(c.changes))
		got := fragment(t, resp)
		if got.Get("error") != c.err || !strings.HasPrefix(got.Get("error_description"), c.code) || got.Get("state") != "st4te" {
			t.Errorf("%s: %v", name, got)
		}
	}
	// After signing in, prompt=none answers with a code from the session;
	// after logout it cannot.
	b.signIn(b.authorizeURL(nil), "alice@contoso.example")
	resp, _ := b.get(b.authorizeURL(map[string]string{"prompt": "none"}))
	if got := fragment(t, resp); got.Get("code") == "" {
		t.Errorf("silent sign-in with a session: %v", got)
	}
	resp, _ = b.get(b.sim.URL + "/" + b.env["TENANT_ID"] + "/oauth2/v2.0/logout?post_logout_redirect_uri=" + url.QueryEscape(spaOrigin))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != spaOrigin {
		t.Errorf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.get(b.authorizeURL(map[string]string{"prompt": "none"}))
	if got := fragment(t, resp); got.Get("error") != "login_required" {
		t.Errorf("silent sign-in after logout: %v", got)
	}
}

// TestConsentAfterSignIn: Entra signs the user in first and then asks for
// what the app lacks, on the consent page, for every resource the request
// names (issue 21). cloudsim once refused with AADSTS65001 before sign-in
// and AADSTS28000 for a second resource.
func TestConsentAfterSignIn(t *testing.T) {
	b := newBrowser(t, func(o *cloudsim.Options) {
		for _, c := range o.Tenant.Consents {
			if c.Client == "5e4b9291-798c-43f9-a8b2-d712c6e87186" {
				c.Scopes = nil
			}
		}
	})
	asUser := "api://" + b.env["BLUEPRINT_APP_ID"] + "/access_as_user"
	weatherRead := "api://" + b.env["WEATHER_API_APP_ID"] + "/Weather.Read"
	consentPage := func(t *testing.T, resp *http.Response, page string, want ...string) string {
		t.Helper()
		m := consentRequestField.FindStringSubmatch(page)
		if resp.StatusCode != http.StatusOK || m == nil {
			t.Fatalf("want the consent page, got %d %s %.300s", resp.StatusCode, resp.Header.Get("Location"), page)
		}
		for _, w := range want {
			if !strings.Contains(page, "<code>"+w+"</code>") {
				t.Errorf("the consent page does not ask for %s", w)
			}
		}
		return m[1]
	}

	authorize := b.authorizeURL(nil)
	resp, page := b.get(authorize)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="login"`) {
		t.Fatalf("before sign-in: %d %s, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	form, _ := url.ParseQuery(strings.SplitN(authorize, "?", 2)[1])
	form.Set("login", "alice@contoso.example")
	resp, err := b.client.PostForm(strings.SplitN(authorize, "?", 2)[0], form)
	if err != nil {
		t.Fatal(err)
	}
	id := consentPage(t, resp, readAll(resp), "access_as_user")

	if got := fragment(t, b.answer(authorize, id, "cancel")); got.Get("error") != "access_denied" ||
		!strings.HasPrefix(got.Get("error_description"), "AADSTS65004") || got.Get("state") != "st4te" {
		t.Fatalf("cancel: %v", got)
	}
	resp, page = b.get(authorize) // the session stays: straight to the consent page
	got := fragment(t, b.answer(authorize, consentPage(t, resp, page, "access_as_user"), "accept"))
	if r, tokens := b.redeem(b.codeForm(got.Get("code")), spaOrigin); r.StatusCode != http.StatusOK {
		t.Fatalf("redeem after consent: %d %v", r.StatusCode, tokens)
	}

	if got := fragment(t, first(b.get(b.authorizeURL(map[string]string{"prompt": "none"})))); got.Get("code") == "" {
		t.Errorf("silent sign-in after consent: %v", got)
	}
	resp, page = b.get(b.authorizeURL(map[string]string{"prompt": "consent"}))
	consentPage(t, resp, page, "access_as_user")

	// A second resource: consent is asked for it, silently it is refused,
	// and the code still redeems for the first.
	both := map[string]string{"scope": asUser + " " + weatherRead + " openid offline_access"}
	silent := map[string]string{"scope": both["scope"], "prompt": "none"}
	if got := fragment(t, first(b.get(b.authorizeURL(silent)))); got.Get("error") != "consent_required" || !strings.HasPrefix(got.Get("error_description"), "AADSTS65001") {
		t.Errorf("silent, a resource without consent: %v", got)
	}
	resp, page = b.get(b.authorizeURL(both))
	id = consentPage(t, resp, page, "Weather.Read")
	if strings.Contains(page, "<code>access_as_user</code>") {
		t.Error("the consent page asks again for a scope already granted")
	}
	got = fragment(t, b.answer(b.authorizeURL(both), id, "accept"))
	r, tokens := b.redeem(b.codeForm(got.Get("code")), spaOrigin)
	if r.StatusCode != http.StatusOK || jwtauthtest.Claims(t, tokens["access_token"].(string))["aud"] != b.env["BLUEPRINT_APP_ID"] {
		t.Fatalf("redeem after consent for two resources: %d %v", r.StatusCode, tokens)
	}
	if got := fragment(t, first(b.get(b.authorizeURL(silent)))); got.Get("code") == "" {
		t.Errorf("silent, both resources consented: %v", got)
	}
}

func first(resp *http.Response, _ string) *http.Response { return resp }
