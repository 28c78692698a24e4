package weatherapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/crosscloud-agentid/agentid/internal/correlation"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/weather"
)

// DefaultCity answers a request with no city parameter, as the Microsoft
// sample does; an empty city= is a 400.
const DefaultCity = weather.DefaultCity

// Authenticator checks a request's bearer token; *jwtauth.Validator is one.
type Authenticator interface {
	Authenticate(r *http.Request) (*jwtauth.Caller, *jwtauth.Error)
}

// Server is the Weather API's HTTP handler.
type Server struct {
	auth               Authenticator
	weather            weather.Provider
	log                *slog.Logger
	signatureUnchecked bool
	validatedBy        string // every answer's validated_by
	mux                *http.ServeMux
	requests           metric.Int64Counter // nil when metrics are off
}

// NewServer wires the routes. signatureUnchecked must say whether auth
// skips signatures (VALIDATE_TOKEN_SIGNATURE=false), so every answer and
// every request's log line says so.
func NewServer(auth Authenticator, provider weather.Provider, log *slog.Logger, signatureUnchecked bool) *Server {
	by := "Entra access token (signature, issuer, audience, lifetime, tenant, caller and permission checked)"
	if signatureUnchecked {
		by = "Entra access token WITHOUT signature verification (VALIDATE_TOKEN_SIGNATURE=false)"
	}
	return newServer(auth, provider, log, signatureUnchecked, by)
}

// NewGatewayServer is the server behind API Gateway's JWT authorizer, as a
// Lambda: the gateway verified the token's signature, and v holds the
// claims it passed on to the same policy as NewServer's tokens.
func NewGatewayServer(v *jwtauth.Validator, provider weather.Provider, log *slog.Logger) *Server {
	return newServer(gatewayAuth{v}, provider, log, false, gatewayValidatedBy)
}

const gatewayValidatedBy = "API Gateway JWT authorizer (signature, issuer, audience, lifetime), then this API (issuer, audience, lifetime, tenant, caller and permission)"

func newServer(auth Authenticator, provider weather.Provider, log *slog.Logger, signatureUnchecked bool, validatedBy string) *Server {
	s := &Server{auth: auth, weather: provider, log: log, signatureUnchecked: signatureUnchecked, validatedBy: validatedBy, mux: http.NewServeMux()}
	s.route("GET", "/health", s.health)
	s.route("GET", "/healthz", s.health)
	s.route("GET", "/weather", s.authorized(s.current))
	s.route("GET", "/weather/forecast", s.authorized(s.forecast))
	s.route("POST", "/echo", s.authorized(s.echo))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint; try GET /weather?city=Seattle, GET /weather/forecast?city=Seattle or POST /echo")
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// route registers method on path (GET includes HEAD) and a JSON 405 for
// other methods.
func (s *Server) route(method, path string, h http.HandlerFunc) {
	s.mux.HandleFunc(method+" "+path, h)
	allow := method
	if method == "GET" {
		allow = "GET, HEAD"
	}
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed; use "+method)
	})
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "healthy", "service": "Weather API"})
}

type authorizedHandler func(w http.ResponseWriter, r *http.Request, caller *jwtauth.Caller)

// authorized runs h only for a caller whose token passes the policy.
func (s *Server) authorized(h authorizedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.signatureUnchecked {
			s.log.WarnContext(logContext(r), "token signatures are NOT being verified (VALIDATE_TOKEN_SIGNATURE=false): anyone can forge a token", "path", r.URL.Path)
		}
		caller, refusal := s.auth.Authenticate(r)
		recordVerdict(trace.SpanFromContext(r.Context()), caller, refusal)
		if s.requests != nil {
			verdict, reason := "authorized", ""
			if refusal != nil {
				verdict, reason = "refused", refusal.Code
			}
			s.requests.Add(r.Context(), 1, metric.WithAttributes(attribute.String("verdict", verdict), attribute.String("reason", reason)))
		}
		if refusal != nil {
			// The description names the failed check, never the token.
			s.log.InfoContext(logContext(r), "refused", "path", r.URL.Path, "status", refusal.Status, "error", refusal.Code, "reason", refusal.Description,
				"remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", refusal.WWWAuthenticate())
			writeError(w, refusal.Status, refusal.Code, refusal.Description)
			return
		}
		if s.log.Enabled(r.Context(), slog.LevelDebug) { // spare the busy path the arguments
			s.log.DebugContext(logContext(r), "authorized", "path", r.URL.Path, "app_id", caller.AppID, "flow", caller.Flow, "uti", caller.TokenID)
		}
		h(w, r, caller)
	}
}

