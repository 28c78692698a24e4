package e2e_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/telemetry"
)

// postTurn posts a turn with these headers and returns the status and
// the decoded answer.
func postTurn(t *testing.T, url, body string, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/api/chat", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer map[string]any
	json.NewDecoder(resp.Body).Decode(&answer)
	return resp.StatusCode, answer
}

// attr is a span's attribute as text, "" when it has none of that name.
func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

// spanText is everything a span exports besides its IDs: name,
// attributes, events and status, for the leak scan.
func spanText(s tracetest.SpanStub) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\n", s.Name, s.Status.Code, s.Status.Description)
	for _, a := range s.Attributes {
		fmt.Fprintf(&b, "%s=%s\n", a.Key, a.Value.String())
	}
	for _, e := range s.Events {
		fmt.Fprintf(&b, "event %s\n", e.Name)
		for _, a := range e.Attributes {
			fmt.Fprintf(&b, "%s=%s\n", a.Key, a.Value.String())
		}
	}
	return b.String()
}

// One on-behalf-of Bedrock turn, with MSAL in llm-agent, is one trace: the
// turn, the token acquisitions (the MCP server's refused with AADSTS65001
// and Entra's correlation ID; TU with its uti), MSAL's calls to Entra,
// the SDK's Converse spans, and the Weather API's server span, a child of
// llm-agent's client span, with the verdict. No span holds a token or a
// query string, and the scan catches one planted.
func TestTracesOneTurnAcrossComponents(t *testing.T) {
	exported := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exported), sdktrace.WithIDGenerator(telemetry.NewIDGenerator()))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	s := e2e.StartObserved(t, nil, tp, nil)
	url := s.Agent(map[string]string{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""})
	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	exported.Reset() // the refresher's first write and the start's key fetches
	// The page sends its traceparent: the turn takes its trace ID, and is
	// named by it.
	const pageTrace = "0af7651916cd43dd8448eb211c80319c"
	status, answer := postTurn(t, url, `{"message":"What's the weather in Lisbon?","llm_mode":"bedrock","token_flow":"obo"}`,
		map[string]string{"Authorization": "Bearer " + tc, "traceparent": "00-" + pageTrace + "-b7ad6b7169203331-01"})
	if status != 200 || answer["correlation_id"] != pageTrace {
		t.Fatalf("turn: %d, correlation_id %v, want the page's trace ID", status, answer["correlation_id"])
	}

	// A server span ends once its answer is written, a moment after the
	// client has read it: wait for the turn's and the Weather API's.
	var spans tracetest.SpanStubs
	turn, served := -1, -1
	for deadline := time.Now().Add(5 * time.Second); (turn < 0 || served < 0) && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		spans = exported.GetSpans()
		turn = slices.IndexFunc(spans, func(s tracetest.SpanStub) bool { return s.Name == "chat turn" })
		served = slices.IndexFunc(spans, func(s tracetest.SpanStub) bool {
			return s.SpanKind == trace.SpanKindServer && attr(s, "url.path") == "/weather"
		})
	}
	if turn < 0 {
		t.Fatalf("no chat turn span among %d", len(spans))
	}
	id := spans[turn].SpanContext.TraceID()
	if id.String() != pageTrace || spans[turn].Parent.IsValid() {
		t.Errorf("the turn span is in trace %s under %v, want the page's trace as its root (the page exports no span to hang it under)", id, spans[turn].Parent.SpanID())
	}
	// Every component's log lines of the turn carry its ID.
	for _, component := range []string{"llm-agent", "weather-api"} {
		found := false
		for _, line := range strings.Split(s.Logs.String(), "\n") {
			found = found || strings.Contains(line, "component="+component) && strings.Contains(line, "correlation_id="+pageTrace)
		}
		if !found {
			t.Errorf("no %s log line carries correlation_id=%s", component, pageTrace)
		}
	}
	var inTurn []tracetest.SpanStub
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, sp := range spans {
		if sp.SpanContext.TraceID() == id {
			inTurn = append(inTurn, sp)
			byID[sp.SpanContext.SpanID()] = sp
		}
	}
	alice := s.Sim.Tenant.UserByUPN(s.Env["CLOUDSIM_DEMO_USERNAME"]).ObjectID
	if got := attr(spans[turn], "agentid.flow") + " " + attr(spans[turn], "agentid.mode") + " " + attr(spans[turn], "enduser.id"); got != "obo bedrock "+alice {
		t.Errorf("the turn span says %q", got)
	}
	find := func(what string, match func(tracetest.SpanStub) bool) tracetest.SpanStub {
		t.Helper()
		i := slices.IndexFunc(inTurn, match)
		if i < 0 {
			var names []string
			for _, sp := range inTurn {
				names = append(names, sp.Name)
			}
			t.Fatalf("no %s span in the turn's trace: %v", what, names)
		}
		return inTurn[i]
	}
	refused := find("refused MCP token", func(sp tracetest.SpanStub) bool {
		return sp.Name == "token TU" && attr(sp, "agentid.token.target") == "MCP server"
	})
	if attr(refused, "agentid.aadsts") != "AADSTS65001" || attr(refused, "agentid.entra.correlation_id") == "" || refused.Status.Code.String() != "Error" {
		t.Errorf("the refused token's span (nobody consented to the MCP server yet): %s", spanText(refused))
	}
	token := find("TU token", func(sp tracetest.SpanStub) bool {
		return sp.Name == "token TU" && attr(sp, "agentid.token.target") == "Weather API"
	})
	if attr(token, "agentid.provider") != "msal" || attr(token, "agentid.token.uti") == "" || attr(token, "agentid.token.target") != "Weather API" {
		t.Errorf("the token span: %s", spanText(token))
	}
	find("MSAL's token request to Entra", func(sp tracetest.SpanStub) bool {
		return sp.SpanKind == trace.SpanKindClient && strings.Contains(attr(sp, "url.full"), "/oauth2/v2.0/token") && sp.Parent.SpanID() == token.SpanContext.SpanID()
	})
	find("Bedrock Converse", func(sp tracetest.SpanStub) bool { return strings.Contains(sp.Name, "Converse") })
	tool := find("get_weather tool", func(sp tracetest.SpanStub) bool { return sp.Name == "tool get_weather" })
	if token.Parent.SpanID() != tool.SpanContext.SpanID() {
		t.Error("the TU acquisition is not within the get_weather tool's span")
	}
	server := find("Weather API server", func(sp tracetest.SpanStub) bool {
		return sp.SpanKind == trace.SpanKindServer && attr(sp, "url.path") == "/weather"
	})
	if attr(server, "agentid.verdict") != "authorized" || attr(server, "agentid.caller.flow") != "delegated" || attr(server, "agentid.caller.app_id") != s.Env["AGENT_CLIENT_ID"] {
		t.Errorf("the Weather API's span: %s", spanText(server))
	}
	client, ok := byID[server.Parent.SpanID()]
	if !ok || client.SpanKind != trace.SpanKindClient || !strings.HasSuffix(attr(client, "url.full"), "/weather") {
		t.Errorf("the Weather API's span is not a child of llm-agent's call to it: parent %s", spanText(client))
	}

	var all strings.Builder
	for _, sp := range spans {
		all.WriteString(spanText(sp))
	}
	if strings.Contains(all.String(), "city=") {
		t.Error("a query string reached a span")
	}
	if leaks := leakcheck.Find(all.String(), s.Env["IDENTITY_HEADER"]); len(leaks) > 0 {
		t.Errorf("a secret in the exported spans: %v", leaks)
	}
	if leaks := leakcheck.Find(all.String() + "agentid.token=" + tc + "\n"); len(leaks) != 1 {
		t.Errorf("the scan found %v with a planted token, want it", leaks)
	}
}

