package graph_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/graph"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// Issue 37: what entra-setup.sh meets on a real tenant, as Graph's pages
// and Microsoft Entra's eventual consistency have it.

// An AllPrincipals grant is an admin's consent for everyone: an Agent ID
// Developer holding DelegatedPermissionGrant.ReadWrite.All is refused,
// owner of both principals or not; with Cloud Application Administrator
// the same token may (oauth2permissiongrant-post, grant-admin-consent).
func TestAdminConsentGrantNeedsAConsentAdmin(t *testing.T) {
	f := newFixture(t, nil)
	dev := f.token(developer, scriptScopes...)
	api := f.call(dev, "POST", "applications", map[string]any{"displayName": "api", "api": map[string]any{"oauth2PermissionScopes": []map[string]any{
		{"id": "11111111-2222-4333-8444-555555555555", "value": "Weather.Read", "type": "User", "isEnabled": true}}}})
	cli := f.call(dev, "POST", "applications", map[string]any{"displayName": "client"})
	apiSp := f.call(dev, "POST", "servicePrincipals", map[string]any{"appId": api.str("appId")})
	cliSp := f.call(dev, "POST", "servicePrincipals", map[string]any{"appId": cli.str("appId")})
	if apiSp.status != 201 || cliSp.status != 201 {
		t.Fatalf("the developer's own principals: %d %d", apiSp.status, cliSp.status)
	}
	grant := map[string]any{"clientId": cliSp.str("id"), "consentType": "AllPrincipals", "resourceId": apiSp.str("id"), "scope": "Weather.Read"}
	if a := f.call(dev, "POST", "oauth2PermissionGrants", grant); a.status != http.StatusForbidden || a.code() != "Authorization_RequestDenied" {
		t.Errorf("an Agent ID Developer's consent for everyone: %d %v, want 403", a.status, a.body)
	}
	setRoles(f, developer, "Agent ID Developer", "Cloud Application Administrator")
	if a := f.call(dev, "POST", "oauth2PermissionGrants", grant); a.status != http.StatusCreated {
		t.Errorf("with Cloud Application Administrator: %d %v", a.status, a.body)
	}
}

// A blueprint's credentials and properties are its owner's to change, or
// an Agent ID Administrator's: another Agent ID Developer is refused.
func TestBlueprintWritesOfNonOwnersNeedAgentIDAdministrator(t *testing.T) {
	f := newFixture(t, nil)
	adminTok := f.token(admin, scriptScopes...)
	bp := f.call(adminTok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	if bp.status != 201 {
		t.Fatalf("blueprint: %d %v", bp.status, bp.body)
	}
	dev := f.token(developer, scriptScopes...)
	secret := map[string]any{"passwordCredential": map[string]any{"displayName": "x"}}
	if a := f.call(dev, "POST", "applications/"+bp.str("id")+"/microsoft.graph.agentIdentityBlueprint/addPassword", secret); a.status != http.StatusForbidden {
		t.Errorf("a developer adds a secret to another's blueprint: %d %v, want 403", a.status, a.body)
	}
	fic := map[string]any{"name": "x", "issuer": "https://example.com", "subject": "s", "audiences": []string{tenant.TokenExchangeURI}}
	if a := f.call(dev, "POST", "applications/"+bp.str("id")+"/microsoft.graph.agentIdentityBlueprint/federatedIdentityCredentials", fic); a.status != http.StatusForbidden {
		t.Errorf("a developer trusts an issuer from another's blueprint: %d %v, want 403", a.status, a.body)
	}
	mine := f.call(dev, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, developer))
	if a := f.call(dev, "POST", "applications/"+mine.str("id")+"/microsoft.graph.agentIdentityBlueprint/addPassword", secret); a.status != http.StatusOK {
		t.Errorf("a developer adds a secret to its own blueprint: %d %v", a.status, a.body)
	}
	if a := f.call(adminTok, "POST", "applications/"+mine.str("id")+"/microsoft.graph.agentIdentityBlueprint/addPassword", secret); a.status != http.StatusOK {
		t.Errorf("an Agent ID Administrator adds a secret to the developer's blueprint: %d %v", a.status, a.body)
	}
}

// A secret's lifetime is the endDateTime asked for (two years when none
// is), returned with the secret and in the application's
// passwordCredentials; one that ends before it starts is refused.
func TestSecretLifetime(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	bp := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	path := "applications/" + bp.str("id") + "/microsoft.graph.agentIdentityBlueprint/addPassword"
	end := time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
	a := f.call(tok, "POST", path, map[string]any{"passwordCredential": map[string]any{"displayName": "local compose", "endDateTime": end.Format(time.RFC3339)}})
	if a.status != 200 || a.str("endDateTime") != end.Format(time.RFC3339) || a.str("secretText") == "" {
		t.Fatalf("a seven-day secret: %d %v", a.status, a.body)
	}
	def := f.call(tok, "POST", path, map[string]any{"passwordCredential": map[string]any{"displayName": "default"}})
	if got, _ := time.Parse(time.RFC3339, def.str("endDateTime")); time.Until(got) < 729*24*time.Hour {
		t.Errorf("the default lifetime ends %s, want two years", def.str("endDateTime"))
	}
	app := f.call(tok, "GET", "applications/"+bp.str("id"), nil)
	creds, _ := app.body["passwordCredentials"].([]any)
	if len(creds) != 2 || creds[0].(map[string]any)["endDateTime"] != end.Format(time.RFC3339) {
		t.Errorf("passwordCredentials %v", creds)
	}
	if a := f.call(tok, "POST", path, map[string]any{"passwordCredential": map[string]any{"endDateTime": "2020-01-01T00:00:00Z"}}); a.status != 400 {
		t.Errorf("a secret that ended already: %d %v", a.status, a.body)
	}
}

