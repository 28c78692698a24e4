package e2e_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

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
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exported))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	s := e2e.StartTraced(t, nil, tp)
	url := s.Agent(map[string]string{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""})
	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	exported.Reset() // the refresher's first write and the start's key fetches
	r := chat(t, url, map[string]any{"message": "What's the weather in Lisbon?", "llm_mode": "bedrock", "token_flow": "obo"}, tc)
	if r.status != 200 {
		t.Fatalf("turn: %d %s", r.status, r.raw)
	}

	spans := exported.GetSpans()
	turn := slices.IndexFunc(spans, func(s tracetest.SpanStub) bool { return s.Name == "chat turn" })
	if turn < 0 {
		t.Fatalf("no chat turn span among %d", len(spans))
	}
	id := spans[turn].SpanContext.TraceID()
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
