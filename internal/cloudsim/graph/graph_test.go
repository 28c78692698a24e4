package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/graph"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// fixture is a cloudsim on the fresh tenant and a client for its Graph.
type fixture struct {
	t    *testing.T
	sim  *cloudsim.Sim
	http *http.Client
}

func newFixture(t *testing.T, edit func(*cloudsim.Options)) *fixture {
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		cloudsimtest.FreshTenant(t)(o)
		if edit != nil {
			edit(o)
		}
	})
	return &fixture{t: t, sim: sim, http: cloudsimtest.Client(sim)}
}

const (
	admin     = "admin@contoso.example"
	developer = "developer@contoso.example"
	member    = "member@contoso.example"
)

// token is a delegated Graph token for a user with these permissions, as
// cloudsim's token endpoint would sign it (TestDeviceCodeGivesAGraphToken
// gets one from the endpoint itself).
func (f *fixture) token(upn string, scopes ...string) string {
	f.t.Helper()
	u := f.sim.Tenant.UserByUPN(upn)
	now := time.Now()
	tok, err := f.sim.Keys.Sign(map[string]any{"aud": graph.Resource, "iss": "https://sts.windows.net/" + f.sim.Tenant.Tenant.ID + "/",
		"tid": f.sim.Tenant.Tenant.ID, "oid": u.ObjectID, "upn": u.UPN, "scp": strings.Join(scopes, " "), "appid": tenant.GraphCLIAppID,
		"ver": "1.0", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}, true)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

type answer struct {
	status int
	body   map[string]any
}

// code is Graph's error code, "" for a success.
func (a answer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

func (f *fixture) call(token, method, path string, body any) answer {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.sim.URL+graph.Path+"/v1.0/"+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			f.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
	}
	return a
}

// step is one operation: refused without its permission, done with it.
type step struct {
	name          string
	method, path  string
	body          any
	needs         []string // the permissions that make it pass, with the admin's role
	withoutStatus int      // with every other permission of the script
	status        int
}

// The script's permissions, which no step but the named ones may lean on.
var scriptScopes = []string{"User.Read", "AgentIdentityBlueprint.Create", "AgentIdentityBlueprint.AddRemoveCreds.All",
	"AgentIdentityBlueprint.UpdateBranding.All", "AgentIdentityBlueprint.UpdateAuthProperties.All", "AgentIdentityBlueprintPrincipal.Create",
	"AgentIdentity.Create.All", "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All",
	"AgentIdUser.ReadWrite.IdentityParentedBy"}

func without(all []string, drop []string) []string {
	var out []string
	for _, s := range all {
		keep := true
		for _, d := range drop {
			if s == d {
				keep = false
			}
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

// Every operation entra-setup.sh uses, in the order it uses them, first
// without the permission its page names (403 Authorization_RequestDenied,
// Graph's body), then with it. The objects each creates are the next
// ones' inputs.
func TestEveryOperationNeedsItsPermission(t *testing.T) {
	f := newFixture(t, nil)
	me := f.sim.Tenant.UserByUPN(admin).ObjectID
	ids := map[string]string{}
	sub := func(s string) string {
		for k, v := range ids {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	bind := []string{"https://graph.microsoft.com/v1.0/users/" + me}
	steps := []step{
		{"who am I", "GET", "me", nil, []string{"User.Read"}, 403, 200},
		{"create the blueprint", "POST", "applications/microsoft.graph.agentIdentityBlueprint",
			map[string]any{"displayName": "agentid blueprint", "sponsors@odata.bind": bind, "owners@odata.bind": bind},
			[]string{"AgentIdentityBlueprint.Create"}, 403, 201},
		{"read it by appId", "GET", "applications(appId='{bp}')?$select=id", nil, []string{"Application.ReadWrite.All"}, 403, 200},
		{"its identifier URI and scope", "PATCH", "applications/{bpObj}", map[string]any{"identifierUris": []string{"api://{bp}"},
			"api": map[string]any{"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": []map[string]any{{"id": "11111111-2222-4333-8444-555555555555",
				"value": "access_as_user", "type": "User", "isEnabled": true}}}},
			[]string{"AgentIdentityBlueprint.UpdateAuthProperties.All"}, 403, 204},
		{"its web redirect URIs", "PATCH", "applications/{bpObj}", map[string]any{"web": map[string]any{"redirectUris": []string{"http://localhost:3001/consent.html"}}},
			[]string{"AgentIdentityBlueprint.UpdateAuthProperties.All"}, 403, 204},
		{"its display name", "PATCH", "applications/{bpObj}", map[string]any{"displayName": "agentid blueprint (renamed)"},
			[]string{"AgentIdentityBlueprint.UpdateBranding.All"}, 403, 204},
		{"its principal", "POST", "servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal", map[string]any{"appId": "{bp}"},
			[]string{"AgentIdentityBlueprintPrincipal.Create"}, 403, 201},
		{"an agent identity", "POST", "servicePrincipals/microsoft.graph.agentIdentity",
			map[string]any{"displayName": "agentid agent", "agentIdentityBlueprintId": "{bp}", "sponsors@odata.bind": bind},
			[]string{"AgentIdentity.Create.All"}, 403, 201},
		{"the Weather API app", "POST", "applications", map[string]any{"displayName": "agentid weather API", "api": map[string]any{"requestedAccessTokenVersion": 2},
			"appRoles": []map[string]any{
				{"id": "66666666-7777-4888-8999-aaaaaaaaaaaa", "value": "Weather.Read", "allowedMemberTypes": []string{"Application"}, "isEnabled": true}}},
			[]string{"Application.ReadWrite.All"}, 403, 201},
		{"its identifier URI", "PATCH", "applications(appId='{api}')", map[string]any{"identifierUris": []string{"api://{api}"}},
			[]string{"Application.ReadWrite.All"}, 403, 204},
		{"its principal", "POST", "servicePrincipals", map[string]any{"appId": "{api}"}, []string{"Application.ReadWrite.All"}, 403, 201},
		{"read the principal by appId", "GET", "servicePrincipals(appId='{api}')?$select=id,appRoles", nil, []string{"Application.ReadWrite.All"}, 403, 200},
		{"the agent's app role on it", "POST", "servicePrincipals/{agent}/appRoleAssignments",
			map[string]any{"principalId": "{agent}", "resourceId": "{apiSp}", "appRoleId": "66666666-7777-4888-8999-aaaaaaaaaaaa"},
			[]string{"AppRoleAssignment.ReadWrite.All"}, 403, 201},
		{"a secret on the blueprint", "POST", "applications/{bpObj}/microsoft.graph.agentIdentityBlueprint/addPassword",
			map[string]any{"passwordCredential": map[string]any{"displayName": "local compose"}}, []string{"AgentIdentityBlueprint.AddRemoveCreds.All"}, 403, 200},
		{"a federated credential on the blueprint", "POST", "applications/{bpObj}/microsoft.graph.agentIdentityBlueprint/federatedIdentityCredentials",
			map[string]any{"name": "container-app", "issuer": "https://login.microsoftonline.com/" + f.sim.Tenant.Tenant.ID + "/v2.0",
				"subject": f.sim.Tenant.ManagedIdentity.ObjectID, "audiences": []string{tenant.TokenExchangeURI}},
			[]string{"AgentIdentityBlueprint.AddRemoveCreds.All"}, 403, 201},
		{"a federated credential on an app", "POST", "applications/{apiObj}/federatedIdentityCredentials",
			map[string]any{"name": "container-app", "issuer": "https://login.microsoftonline.com/" + f.sim.Tenant.Tenant.ID + "/v2.0",
				"subject": f.sim.Tenant.ManagedIdentity.ObjectID, "audiences": []string{tenant.TokenExchangeURI}},
			[]string{"Application.ReadWrite.All"}, 403, 201},
		{"an admin's consent", "POST", "oauth2PermissionGrants", map[string]any{"clientId": "{agent}", "consentType": "AllPrincipals",
			"resourceId": "{bpSp}", "scope": "access_as_user"}, []string{"DelegatedPermissionGrant.ReadWrite.All"}, 403, 201},
		{"the agent user", "POST", "users/microsoft.graph.agentUser", map[string]any{"displayName": "agentid agent user", "mailNickname": "agentid-agent",
			"userPrincipalName": "agentid-agent@contoso.example", "accountEnabled": true, "identityParentId": "{agent}"},
			[]string{"AgentIdUser.ReadWrite.IdentityParentedBy"}, 403, 201},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f.t = t
			body := s.body
			if body != nil {
				b, _ := json.Marshal(body)
				json.Unmarshal([]byte(sub(string(b))), &body)
			}
			refused := f.call(f.token(admin, without(scriptScopes, s.needs)...), s.method, sub(s.path), body)
			if refused.status != s.withoutStatus || refused.code() != "Authorization_RequestDenied" {
				t.Fatalf("without %v: %d %v, want %d Authorization_RequestDenied", s.needs, refused.status, refused.body, s.withoutStatus)
			}
			if msg, _ := refused.body["error"].(map[string]any)["message"].(string); msg != "Insufficient privileges to complete the operation." {
				t.Errorf("message %q", msg)
			}
			done := f.call(f.token(admin, s.needs...), s.method, sub(s.path), body)
			if done.status != s.status {
				t.Fatalf("with %v: %d %v, want %d", s.needs, done.status, done.body, s.status)
			}
			switch s.name {
			case "create the blueprint":
				ids["bp"], ids["bpObj"] = done.str("appId"), done.str("id")
				if done.str("@odata.type") != "#microsoft.graph.agentIdentityBlueprint" {
					t.Errorf("type %q", done.str("@odata.type"))
				}
			case "read it by appId":
				if done.body["displayName"] != nil || done.str("id") != ids["bpObj"] {
					t.Errorf("$select=id gave %v", done.body)
				}
			case "its principal":
				if s.path == "servicePrincipals" {
					ids["apiSp"] = done.str("id")
				} else {
					ids["bpSp"] = done.str("id")
				}
			case "an agent identity":
				ids["agent"] = done.str("id")
				if done.str("appId") != done.str("id") {
					t.Errorf("an agent identity's appId is its id: %v", done.body)
				}
			case "the Weather API app":
				ids["api"], ids["apiObj"] = done.str("appId"), done.str("id")
			case "a secret on the blueprint":
				ids["secret"] = done.str("secretText")
			}
		})
	}

	// What Graph wrote is the tenant the token endpoint uses: the new
	// agent identity gets T1 from its blueprint's new secret, then TR for
	// the new API with the role Graph assigned.
	tokens := cloudsimtest.NewTokens(f.sim)
	t1 := tokens.Get(t, map[string][]string{"grant_type": {"client_credentials"}, "client_id": {ids["bp"]}, "client_secret": {ids["secret"]},
		"scope": {tenant.TokenExchangeURI + "/.default"}, "fmi_path": {ids["agent"]}})
	tr := tokens.Get(t, map[string][]string{"grant_type": {"client_credentials"}, "client_id": {ids["agent"]},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {t1}, "scope": {"api://" + ids["api"] + "/.default"}})
	payload, err := f.sim.Keys.Verify(tr)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Roles []string `json:"roles"`
		Appid string   `json:"appid"`
		Azp   string   `json:"azp"`
	}
	json.Unmarshal(payload, &claims)
	if len(claims.Roles) != 1 || claims.Roles[0] != "Weather.Read" {
		t.Errorf("TR for the Graph-made API: roles %v", claims.Roles)
	}
	// And the Weather API, configured with the Graph-made app's ID,
	// answers the call TR makes.
	settings := map[string]string{"TENANT_ID": f.sim.Tenant.Tenant.ID, "AZURE_AUTHORITY_HOST": f.sim.URL, "WEATHER_API_APP_ID": ids["api"],
		"WEATHER_PROVIDER": "offline", "REQUIRED_ROLE": "Weather.Read", "AGENT_CLIENT_ID": ids["agent"]}
	r := config.New(func(k string) string { return settings[k] })
	svc, err := weatherapi.Build(weatherapi.LoadSettings(r), command.Deps{HTTPClient: f.http})
	if err != nil || r.Err() != nil {
		t.Fatalf("weather-api: %v %v", err, r.Err())
	}
	api := httptest.NewServer(svc.Handler())
	defer api.Close()
	req, _ := http.NewRequest("GET", api.URL+"/weather?city=Lisbon", nil)
	req.Header.Set("Authorization", "Bearer "+tr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Lisbon") {
		t.Errorf("the Weather API with TR: %d %s", resp.StatusCode, body)
	}
}

func blueprintBody(f *fixture, upn string) map[string]any {
	bind := []string{"https://graph.microsoft.com/v1.0/users/" + f.sim.Tenant.UserByUPN(upn).ObjectID}
	return map[string]any{"displayName": "bp", "sponsors@odata.bind": bind}
}

// The Agent ID writes need a role of a caller who does not own the
// object: a member without one is refused even with the permission; an
// Agent ID Developer creates blueprints but not agent users; the owner of
// a blueprint changes it without a role.
func TestAgentIDRolesAndOwners(t *testing.T) {
	f := newFixture(t, nil)
	all := f.token(member, scriptScopes...)
	if a := f.call(all, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, member)); a.status != 403 || a.code() != "Authorization_RequestDenied" {
		t.Errorf("a member without a role creates a blueprint: %d %v", a.status, a.body)
	}
	dev := f.token(developer, scriptScopes...)
	bp := f.call(dev, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, developer))
	if bp.status != 201 {
		t.Fatalf("an Agent ID Developer creates a blueprint: %d %v", bp.status, bp.body)
	}
	if a := f.call(dev, "POST", "servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal", map[string]any{"appId": bp.str("appId")}); a.status != 201 {
		t.Fatalf("its principal: %d %v", a.status, a.body)
	}
	ag := f.call(dev, "POST", "servicePrincipals/microsoft.graph.agentIdentity", map[string]any{"displayName": "a", "agentIdentityBlueprintId": bp.str("appId"),
		"sponsors@odata.bind": blueprintBody(f, developer)["sponsors@odata.bind"]})
	if ag.status != 201 {
		t.Fatalf("an agent identity: %d %v", ag.status, ag.body)
	}
	agentUser := map[string]any{"displayName": "u", "mailNickname": "u", "userPrincipalName": "u@contoso.example", "accountEnabled": true, "identityParentId": ag.str("id")}
	if a := f.call(dev, "POST", "users/microsoft.graph.agentUser", agentUser); a.status != 403 {
		t.Errorf("an Agent ID Developer creates an agent user: %d %v, want 403 (Agent ID Administrator only)", a.status, a.body)
	}
	if a := f.call(f.token(admin, scriptScopes...), "POST", "users/microsoft.graph.agentUser", agentUser); a.status != 201 || a.str("@odata.type") != "#microsoft.graph.agentUser" {
		t.Errorf("an Agent ID Administrator creates it: %d %v", a.status, a.body)
	}
	// The member becomes no owner by asking; the developer owns its blueprint.
	rename := map[string]any{"displayName": "renamed"}
	if a := f.call(all, "PATCH", "applications/"+bp.str("id"), rename); a.status != 403 {
		t.Errorf("a member renames another's blueprint: %d", a.status)
	}
	f.sim.Live.Update(func(next *tenant.Directory) error {
		for i, u := range next.Users {
			if u.UPN == developer {
				c := *u
				c.DirectoryRoles = nil
				next.Users[i] = &c // a copy: published snapshots never change
			}
		}
		return nil
	})
	if a := f.call(f.token(developer, "AgentIdentityBlueprint.UpdateBranding.All"), "PATCH", "applications/"+bp.str("id"), rename); a.status != 204 {
		t.Errorf("the owner, without a role, renames its blueprint: %d %v", a.status, a.body)
	}
}

// With Directory.AccessAsUser.All or Directory.ReadWrite.All in the
// token, every Agent ID write fails with 403, whatever else it holds
// (Agent ID known issues); other writes still work.
func TestOverPrivilegedTokenFailsAgentIDWrites(t *testing.T) {
	f := newFixture(t, nil)
	for _, extra := range []string{"Directory.AccessAsUser.All", "Directory.ReadWrite.All"} {
		tok := f.token(admin, append(scriptScopes, extra)...)
		if a := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin)); a.status != 403 || a.code() != "Authorization_RequestDenied" {
			t.Errorf("with %s: blueprint create %d %v, want 403", extra, a.status, a.body)
		}
		if a := f.call(tok, "POST", "applications", map[string]any{"displayName": "ordinary"}); a.status != 201 {
			t.Errorf("with %s: an ordinary app %d %v, want 201", extra, a.status, a.body)
		}
	}
}

