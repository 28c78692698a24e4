package chatapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/agent"
	"github.com/crosscloud-agentid/agentid/internal/correlation"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// runtimeState is what GET /ping reports: busy while a turn runs, and when
// that last changed.
type runtimeState struct {
	mu      sync.Mutex
	running int
	changed time.Time
}

func (st *runtimeState) begin() { st.step(+1) }
func (st *runtimeState) end()   { st.step(-1) }

func (st *runtimeState) step(d int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	was := st.running > 0
	st.running += d
	if (st.running > 0) != was {
		st.changed = time.Now()
	}
}

// ping is the AgentCore Runtime health contract.
func (s *Server) ping(w http.ResponseWriter, _ *http.Request) {
	st := &s.runtime
	st.mu.Lock()
	status, changed := "Healthy", st.changed
	if st.running > 0 {
		status = "HealthyBusy"
	}
	st.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "time_of_last_update": changed.Unix()})
}

// invocation is the body AgentCore Runtime forwards: the prompt under any
// of the names the samples use, and optionally the flow and mode.
type invocation struct {
	Prompt    string `json:"prompt"`
	Message   string `json:"message"`
	Text      string `json:"text"`
	TokenFlow string `json:"token_flow"`
	LLMMode   string `json:"llm_mode"`
}

type invocationAnswer struct {
	Status        string `json:"status"` // success or error
	Response      string `json:"response,omitempty"`
	Error         string `json:"error,omitempty"`
	AgentType     string `json:"agent_type,omitempty"`
	TokenFlow     string `json:"token_flow,omitempty"`
	CorrelationID string `json:"correlation_id"`
	// ConsentRequired is set when the turn needs a person to consent.
	ConsentRequired *agent.ConsentNeeded `json:"consent_required,omitempty"`
	Trace           []trace.Event        `json:"trace"`
}

// invocations runs one turn for AgentCore Runtime. The runtime's custom
// JWT authorizer checked the user's token and forwarded it (Authorization
// is in its header allowlist); it is checked again here (issuer, audience
// the blueprint, access_as_user), because the container must not trust
// whoever can reach its port, and held for this turn only.
func (s *Server) invocations(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w, r) // a page at UI_ORIGIN may read the answer
	s.runtime.begin()
	defer s.runtime.end()
	callerID, _ := correlation.FromRequest(r)
	ctx, span, turnID := s.beginTurn(r.Context(), r.Header.Get("traceparent"), callerID)
	defer span.End()
	stream := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	out := newInvocationWriter(w, stream)
	rec := trace.New(out.trace)
	fail := func(e *agent.Error, mode, flow string) {
		s.log.InfoContext(ctx, "invocation failed", "status", e.Status, "error", e.Message)
		out.final(e.Status, invocationAnswer{Status: "error", Error: e.Message, AgentType: mode, TokenFlow: flow,
			CorrelationID: turnID, Trace: rec.Events()})
	}

	authorization := r.Header.Get("Authorization")
	token, te := jwtauth.BearerToken(authorization)
	if te == nil {
		_, te = s.users.Validate(ctx, token)
	}
	if te != nil {
		w.Header().Set("WWW-Authenticate", te.WWWAuthenticate())
		fail(&agent.Error{Status: http.StatusUnauthorized, Message: "the user's token was refused: " + te.Description}, "", "")
		return
	}
	var in invocation
	if e := decodeBody(w, r, &in, invocationFields); e != nil {
		fail(e, "", "")
		return
	}
	req := chatRequest{Message: firstNonEmpty(in.Prompt, in.Message, in.Text), LLMMode: in.LLMMode, TokenFlow: in.TokenFlow}
	if req.LLMMode == "" {
		req.LLMMode = string(agent.Bedrock)
	}
	if req.TokenFlow == "" {
		req.TokenFlow = "obo"
	}
	if strings.TrimSpace(req.Message) == "" {
		fail(&agent.Error{Status: http.StatusBadRequest, Message: "no prompt: send prompt, message or text"}, "", "")
		return
	}
	p, e := s.parse(ctx, req, authorization)
	if e != nil {
		fail(e, string(p.turn.Mode), string(p.turn.Flow))
		return
	}
	p.turn.CorrelationID = turnID
	p.turn.ConsentRedirectURI = s.consentRedirect(r)
	p.from = "agentcore-runtime"
	if stream {
		p.turn.Stream = out.text
	}
	answer, consent, ae := s.runTurn(ctx, p, rec)
	if ae != nil {
		fail(ae, string(p.turn.Mode), string(p.turn.Flow))
		return
	}
	out.final(http.StatusOK, invocationAnswer{Status: "success", Response: answer, AgentType: string(p.turn.Mode),
		TokenFlow: string(p.turn.Flow), CorrelationID: turnID, ConsentRequired: consent, Trace: rec.Events()})
}

// invocationWriter answers with one JSON object, or with server-sent
// events (trace, text, then final or error) when the caller asked for a
// stream.
type invocationWriter struct {
	w       http.ResponseWriter
	stream  bool
	mu      sync.Mutex // the trace and text callbacks run on the turn's goroutines
	started atomic.Bool
}

func newInvocationWriter(w http.ResponseWriter, stream bool) *invocationWriter {
	return &invocationWriter{w: w, stream: stream}
}

func (o *invocationWriter) event(name string, v any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.started.Swap(true) {
		h := o.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		o.w.WriteHeader(http.StatusOK)
	}
	data, _ := json.Marshal(v)
	fmt.Fprintf(o.w, "event: %s\ndata: %s\n\n", name, data)
	if f, ok := o.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (o *invocationWriter) trace(e trace.Event) {
	if o.stream {
		o.event("trace", e)
	}
}

func (o *invocationWriter) text(delta string) { o.event("text", map[string]string{"delta": delta}) }

// final ends the answer. A refusal before the turn began is plain JSON
// with its status; a stream that has begun has sent 200, so its outcome is
// in the event's name and status field.
func (o *invocationWriter) final(status int, a invocationAnswer) {
	if !o.stream || !o.started.Load() {
		writeJSON(o.w, status, a)
		return
	}
	name := "final"
	if a.Status != "success" {
		name = "error"
	}
	o.event(name, a)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
