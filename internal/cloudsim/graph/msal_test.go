package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

func (f *fixture) authority() string { return f.sim.URL + "/" + f.sim.Tenant.Tenant.ID }

// graphScopes are what entra-setup.sh asks for, as MSAL names them.
func graphScopes(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, "https://graph.microsoft.com/"+n)
	}
	return out
}

// The Microsoft Graph Command Line Tools client signs the admin in by
// device code with MSAL Go, cloudsim's unattended approval standing in
// for the person at /devicelogin, and the token it gets works on Graph.
func TestDeviceCodeGivesAGraphToken(t *testing.T) {
	f := newFixture(t, func(o *cloudsim.Options) { o.DeviceCodeInterval = time.Second })
	app, err := public.New(tenant.GraphCLIAppID, public.WithAuthority(f.authority()), public.WithHTTPClient(f.http), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	scopes := graphScopes("User.Read", "AgentIdentityBlueprint.Create", "Application.ReadWrite.All")
	// approve starts a device code and approves it as the admin, for the
	// scopes named (all when none are).
	approve := func(t *testing.T, only string) public.DeviceCode {
		dc, err := app.AcquireTokenByDeviceCode(ctx, scopes)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(dc.Result.Message, f.sim.URL+"/devicelogin") {
			t.Errorf("message %q", dc.Result.Message)
		}
		form := url.Values{"user_code": {dc.Result.UserCode}, "user": {admin}}
		if only != "" {
			form.Set("scopes", only)
		}
		resp, err := f.http.PostForm(f.sim.URL+"/_cloudsim/devicecode/approve", form)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("approve: %v %v", err, resp)
		}
		resp.Body.Close()
		return dc
	}
	// A scope withheld at approval is missing from the token's scope list,
	// which MSAL Go reports as declined. (First: a scope consented once is
	// in every later token for the resource.)
	t.Run("one withheld", func(t *testing.T) {
		_, err := approve(t, "User.Read Application.ReadWrite.All").AuthenticationResult(ctx)
		if err == nil || !strings.Contains(err.Error(), "declined scopes") || !strings.Contains(err.Error(), "AgentIdentityBlueprint.Create") {
			t.Fatalf("err = %v, want MSAL Go to name the declined scope", err)
		}
	})
	t.Run("every scope", func(t *testing.T) {
		res, err := approve(t, "").AuthenticationResult(ctx)
		if err != nil {
			t.Fatal(err)
		}
		claims := f.claims(res.AccessToken)
		scp := strings.Fields(claims["scp"].(string))
		slices.Sort(scp)
		if claims["aud"] != "https://graph.microsoft.com" || strings.Join(scp, " ") != "AgentIdentityBlueprint.Create Application.ReadWrite.All User.Read" ||
			claims["appid"] != tenant.GraphCLIAppID {
			t.Errorf("Graph token claims: aud %v scp %v appid %v", claims["aud"], claims["scp"], claims["appid"])
		}
		if a := f.call(res.AccessToken, "GET", "me", nil); a.status != 200 || a.str("userPrincipalName") != admin {
			t.Errorf("GET /me: %d %v", a.status, a.body)
		}
		if a := f.call(res.AccessToken, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin)); a.status != 201 {
			t.Errorf("create a blueprint: %d %v", a.status, a.body)
		}
	})
}

