package graph_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// Issue 39, item 4: a member with no directory role must not take over
// the tenant's applications through Graph, and item 6: Graph checks the
// caller before anything else.

const (
	alice = "alice@contoso.example" // the shipped tenant's admin
	bob   = "bob@contoso.example"   // a member with no directory role
)

// newShippedFixture is a cloudsim on the shipped tenant, where the STS
// app, the SPA and the Weather API are the demo's own.
func newShippedFixture(t *testing.T) *fixture {
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) { o.DeviceCodeInterval = time.Second })
	return &fixture{t: t, sim: sim, http: cloudsimtest.Client(sim)}
}

// graphPermissionConsent is, for each delegated permission cloudsim's
// Graph publishes, whether a user may consent to it for themselves: the
// Microsoft Graph permissions reference's AdminConsentRequired row for the
// delegated permission, read 2026-12-06 (learn.microsoft.com/graph/
// permissions-reference and /graph/migrate-azure-ad-graph-permissions-
// differences; graphpermissions.merill.net mirrors the same data).
var graphPermissionConsent = map[string]string{
	"User.Read": "User", "User.ReadWrite": "User", "User.ReadBasic.All": "User",
	"User.Read.All": "Admin", "User.ReadWrite.All": "Admin",
	"Directory.Read.All": "Admin", "Directory.ReadWrite.All": "Admin", "Directory.AccessAsUser.All": "Admin",
	"RoleManagement.Read.Directory": "Admin", "RoleManagement.ReadWrite.Directory": "Admin",
	"Application.Read.All": "Admin", "Application.ReadWrite.All": "Admin",
	"AppRoleAssignment.ReadWrite.All": "Admin", "DelegatedPermissionGrant.ReadWrite.All": "Admin",
	"AgentIdentityBlueprint.Create": "Admin", "AgentIdentityBlueprint.Read.All": "Admin", "AgentIdentityBlueprint.ReadWrite.All": "Admin",
	"AgentIdentityBlueprint.AddRemoveCreds.All": "Admin", "AgentIdentityBlueprint.UpdateBranding.All": "Admin",
	"AgentIdentityBlueprint.UpdateAuthProperties.All": "Admin",
	"AgentIdentityBlueprintPrincipal.Create":          "Admin", "AgentIdentityBlueprintPrincipal.ReadWrite.All": "Admin",
	"AgentIdentity.Create.All": "Admin", "AgentIdentity.Read.All": "Admin", "AgentIdentity.ReadWrite.All": "Admin",
	"AgentIdUser.ReadWrite.IdentityParentedBy": "Admin", "AgentIdUser.ReadWrite.All": "Admin",
}

// deviceSignIn starts MSAL Go's device code flow for the Graph Command
// Line Tools and has upn answer it with cloudsim's switch (the person at
// /devicelogin). It returns the flow and the switch's answer.
func (f *fixture) deviceSignIn(ctx context.Context, upn string, names ...string) (public.DeviceCode, int, string) {
	f.t.Helper()
	app, err := public.New(tenant.GraphCLIAppID, public.WithAuthority(f.authority()), public.WithHTTPClient(f.http), public.WithInstanceDiscovery(false))
	if err != nil {
		f.t.Fatal(err)
	}
	dc, err := app.AcquireTokenByDeviceCode(ctx, graphScopes(names...))
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := f.http.PostForm(f.sim.URL+"/_cloudsim/devicecode/approve", url.Values{"user_code": {dc.Result.UserCode}, "user": {upn}})
	if err != nil {
		f.t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	return dc, resp.StatusCode, body.String()
}

// graphToken is upn's Graph token from MSAL Go's device code flow, the
// switch approving.
func (f *fixture) graphToken(ctx context.Context, upn string, names ...string) string {
	f.t.Helper()
	dc, status, body := f.deviceSignIn(ctx, upn, names...)
	if status != http.StatusNoContent {
		f.t.Fatalf("%s signing in for %v: %d %s", upn, names, status, body)
	}
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		f.t.Fatalf("%s's token for %v: %v", upn, names, err)
	}
	return res.AccessToken
}

