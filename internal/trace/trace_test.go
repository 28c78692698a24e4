package trace_test

import (
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// A card's title names the API its token is for, whatever the API: no
// caller patches titles afterwards.
func TestCardTitlesNameTheirTarget(t *testing.T) {
	c := identity.DecodedToken{Claims: map[string]any{"aud": "x"}}
	for _, kind := range []string{"TR", "TU", "TAU"} {
		for _, target := range []string{"Weather API", "MCP server"} {
			if got := trace.CardOf(kind, c, target).Title; !strings.HasPrefix(got, kind+": ") || !strings.Contains(got, "for the "+target) {
				t.Errorf("%s for %s: title %q", kind, target, got)
			}
		}
	}
	for _, kind := range []string{"Tc", "T1", "T2", "AWS"} {
		if got := trace.CardOf(kind, c, "").Title; got == "" || strings.Contains(got, "%") {
			t.Errorf("%s: title %q", kind, got)
		}
	}
}
