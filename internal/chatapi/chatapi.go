// Package chatapi is llm-agent's HTTP API: health, status, the settings
// MSAL.js needs, the chat UI, POST /api/chat (compatible with the
// Microsoft sample) and its websocket, or in AgentCore mode the runtime's
// /invocations and /ping contract; with its settings, Build and Serve.
package chatapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/crosscloud-agentid/agentid/internal/agent"
	"github.com/crosscloud-agentid/agentid/internal/correlation"
	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/secret"
	"github.com/crosscloud-agentid/agentid/internal/telemetry"
	"github.com/crosscloud-agentid/agentid/internal/trace"
	"github.com/crosscloud-agentid/agentid/web"
)

// MaxBodyBytes bounds a chat request.
const MaxBodyBytes = 64 << 10

// Config is what the API reports and needs besides the agent.
type Config struct {
	AuthorityHost        string
	BrowserAuthorityHost string // what /api/config and the CSP give the browser
	TenantID             string
	BlueprintID          string
	SPAClientID          string
	AgentID              string
	SidecarURL           string
	Region               string
	ModelID              string
	WeatherAPIURL        string
	TrustProxyHeaders    bool
	// AgentCore serves the AgentCore Runtime contract: POST /invocations
	// and GET /ping.
	AgentCore bool
	// InvocationURL, when set, is an AgentCore Runtime's invocation URL:
	// the page still sends its turns to /api/chat or the websocket, and
	// llm-agent relays each to InvokeAgentRuntime with the user's token.
	InvocationURL string
	// ConsentRedirectURI is where consent links send the browser back;
	// empty: consent.html at the page's origin.
	ConsentRedirectURI string
	// MCPServerURL is the MCP server's endpoint, for /api/status; empty
	// when MCP tools are off.
	MCPServerURL string
	// PublicOrigins are the origins browsers reach llm-agent at
	// (PUBLIC_ORIGIN); AllowedHosts is the Host allowlist they and a
	// loopback listener give.
	PublicOrigins []string
	AllowedHosts  []string
	// AutonomousNeedsUser makes autonomous turns need a signed-in user of
	// the tenant too (AUTONOMOUS_NEEDS_SIGN_IN), so an exposed agent does
	// not run Bedrock turns for anyone.
	AutonomousNeedsUser bool
	// WebSocketLimits bound open websockets.
	WebSocketLimits WebSocketLimits
	// UserTokenSource is where on-behalf-of turns get the Weather API's
	// token: entra-obo or agentcore-vault (USER_TOKEN_SOURCE).
	UserTokenSource string
}

// Check is one /api/status dependency check.
type Check func(ctx context.Context) (detail map[string]any, err error)

// Server serves the API.
type Server struct {
	cfg      Config
	agent    *agent.Agent
	users    *jwtauth.Validator // validates Tc: the blueprint's audience, access_as_user
	checks   map[string]Check
	log      *slog.Logger
	mux      *http.ServeMux
	handler  http.Handler // mux, behind the Host guard outside AgentCore mode
	provider identity.Provider
	ws       sockets
	runtime  runtimeState
	settings Settings // Build's, for Serve
	// relayClient sends relayed turns to InvocationURL.
	relayClient *http.Client
	tracer      oteltrace.Tracer
	turns       metric.Float64Histogram // nil when metrics are off
}

