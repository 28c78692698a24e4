package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

type reply struct {
	status int
	body   map[string]any
	raw    string
}

// chat posts body, as JSON, to /api/chat.
func chat(t *testing.T, agentURL string, body any, userToken string) reply {
	t.Helper()
	b, _ := json.Marshal(body)
	return postChat(t, agentURL, string(b), userToken)
}

// postChat posts a raw body to /api/chat.
func postChat(t *testing.T, agentURL, body, userToken string) reply {
	r, _ := postChatHeader(t, agentURL, body, userToken)
	return r
}

// postChatHeader is postChat with the answer's header.
func postChatHeader(t testing.TB, agentURL, body, userToken string) (reply, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", agentURL+"/api/chat", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if userToken != "" {
		req.Header.Set("Authorization", "Bearer "+userToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r, resp.Header
}

// events returns the trace events with a given step.
func events(r reply, step string) []map[string]any {
	var out []map[string]any
	list, _ := r.body["trace"].([]any)
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m["step"] == step {
			out = append(out, m)
		}
	}
	return out
}

// checkHops checks the hop records the diagram draws: every token card
// rides on one, every hop names two known parties, and the token the
// Weather API got is an arrow to it.
func checkHops(t *testing.T, r reply, kind string) {
	t.Helper()
	parties := []string{"browser", "llm-agent", "auth-sidecar", "msal", "entra", "weather-api", "mcp-server", "token-refresher", "aws-sts", "bedrock"}
	toWeather := false
	list, _ := r.body["trace"].([]any)
	for _, e := range list {
		ev, _ := e.(map[string]any)
		hop, _ := ev["hop"].(map[string]any)
		if ev["token"] != nil && hop == nil {
			t.Errorf("step %v carries a token card but no hop", ev["seq"])
		}
		if hop == nil {
			continue
		}
		from, to := fmt.Sprint(hop["from"]), fmt.Sprint(hop["to"])
		if !slices.Contains(parties, from) || !slices.Contains(parties, to) || from == to || hop["carries"] == "" {
			t.Errorf("step %v: hop %v", ev["seq"], hop)
		}
		if to == "weather-api" && hop["carries"] == kind {
			toWeather = true
		}
	}
	if !toWeather {
		t.Errorf("no hop carries %s to the Weather API", kind)
	}
}

// Every token_flow × llm_mode × IDENTITY_PROVIDER through POST /api/chat,
// with the Weather API's caller checked, and a hygiene scan of everything.
func TestChatMatrix(t *testing.T) {
	exported := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exported))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	s := e2e.StartObserved(t, nil, tp, nil)
	tokens := cloudsimtest.NewTokens(s.Sim)
	tc := tokens.User(t)
	alice := s.Sim.Tenant.UserByUPN(s.Env["CLOUDSIM_DEMO_USERNAME"]).ObjectID
	agentUser := s.Sim.Tenant.AgentUser(s.Env["AGENT_USER_UPN"]).ObjectID
	agents := map[string]string{
		"sidecar": s.Agent(map[string]string{"IDENTITY_PROVIDER": "sidecar"}),
		"msal":    s.Agent(map[string]string{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""}),
	}
	var everything strings.Builder
	for provider, url := range agents {
		for _, mode := range []string{"direct", "bedrock"} {
			for _, flow := range []struct{ name, card, callerFlow, user string }{
				{"autonomous", "TR", "app", ""}, {"obo", "TU", "delegated", alice}, {"agent_user", "TAU", "agent_user", agentUser},
			} {
				t.Run(provider+"/"+mode+"/"+flow.name, func(t *testing.T) {
					r := chat(t, url, map[string]any{"message": "What's the weather in Lisbon?", "llm_mode": mode, "token_flow": flow.name, "use_langchain": true}, tc)
					everything.WriteString(r.raw)
					if r.status != 200 || r.body["success"] != true {
						t.Fatalf("%d %s", r.status, r.raw)
					}
					if resp, _ := r.body["response"].(string); !strings.Contains(resp, "Lisbon") || !strings.Contains(resp, "°F") {
						t.Errorf("response %q", resp)
					}
					if r.body["agent_type"] != mode || r.body["token_flow"] != flow.name || r.body["correlation_id"] == "" || r.body["debug"] == nil {
						t.Errorf("envelope: %v", r.body)
					}
					var kinds []string
					for _, e := range events(r, "token") {
						tok, _ := e["token"].(map[string]any)
						kinds = append(kinds, fmt.Sprint(tok["kind"]))
					}
					if !strings.Contains(strings.Join(kinds, " "), flow.card) {
						t.Errorf("token cards %v lack %s", kinds, flow.card)
					}
					var caller map[string]any
					for _, e := range events(r, "weather_api") {
						if d, _ := e["data"].(map[string]any); d["caller"] != nil {
							caller, _ = d["caller"].(map[string]any)
						}
					}
					if caller["flow"] != flow.callerFlow || caller["app_id"] != s.Env["AGENT_CLIENT_ID"] || (flow.user != "" && caller["user_oid"] != flow.user) {
						t.Errorf("the Weather API saw caller %v", caller)
					}
					if mode == "bedrock" && len(events(r, "aws")) == 0 {
						t.Error("no AWS leg in the trace")
					}
					checkHops(t, r, flow.card)
				})
			}
		}
	}
	// Hygiene: no JWT and no cloudsim signature in any answer, trace,
	// log, exported span, or anything Bedrock received.
	received, _ := json.Marshal(s.Sim.Bedrock.Received())
	var spans strings.Builder
	for _, sp := range exported.GetSpans() {
		spans.WriteString(spanText(sp))
	}
	if !strings.Contains(spans.String(), "agentid.token.uti=") {
		t.Error("no token span was exported: the span scan proves nothing")
	}
	for name, text := range map[string]string{"answers and traces": everything.String(), "logs": s.Logs.String(), "bedrock requests": string(received),
		"spans": spans.String()} {
		if leaks := leakcheck.Find(text, tc); len(leaks) > 0 {
			t.Errorf("%s leak tokens: %v", name, leaks)
		}
	}
	if !strings.Contains(everything.String(), `"claims"`) {
		t.Error("the traces show no token cards at all: the scan proves nothing")
	}
}

