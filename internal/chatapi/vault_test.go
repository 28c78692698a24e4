package chatapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/agent"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/identity"
)

// The vault as the user token source is refused at start anywhere but on
// AgentCore Runtime, in one line; on the runtime, the agent gets the vault
// and its return URL.
func TestVaultSourceSettings(t *testing.T) {
	base := map[string]string{"TENANT_ID": "11111111-1111-1111-1111-111111111111", "BLUEPRINT_APP_ID": "22222222-2222-2222-2222-222222222222",
		"AGENT_CLIENT_ID": "33333333-3333-3333-3333-333333333333", "WEATHER_API_APP_ID": "44444444-4444-4444-4444-444444444444",
		"SIDECAR_URL": "http://localhost:5000", "LISTEN_ADDR": "127.0.0.1:3000"}
	cases := []struct {
		name    string
		env     map[string]string
		problem string
		check   func(Settings) bool
	}{
		{"the default", nil, "", func(s Settings) bool {
			return s.Identity.UserTokenSource == "entra-obo" && s.API.UserTokenSource == "entra-obo"
		}},
		{"the vault off the runtime", map[string]string{"USER_TOKEN_SOURCE": "agentcore-vault"},
			"USER_TOKEN_SOURCE: agentcore-vault needs the workload access token AgentCore Runtime passes with each invocation: use it with AGENTCORE_RUNTIME=true, or use entra-obo", nil},
		{"the vault on the runtime", map[string]string{"USER_TOKEN_SOURCE": "agentcore-vault", "AGENTCORE_RUNTIME": "true", "SIDECAR_URL": "",
			"BLUEPRINT_CREDENTIAL": "managed-identity", "AGENTCORE_VAULT_RETURN_URL": "https://chat.example/consent.html"}, "",
			func(s Settings) bool {
				return s.Identity.UserTokenSource == "agentcore-vault" && s.Identity.Vault.Provider == "entra-weather-api" &&
					s.Identity.Vault.Scopes[0] == "api://44444444-4444-4444-4444-444444444444/Weather.Read" &&
					s.Agent.VaultReturnURL == "https://chat.example/consent.html"
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range c.env {
				env[k] = v
			}
			r := config.New(func(k string) string { return env[k] })
			s := LoadSettings(r)
			err := r.Err()
			switch {
			case c.problem == "" && err != nil:
				t.Fatal(err)
			case c.problem != "" && (err == nil || !strings.Contains(err.Error(), c.problem)):
				t.Fatalf("error %v, want %q", err, c.problem)
			case c.check != nil && !c.check(s):
				t.Errorf("settings %+v", s.Identity)
			}
		})
	}
}

// The page's vault_session reaches the runtime's agent with the turn and
// the user's token the page sent, and the vault's consent comes back with
// its source and session; a vault_session that is not a session URI is
// refused before anything is sent.
func TestRelayCarriesTheVaultSession(t *testing.T) {
	const session = "urn:ietf:params:oauth:request_uri:czE"
	var got relayBody
	var auth string
	runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &got)
		auth = r.Header.Get("Authorization")
		writeJSON(w, 200, invocationAnswer{Status: "success", Response: "consent", ConsentRequired: &agent.ConsentNeeded{Reason: "consent_required",
			Source: identity.SourceAgentCoreVault, URL: "https://agentcore.example/identities/oauth2/authorize?request_uri=x", SessionURI: session}})
	}))
	t.Cleanup(runtime.Close)
	s := &Server{cfg: Config{InvocationURL: runtime.URL + "/invocations"}, relayClient: runtime.Client(), log: slog.New(slog.DiscardHandler)}
	p, e := s.parse(t.Context(), chatRequest{Message: "weather in Oslo", TokenFlow: "autonomous", VaultSession: session}, "")
	if e != nil {
		t.Fatal(e)
	}
	out, ae := s.relayTurn(t.Context(), p, "the-original-token", "4bf92f3577b34da6a3ce929d0e0e4736", "https://chat.example/consent.html", &relayTrace{start: time.Now()}, nil)
	if ae != nil {
		t.Fatal(ae)
	}
	if got.VaultSession != session || auth != "Bearer the-original-token" || got.ConsentRedirectURI != "https://chat.example/consent.html" {
		t.Errorf("the runtime got %+v with %q", got, auth)
	}
	if out.consent == nil || out.consent.Source != "agentcore-vault" || out.consent.SessionURI != session {
		t.Errorf("the consent relayed: %+v", out.consent)
	}
	for _, bad := range []string{"https://evil.example/?session_id=1", "urn:ietf:params:oauth:request_uri:", "x"} {
		if _, e := s.parse(t.Context(), chatRequest{Message: "m", VaultSession: bad}, ""); e == nil || e.Status != 400 ||
			e.Message != "vault_session is not an AgentCore Identity session URI (urn:ietf:params:oauth:request_uri:…)" {
			t.Errorf("vault_session %q: %+v", bad, e)
		}
	}
}