// New wires the routes.
func New(cfg Config, a *agent.Agent, provider identity.Provider, users *jwtauth.Validator, checks map[string]Check, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, agent: a, users: users, checks: checks, log: log, mux: http.NewServeMux(), provider: provider, tracer: telemetry.Tracer(nil)}
	health := func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "healthy", "service": "llm-agent"})
	}
	s.mux.HandleFunc("GET /health", health)
	s.mux.HandleFunc("GET /healthz", health)
	if cfg.AgentCore {
		// Exactly the runtime's contract: no UI and no /api/*, whose turns
		// would bypass the runtime's authorizer, and no CORS, since no
		// browser calls it (the page's own llm-agent relays). The runtime
		// addresses the container itself, so no Host check.
		s.runtime.changed = time.Now()
		s.mux.HandleFunc("POST /invocations", s.invocations)
		s.mux.HandleFunc("GET /ping", s.ping)
		s.handler = s.mux
		return s
	}
	s.relayClient = &http.Client{}
	s.mux.HandleFunc("GET /api/status", s.status)
	s.mux.HandleFunc("GET /api/config", s.config)
	s.mux.HandleFunc("POST /api/chat", s.chat)
	s.mux.HandleFunc("GET /api/chat/ws", s.chatWS)
	s.mux.Handle("GET /", s.ui())
	s.handler = s.guardHost(s.mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// chatRequest is the sample's body; unknown fields (use_langchain) are
// ignored.
type chatRequest struct {
	Message   string `json:"message"`
	LLMMode   string `json:"llm_mode"`
	Mode      string `json:"mode"`
	TokenFlow string `json:"token_flow"`
	UserToken string `json:"user_token"`
	// Traceparent is the page's W3C trace context, in a websocket turn.
	Traceparent string `json:"traceparent"`
	// AfterConsent: the page sends the turn again after the user granted
	// consent (agent.Turn.AfterConsent).
	AfterConsent bool `json:"after_consent"`
	// VaultSession is the session AgentCore Identity sent the browser back
	// with (session_id): the agent binds it with this turn's user token,
	// which must be the one that started it (agent.Turn.VaultSession).
	VaultSession string `json:"vault_session"`
}

type chatResponse struct {
	Response      string `json:"response"`
	Success       bool   `json:"success"`
	Error         string `json:"error,omitempty"`
	AgentType     string `json:"agent_type"`
	TokenFlow     string `json:"token_flow"`
	CorrelationID string `json:"correlation_id"`
	// ConsentRequired: the turn needs a person to consent first; Response
	// says so and the object has the links.
	ConsentRequired *agent.ConsentNeeded `json:"consent_required,omitempty"`
	Trace           []trace.Event        `json:"trace"`
	Debug           []trace.Event        `json:"debug"`
	// Via names where the turn ran when not here: AgentCore Runtime.
	Via string `json:"via,omitempty"`
}

// parsed is a validated turn request.
type parsed struct {
	turn agent.Turn
	tc   *identity.DecodedToken
	from string // who sent the turn, for the trace: the browser unless set
}

// parse validates a chat request; errors are 4xx with one line.
func (s *Server) parse(ctx context.Context, req chatRequest, authorization string) (parsed, *agent.Error) {
	bad := func(format string, args ...any) (parsed, *agent.Error) {
		return parsed{}, &agent.Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(req.Message) == "" {
		return bad("the message is empty")
	}
	modeName := req.LLMMode
	if modeName == "" {
		modeName = req.Mode
	}
	if modeName == "" {
		modeName = string(agent.Direct)
	}
	mode, err := agent.ParseMode(modeName)
	if err != nil {
		return parsed{}, &agent.Error{Status: http.StatusBadRequest, Message: err.Error()}
	}
	flowName := req.TokenFlow
	if flowName == "" {
		flowName = string(identity.Autonomous)
	}
	flow, err := identity.ParseFlow(flowName)
	if err != nil {
		return parsed{}, &agent.Error{Status: http.StatusBadRequest, Message: err.Error()}
	}
	if req.VaultSession != "" && !agent.ValidSessionURI(req.VaultSession) {
		return bad("vault_session is not an AgentCore Identity session URI (urn:ietf:params:oauth:request_uri:…)")
	}
	p := parsed{turn: agent.Turn{Message: req.Message, Mode: mode, Flow: flow, AfterConsent: req.AfterConsent, VaultSession: req.VaultSession}}
	if flow == identity.Autonomous && !s.cfg.AutonomousNeedsUser {
		return p, nil
	}
	// OBO and agent-user turns need a signed-in user, checked before any
	// exchange; the token is held for this turn only.
	raw := req.UserToken
	if authorization != "" {
		tok, e := jwtauth.BearerToken(authorization)
		if e != nil {
			return parsed{}, &agent.Error{Status: http.StatusUnauthorized, Message: "the " + string(flow) + " flow needs the signed-in user's token: " + e.Description}
		}
		raw = tok
	}
	if raw == "" {
		return parsed{}, &agent.Error{Status: http.StatusUnauthorized, Message: "the " + string(flow) + " flow needs the signed-in user's token: sign in first"}
	}
	if _, e := s.users.Validate(ctx, raw); e != nil {
		return parsed{}, &agent.Error{Status: http.StatusUnauthorized, Message: "the user's token was refused: " + e.Description}
	}
	if card, err := identity.DecodeToken("Tc", raw); err == nil {
		p.tc = &card
	}
	if flow == identity.Autonomous {
		// The user only opened the door: the agent acts as itself and
		// never holds the user's token.
		return p, nil
	}
	p.turn.UserToken = secret.New(raw)
	if p.tc != nil {
		p.turn.UserID, _ = p.tc.Claims["oid"].(string)
	}
	return p, nil
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	callerID, _ := correlation.FromRequest(r)
	ctx, span, turnID := s.beginTurn(r.Context(), r.Header.Get("traceparent"), callerID)
	defer span.End()
	rec := trace.New(nil)
	fail := func(e *agent.Error, agentType, flow string) {
		s.log.InfoContext(ctx, "turn failed", "status", e.Status, "error", e.Message)
		events := rec.Events()
		writeJSON(w, e.Status, chatResponse{Response: e.Message, Error: e.Message, AgentType: agentType, TokenFlow: flow,
			CorrelationID: turnID, Trace: events, Debug: events})
	}
	// A turn is JSON from this page: a cross-site form or no-cors fetch
	// can send neither that Content-Type nor this Origin.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		fail(&agent.Error{Status: http.StatusUnsupportedMediaType, Message: "send the turn as Content-Type: application/json"}, "", "")
		return
	}
	if !s.originAllowed(r) {
		fail(&agent.Error{Status: http.StatusForbidden, Message: "turns are accepted from this page's origin only (PUBLIC_ORIGIN)"}, "", "")
		return
	}
	var req chatRequest
	if e := decodeBody(w, r, &req, chatFields); e != nil {
		fail(e, "", "")
		return
	}
	p, e := s.parse(ctx, req, r.Header.Get("Authorization"))
	if e != nil {
		fail(e, string(p.turn.Mode), string(p.turn.Flow))
		return
	}
	if s.cfg.InvocationURL != "" {
		tr := &relayTrace{start: time.Now()}
		out, ae := s.relayTurn(ctx, p, userToken(req, r.Header.Get("Authorization")), turnID, s.consentRedirect(r), tr, nil)
		events := tr.Events()
		if ae != nil {
			s.log.InfoContext(ctx, "turn failed", "status", ae.Status, "error", ae.Message)
			writeJSON(w, ae.Status, chatResponse{Response: ae.Message, Error: ae.Message, AgentType: string(p.turn.Mode), TokenFlow: string(p.turn.Flow),
				CorrelationID: turnID, Trace: events, Debug: events, Via: runtimeName})
			return
		}
		writeJSON(w, http.StatusOK, chatResponse{Response: out.answer, Success: true, AgentType: string(p.turn.Mode), TokenFlow: string(p.turn.Flow),
			CorrelationID: turnID, ConsentRequired: out.consent, Trace: events, Debug: events, Via: runtimeName})
		return
	}
	p.turn.CorrelationID = turnID
	p.turn.ConsentRedirectURI = s.consentRedirect(r)
	answer, consent, ae := s.runTurn(ctx, p, rec)
	if ae != nil {
		fail(ae, string(p.turn.Mode), string(p.turn.Flow))
		return
	}
	events := rec.Events()
	writeJSON(w, http.StatusOK, chatResponse{Response: answer, Success: true, AgentType: string(p.turn.Mode), TokenFlow: string(p.turn.Flow),
		CorrelationID: turnID, ConsentRequired: consent, Trace: events, Debug: events})
}

// consentRedirect is where a consent link sends the browser back: the
// setting, else consent.html at the origin of the page that sent the turn
// (Entra accepts only the blueprint's registered web redirect URIs).
func (s *Server) consentRedirect(r *http.Request) string {
	if s.cfg.ConsentRedirectURI != "" {
		return s.cfg.ConsentRedirectURI
	}
	if o, err := url.Parse(r.Header.Get("Origin")); err == nil && (o.Scheme == "http" || o.Scheme == "https") && o.Host != "" && validHost(o.Host) {
		return o.Scheme + "://" + o.Host + "/consent.html"
	}
	return s.redirectURI(r) + "/consent.html"
}

// decodeBody reads a JSON body of at most MaxBodyBytes into v, strictly
// (see decodeStrict); a refusal is a 413 or a 400.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, fields []string) *agent.Error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &agent.Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("the request body is over %d KiB", MaxBodyBytes>>10)}
	case err != nil:
		return &agent.Error{Status: http.StatusBadRequest, Message: "the request body could not be read"}
	}
	if err := decodeStrict(data, v, fields); err != nil {
		return &agent.Error{Status: http.StatusBadRequest, Message: "the request body is not a valid turn: " + err.Error()}
	}
	return nil
}