func TestChatRefusals(t *testing.T) {
	s := e2e.Start(t)
	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	url := s.Agent(map[string]string{"IDENTITY_PROVIDER": "sidecar"})
	cases := []struct {
		name, body, token string
		status            int
		want              string
	}{
		{"over 64 KiB", `{"message":"` + strings.Repeat("a", 70<<10) + `"}`, "", 413, "over 64 KiB"},
		{"malformed JSON", `{"message":`, "", 400, "not valid JSON"},
		{"empty message", `{"message":"  "}`, "", 400, "the message is empty"},
		{"unknown token_flow", `{"message":"hi","token_flow":"impersonate"}`, "", 400, "token_flow must be autonomous, obo or agent_user"},
		{"unknown llm_mode", `{"message":"hi","llm_mode":"gpt"}`, "", 400, "llm_mode must be direct or bedrock"},
		{"OBO without a token", `{"message":"weather in Oslo","token_flow":"obo"}`, "", 401, "sign in first"},
		{"OBO with a bad token", `{"message":"weather in Oslo","token_flow":"obo"}`, "abc.def.ghi", 401, "the user's token was refused"},
		{"agent user with a token for another API", `{"message":"weather in Oslo","token_flow":"agent_user"}`, cloudsimtest.NewTokens(s.Sim).App(t, "api://"+s.Env["WEATHER_API_APP_ID"]), 401, "the user's token was refused"},
	}
	for _, c := range cases {
		r := postChat(t, url, c.body, c.token)
		if r.status != c.status || !strings.Contains(fmt.Sprint(r.body["error"]), c.want) || r.body["success"] == true {
			t.Errorf("%s: %d %.200s, want %d %q", c.name, r.status, r.raw, c.status, c.want)
		}
		if leaks := leakcheck.Find(r.raw, tc, c.token); len(leaks) > 0 {
			t.Errorf("%s: the answer repeats the token: %v", c.name, leaks)
		}
	}

	// Bedrock throttled beyond the SDK's retries: 503, with the trace.
	s.Sim.Bedrock.Throttle(10)
	r := postChat(t, url, `{"message":"weather in Oslo","llm_mode":"bedrock"}`, "")
	s.Sim.Bedrock.Throttle(0)
	if r.status != 503 || !strings.Contains(fmt.Sprint(r.body["error"]), "ThrottlingException") || r.body["trace"] == nil {
		t.Errorf("throttled: %d %.300s", r.status, r.raw)
	}
	// The model skips the tool once: the agent retries naming it.
	s.Sim.Bedrock.SkipToolOnAuto(true)
	r = postChat(t, url, `{"message":"weather in Oslo","llm_mode":"bedrock"}`, "")
	s.Sim.Bedrock.SkipToolOnAuto(false)
	if r.status != 200 || !strings.Contains(r.raw, "retrying once with toolChoice") || !strings.Contains(fmt.Sprint(r.body["response"]), "Oslo") {
		t.Errorf("tool skipped: %d %.400s", r.status, r.raw)
	}
	// The sidecar down: 502 naming it.
	down := s.Agent(map[string]string{"IDENTITY_PROVIDER": "sidecar", "SIDECAR_URL": "http://127.0.0.1:1"})
	r = chat(t, down, map[string]any{"message": "weather in Oslo"}, "")
	if r.status != 502 || !strings.Contains(fmt.Sprint(r.body["error"]), "sidecar") {
		t.Errorf("sidecar down: %d %.300s", r.status, r.raw)
	}
}

