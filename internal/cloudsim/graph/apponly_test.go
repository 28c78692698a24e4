package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// blueprintClient is MSAL Go's confidential client for a blueprint with a
// secret Graph added.
func (f *fixture) blueprintClient(appID, secret string) confidential.Client {
	f.t.Helper()
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := confidential.New(f.authority(), appID, cred, confidential.WithHTTPClient(f.http), confidential.WithInstanceDiscovery(false))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// newBlueprint creates a blueprint, its principal and a secret through
// Graph as the admin.
func (f *fixture) newBlueprint(tok, name string) (bp answer, bpSP answer, secret string) {
	f.t.Helper()
	body := blueprintBody(f, admin)
	body["displayName"] = name
	bp = f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", body)
	bpSP = f.call(tok, "POST", "servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal", map[string]any{"appId": bp.str("appId")})
	secret = f.call(tok, "POST", "applications/"+bp.str("id")+"/microsoft.graph.agentIdentityBlueprint/addPassword",
		map[string]any{"passwordCredential": map[string]any{"displayName": "local"}}).str("secretText")
	if bp.status != 201 || bpSP.status != 201 || secret == "" {
		f.t.Fatalf("blueprint %d %v, principal %d %v", bp.status, bp.body, bpSP.status, bpSP.body)
	}
	return bp, bpSP, secret
}

// A blueprint granted AgentIdentity.CreateAsManager (an app role
// assignment on Microsoft Graph's principal, by a Privileged Role
// Administrator) creates an agent identity of its own with its app-only
// Graph token, as Microsoft's "create agent identities" guide does: MSAL
// Go's client credentials for https://graph.microsoft.com/.default, then
// POST /servicePrincipals/Microsoft.Graph.AgentIdentity, then T1 and TR
// for the new agent identity through MSAL Go.
func TestBlueprintCreatesAgentIdentityAppOnly(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	bp, bpSP, secret := f.newBlueprint(tok, "app-only blueprint")
	client := f.blueprintClient(bp.str("appId"), secret)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	graphDefault := []string{tenant.GraphResource + "/.default"}

	// Before the grant: Entra issues the token, with no roles; Graph
	// refuses the create.
	res, err := client.AcquireTokenByCredential(ctx, graphDefault)
	if err != nil {
		t.Fatalf("the blueprint's Graph token: %v", err)
	}
	claims := f.claims(res.AccessToken)
	if claims["aud"] != tenant.GraphResource || claims["idtyp"] != "app" || claims["oid"] != bpSP.str("id") || claims["roles"] != nil {
		t.Errorf("the blueprint's Graph token before the grant: %v", claims)
	}
	create := map[string]any{"@odata.type": "#Microsoft.Graph.AgentIdentity", "displayName": "made by its blueprint",
		"agentIdentityBlueprintId": bp.str("appId"), "sponsors@odata.bind": blueprintBody(f, admin)["sponsors@odata.bind"]}
	if a := f.call(res.AccessToken, "POST", "serviceprincipals/Microsoft.Graph.AgentIdentity", create); a.status != 403 || a.code() != "Authorization_RequestDenied" {
		t.Fatalf("without AgentIdentity.CreateAsManager: %d %v", a.status, a.body)
	}

	// The grant: refused to an admin without Privileged Role
	// Administrator, done with it.
	graphSP := f.sim.Tenant.App(tenant.GraphAppID).ServicePrincipalID
	assign := map[string]any{"principalId": bpSP.str("id"), "resourceId": graphSP, "appRoleId": tenant.GraphAppRoleID("AgentIdentity.CreateAsManager")}
	if a := f.call(tok, "POST", "servicePrincipals/"+bpSP.str("id")+"/appRoleAssignments", assign); a.status != 403 {
		t.Fatalf("granting a Graph application permission without Privileged Role Administrator: %d %v", a.status, a.body)
	}
	setRoles(f, admin, "Agent ID Administrator", "Cloud Application Administrator", "Privileged Role Administrator")
	if a := f.call(f.token(admin, scriptScopes...), "POST", "servicePrincipals/"+bpSP.str("id")+"/appRoleAssignments", assign); a.status != 201 {
		t.Fatalf("granting AgentIdentity.CreateAsManager: %d %v", a.status, a.body)
	}

	res, err = client.AcquireTokenByCredential(ctx, graphDefault, confidential.WithClaims(`{"access_token":{"nbf":{"essential":true}}}`))
	if err != nil {
		t.Fatalf("the blueprint's Graph token after the grant: %v", err)
	}
	if roles, _ := f.claims(res.AccessToken)["roles"].([]any); len(roles) != 1 || roles[0] != "AgentIdentity.CreateAsManager" {
		t.Fatalf("roles after the grant: %v", roles)
	}
	agent := f.call(res.AccessToken, "POST", "serviceprincipals/Microsoft.Graph.AgentIdentity", create)
	if agent.status != 201 || agent.str("agentIdentityBlueprintId") != bp.str("appId") {
		t.Fatalf("the blueprint creating its agent identity: %d %v", agent.status, agent.body)
	}
	if a := f.call(res.AccessToken, "GET", "servicePrincipals/"+agent.str("id"), nil); a.status != 200 {
		t.Errorf("the blueprint reading the agent identity it manages: %d %v", a.status, a.body)
	}

	// What CreateAsManager does not reach: another blueprint's agent
	// identity, an application, /me.
	other, _, _ := f.newBlueprint(tok, "another blueprint")
	create["agentIdentityBlueprintId"] = other.str("appId")
	if a := f.call(res.AccessToken, "POST", "servicePrincipals/microsoft.graph.agentIdentity", create); a.status != 403 {
		t.Errorf("an agent identity of another blueprint: %d %v", a.status, a.body)
	}
	if a := f.call(res.AccessToken, "POST", "applications", map[string]any{"displayName": "x"}); a.status != 403 {
		t.Errorf("an application: %d %v", a.status, a.body)
	}
	if a := f.call(res.AccessToken, "GET", "me", nil); a.status != 400 || a.code() != "BadRequest" {
		t.Errorf("/me app-only: %d %v", a.status, a.body)
	}

	// T1 for the new agent identity, then its TR for Microsoft Graph.
	t1, err := client.AcquireTokenByCredential(ctx, []string{tenant.TokenExchangeURI + "/.default"}, confidential.WithFMIPath(agent.str("id")))
	if err != nil {
		t.Fatalf("T1 for the new agent identity: %v", err)
	}
	agentClient, err := confidential.New(f.authority(), agent.str("id"), confidential.NewCredFromAssertionCallback(
		func(context.Context, confidential.AssertionRequestOptions) (string, error) {
			return t1.AccessToken, nil
		}),
		confidential.WithHTTPClient(f.http), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := agentClient.AcquireTokenByCredential(ctx, graphDefault)
	if err != nil {
		t.Fatalf("TR for the new agent identity: %v", err)
	}
	if c := f.claims(tr.AccessToken); c["appid"] != agent.str("id") || c["xms_par_app_azp"] != bp.str("appId") {
		t.Errorf("TR: %v", c)
	}

	// The blueprint's app-only token for any other resource is still
	// refused: it acts there through its agent identities only.
	_, err = client.AcquireTokenByCredential(ctx, []string{"api://" + f.sim.Tenant.Tenant.ID + "/.default"})
	if err == nil {
		t.Error("a blueprint's app-only token for another resource was issued")
	}
}

// The tenant file grants Graph application permissions as consents with
// roles on Microsoft Graph's appId; a name Graph does not publish is
// refused at start.
func TestTenantFileGrantsGraphApplicationPermissions(t *testing.T) {
	base := `{"tenant":{"id":"ca77995a-3696-41ae-a339-cf02b3e89b12","domain":"contoso.example"},
	"managedIdentity":{"clientId":"499b7a09-0603-4da0-9ee7-b45cfddbbf34","objectId":"2e1b9664-d577-42bb-bc3e-e9d4b3e1b859"},
	"applications":[{"name":"bp","appId":"a1b2c3d4-0000-4000-8000-000000000001","servicePrincipalId":"a1b2c3d4-0000-4000-8000-000000000002","agentIdentityBlueprint":true}],
	"consents":[{"client":"a1b2c3d4-0000-4000-8000-000000000001","resource":"00000003-0000-0000-c000-000000000000","roles":["%s"]}]}`
	d, err := tenant.Parse("t.jsonc", []byte(strings.Replace(base, "%s", "AgentIdentity.CreateAsManager", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, roles := d.Grant("a1b2c3d4-0000-4000-8000-000000000001", tenant.GraphAppID); len(roles) != 1 {
		t.Errorf("roles %v", roles)
	}
	if _, err := tenant.Parse("t.jsonc", []byte(strings.Replace(base, "%s", "Made.Up.All", 1))); err == nil || !strings.Contains(err.Error(), "Made.Up.All") {
		t.Errorf("an unknown Graph role: %v", err)
	}
}