// runTurn runs a parsed turn for every transport, tracing its start, the
// user's token and, at the end, the docs for the flow. A turn that needs
// consent ends well: its answer says so and consent has the links.
func (s *Server) runTurn(ctx context.Context, p parsed, rec *trace.Recorder) (answer string, consent *agent.ConsentNeeded, failed *agent.Error) {
	from := p.from
	if from == "" {
		from = "browser"
	}
	if s.turns != nil {
		start := time.Now()
		defer func() {
			outcome := "answered"
			switch {
			case consent != nil:
				outcome = "consent"
			case failed != nil:
				outcome = "failed"
			}
			s.turns.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String("mode", string(p.turn.Mode)),
				attribute.String("flow", string(p.turn.Flow)), attribute.String("outcome", outcome)))
		}()
	}
	span := oteltrace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("agentid.flow", string(p.turn.Flow)), attribute.String("agentid.mode", string(p.turn.Mode)),
		attribute.String("agentid.provider", s.provider.Name()))
	if p.tc != nil {
		span.SetAttributes(attribute.String("enduser.id", fmt.Sprint(p.tc.Claims["oid"])))
	}
	received := fmt.Sprintf("Turn received: %s mode, %s flow", p.turn.Mode, p.turn.Flow)
	turnData := map[string]any{"correlation_id": p.turn.CorrelationID, "provider": s.provider.Name()}
	if p.tc == nil {
		rec.AddHop("turn", from, received, trace.Hop{From: trace.Browser, To: trace.Agent, Carries: "the message"}, turnData)
	} else {
		// The message came with the user's token: one arrow, with Tc's card.
		rec.Add("turn", from, received, turnData)
		rec.AddTokenHop("token", from, "The signed-in user's token, validated (issuer, audience the blueprint, access_as_user)", trace.CardOf("Tc", *p.tc, ""),
			trace.Hop{From: trace.Browser, To: trace.Agent, Carries: "the message with Tc"}, nil)
	}
	answer, err := s.agent.Run(ctx, p.turn, rec)
	var ce *agent.ConsentError
	if errors.As(err, &ce) {
		s.log.InfoContext(ctx, "turn needs consent", "aadsts", ce.Needed.AADSTS, "reason", ce.Needed.Reason, "source", firstNonEmpty(ce.Needed.Source, "entra"))
		if ce.Needed.Source == identity.SourceAgentCoreVault {
			rec.AddHop("consent", "llm-agent", ce.Needed.Message,
				trace.Hop{From: trace.Agent, To: trace.Browser, Carries: "AgentCore Identity's authorization URL"},
				map[string]any{"reason": ce.Needed.Reason, "scopes": ce.Needed.Scopes, "session_uri": ce.Needed.SessionURI,
					"docs": "https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/oauth2-authorization-url-session-binding.html"})
			return ce.Needed.Message + " Consent: " + ce.Needed.URL, &ce.Needed, nil
		}
		rec.AddHop("consent", "llm-agent", ce.Needed.Message,
			trace.Hop{From: trace.Agent, To: trace.Browser, Carries: "a consent link", Code: fmt.Sprintf("AADSTS%d", ce.Needed.AADSTS)},
			map[string]any{"reason": ce.Needed.Reason, "scopes": ce.Needed.Scopes,
				"docs": "https://learn.microsoft.com/entra/agent-id/identity-platform/interactive-agent-request-user-authorization"})
		if ce.Needed.URL == "" {
			return ce.Needed.Message + " Admin consent: " + ce.Needed.AdminURL, &ce.Needed, nil
		}
		return ce.Needed.Message + " Consent: " + ce.Needed.URL, &ce.Needed, nil
	}
	if err != nil {
		var ae *agent.Error
		if !errors.As(err, &ae) {
			s.log.ErrorContext(ctx, "turn failed", "error", err)
			ae = &agent.Error{Status: http.StatusInternalServerError, Message: "the turn failed"}
		}
		return "", nil, ae
	}
	rec.Add("docs", "llm-agent", "Read more: the claims and the flow used", map[string]any{
		"claims": "https://learn.microsoft.com/entra/agent-id/identity-platform/agent-token-claims",
		"flow":   docsFor(p.turn.Flow),
	})
	return answer, nil, nil
}