// For the replication delay after Graph creates a blueprint and its
// agent, MSAL Go's T1 for them fails with AADSTS700016, as on a real
// tenant; then it works. A resource just created is AADSTS500011. A
// federated credential just added does not yet match: the managed
// identity's token is refused with AADSTS700211, then accepted.
func TestReplicationDelaySeenByMSALGo(t *testing.T) {
	const delay = 2 * time.Second
	f := newFixture(t, func(o *cloudsim.Options) { o.ReplicationDelay = delay })
	tok := f.token(admin, scriptScopes...)
	bp := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	f.call(tok, "POST", "servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal", map[string]any{"appId": bp.str("appId")})
	agent := f.call(tok, "POST", "servicePrincipals/microsoft.graph.agentIdentity", map[string]any{"displayName": "a", "agentIdentityBlueprintId": bp.str("appId"),
		"sponsors@odata.bind": blueprintBody(f, admin)["sponsors@odata.bind"]})
	secret := f.call(tok, "POST", "applications/"+bp.str("id")+"/microsoft.graph.agentIdentityBlueprint/addPassword",
		map[string]any{"passwordCredential": map[string]any{"displayName": "test"}})
	created := time.Now()
	cred, err := confidential.NewCredFromSecret(secret.str("secretText"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := confidential.New(f.authority(), bp.str("appId"), cred, confidential.WithHTTPClient(f.http), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	t1 := func() error {
		_, err := client.AcquireTokenByCredential(t.Context(), []string{tenant.TokenExchangeURI + "/.default"}, confidential.WithFMIPath(agent.str("id")))
		return err
	}
	err = t1()
	var call msalerrors.CallErr
	if !errors.As(err, &call) || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Fatalf("right after creation: %v, want AADSTS700016", err)
	}
	time.Sleep(time.Until(created.Add(delay + 200*time.Millisecond)))
	if err := t1(); err != nil {
		t.Fatalf("after the delay: %v", err)
	}

	f.call(tok, "POST", "applications/"+bp.str("id")+"/microsoft.graph.agentIdentityBlueprint/federatedIdentityCredentials",
		map[string]any{"name": "container-app", "issuer": "https://login.microsoftonline.com/" + f.sim.Tenant.Tenant.ID + "/v2.0",
			"subject": f.sim.Tenant.ManagedIdentity.ObjectID, "audiences": []string{tenant.TokenExchangeURI}})
	added := time.Now()
	mi := cloudsimtest.NewTokens(f.sim).ManagedIdentity(t)
	byMI, err := confidential.New(f.authority(), bp.str("appId"), confidential.NewCredFromAssertionCallback(
		func(context.Context, confidential.AssertionRequestOptions) (string, error) { return mi, nil }),
		confidential.WithHTTPClient(f.http), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	t1ByMI := func() error {
		_, err := byMI.AcquireTokenByCredential(t.Context(), []string{tenant.TokenExchangeURI + "/.default"}, confidential.WithFMIPath(agent.str("id")))
		return err
	}
	if err := t1ByMI(); err == nil || !strings.Contains(err.Error(), "AADSTS700211") {
		t.Fatalf("right after adding the federated credential: %v, want AADSTS700211", err)
	}
	time.Sleep(time.Until(added.Add(delay + 200*time.Millisecond)))
	if err := t1ByMI(); err != nil {
		t.Fatalf("the federated credential after the delay: %v", err)
	}

	api := f.call(tok, "POST", "applications", map[string]any{"displayName": "new API"})
	f.call(tok, "PATCH", "applications/"+api.str("id"), map[string]any{"identifierUris": []string{"api://" + api.str("appId")}})
	_, err = client.AcquireTokenByCredential(t.Context(), []string{"api://" + api.str("appId") + "/.default"})
	if err == nil || !strings.Contains(err.Error(), "AADSTS500011") {
		t.Fatalf("a resource right after creation: %v, want AADSTS500011", err)
	}
}

// Teardown through Graph: the agent user, the agent identity, then the
// blueprint go, and the token endpoint no longer knows them.
func TestTeardownThroughGraph(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, append(scriptScopes, "AgentIdentityBlueprint.ReadWrite.All", "AgentIdentity.ReadWrite.All", "AgentIdUser.ReadWrite.All")...)
	bp := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	f.call(tok, "POST", "servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal", map[string]any{"appId": bp.str("appId")})
	agent := f.call(tok, "POST", "servicePrincipals/microsoft.graph.agentIdentity", map[string]any{"displayName": "a", "agentIdentityBlueprintId": bp.str("appId"),
		"sponsors@odata.bind": blueprintBody(f, admin)["sponsors@odata.bind"]})
	user := f.call(tok, "POST", "users/microsoft.graph.agentUser", map[string]any{"displayName": "u", "mailNickname": "u", "userPrincipalName": "u@contoso.example",
		"accountEnabled": true, "identityParentId": agent.str("id")})
	for _, path := range []string{"users/" + user.str("id"), "servicePrincipals/" + agent.str("id"), "applications/" + bp.str("id")} {
		if a := f.call(tok, "DELETE", path, nil); a.status != 204 {
			t.Fatalf("DELETE %s: %d %v", path, a.status, a.body)
		}
		if a := f.call(tok, "DELETE", path, nil); a.status != 404 || a.code() != "Request_ResourceNotFound" {
			t.Errorf("DELETE %s again: %d %v", path, a.status, a.body)
		}
	}
	dir := f.sim.Live.ForTokens()
	if dir.App(bp.str("appId")) != nil || dir.Agent(agent.str("id")) != nil || dir.AgentUser("u@contoso.example") != nil {
		t.Error("the token endpoint still knows what Graph deleted")
	}
}

// claims are a token's claims, its signature checked with cloudsim's keys.
func (f *fixture) claims(token string) map[string]any {
	f.t.Helper()
	payload, err := f.sim.Keys.Verify(token)
	if err != nil {
		f.t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(payload, &c)
	return c
}
