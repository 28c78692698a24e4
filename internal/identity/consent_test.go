package identity_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/identity"
)

func TestNeedsInteraction(t *testing.T) {
	for _, c := range []struct {
		err    error
		reason string
	}{
		{&identity.Error{Code: 65001}, "consent_required"},
		{fmt.Errorf("wrapped: %w", &identity.Error{Code: 65001}), "consent_required"},
		{&identity.Error{Code: 50076}, "interaction_required"},
		{&identity.Error{Code: 50079}, "interaction_required"},
		{&identity.Error{Code: 50158}, "interaction_required"},
		{&identity.Error{Code: 70011}, ""},
		{&identity.Error{Code: 0, Message: "the sidecar did not answer"}, ""},
		{errors.New("AADSTS65001 in text only"), ""},
	} {
		_, reason, ok := identity.NeedsInteraction(c.err)
		if reason != c.reason || ok != (c.reason != "") {
			t.Errorf("%v: %q %v, want %q", c.err, reason, ok, c.reason)
		}
	}
}

// The consent links: the agent identity (not the blueprint) as client,
// response_type=none for the user's, the v2 admin consent endpoint for an
// admin's, every value encoded.
func TestConsentURLs(t *testing.T) {
	req := identity.ConsentRequest{AuthorityHost: "https://login.microsoftonline.com/", TenantID: "ca77995a-3696-41ae-a339-cf02b3e89b12",
		AgentID: "5b4418ec-1653-479f-96f7-3f28255917c7", Scopes: []string{"e8c77dc2-69b3-43f4-bc51-3213c9d915b4/MCP.User.Read.All", "e8c77dc2-69b3-43f4-bc51-3213c9d915b4/MCP.GroupMember.Read.All"},
		RedirectURI: "https://agent.example/consent.html", State: "s&t=1"}
	for name, c := range map[string]struct {
		raw, path string
		want      map[string]string
	}{
		"user":  {req.UserURL(), "/ca77995a-3696-41ae-a339-cf02b3e89b12/oauth2/v2.0/authorize", map[string]string{"response_type": "none"}},
		"admin": {req.AdminURL(), "/ca77995a-3696-41ae-a339-cf02b3e89b12/v2.0/adminconsent", map[string]string{"response_type": ""}},
	} {
		u, err := url.Parse(c.raw)
		if err != nil || u.Host != "login.microsoftonline.com" || u.Path != c.path {
			t.Fatalf("%s: %s %v", name, c.raw, err)
		}
		q := u.Query()
		want := map[string]string{"client_id": req.AgentID, "redirect_uri": req.RedirectURI, "state": "s&t=1", "scope": strings.Join(req.Scopes, " ")}
		for k, v := range c.want {
			want[k] = v
		}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", name, k, q.Get(k), v)
			}
		}
	}
}
