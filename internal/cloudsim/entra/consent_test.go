package entra_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/mcpserver"
)

const consentRedirect = "http://127.0.0.1:3001/consent.html"

var mcpScope = "api://" + mcpserver.AppID + "/MCP.User.Read.All"

// consentURL is what the agent sends the user to after AADSTS65001: the
// agent identity as client, response_type=none, the blueprint's redirect.
func (b *browser) consentURL(changes map[string]string) string {
	v := url.Values{"client_id": {b.env["AGENT_CLIENT_ID"]}, "response_type": {"none"}, "redirect_uri": {consentRedirect},
		"scope": {mcpScope}, "state": {"c0nsent"}}
	for k, val := range changes {
		v.Set(k, val)
	}
	return b.sim.URL + "/" + b.env["TENANT_ID"] + "/oauth2/v2.0/authorize?" + v.Encode()
}

var consentRequestField = regexp.MustCompile(`name="consent_request" value="([^"]+)"`)

// consentPage signs upn in on the login page cloudsim shows first and
// returns the consent page's request ID.
func (b *browser) consentPage(consentURL, upn string) string {
	b.t.Helper()
	resp, page := b.get(consentURL)
	if resp.StatusCode == http.StatusOK && strings.Contains(page, `name="login"`) {
		form, _ := url.ParseQuery(strings.SplitN(consentURL, "?", 2)[1])
		form.Set("login", upn)
		r, err := b.client.PostForm(consentURL, form)
		if err != nil {
			b.t.Fatal(err)
		}
		resp, page = r, readAll(r)
	}
	m := consentRequestField.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(page, "MCP.User.Read.All") || !strings.Contains(page, "weather-agent") {
		b.t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	return m[1]
}

func (b *browser) answer(consentURL, requestID, decision string) *http.Response {
	b.t.Helper()
	form, _ := url.ParseQuery(strings.SplitN(consentURL, "?", 2)[1])
	form.Set("consent_request", requestID)
	form.Set("decision", decision)
	resp, err := b.client.PostForm(consentURL, form)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func readAll(r *http.Response) string {
	defer r.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

// mcpOBO asks, with MSAL Go, for the agent's token for the MCP server on
// behalf of the user whose token tc is.
func mcpOBO(h *harness, tc string) (confidential.AuthResult, error) {
	agent := h.agentClient(h.blueprint(), h.env["AGENT_CLIENT_ID"])
	return agent.AcquireTokenOnBehalfOf(h.ctx, tc, []string{mcpScope})
}

// With no consent on the MCP server, the agent's OBO request gets
// AADSTS65001; alice accepts on the consent page; the same request then
// succeeds for her, and for her only.
func TestConsentOnDemand(t *testing.T) {
	b := newBrowser(t, nil)
	h := &harness{t: t, sim: b.sim, env: b.env, http: cloudsimtest.Client(b.sim)}
	h.ctx = oidc.ClientContext(t.Context(), h.http)
	userScope := "api://" + b.env["BLUEPRINT_APP_ID"] + "/access_as_user"
	alice := h.userToken("alice@contoso.example", "alice-local-demo-password", userScope)
	bob := h.userToken("bob@contoso.example", "bob-local-demo-password", userScope)

	if _, err := mcpOBO(h, alice); err == nil || !strings.Contains(err.Error(), "AADSTS65001") {
		t.Fatalf("before consent: %v, want AADSTS65001", err)
	}
	u := b.consentURL(nil)
	id := b.consentPage(u, "alice@contoso.example")
	resp := b.answer(u, id, "accept")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != consentRedirect+"?state=c0nsent" {
		t.Fatalf("after accepting: %d %q", resp.StatusCode, loc)
	}
	res, err := mcpOBO(h, alice)
	if err != nil {
		t.Fatalf("after consent: %v", err)
	}
	claims := h.verify(res.AccessToken, 2, mcpserver.AppID)
	if claims["scp"] != "MCP.User.Read.All" || claims["oid"] != "4c255636-0874-4a16-a88f-caf77944d9b2" || claims["azp"] != b.env["AGENT_CLIENT_ID"] {
		t.Errorf("claims %v", claims)
	}
	if _, err := mcpOBO(h, bob); err == nil || !strings.Contains(err.Error(), "AADSTS65001") {
		t.Errorf("bob, who did not consent: %v, want AADSTS65001", err)
	}
	// Asking again: nothing new to grant, straight back.
	if resp, _ := b.get(u); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != consentRedirect+"?state=c0nsent" {
		t.Errorf("second request: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The answer is single-use.
	if resp := b.answer(u, id, "accept"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed answer: %d", resp.StatusCode)
	}
}

// What the consent endpoint refuses, and declining.
func TestConsentRefusals(t *testing.T) {
	b := newBrowser(t, nil)
	noRedirect := []struct {
		name    string
		changes map[string]string
		want    string
	}{
		{"unknown client", map[string]string{"client_id": "0b8e6a3f-1f5e-4a8e-9e43-4f2b0c6d7e81"}, "AADSTS700016"},
		{"redirect URI not the blueprint's", map[string]string{"redirect_uri": "https://evil.example/consent.html"}, "AADSTS50011"},
		{"the SPA's redirect URI", map[string]string{"redirect_uri": "http://127.0.0.1:3001"}, "AADSTS50011"},
	}
	for _, c := range noRedirect {
		t.Run(c.name, func(t *testing.T) {
			resp, page := b.get(b.consentURL(c.changes))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, c.want) {
				t.Errorf("%d %q %s", resp.StatusCode, resp.Header.Get("Location"), page)
			}
		})
	}
	redirected := []struct {
		name    string
		changes map[string]string
		want    string
	}{
		{"a scope the MCP server does not publish", map[string]string{"scope": "api://" + mcpserver.AppID + "/Mail.Send"}, "AADSTS70011"},
		{"an unknown resource", map[string]string{"scope": "api://7f9d0c8e-3b1a-4c2d-9e8f-0a1b2c3d4e5f/Read"}, "AADSTS500011"},
	}
	for _, c := range redirected {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := b.get(b.consentURL(c.changes))
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), consentRedirect+"?") ||
				!strings.HasPrefix(loc.Query().Get("error_description"), c.want) || loc.Query().Get("state") != "c0nsent" {
				t.Errorf("%d %v", resp.StatusCode, loc)
			}
		})
	}

	t.Run("declined", func(t *testing.T) {
		u := b.consentURL(nil)
		id := b.consentPage(u, "bob@contoso.example")
		resp := b.answer(u, id, "cancel")
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc == nil || loc.Query().Get("error") != "access_denied" || !strings.HasPrefix(loc.Query().Get("error_description"), "AADSTS65004") {
			t.Errorf("%d %v", resp.StatusCode, loc)
		}
		h := &harness{t: t, sim: b.sim, env: b.env, http: cloudsimtest.Client(b.sim)}
		h.ctx = oidc.ClientContext(t.Context(), h.http)
		tc := h.userToken("bob@contoso.example", "bob-local-demo-password", "api://"+b.env["BLUEPRINT_APP_ID"]+"/access_as_user")
		if _, err := mcpOBO(h, tc); err == nil || !strings.Contains(err.Error(), "AADSTS65001") {
			t.Errorf("after declining: %v", err)
		}
	})
	t.Run("an answer not from the page's user", func(t *testing.T) {
		u := b.consentURL(nil)
		fresh := func() *browser {
			c := &browser{t: t, sim: b.sim, env: b.env, client: cloudsimtest.Client(b.sim)}
			c.client.Jar, _ = cookiejar.New(nil)
			c.client.CheckRedirect = b.client.CheckRedirect
			return c
		}
		a, other := fresh(), fresh()
		alicesPage := a.consentPage(u, "alice@contoso.example")
		other.consentPage(u, "bob@contoso.example")
		for _, id := range []string{alicesPage, "forged-id"} {
			if resp := other.answer(u, id, "accept"); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("bob posting %q: %d", id, resp.StatusCode)
			}
		}
		if resp := a.answer(u, alicesPage, "accept"); resp.StatusCode != http.StatusFound {
			t.Errorf("alice's own answer after bob's attempt: %d", resp.StatusCode)
		}
	})
}

