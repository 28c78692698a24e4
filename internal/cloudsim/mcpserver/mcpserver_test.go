package mcpserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/mcpserver"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
)

// bearer adds the token to every request, as an MCP client's transport
// does.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func connect(t *testing.T, sim *cloudsim.Sim, token string) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpserver-test", Version: "1"}, nil)
	transport := &mcp.StreamableClientTransport{Endpoint: sim.URL + mcpserver.Path, MaxRetries: -1, DisableStandaloneSSE: true,
		HTTPClient: &http.Client{Transport: bearer{token, cloudsimtest.Client(sim).Transport}}}
	s, err := client.Connect(t.Context(), transport, nil)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func call(t *testing.T, s *mcp.ClientSession, tool string, args map[string]any) map[string]any {
	t.Helper()
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("%s: %v", tool, res.Content)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return out
}

// A delegated token for the MCP server, from the agent on behalf of alice
// (TU) or as the agent user (TAU), reads the directory as that user.
func TestDelegatedTokensReadTheDirectory(t *testing.T) {
	sim := cloudsimtest.Start(t, cloudsimtest.WithMCPConsent())
	tokens := cloudsimtest.NewTokens(sim)
	resource := "api://" + mcpserver.AppID
	alice := sim.Tenant.UserByUPN(tokens.Env["CLOUDSIM_DEMO_USERNAME"])

	s, err := connect(t, sim, tokens.OBO(t, resource+"/"+mcpserver.RequiredScope))
	if err != nil {
		t.Fatal(err)
	}
	tools, err := s.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if strings.Join(names, ",") != "microsoft_graph_get,microsoft_graph_list_properties,microsoft_graph_suggest_queries" {
		t.Errorf("tools %v", names)
	}
	if me := call(t, s, "microsoft_graph_get", map[string]any{"relativeUrl": "/me"}); me["id"] != alice.ObjectID || me["displayName"] != alice.DisplayName {
		t.Errorf("/me = %v, want alice", me)
	}
	users, _ := call(t, s, "microsoft_graph_get", map[string]any{"relativeUrl": "/v1.0/users?$select=displayName"})["value"].([]any)
	if len(users) != len(sim.Tenant.Users) {
		t.Errorf("/users = %v", users)
	}
	if bob := call(t, s, "microsoft_graph_get", map[string]any{"relativeUrl": "/users/bob@contoso.example"}); bob["displayName"] != "Bob Example" {
		t.Errorf("/users/bob = %v", bob)
	}
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "microsoft_graph_get", Arguments: map[string]any{"relativeUrl": "/groups"}})
	if err != nil || !res.IsError {
		t.Errorf("an unmodelled path: %v %v", err, res)
	}

	au, err := connect(t, sim, tokens.AgentUser(t, resource))
	if err != nil {
		t.Fatal(err)
	}
	if me := call(t, au, "microsoft_graph_get", map[string]any{"relativeUrl": "/me"}); me["userPrincipalName"] != tokens.Env["AGENT_USER_UPN"] {
		t.Errorf("the agent user's /me = %v", me)
	}
}

// What the real server refuses: a token for another API, an app-only
// token, a delegated token without the scope, a forged or absent one.
func TestRefusals(t *testing.T) {
	sim := cloudsimtest.Start(t, cloudsimtest.WithMCPConsent())
	tokens := cloudsimtest.NewTokens(sim)
	tg := jwtauthtest.Target{TenantID: tokens.Env["TENANT_ID"], Audience: mcpserver.AppID, Keys: sim.Keys}
	delegated := jwtauthtest.Edit(tg.GoodClaims(), map[string]any{"idtyp": "user", "scp": mcpserver.RequiredScope, "roles": nil})
	const (
		invalid      = `Bearer error="invalid_token", scope="MCP.User.Read.All"`
		insufficient = `Bearer error="insufficient_scope", scope="MCP.User.Read.All"`
	)
	cases := []struct {
		name, token string
		status      int
		challenge   string
	}{
		{"no token", "", 401, `Bearer scope="MCP.User.Read.All"`},
		{"the Weather API's token", tokens.OBO(t, "api://"+tokens.Env["WEATHER_API_APP_ID"]+"/Weather.Read"), 401, invalid},
		{"app-only (TR) for the MCP server", tokens.App(t, "api://"+mcpserver.AppID), 403, insufficient},
		{"delegated, another scope", tg.Sign(t, jwtauthtest.Edit(delegated, map[string]any{"scp": "MCP.GroupMember.Read.All"})), 403, insufficient},
		{"another tenant", tg.Sign(t, jwtauthtest.Edit(delegated, map[string]any{"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"})), 401, invalid},
		{"expired", tg.Sign(t, jwtauthtest.Edit(delegated, map[string]any{"exp": 1})), 401, invalid},
		{"not a JWT", "abc", 401, invalid},
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", sim.URL+mcpserver.Path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := tokens.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status || resp.Header.Get("WWW-Authenticate") != c.challenge {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), c.status, c.challenge)
			}
			if _, err := connect(t, sim, c.token); err == nil {
				t.Fatal("the MCP client connected")
			}
		})
	}
	if !strings.Contains(tokens.Env["MCP_SERVER_URL"], mcpserver.Path) || tokens.Env["MCP_SCOPES"] != mcpserver.RequiredScope {
		t.Errorf("cloudsim.env: %q %q", tokens.Env["MCP_SERVER_URL"], tokens.Env["MCP_SCOPES"])
	}
}