// recordVerdict puts who the caller was, or why it was refused, on the
// request's server span (when one is recording): claims the API decided
// on, never the token.
func recordVerdict(span trace.Span, caller *jwtauth.Caller, refusal *jwtauth.Error) {
	if !span.IsRecording() {
		return
	}
	if refusal != nil {
		span.SetAttributes(attribute.String("agentid.verdict", "refused"), attribute.String("agentid.refusal.code", refusal.Code),
			attribute.String("agentid.refusal.reason", refusal.Description))
		return
	}
	span.SetAttributes(attribute.String("agentid.verdict", "authorized"), attribute.String("agentid.caller.app_id", caller.AppID),
		attribute.String("agentid.caller.flow", caller.Flow), attribute.String("agentid.token.uti", caller.TokenID))
}

// logContext is r's context carrying the chat turn's ID, for a log line
// of this request (the logging handler adds it as correlation_id). It is
// made only when a line is logged, so the busy path, which logs nothing,
// pays nothing for it.
func logContext(r *http.Request) context.Context {
	if id := turnOf(r); id != "" {
		return correlation.WithID(r.Context(), id)
	}
	return r.Context()
}

// turnOf is the chat turn's ID for this request's log lines: the trace ID
// of its span (which continues the caller's traceparent) when tracing is
// on, else the caller's X-Correlation-ID if it looks like one.
func turnOf(r *http.Request) string {
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
		return sc.TraceID().String()
	}
	id, _ := correlation.FromRequest(r)
	return id
}

// city returns the requested city, or writes a 400 and returns false.
func city(w http.ResponseWriter, r *http.Request) (string, bool) {
	c, ok, err := queryValue(r.URL.RawQuery, "city")
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", err.Error())
		return "", false
	}
	if !ok {
		return DefaultCity, true
	}
	if err := weather.CheckCity(c); err != nil {
		writeError(w, http.StatusBadRequest, "bad_city", err.Error())
		return "", false
	}
	return c, true
}

// queryValue is url.Values.Get for one key without parsing the whole
// query into a map. A query url.ParseQuery reports as malformed (a bad
// escape, a semicolon) is an error: answering it as if the city were
// missing would give Seattle's weather to a request for another city.
func queryValue(raw, key string) (value string, found bool, err error) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(pair, ";") {
			return "", false, errors.New("the query string contains a semicolon; separate parameters with &")
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return "", false, errors.New("the query string has an invalid %-escape")
		}
		if k == key && !found {
			value, found = v, true
		}
	}
	return value, found, nil
}

// about is what every weather answer says about how it was authorized; the
// first three fields keep the Microsoft sample's names.
type about struct {
	ValidatedBy     string          `json:"validated_by"`
	AgentAppID      string          `json:"agent_app_id"`
	IsAgentIdentity bool            `json:"is_agent_identity"`
	Caller          *jwtauth.Caller `json:"caller"`
}

func (s *Server) about(c *jwtauth.Caller) about {
	return about{ValidatedBy: s.validatedBy, AgentAppID: c.AppID, IsAgentIdentity: c.AgentIdentity, Caller: c}
}

type currentAnswer struct {
	*weather.Current
	TemperatureUnit string `json:"temperature_unit"`
	HumidityUnit    string `json:"humidity_unit"`
	WindUnit        string `json:"wind_unit"`
	about
}

type forecastAnswer struct {
	*weather.Forecast
	TemperatureUnit string `json:"temperature_unit"`
	about
}