func docsFor(f identity.Flow) string {
	switch f {
	case identity.OnBehalfOf:
		return "https://learn.microsoft.com/entra/agent-id/identity-platform/agent-on-behalf-of-oauth-flow"
	case identity.AgentUser:
		return "https://learn.microsoft.com/entra/agent-id/identity-platform/agent-user-oauth-flow"
	}
	return "https://learn.microsoft.com/entra/agent-id/identity-platform/autonomous-agent-request-tokens"
}

// beginTurn starts the turn's span and names the turn: by the trace ID of
// the caller's traceparent, or by the caller's X-Correlation-ID when no
// traceparent came, or by the span's trace ID, or by a new trace ID when
// tracing is off and neither came. The caller is public (a browser, or a
// client of /invocations): its traceparent names the turn but does not
// decide whether it is sampled (telemetry.Continue). The name rides in the
// returned context, where every log line of the turn finds it.
func (s *Server) beginTurn(ctx context.Context, traceparent, callerID string) (context.Context, oteltrace.Span, string) {
	ctx, callerTrace := telemetry.Continue(ctx, traceparent)
	ctx, span := s.tracer.Start(ctx, "chat turn")
	var id string
	switch {
	case callerTrace.IsValid():
		id = callerTrace.String()
	case callerID != "":
		id = callerID
	case span.SpanContext().IsValid():
		id = span.SpanContext().TraceID().String()
	default:
		id = correlation.NewTraceID()
	}
	return correlation.WithID(ctx, id), span, id
}