// Without tracing, a turn is still named by a W3C trace ID: the page's
// traceparent's (in the POST's header, or in the websocket message), else
// the caller's X-Correlation-ID, else a new one.
func TestTurnIsNamedByItsTraceID(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(nil)
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, c := range []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"traceparent", map[string]string{"traceparent": "00-" + trace + "-00f067aa0ba902b7-01"}, trace},
		{"X-Correlation-ID", map[string]string{"X-Correlation-ID": "0D8C4A56-2E7B-4C1A-9F3E-5B6A7C8D9E0F"}, "0d8c4a56-2e7b-4c1a-9f3e-5b6a7c8d9e0f"},
		{"both", map[string]string{"traceparent": "00-" + trace + "-00f067aa0ba902b7-01", "X-Correlation-ID": "0d8c4a56-2e7b-4c1a-9f3e-5b6a7c8d9e0f"}, trace},
		{"a malformed traceparent", map[string]string{"traceparent": "00-" + trace + "-zz-01"}, ""},
		{"neither", nil, ""},
	} {
		_, answer := postTurn(t, url, `{"message":"What's the weather in Oslo?"}`, c.headers)
		got, _ := answer["correlation_id"].(string)
		if c.want != "" && got != c.want || c.want == "" && (!traceID.MatchString(got) || got == trace) {
			t.Errorf("%s: correlation_id %q, want %q (or a new trace ID)", c.name, got, c.want)
		}
	}
	conn, _, err := dial(t, url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.WriteJSON(map[string]string{"message": "What's the weather in Oslo?", "traceparent": "00-" + trace + "-00f067aa0ba902b7-01"})
	if _, last := readTurn(t, conn); last.CorrelationID != trace {
		t.Errorf("websocket turn: correlation_id %q, want %q", last.CorrelationID, trace)
	}
}

// metricText is every data point's attributes of every metric in rm, as
// text, for the leak scan.
func metricText(rm metricdata.ResourceMetrics) string {
	var b strings.Builder
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			default:
				fmt.Fprintf(&b, "%s: unscanned %T\n", m.Name, d)
			}
			for _, set := range sets {
				fmt.Fprintf(&b, "%s %s\n", m.Name, set.Encoded(attribute.DefaultEncoder()))
			}
		}
	}
	return b.String()
}