// An enabled scope cannot be changed or removed; disabled first, it can.
func TestEnabledScopeCannotChange(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	bp := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	path := "applications/" + bp.str("id")
	scope := func(value string, enabled bool) map[string]any {
		return map[string]any{"api": map[string]any{"oauth2PermissionScopes": []map[string]any{
			{"id": "11111111-2222-4333-8444-555555555555", "value": value, "type": "User", "isEnabled": enabled}}}}
	}
	if a := f.call(tok, "PATCH", path, scope("access_as_user", true)); a.status != 204 {
		t.Fatalf("add the scope: %d %v", a.status, a.body)
	}
	for name, body := range map[string]map[string]any{
		"renamed": scope("something_else", true),
		"removed": {"api": map[string]any{"oauth2PermissionScopes": []any{}}},
		"replaced by a new id": {"api": map[string]any{"oauth2PermissionScopes": []map[string]any{
			{"id": "99999999-2222-4333-8444-555555555555", "value": "access_as_user", "type": "User", "isEnabled": true}}}},
	} {
		if a := f.call(tok, "PATCH", path, body); a.status != 400 || a.code() != "CannotDeleteOrUpdateEnabledEntitlement" {
			t.Errorf("%s: %d %v, want 400 CannotDeleteOrUpdateEnabledEntitlement", name, a.status, a.body)
		}
	}
	if a := f.call(tok, "PATCH", path, scope("access_as_user", false)); a.status != 204 {
		t.Fatalf("disable it: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "PATCH", path, map[string]any{"api": map[string]any{"oauth2PermissionScopes": []any{}}}); a.status != 204 {
		t.Errorf("remove it once disabled: %d %v", a.status, a.body)
	}
}

// Directory roles read without a role-reading permission come back with
// only id and @odata.type, as Graph returns objects the caller may not
// read: a role check on displayName then finds nothing.
func TestDirectoryRolesNeedARoleReadingPermission(t *testing.T) {
	f := newFixture(t, nil)
	for _, c := range []struct {
		scopes []string
		named  bool
	}{
		{[]string{"User.Read"}, false},
		{scriptScopes, false},
		{[]string{"User.Read", "RoleManagement.Read.Directory"}, true},
		{[]string{"User.Read", "Directory.Read.All"}, true},
	} {
		a := f.call(f.token(admin, c.scopes...), "GET", "me/memberOf/microsoft.graph.directoryRole?$select=displayName", nil)
		roles, _ := a.body["value"].([]any)
		if a.status != 200 || len(roles) != 2 { // the fresh tenant's admin: Agent ID Administrator, Cloud Application Administrator
			t.Fatalf("%v: %d %v", c.scopes, a.status, a.body)
		}
		role := roles[0].(map[string]any)
		named := role["displayName"] == "Agent ID Administrator"
		if named != c.named || !named && (role["id"] == nil || len(role) != 2) || role["@odata.type"] != "#microsoft.graph.directoryRole" {
			t.Errorf("%v: %v, want displayName %v", c.scopes, role, c.named)
		}
	}
}

// Refusals before any operation: Graph's 401s for the token, 404 for an
// object that is not there, 400 for a segment it does not serve.
func TestGraphRefusals(t *testing.T) {
	f := newFixture(t, nil)
	u := f.sim.Tenant.UserByUPN(admin)
	own := f.call(f.token(admin, "Application.ReadWrite.All"), "POST", "applications", map[string]any{"displayName": "the admin's"})
	sign := func(edit func(map[string]any)) string {
		now := time.Now()
		c := map[string]any{"aud": graph.Resource, "tid": f.sim.Tenant.Tenant.ID, "oid": u.ObjectID, "scp": "User.Read Application.ReadWrite.All",
			"nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		edit(c)
		tok, _ := f.sim.Keys.Sign(c, true)
		return tok
	}
	for _, c := range []struct {
		name, token, method, path string
		status                    int
		code, message             string
	}{
		{"no token", "", "GET", "me", 401, "InvalidAuthenticationToken", "Access token is empty."},
		{"another audience", sign(func(c map[string]any) { c["aud"] = "api://someone-else" }), "GET", "me", 401, "InvalidAuthenticationToken", "Invalid audience"},
		{"expired", sign(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), "GET", "me", 401, "InvalidAuthenticationToken", "expired"},
		{"app-only at /me", sign(func(c map[string]any) {
			delete(c, "scp")
			c["roles"] = []string{"Application.ReadWrite.All"}
			c["oid"] = f.sim.Tenant.App(tenant.GraphCLIAppID).ServicePrincipalID
		}), "GET", "me", 400, "BadRequest", "/me request is only valid with delegated authentication flow."},
		{"app-only for a principal not in the tenant", sign(func(c map[string]any) { delete(c, "scp") }), "GET", "applications", 401,
			"InvalidAuthenticationToken", "service principal"},
		{"a forged signature", f.token(admin, "User.Read")[:40] + "x" + f.token(admin, "User.Read")[41:], "GET", "me", 401, "InvalidAuthenticationToken", "validation failure"},
		{"an application that is not there", f.token(admin, "Application.ReadWrite.All"), "GET", "applications(appId='00000000-0000-4000-8000-000000000000')", 404,
			"Request_ResourceNotFound", "does not exist"},
		{"a segment cloudsim does not serve", f.token(admin, "User.Read"), "GET", "groups", 400, "BadRequest", "Resource not found for the segment 'groups'."},
		{"a property cloudsim does not apply", f.token(admin, "Application.ReadWrite.All"), "POST", "applications", 400, "Request_BadRequest", "optionalClaims"},
		{"a password through PATCH", f.token(admin, "Application.ReadWrite.All"), "PATCH", "applications(appId='" + own.str("appId") + "')", 400,
			"Request_BadRequest", "addPassword"},
	} {
		var body any
		switch c.name {
		case "a property cloudsim does not apply":
			body = map[string]any{"displayName": "x", "optionalClaims": map[string]any{}}
		case "a password through PATCH":
			body = map[string]any{"passwordCredentials": []any{}}
		}
		a := f.call(c.token, c.method, c.path, body)
		e, _ := a.body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		inner, _ := e["innerError"].(map[string]any)
		if a.status != c.status || a.code() != c.code || !strings.Contains(msg, c.message) || inner["request-id"] == nil {
			t.Errorf("%s: %d %v, want %d %s containing %q with innerError", c.name, a.status, a.body, c.status, c.code, c.message)
		}
	}
}

// Lists filtered by displayName, the one $filter served (a quote doubled,
// as OData writes it); any other filter is refused. A second grant of the
// same role or scopes is refused, as Graph refuses it.
func TestListsByNameAndDuplicateGrants(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	bp := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", map[string]any{"displayName": "o'brien blueprint",
		"sponsors@odata.bind": blueprintBody(f, admin)["sponsors@odata.bind"]})
	api := f.call(tok, "POST", "applications", map[string]any{"displayName": "o'brien blueprint", "api": map[string]any{"oauth2PermissionScopes": []map[string]any{
		{"id": "11111111-2222-4333-8444-555555555555", "value": "Read", "type": "User", "isEnabled": true}}}})
	list := func(path string) []any {
		a := f.call(tok, "GET", path+"?$filter=displayName%20eq%20'o''brien%20blueprint'", nil)
		v, _ := a.body["value"].([]any)
		if a.status != 200 {
			t.Fatalf("%s: %d %v", path, a.status, a.body)
		}
		return v
	}
	if got := list("applications"); len(got) != 2 {
		t.Errorf("applications named so: %d, want 2 (the blueprint is an application)", len(got))
	}
	if got := list("applications/microsoft.graph.agentIdentityBlueprint"); len(got) != 1 || got[0].(map[string]any)["id"] != bp.str("id") {
		t.Errorf("blueprints named so: %v", got)
	}
	if a := f.call(tok, "GET", "applications?$filter=startswith(displayName,'o')", nil); a.status != 400 || a.code() != "Request_UnsupportedQuery" {
		t.Errorf("another filter: %d %v", a.status, a.body)
	}
	f.call(tok, "POST", "servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal", map[string]any{"appId": bp.str("appId")})
	agent := f.call(tok, "POST", "servicePrincipals/microsoft.graph.agentIdentity", map[string]any{"displayName": "agent", "agentIdentityBlueprintId": bp.str("appId"),
		"sponsors@odata.bind": blueprintBody(f, admin)["sponsors@odata.bind"]})
	apiSp := f.call(tok, "POST", "servicePrincipals", map[string]any{"appId": api.str("appId")})
	grant := map[string]any{"clientId": agent.str("id"), "consentType": "AllPrincipals", "resourceId": apiSp.str("id"), "scope": "Read"}
	if a := f.call(tok, "POST", "oauth2PermissionGrants", grant); a.status != 201 {
		t.Fatalf("grant: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "POST", "oauth2PermissionGrants", grant); a.status != 409 || a.code() != "Request_MultipleObjectsWithSameKeyValue" {
		t.Errorf("the same grant again: %d %v", a.status, a.body)
	}
	if got := list("servicePrincipals/microsoft.graph.agentIdentity"); len(got) != 0 {
		t.Errorf("agent identities named so: %v", got)
	}
	roleApp := f.call(tok, "POST", "applications", map[string]any{"displayName": "roles", "appRoles": []map[string]any{
		{"id": "66666666-7777-4888-8999-aaaaaaaaaaaa", "value": "Weather.Read", "allowedMemberTypes": []string{"Application"}, "isEnabled": true}}})
	roleSp := f.call(tok, "POST", "servicePrincipals", map[string]any{"appId": roleApp.str("appId")})
	assign := map[string]any{"principalId": agent.str("id"), "resourceId": roleSp.str("id"), "appRoleId": "66666666-7777-4888-8999-aaaaaaaaaaaa"}
	if a := f.call(tok, "POST", "servicePrincipals/"+agent.str("id")+"/appRoleAssignments", assign); a.status != 201 {
		t.Fatalf("assign: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "POST", "servicePrincipals/"+agent.str("id")+"/appRoleAssignments", assign); a.status != 400 || !strings.Contains(fmt.Sprint(a.body), "already exists") {
		t.Errorf("the same role again: %d %v", a.status, a.body)
	}
}

// Graph's logs, at debug, hold neither the bearer tokens it is sent nor a
// secret it creates, refused or not.
func TestGraphLogsNoTokenOrSecret(t *testing.T) {
	logs := &leakcheck.Log{}
	f := newFixture(t, func(o *cloudsim.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	tok := f.token(admin, scriptScopes...)
	bp := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	secret := f.call(tok, "POST", "applications/"+bp.str("id")+"/microsoft.graph.agentIdentityBlueprint/addPassword",
		map[string]any{"passwordCredential": map[string]any{"displayName": "x"}}).str("secretText")
	f.call(f.token(member, "User.Read"), "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, member)) // refused
	f.call(tok[:len(tok)-4]+"AAAA", "GET", "me", nil)                                                                             // a bad signature
	if secret == "" || !strings.Contains(logs.String(), "graph") {
		t.Fatalf("nothing to check: secret %q, logs %q", secret, logs.String())
	}
	if leaks := leakcheck.Find(logs.String(), secret); len(leaks) > 0 {
		t.Errorf("Graph's logs hold %v", leaks)
	}
}
