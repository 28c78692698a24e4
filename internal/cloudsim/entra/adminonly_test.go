package entra_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/mcpserver"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// Issue 39, item 4 (a): a user consents for himself only to permissions
// that do not need an admin; Entra refuses the others with AADSTS90094
// ("The grant requires admin permission.") wherever consent is asked: the
// consent page for an agent identity, an app's sign-in, the device login.
// An admin consents to them, for herself or for everyone, and what an
// admin consented for everyone needs nothing of the user.
func TestUserConsentOnlyForWhatUsersMayGrant(t *testing.T) {
	const adminOnly = "MCP.GroupMember.Read.All"
	b := newBrowser(t, func(o *cloudsim.Options) {
		// The MCP server's group scope, marked for admin consent in the
		// tenant file (adminConsentScopes), as a resource's own scope can be.
		for _, a := range o.Tenant.Applications {
			if a.AppID == mcpserver.AppID {
				a.AdminConsentScopes = []string{adminOnly}
			}
		}
	})
	fresh := func() *browser {
		c := &browser{t: t, sim: b.sim, env: b.env, client: cloudsimtest.Client(b.sim)}
		c.client.Jar, _ = cookiejar.New(nil)
		c.client.CheckRedirect = b.client.CheckRedirect
		return c
	}
	// signedIn asks u as upn, signing in on the login page if shown.
	signedIn := func(br *browser, u, upn string) (*http.Response, string) {
		t.Helper()
		resp, page := br.get(u)
		if resp.StatusCode == http.StatusOK && strings.Contains(page, `name="login"`) {
			base, query, _ := strings.Cut(u, "?")
			form, _ := url.ParseQuery(query)
			form.Set("login", upn)
			r, err := br.client.PostForm(base, form)
			if err != nil {
				t.Fatal(err)
			}
			resp, page = r, readAll(r)
		}
		return resp, page
	}
	refused := func(t *testing.T, resp *http.Response, page, scope string) {
		t.Helper()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" || !strings.Contains(page, "AADSTS90094: The grant requires admin permission.") ||
			!strings.Contains(page, scope) || consentRequestField.MatchString(page) {
			t.Errorf("%d %q %s, want the AADSTS90094 page naming %s and no consent page", resp.StatusCode, resp.Header.Get("Location"), page, scope)
		}
	}
	shown := func(t *testing.T, resp *http.Response, page, scope string) {
		t.Helper()
		if resp.StatusCode != http.StatusOK || !consentRequestField.MatchString(page) || !strings.Contains(page, "<code>"+scope+"</code>") {
			t.Errorf("%d %s, want the consent page for %s", resp.StatusCode, page, scope)
		}
	}
	groupScope := "api://" + mcpserver.AppID + "/" + adminOnly
	graphScope := "https://graph.microsoft.com/Application.ReadWrite.All"

	t.Run("the consent page for an agent identity", func(t *testing.T) {
		bob := fresh()
		resp, page := signedIn(bob, b.consentURL(map[string]string{"scope": groupScope}), "bob@contoso.example")
		refused(t, resp, page, adminOnly)
		resp, page = bob.get(b.consentURL(map[string]string{"scope": graphScope}))
		refused(t, resp, page, "Application.ReadWrite.All")
		resp, page = bob.get(b.consentURL(nil)) // MCP.User.Read.All: users may
		shown(t, resp, page, "MCP.User.Read.All")
		resp, page = signedIn(fresh(), b.consentURL(map[string]string{"scope": groupScope}), "alice@contoso.example")
		shown(t, resp, page, adminOnly)
	})

	t.Run("an app's sign-in", func(t *testing.T) {
		bob := fresh()
		u := bob.authorizeURL(map[string]string{"scope": graphScope + " openid"})
		resp, page := signedIn(bob, u, "bob@contoso.example")
		refused(t, resp, page, "Application.ReadWrite.All")
		// Silently, it is consent that is missing, as for any scope.
		resp, _ = bob.get(bob.authorizeURL(map[string]string{"scope": graphScope + " openid", "prompt": "none"}))
		if v := fragment(t, resp); v.Get("error") != "consent_required" || !strings.HasPrefix(v.Get("error_description"), "AADSTS65001") {
			t.Errorf("prompt=none: %v", v)
		}
		resp, page = signedIn(fresh(), u, "alice@contoso.example")
		shown(t, resp, page, "Application.ReadWrite.All")
	})

	t.Run("the device login", func(t *testing.T) {
		h := &harness{t: t, sim: b.sim, env: b.env, http: cloudsimtest.Client(b.sim)}
		dc := h.deviceCode(tenant.GraphCLIAppID, graphScope)
		resp, err := h.http.PostForm(b.sim.URL+"/_cloudsim/devicecode/approve", url.Values{"user_code": {dc["user_code"].(string)}, "user": {"bob@contoso.example"}})
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(resp); resp.StatusCode == http.StatusNoContent || !strings.Contains(body, "AADSTS90094") {
			t.Errorf("the switch approving for bob: %d %s", resp.StatusCode, body)
		}
		bob := fresh()
		resp, err = bob.client.PostForm(b.sim.URL+"/devicelogin", url.Values{"otc": {dc["user_code"].(string)}, "login": {"bob@contoso.example"}})
		if err != nil {
			t.Fatal(err)
		}
		if page := readAll(resp); !strings.Contains(page, "AADSTS90094") || consentRequestField.MatchString(page) {
			t.Errorf("bob at /devicelogin: %d %s", resp.StatusCode, page)
		}
		e := h.post(url.Values{"grant_type": {"device_code"}, "client_id": {tenant.GraphCLIAppID}, "device_code": {dc["device_code"].(string)}})
		if e.Error != "authorization_pending" {
			t.Errorf("bob's device code: %d %s %s, want authorization_pending", e.status, e.Error, e.Desc)
		}
		// alice, an admin, consents for herself at the same page.
		resp, err = fresh().client.PostForm(b.sim.URL+"/devicelogin", url.Values{"otc": {dc["user_code"].(string)}, "login": {"alice@contoso.example"}})
		if err != nil {
			t.Fatal(err)
		}
		page := readAll(resp)
		shown(t, resp, page, "Application.ReadWrite.All")
	})

	t.Run("an admin consents for everyone", func(t *testing.T) {
		v := url.Values{"client_id": {b.env["AGENT_CLIENT_ID"]}, "redirect_uri": {consentRedirect}, "scope": {groupScope}}
		adminURL := b.sim.URL + "/" + b.env["TENANT_ID"] + "/v2.0/adminconsent?" + v.Encode()
		resp, page := signedIn(fresh(), adminURL, "bob@contoso.example")
		refused(t, resp, page, "")
		// A role that may grant consent (Cloud Application Administrator)
		// serves as well as the tenant file's "admin".
		b.sim.Live.Update(func(next *tenant.Directory) error {
			for i, u := range next.Users {
				if u.UPN == "alice@contoso.example" {
					c := *u
					c.Admin, c.DirectoryRoles = false, []string{"Cloud Application Administrator"}
					next.Users[i] = &c
				}
			}
			return nil
		})
		admin := fresh()
		resp, page = signedIn(admin, adminURL, "alice@contoso.example")
		shown(t, resp, page, adminOnly)
		m := consentRequestField.FindStringSubmatch(page)
		if m == nil {
			t.FailNow()
		}
		if resp := admin.answer(adminURL, m[1], "accept"); resp.StatusCode != http.StatusFound {
			t.Fatalf("alice's answer: %d", resp.StatusCode)
		}
		// bob now needs to grant nothing: straight back, and the agent gets
		// his token.
		bob := fresh()
		if resp, _ := signedIn(bob, b.consentURL(map[string]string{"scope": groupScope}), "bob@contoso.example"); resp.StatusCode != http.StatusFound ||
			!strings.HasPrefix(resp.Header.Get("Location"), consentRedirect) {
			t.Errorf("bob after the admin's consent: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		h := &harness{t: t, sim: b.sim, env: b.env, http: cloudsimtest.Client(b.sim)}
		h.ctx = oidc.ClientContext(t.Context(), h.http)
		tc := h.userToken("bob@contoso.example", "bob-local-demo-password", "api://"+b.env["BLUEPRINT_APP_ID"]+"/access_as_user")
		agent := h.agentClient(h.blueprint(), b.env["AGENT_CLIENT_ID"])
		if _, err := agent.AcquireTokenOnBehalfOf(h.ctx, tc, []string{groupScope}); err != nil {
			t.Errorf("the agent for bob after the admin's consent: %v", err)
		}
	})
}
