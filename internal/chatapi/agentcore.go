package chatapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/agent"
	"github.com/crosscloud-agentid/agentid/internal/correlation"
	"github.com/crosscloud-agentid/agentid/internal/identity"
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

// StreamHeader asks /invocations for server-sent events. It is the
// streaming signal because AgentCore Runtime passes it: a request header
// reaches the container only when the runtime's RequestHeaderAllowlist
// names it (deploy/aws/template.yaml does), and Accept, like Origin and
// the Access-Control-Request-* pair, is on the guide's restricted list,
// which no allowlist can name. The X-Amzn-Bedrock-AgentCore-Runtime-Custom-
// prefix is the one name form that both the guide and the API's pattern,
// (Authorization|X-Amzn-Bedrock-AgentCore-Runtime-Custom-[a-zA-Z0-9-]+),
// accept. Sources, read 2026-12-06: "Pass custom headers to Amazon Bedrock
// AgentCore Runtime",
// https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/runtime-header-allowlist.html,
// and RequestHeaderConfiguration,
// https://docs.aws.amazon.com/bedrock-agentcore-control/latest/APIReference/API_RequestHeaderConfiguration.html.
const StreamHeader = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Stream"

// wantsStream reports whether an invocation asked for events: StreamHeader
// set to true. Accept is not read: whether AgentCore passes it is
// undocumented, so a stream that relied on it would work only locally.
func wantsStream(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get(StreamHeader)), "true")
}

// invocation is the body AgentCore Runtime forwards: the prompt under any
// of the names the samples use, optionally the flow and mode, and what the
// chat UI's relay adds because no header of the page reaches the
// container: the turn's W3C trace context and where consent links send
// the browser back.
type invocation struct {
	Prompt             string `json:"prompt"`
	Message            string `json:"message"`
	Text               string `json:"text"`
	TokenFlow          string `json:"token_flow"`
	LLMMode            string `json:"llm_mode"`
	Traceparent        string `json:"traceparent"`
	ConsentRedirectURI string `json:"consent_redirect_uri"`
	AfterConsent       bool   `json:"after_consent"`
	// VaultSession is the vault's session the page came back with, which
	// this turn binds with the user's token in Authorization.
	VaultSession string `json:"vault_session"`
}

type invocationAnswer struct {
	Status        string `json:"status"` // success or error
	Response      string `json:"response,omitempty"`
	Error         string `json:"error,omitempty"`
	AgentType     string `json:"agent_type,omitempty"`
	TokenFlow     string `json:"token_flow,omitempty"`
	CorrelationID string `json:"correlation_id"`
	// HTTPStatus is the refusal's status in an error event, whose stream
	// has already sent 200.
	HTTPStatus int `json:"http_status,omitempty"`
	// ConsentRequired is set when the turn needs a person to consent.
	ConsentRequired *agent.ConsentNeeded `json:"consent_required,omitempty"`
	Trace           []trace.Event        `json:"trace"`
}

// invocations runs one turn for AgentCore Runtime. The runtime's custom
// JWT authorizer checked the user's token and forwarded it (Authorization
// is in its header allowlist); it is checked again here (issuer, audience
// the blueprint, access_as_user), because the container must not trust
// whoever can reach its port, and held for this turn only. No CORS: a
// browser never calls this; the chat UI's llm-agent relays (relay.go).
func (s *Server) invocations(w http.ResponseWriter, r *http.Request) {
	s.runtime.begin()
	defer s.runtime.end()
	// The body is read first (at most MaxBodyBytes), so the turn can
	// continue the relay's trace; its refusal waits for the token's.
	var in invocation
	bodyErr := decodeBody(w, r, &in, invocationFields)
	callerID, _ := correlation.FromRequest(r)
	ctx, span, turnID := s.beginTurn(r.Context(), firstNonEmpty(in.Traceparent, r.Header.Get("traceparent")), callerID)
	defer span.End()
	stream := wantsStream(r)
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
	if bodyErr != nil {
		fail(bodyErr, "", "")
		return
	}
	req := chatRequest{Message: firstNonEmpty(in.Prompt, in.Message, in.Text), LLMMode: in.LLMMode, TokenFlow: in.TokenFlow, AfterConsent: in.AfterConsent,
		VaultSession: in.VaultSession}
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
	if s.cfg.ConsentRedirectURI == "" && webURL(in.ConsentRedirectURI) {
		// The page's origin, as the relay saw it: the runtime passes no
		// Origin. Entra still accepts only the blueprint's registered
		// redirect URIs.
		p.turn.ConsentRedirectURI = in.ConsentRedirectURI
	}
	p.from = "agentcore-runtime"
	// The vault's key to this user's tokens, minted by the runtime from
	// the user's token; held for this turn only, never logged.
	p.turn.WorkloadToken = identity.WorkloadToken(r.Header)
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

// webURL reports whether s is an absolute http or https URL with a host.
func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && validHost(u.Host) && u.User == nil
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
		name, a.HTTPStatus = "error", status
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