// removePassword takes one secret away by its keyId (204), on an
// application and a blueprint alike; a keyId the app does not hold is 400.
func TestRemovePassword(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	bp := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	app := f.call(tok, "POST", "applications", map[string]any{"displayName": "vault"})
	for _, c := range []struct{ base, cast string }{{"applications/" + app.str("id"), ""}, {"applications/" + bp.str("id"), "/microsoft.graph.agentIdentityBlueprint"}} {
		first := f.call(tok, "POST", c.base+c.cast+"/addPassword", map[string]any{"passwordCredential": map[string]any{}})
		second := f.call(tok, "POST", c.base+c.cast+"/addPassword", map[string]any{"passwordCredential": map[string]any{}})
		if a := f.call(tok, "POST", c.base+c.cast+"/removePassword", map[string]any{"keyId": first.str("keyId")}); a.status != 204 {
			t.Fatalf("%s: removePassword %d %v", c.base, a.status, a.body)
		}
		creds, _ := f.call(tok, "GET", c.base, nil).body["passwordCredentials"].([]any)
		if len(creds) != 1 || creds[0].(map[string]any)["keyId"] != second.str("keyId") {
			t.Errorf("%s: after removing the first, passwordCredentials %v", c.base, creds)
		}
		if a := f.call(tok, "POST", c.base+c.cast+"/removePassword", map[string]any{"keyId": first.str("keyId")}); a.status != 400 {
			t.Errorf("%s: removing it again: %d %v", c.base, a.status, a.body)
		}
	}
}

