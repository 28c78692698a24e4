package e2e_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// The AWS-hosted agent from its page, as AWS allows it: llm-agent runs in
// AgentCore mode behind cloudsim's AgentCore Runtime front, built from
// deploy/aws/template.yaml, which passes the container only the runtime's
// session ID and the allowlisted headers and grants no CORS preflight. The
// page is served by a normal-mode llm-agent with AGENTCORE_INVOCATION_URL
// at its real origin (a registered SPA redirect URI), and calls only that
// origin: its llm-agent relays each turn to the front with the signed-in
// user's token. An on-behalf-of Bedrock turn over POST draws its trace and
// diagram; a turn over the websocket streams the model's text through the
// runtime (the allowlisted streaming header, then server-sent events).
// A page that called the invocation URL itself, as the chat UI did before,
// fails here at the front's preflight.
func TestBrowserThroughAgentCoreAsDeployed(t *testing.T) {
	var front *frontLog
	s, url, ctx := browserStack(t, func(s *e2e.Stack, origin string) map[string]string {
		runtime := agentCore(s, nil)
		var invocationURL string
		invocationURL, front = runtimeFront(t, s, runtime)
		return map[string]string{"AGENTCORE_INVOCATION_URL": invocationURL}
	})
	con := openPage(t, ctx, url, "#dot-identity.ok", "#messages li.note")
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	if note, _ := chromedp.Run(ctx, chromedp.Text(css("#messages li.note"))); !strings.Contains(note, "AgentCore Runtime") {
		t.Errorf("the page's note: %q", note)
	}
	// The runtime's authorizer needs a user for every flow, so the page
	// asks for sign-in even for an autonomous turn, and sends nothing.
	answered(t, ctx, 1, sendMessage("What's the weather in Rome?"))
	if msgs, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("messages"))); !strings.Contains(msgs, "sign in first") {
		t.Errorf("an unsigned turn: %q", msgs)
	}
	if calls := front.all(); len(calls) != 0 {
		t.Errorf("an unsigned turn reached the runtime: %+v", calls)
	}
	signIn(t, ctx, s, con)

	// An on-behalf-of Bedrock turn, the websocket off: the page falls back
	// to POST /api/chat at its own origin.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.__WebSocket = window.WebSocket;
	  window.WebSocket = function () { throw new Error("off for this turn"); }`)); err != nil {
		t.Fatal(err)
	}
	answered(t, ctx, 2, chromedp.Click(css(`input[name=flow][value=obo]`)), chromedp.Click(css(`input[name=mode][value=bedrock]`)),
		sendMessage("What's the weather in Oslo?"))
	msgs, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("messages")))
	if !strings.Contains(msgs, "via: AgentCore Runtime") || !strings.Contains(msgs, "Oslo") || !strings.Contains(msgs, "user: alice@contoso.example") {
		t.Fatalf("the on-behalf-of turn: messages %q", msgs)
	}
	if oid, _ := claim(ctx, "TU", "oid"); oid != s.Sim.Tenant.UserByUPN("alice@contoso.example").ObjectID {
		t.Errorf("TU oid = %q", oid)
	}
	events, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("events")))
	for _, want := range []string{"Sent the turn to the agent on AgentCore Runtime", "agentcore-runtime", "Converse"} {
		if !strings.Contains(events, want) {
			t.Errorf("the trace lacks %q", want)
		}
	}
	// The diagram, from the trace the runtime's agent sent back: its AWS
	// leg, MSAL in the container getting T1, then TU (the MCP server's
	// refused: nobody consented), and the model asking for the tool.
	checkDiagram(t, ctx, "through AgentCore", []string{browser, agent, msal, entra, weatherAPI, sts, bedrock}, []string{
		arrow("browser", "llm-agent", "the message with Tc"),
		arrow("llm-agent", "aws-sts", "the web identity token"),
		arrow("aws-sts", "llm-agent", "temporary AWS credentials (HTTP 200)"),
		arrow("entra", "msal", "✗ failed: TU for the MCP server refused (AADSTS65001)"),
		arrow("llm-agent", "bedrock", "Converse"),
		arrow("bedrock", "llm-agent", "tool_use (HTTP 200)"),
		arrow("entra", "msal", "T1 (HTTP 200)"),
		arrow("entra", "msal", "TU (HTTP 200)"),
		arrow("llm-agent", "weather-api", "TU"),
		arrow("weather-api", "llm-agent", "the weather (HTTP 200)"),
		arrow("llm-agent", "bedrock", "Converse"),
		arrow("bedrock", "llm-agent", "end_turn (HTTP 200)"),
	})
	exportedSVG(t, ctx)
	diagramShot(t, ctx, "agentcore")

	// A streamed turn: over the websocket, the model's text arrives in
	// pieces before the final answer.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.__deltas = 0;
	  window.WebSocket = function (u, p) { const ws = new window.__WebSocket(u, p);
	    ws.addEventListener('message', (m) => { try { if (JSON.parse(m.data).type === 'text') window.__deltas++; } catch (e) {} });
	    return ws; }`)); err != nil {
		t.Fatal(err)
	}
	answered(t, ctx, 3, chromedp.Click(css(`input[name=flow][value=autonomous]`)), sendMessage("What's the weather in Lima?"))
	deltas, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__deltas`))
	last, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#messages li.agent')].pop().textContent`))
	if deltas == 0 || !strings.Contains(last, "Lima") || !strings.Contains(last, "via: AgentCore Runtime") {
		t.Errorf("the streamed turn: %d text pieces, answer %q", deltas, last)
	}
	screenshot(t, ctx, "6-agentcore")

	// What reached the runtime: the relay's POSTs only, never a browser's
	// (no Origin, no preflight), the second asking for events and
	// answered with them.
	calls := front.all()
	if len(calls) != 2 {
		msgs, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("messages")))
		t.Fatalf("the runtime got %+v, want the two turns; the page says %q", calls, msgs)
	}
	for i, c := range calls {
		wantStream, wantType := "", "application/json"
		if i == 1 {
			wantStream, wantType = "true", "text/event-stream"
		}
		if c.Method != "POST" || c.Origin != "" || c.Status != 200 || c.Stream != wantStream || !strings.HasPrefix(c.ContentType, wantType) {
			t.Errorf("turn %d at the runtime: %+v, want a POST without Origin, stream %q, answered %s", i+1, c, wantStream, wantType)
		}
	}
	dom, _ := chromedp.Run(ctx, chromedp.OuterHTML(css("html")))
	if leaks := leakcheck.Find(dom + s.Logs.String()); len(leaks) > 0 {
		t.Errorf("a token in the DOM or a log: %v", leaks)
	}
	con.checkNoErrors(t)
}
