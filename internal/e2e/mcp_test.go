package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/mcpserver"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// mcpTokenCard is the trace's card of the token the agent sent to the MCP
// server.
func mcpTokenCard(r reply) map[string]any {
	for _, e := range events(r, "token") {
		if msg, _ := e["message"].(string); strings.Contains(msg, "for the MCP server") {
			tok, _ := e["token"].(map[string]any)
			claims, _ := tok["claims"].(map[string]any)
			return claims
		}
	}
	return nil
}

// "Who am I?" on behalf of alice reads her profile through the MCP server,
// with a token audienced to it and naming her, in both modes and from both
// providers; the tool list is remembered for her next turn; an autonomous
// turn never reaches the MCP server.
func TestWhoAmIThroughTheMCPServer(t *testing.T) {
	s := e2e.StartWith(t, cloudsimtest.WithMCPConsent())
	tokens := cloudsimtest.NewTokens(s.Sim)
	tc := tokens.User(t)
	alice := s.Sim.Tenant.UserByUPN(s.Env["CLOUDSIM_DEMO_USERNAME"])
	agentUser := s.Sim.Tenant.AgentUser(s.Env["AGENT_USER_UPN"])
	stats := s.Sim.Entra.Stats()
	var everything strings.Builder
	for _, provider := range []string{"sidecar", "msal"} {
		url := s.Agent(map[string]string{"IDENTITY_PROVIDER": provider, "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""})
		for _, mode := range []string{"direct", "bedrock"} {
			t.Run(provider+"/"+mode, func(t *testing.T) {
				r := chat(t, url, map[string]any{"message": "Who am I?", "llm_mode": mode, "token_flow": "obo"}, tc)
				everything.WriteString(r.raw)
				resp, _ := r.body["response"].(string)
				if r.status != 200 || !strings.Contains(resp, alice.DisplayName) || !strings.Contains(resp, alice.UPN) {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				claims := mcpTokenCard(r)
				if claims["aud"] != mcpserver.AppID || claims["oid"] != alice.ObjectID || claims["azp"] != s.Env["AGENT_CLIENT_ID"] || claims["scp"] != "MCP.User.Read.All" {
					t.Errorf("the MCP token's claims: %v", claims)
				}
				var called bool
				for _, e := range events(r, "mcp") {
					if d, _ := e["data"].(map[string]any); d["tool"] == "microsoft_graph_get" && e["actor"] == "mcp-server" {
						called = true
					}
				}
				if !called {
					t.Errorf("no MCP tool call in the trace: %v", events(r, "mcp"))
				}
				// Her next turn uses the list remembered for her.
				before := stats.Get("mcp.request")
				again := chat(t, url, map[string]any{"message": "What's the weather in Lisbon?", "llm_mode": "bedrock", "token_flow": "obo"}, tc)
				if again.status != 200 || stats.Get("mcp.request") != before {
					t.Errorf("a weather turn after the first dialled the MCP server %d times: %s", stats.Get("mcp.request")-before, again.raw)
				}
				var cached bool
				for _, e := range events(again, "mcp") {
					if d, _ := e["data"].(map[string]any); d["cached"] == true {
						cached = true
					}
				}
				if !cached {
					t.Errorf("the tool list was not remembered: %v", events(again, "mcp"))
				}
			})
		}
		t.Run(provider+"/agent_user", func(t *testing.T) {
			r := chat(t, url, map[string]any{"message": "Who am I?", "llm_mode": "direct", "token_flow": "agent_user"}, tc)
			if resp, _ := r.body["response"].(string); r.status != 200 || !strings.Contains(resp, agentUser.DisplayName) {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if claims := mcpTokenCard(r); claims["oid"] != agentUser.ObjectID || claims["aud"] != mcpserver.AppID {
				t.Errorf("the agent user's MCP token: %v", claims)
			}
		})
		t.Run(provider+"/autonomous never calls MCP", func(t *testing.T) {
			for _, mode := range []string{"direct", "bedrock"} {
				before := stats.Get("mcp.request")
				r := chat(t, url, map[string]any{"message": "Who am I?", "llm_mode": mode, "token_flow": "autonomous"}, "")
				if r.status != 200 || stats.Get("mcp.request") != before || mcpTokenCard(r) != nil {
					t.Fatalf("%s: %d, %d MCP requests: %s", mode, r.status, stats.Get("mcp.request")-before, r.raw)
				}
				if !strings.Contains(r.raw, "delegated tokens only") {
					t.Errorf("%s: the turn does not say why there are no MCP tools: %s", mode, r.raw)
				}
			}
		})
	}
	// Concurrent turns for two users: each reads their own profile, through
	// their own token.
	bobToken := tokens.UserNamed(t, "bob@contoso.example", "bob-local-demo-password")
	url := s.Agent(map[string]string{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""})
	var wg sync.WaitGroup
	for i := range 20 {
		tok, want := tc, alice
		if i%2 == 1 {
			tok, want = bobToken, s.Sim.Tenant.UserByUPN("bob@contoso.example")
		}
		mode := []string{"direct", "bedrock"}[i%4/2]
		wg.Go(func() {
			r := chat(t, url, map[string]any{"message": "Who am I?", "llm_mode": mode, "token_flow": "obo"}, tok)
			resp, _ := r.body["response"].(string)
			if r.status != 200 || !strings.Contains(resp, want.DisplayName) || mcpTokenCard(r)["oid"] != want.ObjectID {
				t.Errorf("%s for %s: %d %s", mode, want.UPN, r.status, resp)
			}
		})
	}
	wg.Wait()
	received := fmt.Sprint(s.Sim.Bedrock.Received())
	for name, text := range map[string]string{"answers and traces": everything.String(), "logs": s.Logs.String(), "bedrock requests": received} {
		if leaks := leakcheck.Find(text, tc); len(leaks) > 0 {
			t.Errorf("%s leak tokens: %v", name, leaks)
		}
	}
}

// A token without the scope the MCP server needs is refused by it, and the
// turn says so and what to fix, in both modes.
func TestMCPServerRefusesATokenWithoutItsScope(t *testing.T) {
	// The agent is consented only the other scope: a token carries every
	// scope consented on the resource, so one consented with the server's
	// scope would carry it whatever was asked.
	s := e2e.StartWith(t, cloudsimtest.WithMCPConsent("MCP.GroupMember.Read.All"))
	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	url := s.Agent(map[string]string{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": "",
		"MCP_SCOPES": "MCP.GroupMember.Read.All"})
	for _, mode := range []string{"direct", "bedrock"} {
		r := chat(t, url, map[string]any{"message": "Who am I?", "llm_mode": mode, "token_flow": "obo"}, tc)
		msg, _ := r.body["error"].(string)
		if r.status != http.StatusBadGateway || !strings.Contains(msg, `refused the agent's token (HTTP 403, Bearer error="insufficient_scope"`) || !strings.Contains(msg, "MCP.User.Read.All") || !strings.Contains(msg, "MCP_SCOPES") {
			t.Errorf("%s: %d %s", mode, r.status, r.raw)
		}
		if claims := mcpTokenCard(r); claims["scp"] != "MCP.GroupMember.Read.All" {
			t.Errorf("%s: the token sent: %v", mode, claims)
		}
	}
	// A weather question in the same setup is answered: the refused
	// directory stays out of the way until it is needed.
	r := chat(t, url, map[string]any{"message": "What's the weather in Oslo?", "llm_mode": "bedrock", "token_flow": "obo"}, tc)
	if resp, _ := r.body["response"].(string); r.status != 200 || !strings.Contains(resp, "Oslo") {
		t.Errorf("weather with the directory refused: %d %s", r.status, r.raw)
	}
}

var consentRequestID = regexp.MustCompile(`name="consent_request" value="([^"]+)"`)

// consentAsUser answers a consent link as a browser would: sign upn in on
// cloudsim's page, then accept. It returns where Entra sent the browser.
func consentAsUser(t *testing.T, s *e2e.Stack, link, upn string) string {
	t.Helper()
	c := cloudsimtest.Client(s.Sim)
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	post := func(form url.Values) (*http.Response, string) {
		resp, err := c.PostForm(link, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	form, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	form.Set("login", upn)
	resp, page := post(form)
	m := consentRequestID.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	form.Del("login")
	form.Set("consent_request", m[1])
	form.Set("decision", "accept")
	resp, _ = post(form)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("accepting: %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// With no consent for the agent on the MCP server, the turn ends with a
// consent link; alice accepts on cloudsim's consent page; the same turn
// then succeeds. The agent user flow gets the admin link only.
func TestConsentOnDemand(t *testing.T) {
	const back = "http://127.0.0.1:3001/consent.html"
	for _, provider := range []string{"sidecar", "msal"} {
		t.Run(provider, func(t *testing.T) {
			s := e2e.Start(t) // a cloudsim each: consent, once given, stays
			tc := cloudsimtest.NewTokens(s.Sim).User(t)
			url := s.Agent(map[string]string{"IDENTITY_PROVIDER": provider, "CONSENT_REDIRECT_URI": back, "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""})
			// A weather question needs no consent, even in Bedrock mode.
			if r := chat(t, url, map[string]any{"message": "What's the weather in Oslo?", "llm_mode": "bedrock", "token_flow": "obo"}, tc); r.status != 200 || r.body["consent_required"] != nil {
				t.Fatalf("weather without MCP consent: %d %s", r.status, r.raw)
			}
			r := chat(t, url, map[string]any{"message": "Who am I?", "llm_mode": "bedrock", "token_flow": "agent_user"}, tc)
			need, _ := r.body["consent_required"].(map[string]any)
			adminLink, _ := need["admin_url"].(string)
			if r.status != 200 || need["url"] != nil || !strings.Contains(adminLink, "/v2.0/adminconsent?") {
				t.Errorf("agent user without consent: %d %s", r.status, r.raw)
			}
			for _, mode := range []string{"direct", "bedrock"} {
				r = chat(t, url, map[string]any{"message": "Who am I?", "llm_mode": mode, "token_flow": "obo"}, tc)
				need, _ = r.body["consent_required"].(map[string]any)
				link, _ := need["url"].(string)
				if r.status != 200 || need["reason"] != "consent_required" || need["aadsts"] != float64(65001) || !strings.Contains(link, "response_type=none") ||
					!strings.Contains(link, "client_id="+s.Env["AGENT_CLIENT_ID"]) || !strings.Contains(r.body["response"].(string), link) {
					t.Fatalf("%s: %d %s", mode, r.status, r.raw)
				}
			}
			if to := consentAsUser(t, s, need["url"].(string), s.Env["CLOUDSIM_DEMO_USERNAME"]); !strings.HasPrefix(to, back+"?state=") {
				t.Errorf("after consent the browser went to %q", to)
			}
			for _, mode := range []string{"direct", "bedrock"} {
				r = chat(t, url, map[string]any{"message": "Who am I?", "llm_mode": mode, "token_flow": "obo"}, tc)
				if resp, _ := r.body["response"].(string); r.status != 200 || r.body["consent_required"] != nil || !strings.Contains(resp, "Alice Example") {
					t.Errorf("%s after consent: %d %s", mode, r.status, r.raw)
				}
			}
			// An admin (alice, in the shipped tenant) consents for everyone:
			// the agent user's turn goes through.
			if to := consentAsUser(t, s, adminLink, s.Env["CLOUDSIM_DEMO_USERNAME"]); !strings.Contains(to, "admin_consent=True") {
				t.Errorf("after admin consent the browser went to %q", to)
			}
			r = chat(t, url, map[string]any{"message": "Who am I?", "llm_mode": "direct", "token_flow": "agent_user"}, tc)
			if resp, _ := r.body["response"].(string); r.status != 200 || !strings.Contains(resp, s.Sim.Tenant.AgentUser(s.Env["AGENT_USER_UPN"]).DisplayName) {
				t.Errorf("agent user after admin consent: %d %s", r.status, r.raw)
			}
		})
	}
}

// The consent result reaches every transport: the websocket's final
// message (the link returns to the page's own origin) and an AgentCore
// invocation (to the origin of the page that sent it).
func TestConsentRequiredOnEveryTransport(t *testing.T) {
	s := e2e.Start(t)
	tc := cloudsimtest.NewTokens(s.Sim).User(t)

	agent := s.Agent(nil)
	c, _, err := dial(t, agent, agent)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteJSON(map[string]string{"message": "Who am I?", "llm_mode": "bedrock", "token_flow": "obo", "user_token": tc})
	var final map[string]any
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for final == nil || final["type"] == "trace" || final["type"] == "text" {
		final = nil
		if err := c.ReadJSON(&final); err != nil {
			t.Fatal(err)
		}
	}
	need, _ := final["consent_required"].(map[string]any)
	link, _ := need["url"].(string)
	if final["type"] != "final" || !strings.Contains(link, "redirect_uri="+url.QueryEscape(agent+"/consent.html")) {
		t.Errorf("websocket: %v", final)
	}

	runtime := agentCore(s, nil)
	req, _ := http.NewRequest("POST", runtime+"/invocations", strings.NewReader(`{"prompt":"Who am I?"}`))
	req.Header.Set("Authorization", "Bearer "+tc)
	req.Header.Set("Origin", "http://127.0.0.1:3001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a map[string]any
	json.NewDecoder(resp.Body).Decode(&a)
	need, _ = a["consent_required"].(map[string]any)
	link, _ = need["url"].(string)
	if resp.StatusCode != 200 || a["status"] != "success" || !strings.Contains(link, "redirect_uri="+url.QueryEscape("http://127.0.0.1:3001/consent.html")) {
		t.Errorf("invocation: %d %v", resp.StatusCode, a)
	}
}
