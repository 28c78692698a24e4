package e2e_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	sidecarsim "github.com/crosscloud-agentid/agentid/internal/cloudsim/sidecar"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
)

// consentBack is a web redirect URI of the shipped tenant's blueprint.
const consentBack = "http://127.0.0.1:3001/consent.html"

// fleet is n llm-agent replicas behind an in-process round-robin reverse
// proxy, as Container Apps' ingress spreads requests (and websocket
// connections) with no session affinity. Each replica has its own
// identity provider: its own MSAL clients, or its own auth sidecar.
type fleet struct {
	url      string // the proxy
	replicas []string
	next     atomic.Int64
	mu       sync.Mutex
	served   map[int]int // requests per replica
}

// startFleet starts n replicas with provider ("msal" or "sidecar") and
// extra settings, and the proxy before them.
func startFleet(t testing.TB, s *e2e.Stack, n int, provider string, extra map[string]string) *fleet {
	t.Helper()
	f := &fleet{served: map[int]int{}}
	targets := make([]*url.URL, n)
	for i := range n {
		settings := map[string]string{"IDENTITY_PROVIDER": provider, "CONSENT_REDIRECT_URI": consentBack}
		switch provider {
		case "msal":
			maps.Copy(settings, map[string]string{"BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""})
		case "sidecar":
			// A sidecar container beside each replica, as in the
			// Container Apps manifest.
			cfg, err := s.Sim.SidecarConfig(s.WeatherURL)
			if err != nil {
				t.Fatal(err)
			}
			side, err := sidecarsim.New(cfg, cloudsimtest.Client(s.Sim), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(side)
			t.Cleanup(srv.Close)
			settings["SIDECAR_URL"] = srv.URL
		}
		maps.Copy(settings, extra)
		f.replicas = append(f.replicas, s.Agent(settings))
		targets[i], _ = url.Parse(f.replicas[i])
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i := int(f.next.Add(1)-1) % n
			f.mu.Lock()
			f.served[i]++
			f.mu.Unlock()
			pr.SetURL(targets[i])
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set("X-Test-Replica", strconv.Itoa(i))
		},
		ModifyResponse: func(r *http.Response) error {
			r.Header.Set("X-Test-Replica", r.Request.Header.Get("X-Test-Replica"))
			return nil
		},
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// fleetReply is a turn's answer and the replica that gave it.
type fleetReply struct {
	reply
	replica int
}

// post sends a turn through the proxy.
func (f *fleet) post(t testing.TB, body map[string]any, userToken string) fleetReply {
	t.Helper()
	raw, _ := json.Marshal(body)
	rep, h := postChatHeader(t, f.url, string(raw), userToken)
	r := fleetReply{reply: rep}
	r.replica, _ = strconv.Atoi(h.Get("X-Test-Replica"))
	return r
}

// socket opens a websocket through the proxy.
func (f *fleet) socket(t testing.TB) (*websocket.Conn, int) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(f.url, "http")+"/api/chat/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	i, _ := strconv.Atoi(resp.Header.Get("X-Test-Replica"))
	return c, i
}

// socketTurn sends one turn on c and returns its final (or error) message.
func socketTurn(t testing.TB, c *websocket.Conn, body map[string]any) map[string]any {
	t.Helper()
	if err := c.WriteJSON(body); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("websocket turn: %v", err)
		}
		if m["type"] == "final" || m["type"] == "error" {
			return m
		}
	}
}

// tokenGrants is what Entra's token endpoint did since before: tokens
// issued per grant, and requests refused.
func tokenGrants(s *e2e.Stack, before map[string]int64) (issued map[string]int64, refused int64) {
	issued = map[string]int64{}
	var all, ok int64
	for k, v := range s.Sim.Entra.Stats().Snapshot() {
		d := v - before[k]
		if d == 0 {
			continue
		}
		switch {
		case k == "entra.token":
			all = d
		case strings.HasPrefix(k, "entra.token.grant."):
			issued[strings.TrimPrefix(k, "entra.token.grant.")] = d
			ok += d
		}
	}
	return issued, all - ok
}

const (
	grantT1      = "client_credentials+fmi_path"
	grantApp     = "client_credentials"
	grantOBO     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantUserFIC = "user_fic"
	grantRefresh = "refresh_token"
	grantROPC    = "password"
)

// Three llm-agent replicas behind a round-robin proxy (websockets
// included), each with its own identity provider, against one cloudsim:
// every flow in both modes on every replica, two users' on-behalf-of
// turns kept apart, websocket turns, consent given from one replica's link
// and the retry answered by another, the agent user after admin consent.
// No turn fails, and Entra is asked at most once per replica for each
// token (T1, TR, T2, each user's TU for each API, TAU for each API) in its
// lifetime; refusals at most once per replica and explicit question.
func TestReplicasBehindRoundRobin(t *testing.T) {
	const replicas = 3
	for _, provider := range []string{"msal", "sidecar"} {
		t.Run(provider, func(t *testing.T) {
			s := e2e.Start(t) // a cloudsim each: consent, once given, stays
			tokens := cloudsimtest.NewTokens(s.Sim)
			alice, bob := tokens.User(t), tokens.UserNamed(t, "bob@contoso.example", "bob-local-demo-password")
			aliceOID, bobOID := s.Sim.Tenant.UserByUPN("alice@contoso.example").ObjectID, s.Sim.Tenant.UserByUPN("bob@contoso.example").ObjectID
			agentUser := s.Sim.Tenant.AgentUser(s.Env["AGENT_USER_UPN"])
			f := startFleet(t, s, replicas, provider, nil)
			before := s.Sim.Entra.Stats().Snapshot()
			turns, explicit := 0, 0
			onReplica := map[string]map[int]bool{}
			check := func(what string, r fleetReply, want string) {
				t.Helper()
				turns++
				if onReplica[what] == nil {
					onReplica[what] = map[int]bool{}
				}
				onReplica[what][r.replica] = true
				if resp, _ := r.body["response"].(string); r.status != 200 || r.body["success"] != true || !strings.Contains(resp, want) {
					t.Fatalf("%s on replica %d: %d %.600s", what, r.replica, r.status, r.raw)
				}
			}

			// Every flow and mode, each served by every replica; bob's
			// turns between alice's.
			for _, mode := range []string{"direct", "bedrock"} {
				for _, flow := range []string{"autonomous", "obo", "agent_user"} {
					for i := range replicas * 2 {
						user, oid := alice, aliceOID
						if flow == "obo" && i%2 == 1 {
							user, oid = bob, bobOID
						}
						city := []string{"Oslo", "Lima", "Tokyo", "Nairobi", "Lisbon", "Seattle"}[i]
						r := f.post(t, map[string]any{"message": "What's the weather in " + city + "?", "llm_mode": mode, "token_flow": flow}, user)
						check(mode+"/"+flow, r, city)
						caller := weatherCaller(r.body["trace"].([]any))
						if (flow == "obo" && caller["user_oid"] != oid) || (flow == "agent_user" && caller["user_oid"] != agentUser.ObjectID) {
							t.Errorf("%s/%s turn %d: the Weather API saw %v", mode, flow, i, caller)
						}
					}
				}
			}
			// Websocket turns: each connection goes to the next replica.
			for _, flow := range []string{"autonomous", "obo", "agent_user"} {
				for range replicas {
					c, i := f.socket(t)
					m := socketTurn(t, c, map[string]any{"message": "What's the weather in Lisbon?", "llm_mode": "bedrock", "token_flow": flow, "user_token": alice})
					c.Close()
					raw, _ := json.Marshal(m)
					check("websocket/"+flow, fleetReply{reply: reply{status: 200, body: m, raw: string(raw)}, replica: i}, "Lisbon")
					if m["type"] != "final" {
						t.Errorf("websocket %s on replica %d: %v", flow, i, m)
					}
				}
			}

			// Consent: the link comes from one replica, the retry (as the
			// page sends it, after consent) is answered by another.
			r := f.post(t, map[string]any{"message": "Who am I?", "llm_mode": "direct", "token_flow": "obo"}, alice)
			explicit++
			need, _ := r.body["consent_required"].(map[string]any)
			link, _ := need["url"].(string)
			if r.status != 200 || link == "" {
				t.Fatalf("who am I before consent: %d %.600s", r.status, r.raw)
			}
			turns++
			linkFrom := r.replica
			consentAsUser(t, s, link, "alice@contoso.example")
			retry := f.post(t, map[string]any{"message": "Who am I?", "llm_mode": "direct", "token_flow": "obo", "after_consent": true}, alice)
			check("who am I after consent", retry, "Alice Example")
			if retry.replica == linkFrom {
				t.Errorf("the retry went to replica %d, which gave the link: the test shows nothing", retry.replica)
			}
			// The page marks its turns as after consent for a while: a
			// replica that remembered the refusal asks again.
			for range replicas {
				check("who am I, Bedrock", f.post(t, map[string]any{"message": "Who am I?", "llm_mode": "bedrock", "token_flow": "obo", "after_consent": true}, alice), "Alice Example")
			}
			// Later turns use each replica's cached tool list and token.
			for range replicas {
				check("who am I, later", f.post(t, map[string]any{"message": "Who am I?", "llm_mode": "bedrock", "token_flow": "obo"}, alice), "Alice Example")
			}

			// The agent user: an admin link, admin consent, the retry.
			r = f.post(t, map[string]any{"message": "Who am I?", "llm_mode": "direct", "token_flow": "agent_user"}, alice)
			explicit++
			turns++
			need, _ = r.body["consent_required"].(map[string]any)
			adminLink, _ := need["admin_url"].(string)
			if r.status != 200 || adminLink == "" {
				t.Fatalf("agent user before admin consent: %d %.600s", r.status, r.raw)
			}
			consentAsUser(t, s, adminLink, "alice@contoso.example")
			for range replicas {
				check("agent user after admin consent", f.post(t, map[string]any{"message": "Who am I?", "llm_mode": "direct", "token_flow": "agent_user", "after_consent": true}, alice), agentUser.DisplayName)
			}

			for what, seen := range onReplica {
				if len(seen) != replicas && !strings.HasPrefix(what, "who am I after") {
					t.Errorf("%s was served by replicas %v, want all %d", what, seen, replicas)
				}
			}
			// Entra: at most one acquisition per (replica, token, user)
			// in the token's lifetime (60 to 90 minutes: none expires in
			// the test). Per replica: T1; TR and T2; alice's and bob's TU
			// for the Weather API (OBO), alice's for the MCP server and
			// TAU for the MCP server (from the refresh token MSAL holds
			// for the first, through AcquireTokenSilent, or OBO and
			// user_fic), TAU for the Weather API (user_fic).
			issued, refused := tokenGrants(s, before)
			delete(issued, grantROPC) // the test's own sign-ins
			if issued[grantT1] > replicas || issued[grantApp] > 2*replicas {
				t.Errorf("T1 %d times, TR and T2 %d times on %d replicas, want at most one each per replica", issued[grantT1], issued[grantApp], replicas)
			}
			if n := issued[grantOBO] + issued[grantRefresh] + issued[grantUserFIC]; n > 5*replicas {
				t.Errorf("%d user tokens (TU, TAU) for %d turns on %d replicas, want at most %d: one per replica for each of alice's two, bob's one and the agent user's two", n, turns, replicas, 5*replicas)
			}
			if issued[grantUserFIC] > replicas {
				t.Errorf("user_fic %d times, want at most once per replica: TAU comes from AcquireTokenSilent after the first", issued[grantUserFIC])
			}
			// Refusals before consent: the MCP token of alice, bob and the
			// agent user, once per replica for the tool list (then
			// remembered), once per explicit question; MSAL tries the
			// refresh token it holds for the user first, so one refusal
			// may be two requests.
			if maxRefused := int64(2 * (3*replicas + explicit)); refused > maxRefused {
				t.Errorf("Entra refused %d token requests, want at most %d", refused, maxRefused)
			}
			var total int64
			for _, n := range issued {
				total += n
			}
			t.Logf("%s, %d replicas, %d turns (requests per replica %v): Entra issued %d tokens (%s), refused %d requests",
				provider, replicas, turns, f.served, total, fmtGrants(issued), refused)
		})
	}
}

// fmtGrants prints grants in a fixed order.
func fmtGrants(issued map[string]int64) string {
	var parts []string
	for _, g := range []string{grantT1, grantApp, grantOBO, grantUserFIC, grantRefresh} {
		if issued[g] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", g, issued[g]))
		}
	}
	return strings.Join(parts, " ")
}
