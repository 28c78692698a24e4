package e2e_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsfront"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// agentCore is llm-agent as AgentCore Runtime runs it: the runtime's
// contract on, the in-process MSAL provider (its default there), and the
// blueprint proven by the managed identity, with no secret.
// agentCore starts llm-agent in AgentCore mode, with extra settings.
func agentCore(s *e2e.Stack, extra map[string]string) string {
	settings := map[string]string{"AGENTCORE_RUNTIME": "true", "IDENTITY_PROVIDER": "",
		"BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""}
	for k, v := range extra {
		settings[k] = v
	}
	return s.Agent(settings)
}

// invoke calls the container's /invocations, with extra headers (the
// streaming signal, say).
func invoke(t *testing.T, url, body, token string, extra ...string) (int, http.Header, string) {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return request(t, "POST", url+"/invocations", body, h)
}

type pingAnswer struct {
	Status string `json:"status"`
	Time   int64  `json:"time_of_last_update"`
}

func ping(t *testing.T, url string) pingAnswer {
	t.Helper()
	resp, err := http.Get(url + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p pingAnswer
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/ping: %d %v", resp.StatusCode, err)
	}
	return p
}

// weatherCaller is who the Weather API said was calling, from the trace.
func weatherCaller(trace []any) map[string]any {
	var caller map[string]any
	for _, e := range trace {
		m, _ := e.(map[string]any)
		if d, _ := m["data"].(map[string]any); m["step"] == "weather_api" && d["caller"] != nil {
			caller, _ = d["caller"].(map[string]any)
		}
	}
	return caller
}

func TestAgentCoreInvocations(t *testing.T) {
	s := e2e.Start(t)
	url := agentCore(s, nil)
	tokens := cloudsimtest.NewTokens(s.Sim)
	tc := tokens.User(t)
	alice := s.Sim.Tenant.UserByUPN(s.Env["CLOUDSIM_DEMO_USERNAME"]).ObjectID

	var everything strings.Builder
	for _, c := range []struct {
		name, body, flow, callerFlow, user string
	}{
		{"prompt, OBO by default", `{"prompt":"What's the weather in Lisbon?"}`, "obo", "delegated", alice},
		{"message, autonomous", `{"message":"What's the weather in Lisbon?","token_flow":"autonomous"}`, "autonomous", "app", ""},
		{"text, direct mode", `{"text":"What's the weather in Lisbon?","llm_mode":"direct"}`, "obo", "delegated", alice},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, raw := invoke(t, url, c.body, tc)
			everything.WriteString(raw)
			var a map[string]any
			json.Unmarshal([]byte(raw), &a)
			if status != 200 || a["status"] != "success" || a["token_flow"] != c.flow || !strings.Contains(a["response"].(string), "Lisbon") {
				t.Fatalf("%d %.400s", status, raw)
			}
			if first, _ := a["trace"].([]any)[0].(map[string]any); first["actor"] != "agentcore-runtime" {
				t.Errorf("the turn's first event names %v", first["actor"])
			}
			caller := weatherCaller(a["trace"].([]any))
			if caller["flow"] != c.callerFlow || (c.user != "" && caller["user_oid"] != c.user) {
				t.Errorf("the Weather API saw %v", caller)
			}
		})
	}

	t.Run("refusals", func(t *testing.T) {
		weatherToken := tokens.App(t, "api://"+s.Env["WEATHER_API_APP_ID"])
		// Tc as a v1 token, valid in every other way (appid for azp).
		tcClaims := jwtauthtest.Claims(t, tc)
		v1, err := s.Sim.Keys.Sign(jwtauthtest.Edit(tcClaims, map[string]any{
			"iss": jwtauth.IssuerV1(s.Env["TENANT_ID"]), "ver": "1.0", "appid": tcClaims["azp"], "azp": nil}), true)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name, body, token string
			status            int
		}{
			{"no token", `{"prompt":"hi"}`, "", 401},
			{"autonomous, no token", `{"prompt":"hi","token_flow":"autonomous"}`, "", 401},
			{"a token for another API", `{"prompt":"hi"}`, weatherToken, 401},
			{"a v1 token (the authorizer's discovery is v2)", `{"prompt":"hi"}`, v1, 401},
			{"not a JWT", `{"prompt":"hi"}`, "abc", 401},
			{"no prompt", `{"token_flow":"obo"}`, tc, 400},
			{"not JSON", `{"prompt":`, tc, 400},
			{"unknown flow", `{"prompt":"hi","token_flow":"root"}`, tc, 400},
		} {
			status, h, raw := invoke(t, url, c.body, c.token)
			everything.WriteString(raw)
			var a map[string]any
			json.Unmarshal([]byte(raw), &a)
			if status != c.status || a["status"] != "error" || a["error"] == "" {
				t.Errorf("%s: %d %s", c.name, status, raw)
			}
			if c.status == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q", c.name, h.Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("server-sent events", func(t *testing.T) {
		// Accept is a restricted header AgentCore does not pass on: it
		// asks for nothing. The allowlisted StreamHeader asks for events.
		if status, h, raw := invoke(t, url, `{"prompt":"What's the weather in Oslo?","llm_mode":"direct"}`, tc, "Accept", "text/event-stream"); status != 200 ||
			!strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("Accept: text/event-stream alone: %d %s %.200s", status, h.Get("Content-Type"), raw)
		}
		status, h, raw := invoke(t, url, `{"prompt":"What's the weather in Oslo?"}`, tc, chatapi.StreamHeader, "true")
		everything.WriteString(raw)
		if status != 200 || h.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%d %s %.300s", status, h.Get("Content-Type"), raw)
		}
		var names []string
		var final map[string]any
		for _, block := range strings.Split(strings.TrimSpace(raw), "\n\n") {
			name, data, ok := strings.Cut(block, "\ndata: ")
			if !ok {
				t.Fatalf("not an event: %q", block)
			}
			names = append(names, strings.TrimPrefix(name, "event: "))
			if names[len(names)-1] == "final" {
				json.Unmarshal([]byte(data), &final)
			}
		}
		if names[0] != "trace" || names[len(names)-1] != "final" || final["status"] != "success" || !strings.Contains(final["response"].(string), "Oslo") {
			t.Fatalf("events %v, final %v", names, final)
		}
	})

	if leaks := leakcheck.Find(everything.String()+s.Logs.String(), tc); len(leaks) > 0 {
		t.Errorf("a token leaked into an answer or a log: %v", leaks)
	}
}