// status runs every check at once, each bounded.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	type result struct {
		OK     bool           `json:"ok"`
		Reason string         `json:"reason,omitempty"`
		Detail map[string]any `json:"detail,omitempty"`
	}
	results := map[string]result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range s.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			detail, err := check(ctx)
			res := result{OK: err == nil, Detail: detail}
			if err != nil {
				res.Reason = err.Error()
			}
			mu.Lock()
			results[name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, map[string]any{
		"checks":            results,
		"bedrock_available": results["bedrock"].OK,
		"bedrock_model":     s.cfg.ModelID,
		"aws_region":        s.cfg.Region,
		"sidecar_url":       s.cfg.SidecarURL,
		"agent_app_id":      s.cfg.AgentID,
		"identity_provider": s.provider.Name(),
		"tenant_id":         s.cfg.TenantID,
		"mcp_server_url":    s.cfg.MCPServerURL,
		"user_token_source": s.cfg.UserTokenSource,
	})
}

// config is what MSAL.js needs to sign the user in.
func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	browser := s.cfg.BrowserAuthorityHost
	if browser == "" {
		browser = s.cfg.AuthorityHost
	}
	host, _ := url.Parse(browser)
	writeJSON(w, http.StatusOK, map[string]any{
		"autonomousNeedsSignIn": s.cfg.AutonomousNeedsUser,
		"authority":             browser + "/" + s.cfg.TenantID,
		"knownAuthorities":      []string{host.Host},
		"clientId":              s.cfg.SPAClientID,
		"tenantId":              s.cfg.TenantID,
		"agentAppId":            s.cfg.AgentID,
		"scopes":                []string{"api://" + s.cfg.BlueprintID + "/access_as_user"},
		"redirectUri":           s.redirectURI(r),
		// Turns run on the agent on AgentCore Runtime, through this
		// llm-agent: the page still calls only its own origin.
		"agentCore": s.cfg.InvocationURL != "",
	})
}

