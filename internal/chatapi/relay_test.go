package chatapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// The relay reads the agent's events as /invocations writes them: trace
// and text as they come, then the final answer, or an error event with
// the refusal's status; a stream that stops short is an error.
func TestReadEvents(t *testing.T) {
	rec := httptest.NewRecorder()
	out := newInvocationWriter(rec, true)
	out.trace(trace.Event{Seq: 1, Step: "turn", Message: "Turn received"})
	out.text("It is ")
	out.text("sunny.")
	out.final(http.StatusOK, invocationAnswer{Status: "success", Response: "It is sunny.", CorrelationID: "abc"})
	var steps, text []string
	a, status, err := readEvents(strings.NewReader(rec.Body.String()), func(e trace.Event) { steps = append(steps, e.Step) },
		func(d string) { text = append(text, d) })
	if err != nil || status != 200 || a.Response != "It is sunny." || strings.Join(steps, ",") != "turn" || strings.Join(text, "") != "It is sunny." {
		t.Errorf("%v %d %+v steps %v text %q", err, status, a, steps, text)
	}

	rec = httptest.NewRecorder()
	out = newInvocationWriter(rec, true)
	out.trace(trace.Event{Seq: 1, Step: "turn"})
	out.final(http.StatusBadGateway, invocationAnswer{Status: "error", Error: "the Weather API did not answer"})
	if a, status, err := readEvents(strings.NewReader(rec.Body.String()), func(trace.Event) {}, func(string) {}); err != nil || status != 502 ||
		a.Error != "the Weather API did not answer" {
		t.Errorf("an error event: %v %d %+v", err, status, a)
	}

	cut := "event: trace\ndata: {\"seq\":1}\n\n"
	if _, _, err := readEvents(strings.NewReader(cut), func(trace.Event) {}, func(string) {}); err == nil || !strings.Contains(err.Error(), "before its final event") {
		t.Errorf("a stream cut short: %v", err)
	}
	long := "event: text\ndata: " + strings.Repeat("x", maxRelayEvent+1) + "\n\n"
	if _, _, err := readEvents(strings.NewReader(long), func(trace.Event) {}, func(string) {}); err == nil {
		t.Error("an event over the limit was read")
	}
}

// AWS's own refusals become the page's 502, naming the runtime, AWS's
// code and message, cut short.
func TestRuntimeRefusal(t *testing.T) {
	resp := &http.Response{StatusCode: 403, Header: http.Header{"X-Amzn-Errortype": {"AccessDeniedException:http://internal.amazon.com/coral/"}}}
	e := runtimeRefusal("AgentCore Runtime at example", resp, []byte(`{"message":"`+strings.Repeat("é", 400)+`"}`))
	if e.Status != 502 || !strings.HasPrefix(e.Message, "AgentCore Runtime at example refused the turn: HTTP 403 AccessDeniedException: é") ||
		!strings.Contains(e.Message, "…") || !strings.Contains(e.Message, "JWT authorizer") || strings.Contains(e.Message, "coral") {
		t.Errorf("%d %s", e.Status, e.Message)
	}
	if e := runtimeRefusal("r", &http.Response{StatusCode: 500, Header: http.Header{}}, []byte("<html>")); e.Message != "r refused the turn: HTTP 500" {
		t.Errorf("no AWS body: %s", e.Message)
	}
}

// The runtime's agent continues the page's trace: the relay sends the
// turn's trace ID, from its span or, with tracing off, its name.
func TestTraceparentFor(t *testing.T) {
	id := "4bf92f3577b34da6a3ce929d0e0e4736"
	got := traceparentFor(context.Background(), id)
	if !strings.HasPrefix(got, "00-"+id+"-") || !strings.HasSuffix(got, "-01") || len(got) != 55 {
		t.Errorf("traceparentFor(%s) = %q", id, got)
	}
	for _, notAnID := range []string{"", "turn-1", "00000000000000000000000000000000"} {
		if got := traceparentFor(context.Background(), notAnID); got != "" {
			t.Errorf("traceparentFor(%q) = %q", notAnID, got)
		}
	}
}

// Streaming is asked for with the allowlisted header, never with Accept.
func TestWantsStream(t *testing.T) {
	for _, c := range []struct {
		header, value string
		want          bool
	}{{StreamHeader, "true", true}, {StreamHeader, " TRUE ", true}, {StreamHeader, "false", false}, {"Accept", "text/event-stream", false}} {
		r := httptest.NewRequest("POST", "/invocations", nil)
		r.Header.Set(c.header, c.value)
		if got := wantsStream(r); got != c.want {
			t.Errorf("%s: %s = %v", c.header, c.value, got)
		}
	}
}

// The user's token goes to the invocation URL: https unless on this
// machine, and InvokeAgentRuntime's path.
func TestCheckInvocationURL(t *testing.T) {
	for url, want := range map[string]string{
		"https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Ax/invocations?qualifier=DEFAULT": "",
		"http://127.0.0.1:8080/runtimes/x/invocations":                                                     "",
		"http://localhost:8080/runtimes/x/invocations":                                                     "",
		"http://runtime.example.com/runtimes/x/invocations":                                                "must use https",
		"https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Ax":                               "not an invocation URL",
	} {
		r := config.New(func(string) string { return "" })
		checkInvocationURL(r, url)
		err := r.Err()
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", url, err, want)
		}
	}
}