// /ping says HealthyBusy while a turn runs, and when that changed.
func TestAgentCorePing(t *testing.T) {
	s := e2e.Start(t)
	url := agentCore(s, nil)
	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	idle := ping(t, url)
	if idle.Status != "Healthy" || idle.Time == 0 {
		t.Fatalf("idle: %+v", idle)
	}
	s.Sim.Bedrock.Delay(time.Second)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		invoke(t, url, `{"prompt":"What's the weather in Rome?"}`, tc)
	}()
	busy := false
	for i := 0; i < 100 && !busy; i++ {
		busy = ping(t, url).Status == "HealthyBusy"
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	s.Sim.Bedrock.Delay(0)
	if !busy {
		t.Fatal("/ping never said HealthyBusy during a turn")
	}
	if after := ping(t, url); after.Status != "Healthy" || after.Time < idle.Time {
		t.Fatalf("after the turn: %+v (idle was %+v)", after, idle)
	}
}

// Outside AgentCore mode the contract's routes do not exist, and in it the
// sidecar provider is refused at start.
func TestAgentCoreIsOptIn(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(map[string]string{"IDENTITY_PROVIDER": "sidecar"})
	if status, _, _ := invoke(t, url, `{"prompt":"hi"}`, ""); status != 404 && status != 405 {
		t.Errorf("/invocations without AGENTCORE_RUNTIME: %d", status)
	}
	overrides := map[string]string{"AGENTCORE_RUNTIME": "true", "IDENTITY_PROVIDER": "sidecar", "SIDECAR_URL": "http://localhost:5000"}
	r := config.New(func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		return s.Env[k]
	})
	chatapi.LoadSettings(r)
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "no auth sidecar beside it") {
		t.Errorf("IDENTITY_PROVIDER=sidecar with AGENTCORE_RUNTIME=true: %v", err)
	}
}