func (s *Server) current(w http.ResponseWriter, r *http.Request, caller *jwtauth.Caller) {
	name, ok := city(w, r)
	if !ok {
		return
	}
	cur, err := s.weather.Current(r.Context(), name)
	if err != nil {
		s.weatherFailed(r, w, name, err)
		return
	}
	a := currentAnswer{Current: cur, TemperatureUnit: "F", HumidityUnit: "%", WindUnit: "mph", about: s.about(caller)}
	writeEncoded(w, http.StatusOK, a.encode)
}

func (s *Server) forecast(w http.ResponseWriter, r *http.Request, caller *jwtauth.Caller) {
	name, ok := city(w, r)
	if !ok {
		return
	}
	f, err := s.weather.Forecast(r.Context(), name)
	if err != nil {
		s.weatherFailed(r, w, name, err)
		return
	}
	a := forecastAnswer{Forecast: f, TemperatureUnit: "F", about: s.about(caller)}
	writeEncoded(w, http.StatusOK, a.encode)
}

// MaxEchoBytes bounds POST /echo's body.
const MaxEchoBytes = 4 << 10

type echoAnswer struct {
	Echo    string            `json:"echo"`
	Message string            `json:"message,omitempty"`
	Claims  map[string]string `json:"claims"`
	about
}

// echo shows callers what this API sees of their token, as the AgentCore
// sample's Echo API does: the identity claims, never the token.
func (s *Server) echo(w http.ResponseWriter, r *http.Request, caller *jwtauth.Caller) {
	var in struct {
		Message string `json:"message"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxEchoBytes+1))
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad_body", "the body could not be read")
		return
	case len(body) > MaxEchoBytes:
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", MaxEchoBytes))
		return
	case len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &in) != nil:
		writeError(w, http.StatusBadRequest, "bad_json", `the body must be JSON like {"message": "hello"}`)
		return
	}
	var b strings.Builder
	b.WriteString("Hi, this is what I see for you:")
	shown := caller.ShownClaims()
	for _, name := range jwtauth.ShownClaimNames {
		if v, ok := shown[name]; ok {
			fmt.Fprintf(&b, "\n%s: %s", name, v)
		}
	}
	writeJSON(w, http.StatusOK, echoAnswer{Echo: b.String(), Message: in.Message, Claims: shown, about: s.about(caller)})
}

func (s *Server) weatherFailed(r *http.Request, w http.ResponseWriter, city string, err error) {
	var upstream *weather.UpstreamError
	switch {
	case errors.Is(err, weather.ErrCityNotFound):
		writeError(w, http.StatusNotFound, "city_not_found", err.Error())
	case errors.Is(err, weather.ErrBadCity):
		writeError(w, http.StatusBadRequest, "bad_city", err.Error())
	case errors.As(err, &upstream):
		s.log.WarnContext(logContext(r), "weather service failed", "city", city, "error", err)
		writeError(w, http.StatusBadGateway, "upstream_error", "the weather service failed: "+err.Error())
	case r.Context().Err() != nil:
		// The caller went away; nobody reads this answer.
		writeError(w, http.StatusServiceUnavailable, "cancelled", "the request was cancelled")
	default:
		s.log.ErrorContext(logContext(r), "weather lookup failed", "city", city, "error", err)
		writeError(w, http.StatusInternalServerError, "internal_error", "the weather lookup failed")
	}
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"error": code, "message": message})
}

// The answer headers, shared: net/http only reads a header's values.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"} // answers name their caller
	noSniff         = []string{"nosniff"}
)

// encoders reuse the buffers answers are encoded into.
var encoders = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeJSON writes v as json.Marshal does, and a final newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeEncoded(w, status, func(buf *bytes.Buffer) error { return json.NewEncoder(buf).Encode(v) })
}

// writeEncoded writes the JSON encode appends to a pooled buffer: v's
// through writeJSON, or a weather answer's own (answer.go), which then
// stays on the stack.
func writeEncoded(w http.ResponseWriter, status int, encode func(*bytes.Buffer) error) {
	buf := encoders.Get().(*bytes.Buffer)
	defer encoders.Put(buf)
	buf.Reset()
	if err := encode(buf); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal_error","message":"the answer could not be encoded"}` + "\n")
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