// counts are a counter's values by attributes ("k=v,k=v", by key).
func counts(rm metricdata.ResourceMetrics, name string) map[string]int64 {
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range sum.DataPoints {
					var labels []string
					for _, kv := range dp.Attributes.ToSlice() {
						labels = append(labels, string(kv.Key)+"="+kv.Value.String())
					}
					out[strings.Join(labels, ",")] = dp.Value
				}
			}
		}
	}
	return out
}

// Two on-behalf-of turns with MSAL in llm-agent: the first TU is issued
// (MSAL's cache misses), the second comes from the cache; both turns are
// timed; the Weather API authorizes both, and a forged token sent to it
// directly is counted as refused. No label holds a token, and the scan
// catches one planted.
func TestMetricsOfTurns(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(t.Context()) })
	s := e2e.StartObserved(t, nil, nil, mp)
	url := s.Agent(map[string]string{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""})
	tokens := cloudsimtest.NewTokens(s.Sim)
	tc := tokens.User(t)
	for range 2 {
		if r := chat(t, url, map[string]any{"message": "What's the weather in Lima?", "token_flow": "obo"}, tc); r.status != 200 {
			t.Fatalf("turn: %d %s", r.status, r.raw)
		}
	}
	good := tokens.App(t, "api://"+s.Env["WEATHER_API_APP_ID"])
	req, _ := http.NewRequest("GET", s.WeatherURL+"/weather?city=Lima", nil)
	req.Header.Set("Authorization", "Bearer "+good[:strings.LastIndex(good, ".")+1]+"Zm9yZ2Vk")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	if got, want := counts(rm, "agentid.token.acquisitions"), map[string]int64{
		"cache=miss,kind=TU,provider=msal,result=issued": 1, "cache=hit,kind=TU,provider=msal,result=issued": 1,
	}; !maps.Equal(got, want) {
		t.Errorf("agentid.token.acquisitions %v, want %v", got, want)
	}
	if got, want := counts(rm, "agentid.weather_api.requests"), map[string]int64{
		"reason=,verdict=authorized": 2, "reason=invalid_token,verdict=refused": 1,
	}; !maps.Equal(got, want) {
		t.Errorf("agentid.weather_api.requests %v, want %v", got, want)
	}
	turns := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "agentid.turn.duration" {
				for _, dp := range h.DataPoints {
					if mode, _ := dp.Attributes.Value("mode"); mode.AsString() == "direct" {
						turns += int(dp.Count)
					}
				}
			}
		}
	}
	if turns != 2 {
		t.Errorf("agentid.turn.duration counted %d direct turns, want 2", turns)
	}
	text := metricText(rm)
	if strings.Contains(text, "unscanned") || !strings.Contains(text, "provider=msal") {
		t.Fatalf("the scan does not read every label:\n%s", text)
	}
	if leaks := leakcheck.Find(text, tc, good); len(leaks) > 0 {
		t.Errorf("a token in the metrics: %v", leaks)
	}
	if leaks := leakcheck.Find(text + good); len(leaks) != 1 {
		t.Errorf("the scan found %v with a planted token, want it", leaks)
	}
}

// A public caller's traceparent names the turn but does not decide whether
// it is traced: a page that says "not sampled" is traced where the
// operator traces everything, and one that says "sampled" is not where the
// operator traces nothing. The decision is llm-agent's own sampler's.
func TestCallerDoesNotDecideSampling(t *testing.T) {
	const pageTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, c := range []struct {
		name    string
		sampler sdktrace.Sampler
		flags   string
		traced  bool
	}{
		{"operator traces all, page says 00", sdktrace.ParentBased(sdktrace.AlwaysSample()), "00", true},
		{"operator traces none, page says 01", sdktrace.ParentBased(sdktrace.NeverSample()), "01", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			exported := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exported), sdktrace.WithSampler(c.sampler),
				sdktrace.WithIDGenerator(telemetry.NewIDGenerator()))
			t.Cleanup(func() { tp.Shutdown(t.Context()) })
			s := e2e.StartObserved(t, nil, tp, nil)
			url := s.Agent(nil)
			exported.Reset()
			status, answer := postTurn(t, url, `{"message":"What's the weather in Lisbon?"}`,
				map[string]string{"traceparent": "00-" + pageTrace + "-b7ad6b7169203331-" + c.flags})
			if status != 200 || answer["correlation_id"] != pageTrace {
				t.Fatalf("turn: %d, correlation_id %v, want the page's trace ID", status, answer["correlation_id"])
			}
			// The turn's span ends a moment after its answer is written.
			traced := false
			for deadline := time.Now().Add(2 * time.Second); !traced && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				traced = slices.ContainsFunc(exported.GetSpans(), func(s tracetest.SpanStub) bool {
					return s.Name == "chat turn" && s.SpanContext.TraceID().String() == pageTrace
				})
			}
			if traced != c.traced {
				t.Errorf("the turn was traced: %v, want %v (the page's flags were %s)", traced, c.traced, c.flags)
			}
		})
	}
}