// The blueprint on AWS with no secret: its client assertion is the token
// STS GetWebIdentityToken issues to the agent's role, which the blueprint's
// federated credential trusts. Every flow works, and cloudsim's records
// show the AWS issuer authenticated the blueprint and a secret never did.
func TestSecretlessBlueprintOnAWS(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(map[string]string{"AGENTCORE_RUNTIME": "true", "IDENTITY_PROVIDER": "",
		"BLUEPRINT_CREDENTIAL": "aws-web-identity", "BLUEPRINT_CLIENT_SECRET": ""})
	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	for _, flow := range []string{"autonomous", "obo", "agent_user"} {
		status, _, raw := invoke(t, url, `{"prompt":"What's the weather in Lisbon?","token_flow":"`+flow+`"}`, tc)
		if status != 200 || !strings.Contains(raw, `"status":"success"`) {
			t.Fatalf("%s: %d %.400s", flow, status, raw)
		}
	}
	stats := s.Sim.Entra.Stats()
	bp := s.Env["BLUEPRINT_APP_ID"]
	if n := stats.Get("entra.client_auth.external_issuer." + s.Sim.Tenant.AWS.OutboundIssuer); n == 0 {
		t.Errorf("the AWS issuer never authenticated the blueprint: %v", stats.Snapshot())
	}
	if n := stats.Get("sts.GetWebIdentityToken"); n == 0 {
		t.Error("STS issued no outbound token")
	}
	if n := stats.Get("entra.client_auth.secret." + bp); n != 0 {
		t.Errorf("the blueprint used a secret %d times", n)
	}
}

// runtimeFront serves cloudsim's AgentCore Runtime front, built from the
// repository's template, before container, and returns the invocation URL
// the stack's AgentInvocationUrl output would give, and the log of what
// reached the front.
func runtimeFront(t *testing.T, s *e2e.Stack, container string) (string, *frontLog) {
	t.Helper()
	src, err := os.ReadFile("../../deploy/aws/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return runtimeFrontFrom(t, s, container, src)
}

// runtimeFrontFrom is runtimeFront with the template's text given.
func runtimeFrontFrom(t *testing.T, s *e2e.Stack, container string, src []byte) (string, *frontLog) {
	t.Helper()
	tpl, err := awsfront.Load(src, awsfront.LocalStack(s.Env))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := neturl.Parse(container)
	rt, err := awsfront.RuntimeFrom(tpl, "AgentRuntime", awsfront.KeySetFunc(s.Sim.Keys.Verify), u)
	if err != nil {
		t.Fatal(err)
	}
	log := &frontLog{}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Logged as the answer starts, not when it ends: a stream's end
		// may come after its reader has what it needs.
		call := frontCall{Method: r.Method, Origin: r.Header.Get("Origin"), Stream: r.Header.Get(chatapi.StreamHeader)}
		rt.ServeHTTP(&recordedAnswer{ResponseWriter: w, started: func(status int, h http.Header) {
			call.Status, call.ContentType = status, h.Get("Content-Type")
			log.add(call)
		}}, r)
	}))
	t.Cleanup(front.Close)
	return front.URL + "/runtimes/" + neturl.PathEscape(awsfront.LocalRuntimeARN) + "/invocations?qualifier=DEFAULT", log
}

// frontCall is one request that reached the runtime front, and its answer.
type frontCall struct {
	Method, Origin, Stream string
	Status                 int
	ContentType            string
}

// frontLog is what reached the runtime front.
type frontLog struct {
	mu    sync.Mutex
	calls []frontCall
}

func (l *frontLog) add(c frontCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

func (l *frontLog) all() []frontCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]frontCall(nil), l.calls...)
}

// recordedAnswer tells started the status and headers an answer begins
// with, and lets server-sent events flush through.
type recordedAnswer struct {
	http.ResponseWriter
	started func(status int, h http.Header)
	once    sync.Once
}

func (w *recordedAnswer) WriteHeader(code int) {
	w.once.Do(func() { w.started(code, w.Header()) })
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordedAnswer) Write(b []byte) (int, error) {
	w.once.Do(func() { w.started(http.StatusOK, w.Header()) })
	return w.ResponseWriter.Write(b)
}