// redirectURI is this page's origin; X-Forwarded-* only when trusted, and
// then only what the proxy wrote: the last entry (forwarded). A forwarded
// host must also be one this agent serves (PUBLIC_ORIGIN): Container Apps'
// ingress does not set X-Forwarded-Host, so there it is the client's own.
func (s *Server) redirectURI(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if s.cfg.TrustProxyHeaders {
		if p := forwarded(r, "X-Forwarded-Proto"); p == "http" || p == "https" {
			scheme = p
		}
		if h := forwarded(r, "X-Forwarded-Host"); h != "" && validHost(h) && s.allowedHost(h) {
			host = h
		}
	}
	return scheme + "://" + host
}

// forwarded is the last entry of a forwarded header, over all its lines:
// the one the trusted proxy in front of this server wrote. A proxy appends
// to X-Forwarded-For and overwrites X-Forwarded-Proto ("HTTP headers",
// Azure Container Apps' ingress overview, read 2026-12-06: "Azure
// Container Apps only provides the rightmost IP. Users must validate any
// other values to prevent IP spoofing."); whatever stands before the last
// entry came from the client.
func forwarded(r *http.Request, name string) string {
	lines := r.Header.Values(name)
	if len(lines) == 0 {
		return ""
	}
	last := lines[len(lines)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.TrimSpace(last)
}

func validHost(h string) bool {
	if strings.ContainsAny(h, "/@?# ") {
		return false
	}
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	return h != ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ui serves the embedded chat UI under a Content Security Policy that
// allows no inline script and no origin but this one, plus the Entra
// authority for MSAL.js's calls and its hidden iframes. MSAL.js's silent
// sign-in loads the authority in a hidden iframe, which Entra redirects
// back to this page: so frame-src allows 'self' as well as the authority,
// and frame-ancestors is 'self', not 'none'. Without either, that load is
// blocked and every renewal after a refused refresh token times out
// (monitor_window_timeout). Other sites still cannot frame the page.
func (s *Server) ui() http.Handler {
	files := http.FileServerFS(web.Files())
	authority := s.cfg.BrowserAuthorityHost
	if authority == "" {
		authority = s.cfg.AuthorityHost
	}
	if u, err := url.Parse(authority); err == nil {
		authority = u.Scheme + "://" + u.Host
	}
	// connect-src: this origin and the authority, nothing else; relayed
	// turns to AgentCore Runtime leave from the server, not the page.
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' " + authority +
		"; frame-src 'self' " + authority + "; base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'self'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	})
}
