package chatapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/crosscloud-agentid/agentid/internal/agent"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// The relay: the chat UI's llm-agent, with AGENTCORE_INVOCATION_URL set,
// sends each turn to the agent on AgentCore Runtime itself, over HTTPS
// with the signed-in user's token in Authorization (the runtime's custom
// JWT authorizer checks it), and hands the answer, its trace and its
// streamed text back to the page. The page only ever calls its own
// origin, so nothing depends on how AgentCore's endpoint answers a
// browser: whether it answers a CORS preflight at all is documented
// nowhere (InvokeAgentRuntime's API reference and the developer guide,
// read 2026-12-06, say nothing of CORS), and the Origin and
// Access-Control-Request-* headers are on the header-allowlist guide's
// restricted list, so the container could never answer one itself
// (https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/runtime-header-allowlist.html,
// read 2026-12-06). With a bearer token InvokeAgentRuntime is a plain
// HTTPS request, not an SDK call
// (https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_InvokeAgentRuntime.html,
// read 2026-12-06).

const (
	// relayTimeout bounds one relayed turn; the page gives up at 120 s.
	relayTimeout = 150 * time.Second
	// maxRelayAnswer bounds what is read of the runtime's answer.
	maxRelayAnswer = 16 << 20
	// maxRelayEvent bounds one server-sent event line.
	maxRelayEvent = 4 << 20
	// runtimeName is how the trace and the page name the hop.
	runtimeName = "AgentCore Runtime"
)

// checkInvocationURL refuses an invocation URL the relay must not use: the
// user's token goes there, so https unless it is this machine, and the
// path must be InvokeAgentRuntime's (AWS answers a path that stops short
// of /invocations with a misleading "Missing Authentication Token").
func checkInvocationURL(r *config.Reader, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return // r.URL has said so
	}
	if u.Scheme != "https" && !loopbackHost(u.Hostname()) {
		r.Problem("AGENTCORE_INVOCATION_URL", "%q must use https: the signed-in user's token is sent there", raw)
	}
	if !strings.HasSuffix(u.Path, "/invocations") {
		r.Problem("AGENTCORE_INVOCATION_URL", "%q is not an invocation URL: use the stack's AgentInvocationUrl output, "+
			"https://bedrock-agentcore.<region>.amazonaws.com/runtimes/<URL-encoded runtime ARN>/invocations?qualifier=DEFAULT", raw)
	}
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// userToken is the raw token a parsed request came with (parse has
// validated it).
func userToken(req chatRequest, authorization string) string {
	if authorization != "" {
		if tok, err := jwtauth.BearerToken(authorization); err == nil {
			return tok
		}
	}
	return req.UserToken
}

// relayBody is the invocation the relay sends (see invocation).
type relayBody struct {
	Prompt             string `json:"prompt"`
	TokenFlow          string `json:"token_flow"`
	LLMMode            string `json:"llm_mode"`
	Traceparent        string `json:"traceparent,omitempty"`
	ConsentRedirectURI string `json:"consent_redirect_uri,omitempty"`
	AfterConsent       bool   `json:"after_consent,omitempty"`
	VaultSession       string `json:"vault_session,omitempty"`
}

// relayed is what the runtime answered for a turn.
type relayed struct {
	answer  string
	consent *agent.ConsentNeeded
}

// relayTrace numbers the relay's own steps and the runtime's as one
// trace, and passes each to live as it comes (the websocket's sink).
type relayTrace struct {
	start  time.Time
	live   func(trace.Event)
	mu     sync.Mutex
	events []trace.Event
}

func (t *relayTrace) add(e trace.Event, atMs int64) {
	t.mu.Lock()
	e.Seq = len(t.events) + 1
	e.AtMs = atMs
	t.events = append(t.events, e)
	live := t.live
	t.mu.Unlock()
	if live != nil {
		live(e)
	}
}

func (t *relayTrace) own(step, message string, data map[string]any) {
	t.add(trace.Event{Step: step, Actor: "llm-agent", Message: message, Data: data}, time.Since(t.start).Milliseconds())
}

func (t *relayTrace) Events() []trace.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]trace.Event(nil), t.events...)
}