// The admin consent endpoint: an admin grants for everyone, so bob and the
// agent user get MCP tokens without answering anything; a non-admin gets
// AADSTS90094 and no grant.
func TestAdminConsent(t *testing.T) {
	b := newBrowser(t, nil)
	h := &harness{t: t, sim: b.sim, env: b.env, http: cloudsimtest.Client(b.sim)}
	h.ctx = oidc.ClientContext(t.Context(), h.http)
	v := url.Values{"client_id": {b.env["AGENT_CLIENT_ID"]}, "redirect_uri": {consentRedirect}, "scope": {mcpScope}, "state": {"adm1n"}}
	adminURL := b.sim.URL + "/" + b.env["TENANT_ID"] + "/v2.0/adminconsent?" + v.Encode()

	bob := &browser{t: t, sim: b.sim, env: b.env, client: cloudsimtest.Client(b.sim)}
	bob.client.Jar, _ = cookiejar.New(nil)
	bob.client.CheckRedirect = b.client.CheckRedirect
	form, _ := url.ParseQuery(v.Encode())
	form.Set("login", "bob@contoso.example")
	resp, err := bob.client.PostForm(adminURL, form)
	if err != nil {
		t.Fatal(err)
	}
	if page := readAll(resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "AADSTS90094") {
		t.Errorf("a non-admin: %d %s", resp.StatusCode, page)
	}

	id := b.consentPage(adminURL, "alice@contoso.example")
	resp = b.answer(adminURL, id, "accept")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("admin_consent") != "True" || loc.Query().Get("tenant") != b.env["TENANT_ID"] || loc.Query().Get("state") != "adm1n" {
		t.Fatalf("after admin consent: %d %v", resp.StatusCode, loc)
	}
	tc := h.userToken("bob@contoso.example", "bob-local-demo-password", "api://"+b.env["BLUEPRINT_APP_ID"]+"/access_as_user")
	if _, err := mcpOBO(h, tc); err != nil {
		t.Errorf("bob after admin consent: %v", err)
	}
	agent := h.agentClient(h.blueprint(), b.env["AGENT_CLIENT_ID"])
	t2, err := agent.AcquireTokenByCredential(h.ctx, []string{exchangeScope})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.AcquireTokenByUserFederatedIdentityCredential(h.ctx, []string{mcpScope}, t2.AccessToken,
		confidential.WithUserFICUsername(b.env["AGENT_USER_UPN"])); err != nil {
		t.Errorf("the agent user after admin consent: %v", err)
	}
}
