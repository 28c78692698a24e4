package graph_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// A secret Graph added works until its endDateTime; after it, MSAL Go's
// request is refused with AADSTS7000222, as Entra refuses an expired
// secret, while the app's other secret (two years by default) still works.
func TestExpiredSecretRefused(t *testing.T) {
	var offset atomic.Int64
	f := newFixture(t, func(o *cloudsim.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	tok := f.token(admin, scriptScopes...)
	bp := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	f.call(tok, "POST", "servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal", map[string]any{"appId": bp.str("appId")})
	agent := f.call(tok, "POST", "servicePrincipals/microsoft.graph.agentIdentity", map[string]any{"displayName": "a", "agentIdentityBlueprintId": bp.str("appId"),
		"sponsors@odata.bind": blueprintBody(f, admin)["sponsors@odata.bind"]})
	addPassword := func(body map[string]any) string {
		return f.call(tok, "POST", "applications/"+bp.str("id")+"/microsoft.graph.agentIdentityBlueprint/addPassword",
			map[string]any{"passwordCredential": body}).str("secretText")
	}
	shortLived := addPassword(map[string]any{"displayName": "one hour", "endDateTime": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	longLived := addPassword(map[string]any{"displayName": "default end"})
	t1 := func(secret string) error {
		cred, err := confidential.NewCredFromSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		// A new client each time: MSAL's cache would otherwise answer.
		client, err := confidential.New(f.authority(), bp.str("appId"), cred, confidential.WithHTTPClient(f.http), confidential.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.AcquireTokenByCredential(t.Context(), []string{tenant.TokenExchangeURI + "/.default"}, confidential.WithFMIPath(agent.str("id")))
		return err
	}
	if err := t1(shortLived); err != nil {
		t.Fatalf("within its hour: %v", err)
	}
	offset.Store(int64(2 * time.Hour))
	if err := t1(shortLived); err == nil || !strings.Contains(err.Error(), "AADSTS7000222") || !strings.Contains(err.Error(), bp.str("appId")) {
		t.Errorf("an hour after its end: %v, want AADSTS7000222 naming the app", err)
	}
	if err := t1(longLived); err != nil {
		t.Errorf("the other secret, within its two years: %v", err)
	}
}
