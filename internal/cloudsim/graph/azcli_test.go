package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/graph"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// The Azure CLI's public client is in every tenant, and Graph's resource
// answers to the names the CLI asks for: https://graph.microsoft.com//.default
// (its resource ID with the trailing slash) and, for a cloud registered at
// cloudsim, <GRAPH_URL>//.default. Each token's aud is the identifier it was
// asked for, and Graph takes it; the same token at another host's Graph is
// refused. MSAL Go signs in as the CLI's client (with a password: the CLI's
// own flows need a person or Resource Manager). Without a consent, the
// tenant has granted the CLI nothing: AADSTS65001.
func TestAzureCLIClientAndGraphIdentifiers(t *testing.T) {
	const pw = "admin-local-demo-password"
	f := newFixture(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	app, err := public.New(tenant.AzureCLIAppID, public.WithAuthority(f.authority()), public.WithHTTPClient(f.http), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 ROPC is the documented way to script a demo user's sign-in against cloudsim.
	_, err = app.AcquireTokenByUsernamePassword(ctx, []string{"https://graph.microsoft.com//.default"}, admin, pw)
	if err == nil || !strings.Contains(err.Error(), "AADSTS65001") {
		t.Fatalf("no consent for the Azure CLI: %v, want AADSTS65001", err)
	}

	f = newFixture(t, func(o *cloudsim.Options) {
		o.Tenant.Consents = append(o.Tenant.Consents, &tenant.Consent{Client: tenant.AzureCLIAppID, Resource: tenant.GraphAppID,
			Scopes: []string{"Application.Read.All"}})
	})
	app, err = public.New(tenant.AzureCLIAppID, public.WithAuthority(f.authority()), public.WithHTTPClient(f.http), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ scope, aud string }{
		{"https://graph.microsoft.com//.default", "https://graph.microsoft.com/"},
		{f.sim.URL + graph.Path + "//.default", f.sim.URL + graph.Path + "/"},
		{tenant.GraphAppID + "/.default", tenant.GraphAppID},
	} {
		//lint:ignore SA1019 ROPC is the documented way to script a demo user's sign-in against cloudsim.
		res, err := app.AcquireTokenByUsernamePassword(ctx, []string{c.scope}, admin, pw)
		if err != nil {
			t.Fatalf("%s: %v", c.scope, err)
		}
		if got := f.claims(res.AccessToken)["aud"]; got != c.aud {
			t.Errorf("%s: aud %v, want %s", c.scope, got, c.aud)
		}
		if a := f.call(res.AccessToken, "GET", "servicePrincipals(appId='"+tenant.AzureCLIAppID+"')", nil); a.status != 200 || a.str("displayName") != "Microsoft Azure CLI" {
			t.Errorf("%s: Graph answered %d %v", c.scope, a.status, a.body)
		}
	}
	// A token for cloudsim's Graph at one host name is not one for Graph at
	// another (here, localhost instead of 127.0.0.1).
	other := strings.Replace(f.sim.URL, "127.0.0.1", "localhost", 1) + graph.Path + "//.default"
	//lint:ignore SA1019 ROPC is the documented way to script a demo user's sign-in against cloudsim.
	res, err := app.AcquireTokenByUsernamePassword(ctx, []string{other}, admin, pw)
	if err != nil {
		t.Fatal(err)
	}
	if a := f.call(res.AccessToken, "GET", "applications", nil); a.status != 401 || !strings.Contains(msg(a), "Invalid audience") {
		t.Errorf("another host's Graph URL as aud: %d %v", a.status, a.body)
	}
}