// poll redeems a device code once, over raw HTTP, and returns the error
// Entra answered ("" for a token).
func (f *fixture) poll(deviceCode string) string {
	f.t.Helper()
	resp, err := f.http.PostForm(f.authority()+"/oauth2/v2.0/token", url.Values{"client_id": {tenant.GraphCLIAppID},
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}})
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	return body.String()
}

// A member consents for himself only to the Graph permissions a user may
// consent to; every permission the reference reserves for an admin is
// refused with AADSTS90094, at the switch and at /devicelogin, and his
// device code yields no token. An admin consents to them.
func TestMemberCannotConsentToAdminOnlyGraphPermissions(t *testing.T) {
	f := newShippedFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	// Graph's own service principal says which permissions need an admin,
	// as the permissions reference does.
	sp := f.call(f.graphToken(ctx, alice, "Application.Read.All"), "GET", "servicePrincipals(appId='"+tenant.GraphAppID+"')", nil)
	published := map[string]string{}
	for _, s := range sp.body["oauth2PermissionScopes"].([]any) {
		m := s.(map[string]any)
		published[m["value"].(string)] = m["type"].(string)
	}
	for name, want := range graphPermissionConsent {
		if published[name] != want {
			t.Errorf("Graph publishes %s with type %q, the reference says %q", name, published[name], want)
		}
	}
	if len(published) != len(graphPermissionConsent) {
		t.Errorf("Graph publishes %d permissions, the test knows %d: check the new ones against the reference", len(published), len(graphPermissionConsent))
	}

	// bob at the device login, by MSAL Go, for the permission of the issue.
	dc, status, body := f.deviceSignIn(ctx, bob, "User.Read", "Application.ReadWrite.All")
	if status == http.StatusNoContent || !strings.Contains(body, "AADSTS90094: The grant requires admin permission.") || !strings.Contains(body, "Application.ReadWrite.All") {
		t.Errorf("bob consenting to Application.ReadWrite.All: %d %q, want AADSTS90094 naming it", status, body)
	}
	if e := f.poll(dc.Result.DeviceCode); !strings.Contains(e, "authorization_pending") {
		t.Errorf("bob's device code after the refusal: %s, want authorization_pending (no token)", e)
	}

	// Every permission, on the consent page a client sends bob to (one
	// device code each would be throttled): the admin's are refused, the
	// users' shown for him to accept.
	browser := cloudsimtest.Client(f.sim)
	browser.Jar, _ = cookiejar.New(nil)
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	env := f.sim.Env()
	consentURL := func(name string) string {
		return f.authority() + "/oauth2/v2.0/authorize?" + url.Values{"client_id": {env["AGENT_CLIENT_ID"]}, "response_type": {"none"},
			"redirect_uri": {"http://127.0.0.1:3001/consent.html"}, "scope": {"https://graph.microsoft.com/" + name}}.Encode()
	}
	login := url.Values{"client_id": {env["AGENT_CLIENT_ID"]}, "response_type": {"none"}, "redirect_uri": {"http://127.0.0.1:3001/consent.html"},
		"scope": {"https://graph.microsoft.com/User.Read"}, "login": {bob}}
	if resp, err := browser.PostForm(f.authority()+"/oauth2/v2.0/authorize", login); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bob signs in: %v %v", err, resp)
	}
	for name, typ := range graphPermissionConsent {
		resp, err := browser.Get(consentURL(name))
		if err != nil {
			t.Fatal(err)
		}
		var page bytes.Buffer
		page.ReadFrom(resp.Body)
		resp.Body.Close()
		shown := resp.StatusCode == http.StatusOK && strings.Contains(page.String(), `name="consent_request"`)
		switch {
		case typ == "User" && !shown:
			t.Errorf("bob asked to consent to %s (users may): %d %s", name, resp.StatusCode, page.String())
		case typ == "Admin" && (shown || !strings.Contains(page.String(), "AADSTS90094") || !strings.Contains(page.String(), name)):
			t.Errorf("bob asked to consent to %s (admins only): %d %s, want AADSTS90094", name, resp.StatusCode, page.String())
		}
	}

	t.Run("the person's page", func(t *testing.T) {
		app, _ := public.New(tenant.GraphCLIAppID, public.WithAuthority(f.authority()), public.WithHTTPClient(f.http), public.WithInstanceDiscovery(false))
		dc, err := app.AcquireTokenByDeviceCode(ctx, graphScopes("User.Read", "Application.ReadWrite.All"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := f.http.PostForm(f.sim.URL+"/devicelogin", url.Values{"otc": {dc.Result.UserCode}, "login": {bob}})
		if err != nil {
			t.Fatal(err)
		}
		var page bytes.Buffer
		page.ReadFrom(resp.Body)
		resp.Body.Close()
		if !strings.Contains(page.String(), "AADSTS90094") || strings.Contains(page.String(), `name="consent_request"`) {
			t.Errorf("bob at /devicelogin: %d %s, want AADSTS90094 and no consent page", resp.StatusCode, page.String())
		}
		if e := f.poll(dc.Result.DeviceCode); !strings.Contains(e, "authorization_pending") {
			t.Errorf("bob's device code after the page: %s", e)
		}
	})

	t.Run("bob's token for what he may consent to", func(t *testing.T) {
		if a := f.call(f.graphToken(ctx, bob, "User.Read"), "GET", "me", nil); a.status != 200 || a.str("userPrincipalName") != bob {
			t.Errorf("GET /me: %d %v", a.status, a.body)
		}
	})
	t.Run("an admin consents for herself", func(t *testing.T) {
		tok := f.graphToken(ctx, alice, "Application.ReadWrite.All")
		if scp, _ := f.claims(tok)["scp"].(string); !slices.Contains(strings.Fields(scp), "Application.ReadWrite.All") {
			t.Errorf("alice's scp %q", scp)
		}
	})
}

// With Application.ReadWrite.All consented for everyone by an admin, a
// member's token carries it, and Graph still lets him change only the
// applications he owns: the STS app's secrets, the SPA's redirect URIs,
// the Weather API, their principals and app roles need an application
// administrator's role. Reading stays open to him, as to any member.
func TestDelegatedTokenActsOnlyAsFarAsTheUserMay(t *testing.T) {
	f := newShippedFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	live := f.sim.Live.Load()
	sts, spa, weather := live.AppFor(tenant.PartSTS), live.AppFor(tenant.PartSPA), live.AppFor(tenant.PartWeatherAPI)

	// alice consents for everyone through Graph, as an admin would.
	grantor := f.graphToken(ctx, alice, "DelegatedPermissionGrant.ReadWrite.All", "Application.Read.All")
	cli := f.call(grantor, "GET", "servicePrincipals(appId='"+tenant.GraphCLIAppID+"')", nil)
	grant := f.call(grantor, "POST", "oauth2PermissionGrants", map[string]any{"clientId": cli.str("id"), "consentType": "AllPrincipals",
		"resourceId": tenant.DerivedID("servicePrincipal/" + tenant.GraphAppID), "scope": "Application.ReadWrite.All AppRoleAssignment.ReadWrite.All"})
	if grant.status != http.StatusCreated {
		t.Fatalf("alice's grant for everyone: %d %v", grant.status, grant.body)
	}
	tok := f.graphToken(ctx, bob, "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All")

	if a := f.call(tok, "GET", "applications(appId='"+sts.AppID+"')", nil); a.status != 200 {
		t.Errorf("bob reads the STS app: %d %v", a.status, a.body)
	}
	refused := []struct {
		name, method, path string
		body               any
	}{
		{"a secret on the STS app", "POST", "applications/" + sts.ID() + "/addPassword", map[string]any{"passwordCredential": map[string]any{"displayName": "mine"}}},
		{"a federated credential on the STS app", "POST", "applications/" + sts.ID() + "/federatedIdentityCredentials",
			map[string]any{"name": "mine", "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:bob/x:ref:refs/heads/main", "audiences": []string{tenant.TokenExchangeURI}}},
		{"the SPA's redirect URIs", "PATCH", "applications(appId='" + spa.AppID + "')", map[string]any{"spa": map[string]any{"redirectUris": []string{"https://evil.example"}}}},
		{"the Weather API's identifier URI", "PATCH", "applications/" + weather.ID(), map[string]any{"identifierUris": []string{"api://bobs-weather"}}},
		{"deleting the Weather API", "DELETE", "applications/" + weather.ID(), nil},
		{"deleting the STS app's principal", "DELETE", "servicePrincipals/" + sts.ServicePrincipalID, nil},
	}
	for _, c := range refused {
		if a := f.call(tok, c.method, c.path, c.body); a.status != http.StatusForbidden || a.code() != "Authorization_RequestDenied" {
			t.Errorf("bob: %s: %d %v, want 403 Authorization_RequestDenied", c.name, a.status, a.body)
		}
	}
	now := f.sim.Live.Load()
	if got := now.App(sts.AppID); len(got.Secrets) != len(sts.Secrets) || len(got.FederatedCredentials) != len(sts.FederatedCredentials) {
		t.Errorf("the STS app's credentials changed: %d secrets, %d federated", len(got.Secrets), len(got.FederatedCredentials))
	}
	if got := now.App(spa.AppID); !slices.Equal(got.SPARedirectURIs, spa.SPARedirectURIs) {
		t.Errorf("the SPA's redirect URIs changed: %v", got.SPARedirectURIs)
	}
	if now.App(weather.AppID) == nil || now.AppByServicePrincipal(sts.ServicePrincipalID) == nil {
		t.Error("bob deleted an application or principal")
	}

	// His own application he changes as he likes: the owner needs no role.
	mine := f.call(tok, "POST", "applications", map[string]any{"displayName": "bob's", "appRoles": []map[string]any{
		{"id": "66666666-7777-4888-8999-aaaaaaaaaaaa", "value": "Read", "allowedMemberTypes": []string{"Application"}, "isEnabled": true}}})
	if mine.status != http.StatusCreated {
		t.Fatalf("bob registers an app: %d %v", mine.status, mine.body)
	}
	if a := f.call(tok, "PATCH", "applications/"+mine.str("id"), map[string]any{"identifierUris": []string{"api://" + mine.str("appId")}}); a.status != 204 {
		t.Errorf("bob changes his app: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "POST", "applications/"+mine.str("id")+"/addPassword", map[string]any{}); a.status != 200 {
		t.Errorf("bob adds a secret to his app: %d %v", a.status, a.body)
	}
	mySp := f.call(tok, "POST", "servicePrincipals", map[string]any{"appId": mine.str("appId")})
	if mySp.status != http.StatusCreated {
		t.Fatalf("bob creates his app's principal: %d %v", mySp.status, mySp.body)
	}
	// An app role of a resource he does not own, for his app: refused; of
	// his own: granted.
	weatherSp := f.call(tok, "GET", "servicePrincipals(appId='"+weather.AppID+"')", nil)
	var weatherRole string
	for _, r := range weatherSp.body["appRoles"].([]any) {
		weatherRole = r.(map[string]any)["id"].(string)
	}
	assign := func(resource, role string) answer {
		return f.call(tok, "POST", "servicePrincipals/"+mySp.str("id")+"/appRoleAssignments",
			map[string]any{"principalId": mySp.str("id"), "resourceId": resource, "appRoleId": role})
	}
	if a := assign(weatherSp.str("id"), weatherRole); a.status != http.StatusForbidden || a.code() != "Authorization_RequestDenied" {
		t.Errorf("bob grants his app the Weather API's role: %d %v", a.status, a.body)
	}
	if a := assign(mySp.str("id"), "66666666-7777-4888-8999-aaaaaaaaaaaa"); a.status != http.StatusCreated {
		t.Errorf("bob grants his app its own role: %d %v", a.status, a.body)
	}

	// With an application administrator's role, the same token may.
	for _, role := range []string{"Cloud Application Administrator", "Application Administrator", "Global Administrator"} {
		setRoles(f, bob, role)
		if a := f.call(tok, "POST", "applications/"+sts.ID()+"/addPassword", map[string]any{}); a.status != 200 {
			t.Errorf("bob as %s adds a secret to the STS app: %d %v", role, a.status, a.body)
		}
	}
}

// setRoles replaces a user's directory roles in the live tenant (a copy:
// published snapshots never change).
func setRoles(f *fixture, upn string, roles ...string) {
	f.sim.Live.Update(func(next *tenant.Directory) error {
		for i, u := range next.Users {
			if u.UPN == upn {
				c := *u
				c.DirectoryRoles = roles
				next.Users[i] = &c
			}
		}
		return nil
	})
}

// Microsoft's first-party applications (Microsoft Graph, the Graph
// Command Line Tools, the MCP Server for Enterprise) are registered in
// Microsoft's tenant: this tenant's Graph does not list them or serve them
// as applications, to anyone, a Global Administrator included, with
// Graph's 404; their service principals are here.
func TestFirstPartyApplicationsAreMicrosofts(t *testing.T) {
	f := newShippedFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	setRoles(f, alice, "Global Administrator")
	tok := f.graphToken(ctx, alice, "Application.ReadWrite.All")
	firstParty := map[string]string{"Microsoft Graph": tenant.GraphAppID, "Microsoft Graph Command Line Tools": tenant.GraphCLIAppID,
		"microsoft-mcp-server-for-enterprise": "e8c77dc2-69b3-43f4-bc51-3213c9d915b4"}

	list := f.call(tok, "GET", "applications", nil)
	if list.status != 200 {
		t.Fatalf("list: %d %v", list.status, list.body)
	}
	var listed []string
	for _, a := range list.body["value"].([]any) {
		listed = append(listed, a.(map[string]any)["appId"].(string))
	}
	// The blueprint, the SPA, the Weather API, the STS app and the token
	// vault's app.
	if len(listed) != 5 {
		t.Errorf("the tenant's applications: %v, want its own five", listed)
	}
	for name, appID := range firstParty {
		if slices.Contains(listed, appID) {
			t.Errorf("%s is listed among the tenant's applications", name)
		}
		if a := f.call(tok, "GET", "applications?$filter=displayName%20eq%20'"+url.PathEscape(name)+"'", nil); len(a.body["value"].([]any)) != 0 {
			t.Errorf("%s found by name: %v", name, a.body)
		}
		objectID := tenant.DerivedID("application/" + appID)
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "applications(appId='" + appID + "')", nil},
			{"GET", "applications/" + objectID, nil},
			{"PATCH", "applications(appId='" + appID + "')", map[string]any{"displayName": "mine now"}},
			{"PATCH", "applications/" + objectID, map[string]any{}},
			{"POST", "applications/" + objectID + "/addPassword", map[string]any{}},
			{"POST", "applications/" + objectID + "/federatedIdentityCredentials",
				map[string]any{"name": "x", "issuer": "https://token.actions.githubusercontent.com", "subject": "s", "audiences": []string{tenant.TokenExchangeURI}}},
			{"GET", "applications/" + objectID + "/federatedIdentityCredentials", nil},
			{"DELETE", "applications/" + objectID, nil},
		} {
			if a := f.call(tok, c.method, c.path, c.body); a.status != http.StatusNotFound || a.code() != "Request_ResourceNotFound" {
				t.Errorf("%s: %s %s: %d %v, want 404 Request_ResourceNotFound", name, c.method, c.path, a.status, a.body)
			}
		}
		if a := f.call(tok, "GET", "servicePrincipals(appId='"+appID+"')", nil); a.status != 200 || a.str("appId") != appID {
			t.Errorf("%s's service principal: %d %v", name, a.status, a.body)
		}
	}
	if got := f.sim.Live.Load().App(tenant.GraphAppID); got.Name != "Microsoft Graph" || len(got.Secrets) != 0 {
		t.Errorf("Microsoft Graph changed: %+v", got)
	}
}