// requiredResourceAccess comes back as it was given, on create and on
// update, and is an empty collection when never given.
func TestRequiredResourceAccessRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	rra := []any{map[string]any{"resourceAppId": "00000003-0000-0000-c000-000000000000",
		"resourceAccess": []any{map[string]any{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}}}}
	app := f.call(tok, "POST", "applications", map[string]any{"displayName": "vault", "requiredResourceAccess": rra})
	if got, _ := json.Marshal(app.body["requiredResourceAccess"]); string(got) != mustJSON(rra) {
		t.Errorf("created: %s", got)
	}
	bare := f.call(tok, "POST", "applications", map[string]any{"displayName": "bare"})
	if got, _ := json.Marshal(bare.body["requiredResourceAccess"]); string(got) != "[]" {
		t.Errorf("never given: %s", got)
	}
	if a := f.call(tok, "PATCH", "applications/"+bare.str("id"), map[string]any{"requiredResourceAccess": rra}); a.status != 204 {
		t.Fatalf("PATCH: %d %v", a.status, a.body)
	}
	if got, _ := json.Marshal(f.call(tok, "GET", "applications/"+bare.str("id"), nil).body["requiredResourceAccess"]); string(got) != mustJSON(rra) {
		t.Errorf("updated: %s", got)
	}
	if a := f.call(tok, "PATCH", "applications/"+bare.str("id"), map[string]any{"requiredResourceAccess": "x"}); a.status != 400 {
		t.Errorf("not a collection: %d", a.status)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Federated credentials: unique by name and by issuer and subject (409),
// at most 20 an application (400), listed and deleted by id.
func TestFederatedCredentialsLimitAndDelete(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	bp := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	base := "applications/" + bp.str("id") + "/microsoft.graph.agentIdentityBlueprint/federatedIdentityCredentials"
	fic := func(name, subject string) map[string]any {
		return map[string]any{"name": name, "issuer": "https://issuer.example", "subject": subject, "audiences": []string{tenant.TokenExchangeURI}}
	}
	var first string
	for i := range 20 {
		a := f.call(tok, "POST", base, fic("c"+string(rune('a'+i)), "s"+string(rune('a'+i))))
		if a.status != 201 {
			t.Fatalf("credential %d: %d %v", i, a.status, a.body)
		}
		if i == 0 {
			first = a.str("id")
			if a := f.call(tok, "POST", base, fic("ca", "another")); a.status != http.StatusConflict {
				t.Errorf("a second credential named ca: %d %v", a.status, a.body)
			}
			if a := f.call(tok, "POST", base, fic("another", "sa")); a.status != http.StatusConflict {
				t.Errorf("a second credential for the same issuer and subject: %d %v", a.status, a.body)
			}
		}
	}
	if a := f.call(tok, "POST", base, fic("c21", "s21")); a.status != 400 || !strings.Contains(fmtBody(a), "at most 20") {
		t.Errorf("the 21st: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "DELETE", base+"/"+first, nil); a.status != http.StatusNoContent {
		t.Fatalf("delete: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "DELETE", base+"/"+first, nil); a.status != http.StatusNotFound {
		t.Errorf("delete again: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "POST", base, fic("c21", "s21")); a.status != 201 {
		t.Errorf("after a delete, the 20th again: %d %v", a.status, a.body)
	}
	list := f.call(tok, "GET", base, nil)
	if v, _ := list.body["value"].([]any); len(v) != 20 {
		t.Errorf("%d listed", len(v))
	}
	// Deleting takes the permission to add.
	if a := f.call(f.token(admin, "Application.Read.All"), "DELETE", base+"/"+list.body["value"].([]any)[0].(map[string]any)["id"].(string), nil); a.status != 403 {
		t.Errorf("delete without AddRemoveCreds.All: %d", a.status)
	}
}

func fmtBody(a answer) string {
	e, _ := a.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// With the replication lag on (a switch on Graph itself), the first
// request naming a new object misses it with Graph's 404, and a
// principal asked for an application no request has named yet gets 400
// NoBackingApplicationObject; the next request finds each. Off, nothing
// misses.
func TestReadAfterCreateMisses(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	fault := func(on string) {
		resp, err := f.http.Post(f.sim.URL+graph.FaultPath+"?on="+on, "", nil)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("switch: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	fault("true")
	app := f.call(tok, "POST", "applications", map[string]any{"displayName": "new"})
	if a := f.call(tok, "GET", "applications(appId='"+app.str("appId")+"')", nil); a.status != 404 || a.code() != "Request_ResourceNotFound" {
		t.Errorf("the first read: %d %v, want 404 Request_ResourceNotFound", a.status, a.body)
	}
	if a := f.call(tok, "GET", "applications/"+app.str("id"), nil); a.status != 200 {
		t.Errorf("the second read, by its other name: %d %v", a.status, a.body)
	}
	other := f.call(tok, "POST", "applications", map[string]any{"displayName": "other"})
	sp := f.call(tok, "POST", "servicePrincipals", map[string]any{"appId": other.str("appId")})
	details, _ := sp.body["error"].(map[string]any)["details"].([]any)
	if sp.status != 400 || len(details) != 1 || details[0].(map[string]any)["code"] != "NoBackingApplicationObject" {
		t.Errorf("a principal at once: %d %v, want 400 NoBackingApplicationObject", sp.status, sp.body)
	}
	sp = f.call(tok, "POST", "servicePrincipals", map[string]any{"appId": other.str("appId")})
	if sp.status != 201 {
		t.Fatalf("the principal again: %d %v", sp.status, sp.body)
	}
	if a := f.call(tok, "GET", "servicePrincipals(appId='"+other.str("appId")+"')", nil); a.status != 404 {
		t.Errorf("the new principal's first read: %d", a.status)
	}
	if a := f.call(tok, "GET", "servicePrincipals/"+sp.str("id"), nil); a.status != 200 {
		t.Errorf("its second: %d %v", a.status, a.body)
	}
	fault("false")
	third := f.call(tok, "POST", "applications", map[string]any{"displayName": "third"})
	if a := f.call(tok, "GET", "applications/"+third.str("id"), nil); a.status != 200 {
		t.Errorf("with the lag off: %d", a.status)
	}
	if n := f.sim.Entra.Stats().Get("graph.replica_miss"); n != 3 {
		t.Errorf("%d misses counted, want 3", n)
	}
}

// The host's managed identity is a service principal Graph serves (by
// object ID or client ID), so a script can tell a trusted identity that
// no longer exists; the roles a user holds are listed by memberOf and
// transitiveMemberOf alike.
func TestManagedIdentityPrincipalAndTransitiveRoles(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, "Application.Read.All", "User.Read", "RoleManagement.Read.Directory")
	mi := f.sim.Tenant.ManagedIdentity
	for _, id := range []string{mi.ObjectID, mi.ClientID} {
		if a := f.call(tok, "GET", "servicePrincipals/"+id, nil); a.status != 200 || a.str("servicePrincipalType") != "ManagedIdentity" || a.str("id") != mi.ObjectID {
			t.Errorf("the managed identity by %s: %d %v", id, a.status, a.body)
		}
	}
	if a := f.call(tok, "GET", "servicePrincipals/00000000-1111-4222-8333-444444444444", nil); a.status != 404 {
		t.Errorf("an identity that does not exist: %d", a.status)
	}
	for _, path := range []string{"me/memberOf/microsoft.graph.directoryRole", "me/transitiveMemberOf/microsoft.graph.directoryRole"} {
		a := f.call(tok, "GET", path+"?$select=displayName", nil)
		v, _ := a.body["value"].([]any)
		if a.status != 200 || len(v) != 2 || v[0].(map[string]any)["displayName"] != "Agent ID Administrator" ||
			v[1].(map[string]any)["displayName"] != "Cloud Application Administrator" {
			t.Errorf("%s: %d %v", path, a.status, a.body)
		}
	}
}
