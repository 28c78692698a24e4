package mcptool_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/mcpserver"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/mcptool"
	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// Against cloudsim's MCP server: a delegated token with the scope lists
// and calls tools; one without it is refused with the challenge that names
// the scope; an app-only token too.
func TestSessionsAgainstTheMCPServer(t *testing.T) {
	sim := cloudsimtest.Start(t, cloudsimtest.WithMCPConsent("MCP.User.Read.All", "MCP.GroupMember.Read.All"))
	tokens := cloudsimtest.NewTokens(sim)
	c := mcptool.New(tokens.Env["MCP_SERVER_URL"], cloudsimtest.Client(sim))
	resource := mcpserver.AppID

	s, err := c.Connect(t.Context(), secret.New("Bearer "+tokens.OBO(t, resource+"/MCP.User.Read.All")))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tools, err := s.Tools(t.Context())
	if err != nil || len(tools) != 3 {
		t.Fatalf("tools %v %v", tools, err)
	}
	res, err := s.Call(t.Context(), "microsoft_graph_get", map[string]any{"relativeUrl": "/me"})
	if err != nil || res.IsError || !strings.Contains(fmt.Sprint(res.StructuredContent), "Alice Example") {
		t.Fatalf("/me: %v %v", res, err)
	}
	res, err = s.Call(t.Context(), "microsoft_graph_get", map[string]any{"relativeUrl": "/groups"})
	if err != nil || !res.IsError || !strings.Contains(mcptool.ResultText(res), "/groups") {
		t.Errorf("a tool's own failure is a result, not an error: %v %v", res, err)
	}

	for name, token := range map[string]string{
		// The agent is consented both scopes, and a token carries every
		// consented one: this one is re-signed without the server's.
		"another MCP scope": withoutServerScope(t, sim, tokens.OBO(t, resource+"/MCP.GroupMember.Read.All")),
		"app-only":          tokens.App(t, resource),
	} {
		_, err := c.Connect(t.Context(), secret.New("Bearer "+token))
		refused, ok := err.(*mcptool.RefusedError)
		if !ok || refused.Status != 403 || !strings.Contains(refused.Challenge, `error="insufficient_scope"`) || !strings.Contains(refused.Challenge, "MCP.User.Read.All") {
			t.Errorf("%s: %v", name, err)
		}
		if strings.Contains(fmt.Sprint(err), token) {
			t.Errorf("%s: the error shows the token", name)
		}
	}
	if _, err := c.Connect(t.Context(), secret.New("Bearer not-a-jwt")); err == nil || err.(*mcptool.RefusedError).Status != 401 {
		t.Errorf("a bad token: %v", err)
	}
}

// Tool lists are kept per user, and the store stays bounded.
func TestToolListsPerUser(t *testing.T) {
	c := mcptool.New("https://mcp.example/enterprise", nil)
	alice := []*mcp.Tool{{Name: "microsoft_graph_get"}}
	c.RememberTools("user:alice", alice)
	if got, ok := c.CachedTools("user:alice"); !ok || got[0].Name != "microsoft_graph_get" {
		t.Errorf("alice: %v %v", got, ok)
	}
	if _, ok := c.CachedTools("user:bob"); ok {
		t.Error("bob got alice's list")
	}
	for i := range 1100 {
		c.RememberTools(fmt.Sprint("user:", i), alice)
	}
	if _, ok := c.CachedTools("user:1099"); !ok {
		t.Error("the newest list was dropped")
	}
	if _, ok := c.CachedTools("user:alice"); ok {
		t.Error("the store grew past its bound")
	}
}

// withoutServerScope re-signs a token with cloudsim's key, its scp only
// MCP.GroupMember.Read.All.
func withoutServerScope(t *testing.T, sim *cloudsim.Sim, token string) string {
	t.Helper()
	tok, err := sim.Keys.Sign(jwtauthtest.Edit(jwtauthtest.Claims(t, token), map[string]any{"scp": "MCP.GroupMember.Read.All"}), true)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
