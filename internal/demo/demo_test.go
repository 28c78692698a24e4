package demo

import (
	"slices"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// The chat UI's redirect URIs go to the apps that are the SPA and the
// blueprint, found by their part: renaming a setting they are exported as
// changes nothing, and a tenant file without them is refused by name.
func TestRegisterUIFindsAppsByPart(t *testing.T) {
	renamed := strings.NewReplacer(`"exportAs": "CLIENT_SPA_APP_ID"`, `"exportAs": "UI_CLIENT_ID"`,
		`"exportAs": "BLUEPRINT_APP_ID"`, `"exportAs": "AGENT_BLUEPRINT_ID"`).Replace(string(local.TenantFile))
	noSPA := strings.Replace(string(local.TenantFile), `"part": "spa",`, ``, 1)
	if renamed == string(local.TenantFile) || noSPA == string(local.TenantFile) {
		t.Fatal("an edit did not apply")
	}
	cases := []struct {
		name, file string
		wantErr    string
	}{
		{"shipped", string(local.TenantFile), ""},
		{"exports renamed", renamed, ""},
		{"no spa part", noSPA, `"part": "spa"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := tenant.Parse("tenant.jsonc", []byte(c.file))
			if err != nil {
				t.Fatal(err)
			}
			const ui = "http://127.0.0.1:4555"
			err = registerUI(d, ui)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("registerUI: %v, want an error naming %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if spa := d.AppFor(tenant.PartSPA); !slices.Contains(spa.SPARedirectURIs, ui) {
				t.Errorf("SPA redirect URIs %v lack %s", spa.SPARedirectURIs, ui)
			}
			if bp := d.AppFor(tenant.PartBlueprint); !slices.Contains(bp.WebRedirectURIs, ui+"/consent.html") {
				t.Errorf("blueprint web redirect URIs %v lack %s/consent.html", bp.WebRedirectURIs, ui)
			}
		})
	}
}