// relayTurn sends a parsed turn to the invocation URL. With text set it
// asks for server-sent events (StreamHeader) and passes trace events and
// the model's text on as they arrive. A refusal is an agent.Error whose
// message names who refused; the trace has the relay's step and whatever
// the runtime sent.
func (s *Server) relayTurn(ctx context.Context, p parsed, token, turnID, consentRedirect string, tr *relayTrace, text func(string)) (out relayed, failed *agent.Error) {
	if s.turns != nil {
		start := time.Now()
		defer func() {
			outcome := "answered"
			switch {
			case out.consent != nil:
				outcome = "consent"
			case failed != nil:
				outcome = "failed"
			}
			s.turns.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String("mode", string(p.turn.Mode)),
				attribute.String("flow", string(p.turn.Flow)), attribute.String("outcome", outcome)))
		}()
	}
	oteltrace.SpanFromContext(ctx).SetAttributes(attribute.String("agentid.flow", string(p.turn.Flow)), attribute.String("agentid.mode", string(p.turn.Mode)),
		attribute.String("agentid.provider", "agentcore-runtime"))
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	stream := text != nil
	body, _ := json.Marshal(relayBody{Prompt: p.turn.Message, TokenFlow: string(p.turn.Flow), LLMMode: string(p.turn.Mode),
		Traceparent: traceparentFor(ctx, turnID), ConsentRedirectURI: consentRedirect, AfterConsent: p.turn.AfterConsent,
		VaultSession: p.turn.VaultSession})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.InvocationURL, bytes.NewReader(body))
	if err != nil {
		return out, &agent.Error{Status: http.StatusInternalServerError, Message: "AGENTCORE_INVOCATION_URL could not be used"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if stream {
		req.Header.Set(StreamHeader, "true")
	}
	target := runtimeName + " at " + req.URL.Host
	tr.own("relay", "Sent the turn to the agent on "+runtimeName+" (InvokeAgentRuntime) with the user's token, which the runtime's JWT authorizer checks",
		map[string]any{"runtime": req.URL.Host, "stream": stream, "correlation_id": turnID})
	sent := time.Since(tr.start).Milliseconds()
	resp, err := s.relayClient.Do(req)
	if err != nil {
		why := "did not answer"
		if errors.Is(err, context.DeadlineExceeded) {
			why = fmt.Sprintf("did not answer within %s", relayTimeout)
		}
		s.log.WarnContext(ctx, "relay failed", "runtime", req.URL.Host, "reason", why)
		return out, &agent.Error{Status: http.StatusBadGateway, Message: target + " " + why}
	}
	defer resp.Body.Close()
	limited := io.LimitReader(resp.Body, maxRelayAnswer)
	var a invocationAnswer
	status := resp.StatusCode
	if mt := strings.TrimSpace(strings.Split(resp.Header.Get("Content-Type"), ";")[0]); mt == "text/event-stream" && stream {
		a, status, err = readEvents(limited, func(e trace.Event) { tr.add(e, sent+e.AtMs) }, text)
		if err != nil {
			s.log.WarnContext(ctx, "relay failed", "runtime", req.URL.Host, "reason", err.Error())
			return out, &agent.Error{Status: http.StatusBadGateway, Message: target + " broke off its answer: " + err.Error()}
		}
	} else {
		raw, _ := io.ReadAll(limited)
		if json.Unmarshal(raw, &a) != nil || a.Status == "" {
			// Not the agent's answer: the runtime's own refusal, such as its
			// authorizer's 403 AccessDeniedException.
			e := runtimeRefusal(target, resp, raw)
			s.log.InfoContext(ctx, "the runtime refused a relayed turn", "status", resp.StatusCode, "error", e.Message)
			return out, e
		}
		for _, e := range a.Trace {
			tr.add(e, sent+e.AtMs)
		}
	}
	if a.Status != "success" {
		if status < 400 {
			status = http.StatusBadGateway
		}
		return out, &agent.Error{Status: status, Message: firstNonEmpty(a.Error, "the agent on "+runtimeName+" failed the turn")}
	}
	return relayed{answer: a.Response, consent: a.ConsentRequired}, nil
}

// readEvents reads the agent's server-sent events: trace and text as they
// come, then final or error.
func readEvents(r io.Reader, onTrace func(trace.Event), text func(string)) (invocationAnswer, int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxRelayEvent)
	var name string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case line == "" && len(data) > 0:
			payload := []byte(strings.Join(data, "\n"))
			data = nil
			switch name {
			case "trace":
				var e trace.Event
				if json.Unmarshal(payload, &e) == nil {
					onTrace(e)
				}
			case "text":
				var d struct{ Delta string }
				if json.Unmarshal(payload, &d) == nil && d.Delta != "" {
					text(d.Delta)
				}
			case "final", "error":
				var a invocationAnswer
				if err := json.Unmarshal(payload, &a); err != nil {
					return a, 0, errors.New("its last event is not JSON")
				}
				status := http.StatusOK
				if name == "error" {
					status = a.HTTPStatus
				}
				return a, status, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return invocationAnswer{}, 0, fmt.Errorf("an event was longer than %d KiB", maxRelayEvent>>10)
		}
		return invocationAnswer{}, 0, fmt.Errorf("its events could not be read (%w)", err)
	}
	return invocationAnswer{}, 0, errors.New("it ended before its final event")
}

// runtimeRefusal turns AWS's error answer ({"message"} with its code in
// X-Amzn-ErrorType) into the page's error, as 502: the runtime, not this
// llm-agent, refused. The message is AWS's, cut short; it never holds the
// token.
func runtimeRefusal(target string, resp *http.Response, raw []byte) *agent.Error {
	code := strings.TrimSpace(strings.Split(resp.Header.Get("X-Amzn-ErrorType"), ":")[0])
	var m struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(raw, &m)
	msg := fmt.Sprintf("%s refused the turn: HTTP %d", target, resp.StatusCode)
	if code != "" {
		msg += " " + code
	}
	if m.Message != "" {
		msg += ": " + shorten(m.Message, 300)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		msg += " (its JWT authorizer checks the token against the template's CustomJWTAuthorizer: discovery URL, audience, claim rules)"
	}
	return &agent.Error{Status: http.StatusBadGateway, Message: msg}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// traceparentFor is the turn's W3C trace context for the agent on the
// runtime, so that its turn has the same trace ID: the span's, or one made
// from the turn's ID when tracing is off and the page sent none.
func traceparentFor(ctx context.Context, turnID string) string {
	if sc := oteltrace.SpanContextFromContext(ctx); sc.IsValid() {
		return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
	}
	id, err := oteltrace.TraceIDFromHex(turnID)
	if err != nil || !id.IsValid() {
		return ""
	}
	var span oteltrace.SpanID
	copy(span[:], id[8:]) // any non-zero span ID will do
	if !span.IsValid() {
		span[7] = 1
	}
	return fmt.Sprintf("00-%s-%s-01", id, span)
}