func (w *recordedAnswer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *recordedAnswer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// The chat UI's llm-agent with AGENTCORE_INVOCATION_URL relays each turn
// to the agent on AgentCore Runtime, through cloudsim's front, with the
// signed-in user's token: the answer and its trace come back under the
// page's own correlation ID; a turn without a user is refused before the
// runtime sees it; the runtime's refusal, and its silence, are named.
func TestAgentCoreRelay(t *testing.T) {
	s := e2e.Start(t)
	runtime := agentCore(s, nil)
	invocationURL, front := runtimeFront(t, s, runtime)
	ui := s.Agent(map[string]string{"AGENTCORE_INVOCATION_URL": invocationURL})
	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	var everything strings.Builder
	turn := func(url, body, token string, extra ...string) (int, map[string]any) {
		t.Helper()
		h := map[string]string{"Content-Type": "application/json"}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		status, _, raw := request(t, "POST", url+"/api/chat", body, h)
		everything.WriteString(raw)
		var a map[string]any
		json.Unmarshal([]byte(raw), &a)
		return status, a
	}

	traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
	status, a := turn(ui, `{"message":"What's the weather in Lisbon?","llm_mode":"bedrock","token_flow":"obo"}`, tc,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if status != 200 || a["success"] != true || a["via"] != "AgentCore Runtime" || !strings.Contains(fmt.Sprint(a["response"]), "Lisbon") {
		t.Fatalf("a relayed turn: %d %v", status, a)
	}
	events, _ := a["trace"].([]any)
	first, _ := events[0].(map[string]any)
	second, _ := events[1].(map[string]any)
	if first["step"] != "relay" || second["actor"] != "agentcore-runtime" {
		t.Errorf("the trace begins %v, then %v", first, second)
	}
	// One trace ID names the turn on both sides.
	if d, _ := second["data"].(map[string]any); a["correlation_id"] != traceID || d["correlation_id"] != traceID {
		t.Errorf("correlation IDs: the page's turn %v, the runtime's %v, want %s", a["correlation_id"], second["data"], traceID)
	}
	if caller := weatherCaller(events); caller["flow"] != "delegated" {
		t.Errorf("the Weather API saw %v", caller)
	}
	for i, e := range events {
		if m, _ := e.(map[string]any); m["seq"] != float64(i+1) {
			t.Errorf("event %d is numbered %v", i+1, m["seq"])
		}
	}

	// No user: refused here; the runtime's authorizer would refuse it too.
	before := len(front.all())
	if status, a := turn(ui, `{"message":"What's the weather in Lisbon?","token_flow":"autonomous"}`, ""); status != 401 ||
		!strings.Contains(fmt.Sprint(a["error"]), "sign in first") {
		t.Errorf("an autonomous turn without a user: %d %v", status, a)
	}
	if n := len(front.all()); n != before {
		t.Errorf("a turn without a user reached the runtime")
	}

	// The runtime's own refusal: a template whose claim rule pins another
	// client refuses the SPA's users with 403 AccessDeniedException.
	src, err := os.ReadFile("../../deploy/aws/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pinned := strings.Replace(string(src), "MatchValueString: !Ref ClientSpaAppId", "MatchValueString: !Ref AgentClientId", 1)
	refusingURL, _ := runtimeFrontFrom(t, s, runtime, []byte(pinned))
	refusing := s.Agent(map[string]string{"AGENTCORE_INVOCATION_URL": refusingURL})
	if status, a := turn(refusing, `{"message":"What's the weather in Lisbon?","token_flow":"obo"}`, tc); status != 502 ||
		!strings.Contains(fmt.Sprint(a["error"]), "refused the turn: HTTP 403 AccessDeniedException: Claim 'azp' value mismatch") {
		t.Errorf("the runtime's refusal: %d %v", status, a)
	}

	// A runtime that does not answer.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := "http://" + ln.Addr().String() + "/runtimes/x/invocations"
	ln.Close()
	silent := s.Agent(map[string]string{"AGENTCORE_INVOCATION_URL": gone})
	if status, a := turn(silent, `{"message":"What's the weather in Lisbon?","token_flow":"obo"}`, tc); status != 502 ||
		!strings.Contains(fmt.Sprint(a["error"]), "did not answer") {
		t.Errorf("a silent runtime: %d %v", status, a)
	}

	// The token goes there, so https off this machine, and the URL must be
	// an invocation URL.
	for bad, why := range map[string]string{
		"http://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/x/invocations": "must use https",
		"https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/x":            "is not an invocation URL",
	} {
		r := config.New(func(k string) string {
			if k == "AGENTCORE_INVOCATION_URL" {
				return bad
			}
			return s.Env[k]
		})
		chatapi.LoadSettings(r)
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("AGENTCORE_INVOCATION_URL=%s: %v", bad, err)
		}
	}
	if leaks := leakcheck.Find(everything.String()+s.Logs.String(), tc); len(leaks) > 0 {
		t.Errorf("a token leaked into an answer or a log: %v", leaks)
	}
}