func TestStatusAndConfig(t *testing.T) {
	s := e2e.Start(t)
	get := func(url string) map[string]any {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	ok := get(s.Agent(nil) + "/api/status")
	checks, _ := ok["checks"].(map[string]any)
	for _, name := range []string{"bedrock", "identity", "weather_api"} {
		if c, _ := checks[name].(map[string]any); c["ok"] != true {
			t.Errorf("%s: %v", name, c)
		}
	}
	if ok["bedrock_available"] != true || ok["agent_app_id"] != s.Env["AGENT_CLIENT_ID"] || ok["sidecar_url"] != s.Env["SIDECAR_URL"] {
		t.Errorf("sample keys: %v", ok)
	}
	if d, _ := checks["bedrock"].(map[string]any)["detail"].(map[string]any); d["credential_source"] != "WebIdentityCredentials" || d["role_arn"] != s.Env["AWS_ROLE_ARN"] {
		t.Errorf("bedrock detail: %v", d)
	}
	// Bedrock's check reports the last call's outcome: one turn meets the
	// stopped endpoint first. The SDK reads the endpoint from the process.
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "https://127.0.0.1:1")
	brokenURL := s.Agent(map[string]string{"SIDECAR_URL": "http://127.0.0.1:1", "WEATHER_API_URL": "http://127.0.0.1:1"})
	postChat(t, brokenURL, `{"message":"hello","llm_mode":"bedrock"}`, "")
	broken := get(brokenURL + "/api/status")
	checks, _ = broken["checks"].(map[string]any)
	for _, name := range []string{"bedrock", "identity", "weather_api"} {
		if c, _ := checks[name].(map[string]any); c["ok"] != false || c["reason"] == "" {
			t.Errorf("%s with its dependency stopped: %v", name, c)
		}
	}
	cfg := get(s.Agent(nil) + "/api/config")
	if cfg["clientId"] != s.Env["CLIENT_SPA_APP_ID"] || cfg["authority"] != s.Sim.URL+"/"+s.Env["TENANT_ID"] ||
		fmt.Sprint(cfg["scopes"]) != "[api://"+s.Env["BLUEPRINT_APP_ID"]+"/access_as_user]" || !strings.HasPrefix(fmt.Sprint(cfg["redirectUri"]), "http://127.0.0.1:") {
		t.Errorf("config: %v", cfg)
	}
}

// One turn followed across components by its correlation ID and the
// token's uti; and the leak scan is shown to catch a planted token.
func TestCorrelationAndPlantedLeak(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(nil)
	r := chat(t, url, map[string]any{"message": "weather in Oslo"}, "")
	id, _ := r.body["correlation_id"].(string)
	if r.status != 200 || id == "" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	var agentLine, weatherLine string
	for _, line := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(line, "correlation_id="+id) && strings.Contains(line, "component=llm-agent") && strings.Contains(line, "uti=") {
			agentLine = line
		}
		if strings.Contains(line, "correlation_id="+id) && strings.Contains(line, "component=weather-api") {
			weatherLine = line
		}
	}
	uti := ""
	if i := strings.Index(agentLine, "uti="); i >= 0 {
		uti = strings.Fields(agentLine[i:])[0]
	}
	if agentLine == "" || weatherLine == "" || uti == "" || !strings.Contains(weatherLine, uti) {
		t.Errorf("the turn cannot be followed:\nagent:   %s\nweather: %s", agentLine, weatherLine)
	}

	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	if leaks := leakcheck.Find(s.Logs.String(), tc); len(leaks) > 0 {
		t.Fatalf("a leak before planting one: %v", leaks)
	}
	s.Logs.Write([]byte("level=DEBUG msg=oops token=" + tc + "\n"))
	if leaks := leakcheck.Find(s.Logs.String(), tc); len(leaks) == 0 {
		t.Error("the scan missed a planted token")
	}
}

// AWS credential tiers A (static keys) and B (a Bedrock API key) through the
// agent, against cloudsim Bedrock.
func TestAWSCredentialTiers(t *testing.T) {
	s := e2e.Start(t)
	dev := s.Sim.Tenant.AWS.DevCredentials[0]
	tiers := []struct {
		name  string
		env   map[string]string
		trace string
		auth  string
	}{
		{"A: static keys", map[string]string{"AWS_ACCESS_KEY_ID": dev.AccessKeyID, "AWS_SECRET_ACCESS_KEY": dev.SecretAccessKey}, "static AWS keys (tier A)", "sigv4"},
		{"B: Bedrock API key", map[string]string{"AWS_BEARER_TOKEN_BEDROCK": s.Sim.Tenant.AWS.BedrockAPIKeys[0]}, "Bedrock API key", "api-key"},
	}
	for _, tier := range tiers {
		t.Run(tier.name, func(t *testing.T) {
			for k, v := range tier.env {
				t.Setenv(k, v)
			}
			url := s.Agent(tier.env)
			r := chat(t, url, map[string]any{"message": "weather in Oslo", "llm_mode": "bedrock"}, "")
			if r.status != 200 || !strings.Contains(r.raw, tier.trace) {
				t.Fatalf("%d %.400s", r.status, r.raw)
			}
			rec := s.Sim.Bedrock.Received()
			if last := rec[len(rec)-1]; last.Caller.Auth != tier.auth {
				t.Errorf("Bedrock saw %+v", last.Caller)
			}
		})
	}
}