// Item 6: the caller's permission is checked before the body is read or
// the object looked up. A token with User.Read gets the same 403 for an
// empty PATCH of a blueprint, of an ordinary app and of an ID that does
// not exist, as it does for a GET; creating a principal with no body is
// 403 too. The owner's empty PATCH passes.
func TestAuthorizationComesFirst(t *testing.T) {
	f := newFixture(t, nil)
	owner := f.token(admin, scriptScopes...)
	bp := f.call(owner, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	app := f.call(owner, "POST", "applications", map[string]any{"displayName": "an app"})
	if bp.status != 201 || app.status != 201 {
		t.Fatalf("setup: %d %d", bp.status, app.status)
	}
	missing := "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"
	userRead := f.token(member, "User.Read")
	raw := func(token, method, path string, body []byte) answer {
		req, _ := http.NewRequest(method, f.sim.URL+"/graph/v1.0/"+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return answer{status: resp.StatusCode}
	}
	for _, id := range []string{bp.str("id"), app.str("id"), missing} {
		for _, c := range []struct {
			method string
			body   any
		}{{"PATCH", map[string]any{}}, {"PATCH", nil}, {"GET", nil}} {
			a := f.call(userRead, c.method, "applications/"+id, c.body)
			e, _ := a.body["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if a.status != http.StatusForbidden || a.code() != "Authorization_RequestDenied" || msg != "Insufficient privileges to complete the operation." {
				t.Errorf("%s %v on %s with User.Read: %d %v, want Graph's 403", c.method, c.body, id, a.status, a.body)
			}
		}
	}
	for _, path := range []string{"servicePrincipals", "servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal",
		"servicePrincipals/microsoft.graph.agentIdentity", "applications/" + bp.str("id") + "/microsoft.graph.agentIdentityBlueprint/addPassword"} {
		if a := f.call(userRead, "POST", path, nil); a.status != http.StatusForbidden || a.code() != "Authorization_RequestDenied" {
			t.Errorf("POST %s with no body and User.Read: %d %v, want 403", path, a.status, a.body)
		}
	}
	// A body larger than cloudsim reads is refused for the permission first.
	if a := raw(userRead, "PATCH", "applications/"+app.str("id"), bytes.Repeat([]byte(" "), 1<<20+100)); a.status != http.StatusForbidden {
		t.Errorf("a PATCH over 1 MiB with User.Read: %d, want 403", a.status)
	}

	// With the permission but neither ownership nor a role: still 403 on
	// the object; 404 for what is not there (the permission lets a member
	// list the applications anyway).
	notOwner := f.token(member, "Application.ReadWrite.All", "AgentIdentityBlueprint.UpdateBranding.All")
	for _, id := range []string{bp.str("id"), app.str("id")} {
		if a := f.call(notOwner, "PATCH", "applications/"+id, map[string]any{}); a.status != http.StatusForbidden {
			t.Errorf("an empty PATCH of another's %s: %d %v, want 403", id, a.status, a.body)
		}
	}
	if a := f.call(notOwner, "PATCH", "applications/"+missing, map[string]any{}); a.status != http.StatusNotFound || a.code() != "Request_ResourceNotFound" {
		t.Errorf("an empty PATCH of nothing, with the permission: %d %v, want 404", a.status, a.body)
	}
	for _, id := range []string{bp.str("id"), app.str("id")} {
		if a := f.call(owner, "PATCH", "applications/"+id, map[string]any{}); a.status != http.StatusNoContent {
			t.Errorf("the owner's empty PATCH of %s: %d %v", id, a.status, a.body)
		}
	}
}
