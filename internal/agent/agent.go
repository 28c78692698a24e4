// Package agent runs one chat turn: in Direct mode the weather tool runs
// for the city the message names (or the profile tool, for "who am I?");
// in Bedrock mode Claude decides, through Converse with get_weather and,
// in delegated turns, the MCP server's tools. Each tool calls its API with
// a token from the identity provider for the turn's flow, and every hop is
// recorded in the trace. No token ever reaches the model.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/crosscloud-agentid/agentid/internal/correlation"
	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/mcptool"
	"github.com/crosscloud-agentid/agentid/internal/secret"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// Mode is how the turn is answered.
type Mode string

// The modes, named as the chat API names them.
const (
	Direct  Mode = "direct"
	Bedrock Mode = "bedrock"
)

// ParseMode accepts the chat API's mode names.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Direct, Bedrock:
		return m, nil
	}
	// The value is not repeated: a client's text never reaches an error
	// (it could be a token pasted in the wrong field).
	return "", errors.New("llm_mode must be direct or bedrock")
}

// Converser is the part of the Bedrock Runtime client a turn uses.
type Converser interface {
	Converse(ctx context.Context, in *bedrockruntime.ConverseInput, opts ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseOutput, error)
	ConverseStream(ctx context.Context, in *bedrockruntime.ConverseStreamInput, opts ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseStreamOutput, error)
}

// Config is the agent's configuration.
type Config struct {
	WeatherAPIURL string
	ModelID       string
	MaxToolRounds int
	// Downstream makes the sidecar call the Weather API (SIDECAR_MODE=
	// downstream-api): the agent never holds a token.
	Downstream bool
	// MCP is the MCP server's client; nil turns MCP tools off.
	MCP *mcptool.Client
	// Tracer makes the spans of token acquisitions (nil: none).
	Tracer oteltrace.Tracer
	// Acquisitions counts token acquisitions (nil: none).
	Acquisitions metric.Int64Counter
	// Consent is the consent request for the MCP scopes, less the
	// per-turn redirect URI and state.
	Consent identity.ConsentRequest
	// Vault, when set, is where on-behalf-of turns get the Weather API's
	// token: AgentCore Identity's token vault (USER_TOKEN_SOURCE=
	// agentcore-vault), instead of Entra's on-behalf-of exchange.
	Vault *identity.Vault
	// VaultReturnURL is where AgentCore sends the browser after consent
	// (AGENTCORE_VAULT_RETURN_URL); empty: the turn's ConsentRedirectURI.
	VaultReturnURL string
}

// Agent answers turns.
type Agent struct {
	cfg      Config
	identity identity.Provider
	bedrock  Converser // nil when Bedrock is not configured
	aws      AWSInfo
	http     *http.Client
	log      *slog.Logger
	// awsCards remembers the web identity file's card between turns.
	awsCards identity.DecodedTokens
	// awsKeyID is the access key ID of the AWS credentials the last turn
	// used: the same one again means the SDK reused them, and STS was not
	// called.
	awsKeyID atomic.Pointer[string]
	// lastBedrock is the last Bedrock call's outcome, for /api/status.
	lastBedrock atomic.Pointer[BedrockCall]
}

// New returns an agent. bedrock may be nil (Direct mode only); aws describes
// where its credentials come from, for the trace.
func New(cfg Config, id identity.Provider, bedrock Converser, aws AWSInfo, httpClient *http.Client, log *slog.Logger) *Agent {
	if cfg.MaxToolRounds <= 0 {
		cfg.MaxToolRounds = 5
	}
	return &Agent{cfg: cfg, identity: id, bedrock: bedrock, aws: aws, http: httpClient, log: log}
}

// Turn is one chat message to answer.
type Turn struct {
	Message   string
	Mode      Mode
	Flow      identity.Flow
	UserToken secret.Value
	// UserID is the signed-in user's object ID (from the validated Tc):
	// the MCP tool list is remembered per user.
	UserID        string
	CorrelationID string
	// ConsentRedirectURI is where a consent link sends the browser back:
	// the chat UI's consent.html.
	ConsentRedirectURI string
	// AfterConsent marks a turn sent again from the consent page: Entra is
	// asked for the user's MCP token again even though it refused it a
	// moment ago (see mcpTurn.connect).
	AfterConsent bool
	// Stream, when set, gets the model's text as it streams
	// (ConverseStream); Direct mode sends its answer in one piece.
	Stream func(delta string)
	// WorkloadToken is the workload access token AgentCore Runtime passed
	// with the invocation: the vault's key to this user's tokens.
	WorkloadToken secret.Value
	// VaultSession is the session the browser came back with from the
	// vault's authorization URL: bound first (CompleteResourceTokenAuth,
	// with UserToken), then used to get the token.
	VaultSession string
	// vault is what session binding left for the vault calls of the turn.
	vault *vaultState
}

// Error is a failed turn: the HTTP status it maps to and one clear line.
type Error struct {
	Status  int
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Run answers a turn, recording its steps in rec.
func (a *Agent) Run(ctx context.Context, t Turn, rec *trace.Recorder) (string, error) {
	if strings.TrimSpace(t.Message) == "" {
		return "", &Error{Status: http.StatusBadRequest, Message: "the message is empty"}
	}
	a.log.InfoContext(ctx, "turn started", "mode", t.Mode, "flow", t.Flow)
	t.vault = a.bindVaultSession(ctx, t, rec)
	switch t.Mode {
	case Bedrock:
		return a.bedrockTurn(ctx, t, rec)
	default:
		return a.directTurn(ctx, t, rec)
	}
}

// weatherResult is what the tool returns to the model or the reply.
type weatherResult map[string]any

// callWeather runs the get_weather tool for city.
func (a *Agent) callWeather(ctx context.Context, t Turn, city string, rec *trace.Recorder) (weatherResult, error) {
	ctx, end := a.span(ctx, "tool get_weather", attribute.String("agentid.tool", "get_weather"))
	defer end()
	req := identity.Request{Flow: t.Flow, UserToken: t.UserToken}
	path := "weather?city=" + url.QueryEscape(city)
	if a.cfg.Downstream {
		if sc, ok := a.identity.(identity.DownstreamCaller); ok {
			rec.AddHop("downstream_api", "llm-agent", "Asking the auth sidecar to call the Weather API for "+city+"; the agent holds no token",
				trace.Hop{From: trace.Agent, To: trace.Sidecar, Carries: "DownstreamApi (no token)"}, map[string]any{"flow": t.Flow, "path": "/" + path})
			resp, facts, err := sc.CallDownstream(ctx, req, http.MethodGet, path)
			if err != nil {
				recordRefusal(rec, a.identity.Name(), t.Flow.TokenName(), "Weather API", err)
				return nil, identityError(err)
			}
			rec.AddHop("downstream_api", "auth-sidecar", "The sidecar called the Weather API with the "+t.Flow.TokenName()+" it got",
				trace.Hop{From: trace.Sidecar, To: trace.WeatherAPI, Carries: t.Flow.TokenName()}, map[string]any{"api": facts.API, "route": facts.Route})
			body := ""
			if resp.Content != nil {
				body = *resp.Content
			}
			result, err := a.weatherAnswer(resp.StatusCode, []byte(body), trace.Sidecar, rec)
			rec.AddHop("downstream_api", "auth-sidecar", fmt.Sprintf("The sidecar relayed the Weather API's answer: HTTP %d", resp.StatusCode),
				trace.Hop{From: trace.Sidecar, To: trace.Agent, Carries: "the answer", Status: resp.StatusCode, Failed: resp.StatusCode != http.StatusOK},
				map[string]any{"status": resp.StatusCode})
			return result, err
		}
	}
	var res *identity.Result
	var err error
	if a.usesVault(t) {
		if res, err = a.vaultToken(ctx, t, rec); err != nil {
			return nil, err
		}
	} else if res, err = a.token(ctx, rec, t, req, "Weather API"); err != nil {
		return nil, identityError(err)
	}

	httpReq, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(a.cfg.WeatherAPIURL, "/")+"/"+path, nil)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Message: "WEATHER_API_URL: " + err.Error()}
	}
	httpReq.Header.Set("Authorization", res.Header.Reveal())
	setCorrelation(httpReq.Header, t.CorrelationID)
	rec.AddHop("weather_api", "llm-agent", "Calling the Weather API with "+res.Token.Name,
		trace.Hop{From: trace.Agent, To: trace.WeatherAPI, Carries: res.Token.Name}, map[string]any{"url": httpReq.URL.Redacted()})
	resp, err := a.http.Do(httpReq)
	if err != nil {
		return nil, &Error{Status: http.StatusBadGateway, Message: "the Weather API at " + a.cfg.WeatherAPIURL + " did not answer: " + rootCause(err).Error(), Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return a.weatherAnswer(resp.StatusCode, body, trace.Agent, rec)
}

// weatherAnswer reads the Weather API's answer to caller (llm-agent, or
// the sidecar that called for it) and traces who it decided the caller
// was.
func (a *Agent) weatherAnswer(status int, body []byte, caller string, rec *trace.Recorder) (weatherResult, error) {
	var answer map[string]any
	_ = json.Unmarshal(body, &answer)
	if status != http.StatusOK {
		msg, _ := answer["message"].(string)
		code, _ := answer["error"].(string)
		rec.AddHop("weather_api", "weather-api", fmt.Sprintf("The Weather API refused: HTTP %d %v", status, answer["error"]),
			trace.Hop{From: trace.WeatherAPI, To: caller, Carries: "a refusal", Status: status, Code: code, Failed: true},
			map[string]any{"status": status, "error": answer["error"], "message": msg})
		return weatherResult{"error": answer["error"], "message": msg, "status": status}, nil
	}
	rec.AddHop("weather_api", "weather-api", fmt.Sprintf("The Weather API validated the token and answered for %v", answer["city"]),
		trace.Hop{From: trace.WeatherAPI, To: caller, Carries: "the weather", Status: status},
		map[string]any{"status": status, "caller": answer["caller"], "validated_by": answer["validated_by"], "data_source": answer["data_source"]})
	out := weatherResult{}
	for _, k := range []string{"city", "country", "temperature", "temperature_unit", "condition", "humidity", "wind_speed", "wind_unit", "timestamp", "data_source"} {
		if v, ok := answer[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

func factsData(f identity.Facts) map[string]any {
	d := map[string]any{"provider": f.Provider, "flow": f.Flow}
	if f.API != "" {
		d["sidecar_api"], d["sidecar_route"] = f.API, f.Route
	}
	if len(f.Scopes) > 0 {
		d["scopes"] = f.Scopes
	}
	if f.CacheHit != nil {
		d["from_cache"] = *f.CacheHit
	}
	if f.Credential != "" {
		d["blueprint_credential"] = f.Credential
	}
	return d
}

// recordToken puts an acquired token, and the chain before it, in the
// turn's trace and the log. uti identifies the token without revealing it:
// the API that receives it logs the same value.
func (a *Agent) recordToken(ctx context.Context, rec *trace.Recorder, t Turn, res *identity.Result, target string) {
	for _, c := range res.Chain {
		rec.AddTokenHop("token", res.Facts.Provider, c.Name+" acquired by the blueprint", trace.CardOf(c.Name, c, ""),
			trace.Hop{From: trace.Entra, To: trace.MSAL, Carries: c.Name, Status: http.StatusOK}, nil)
	}
	rec.AddTokenHop("token", res.Facts.Provider, fmt.Sprintf("%s acquired for the %s (%s flow)", res.Token.Name, target, t.Flow),
		trace.CardOf(res.Token.Name, res.Token, target), tokenHop(res), factsData(res.Facts))
	a.log.InfoContext(ctx, "token acquired", "token", res.Token.Name, "target", target, "uti", res.Token.Claims["uti"], "provider", res.Facts.Provider)
}

// span starts a span of the turn's when tracing is on; end ends it.
func (a *Agent) span(ctx context.Context, name string, attrs ...attribute.KeyValue) (_ context.Context, end func()) {
	if a.cfg.Tracer == nil {
		return ctx, func() {}
	}
	ctx, sp := a.cfg.Tracer.Start(ctx, name, oteltrace.WithAttributes(attrs...))
	return ctx, func() { sp.End() }
}

// token gets the Authorization value for target and records it in the
// turn's trace, as a token or a refusal. It is counted by kind, provider,
// result and cache (hit or miss with MSAL; unknown with the sidecar, whose
// cache is its own). In its span: how it ended, the token's uti and
// whether it came from MSAL's cache, or the AADSTS code and Entra's
// correlation ID. Never the token.
func (a *Agent) token(ctx context.Context, rec *trace.Recorder, t Turn, req identity.Request, target string) (*identity.Result, error) {
	res, err := a.tracedToken(ctx, req, target)
	if err != nil {
		recordRefusal(rec, a.identity.Name(), req.Flow.TokenName(), target, err)
	} else {
		a.recordToken(ctx, rec, t, res, target)
	}
	if a.cfg.Acquisitions != nil {
		result, cache := "issued", "unknown"
		switch {
		case err != nil:
			result = "refused"
		case res.Facts.CacheHit != nil && *res.Facts.CacheHit:
			cache = "hit"
		case res.Facts.CacheHit != nil:
			cache = "miss"
		}
		a.cfg.Acquisitions.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", req.Flow.TokenName()), attribute.String("provider", a.identity.Name()),
			attribute.String("result", result), attribute.String("cache", cache)))
	}
	return res, err
}

// tracedToken is the acquisition, in a span when tracing is on.
func (a *Agent) tracedToken(ctx context.Context, req identity.Request, target string) (*identity.Result, error) {
	tracer := a.cfg.Tracer
	if tracer == nil {
		return a.identity.AuthorizationHeader(ctx, req)
	}
	ctx, span := tracer.Start(ctx, "token "+req.Flow.TokenName(), oteltrace.WithAttributes(attribute.String("agentid.token.kind", req.Flow.TokenName()),
		attribute.String("agentid.provider", a.identity.Name()), attribute.String("agentid.token.target", target)))
	defer span.End()
	res, err := a.identity.AuthorizationHeader(ctx, req)
	if err != nil {
		var ie *identity.Error
		if errors.As(err, &ie) {
			if ie.Code != 0 {
				span.SetAttributes(attribute.String("agentid.aadsts", fmt.Sprintf("AADSTS%d", ie.Code)))
			}
			if ie.CorrelationID != "" {
				span.SetAttributes(attribute.String("agentid.entra.correlation_id", ie.CorrelationID))
			}
		}
		span.SetStatus(codes.Error, "token refused")
		return nil, err
	}
	if uti, ok := res.Token.Claims["uti"].(string); ok {
		span.SetAttributes(attribute.String("agentid.token.uti", uti))
	}
	if res.Facts.CacheHit != nil {
		span.SetAttributes(attribute.Bool("agentid.token.cache_hit", *res.Facts.CacheHit))
	}
	return res, nil
}

// tokenHop is the arrow of the token a provider handed the agent: from
// the sidecar; from Entra to MSAL; or from MSAL's cache.
func tokenHop(res *identity.Result) trace.Hop {
	switch {
	case res.Facts.Provider != "msal":
		return trace.Hop{From: trace.Sidecar, To: trace.Agent, Carries: res.Token.Name, Status: http.StatusOK}
	case res.Facts.CacheHit != nil && *res.Facts.CacheHit:
		return trace.Hop{From: trace.MSAL, To: trace.Agent, Carries: res.Token.Name + " (cached)"}
	}
	return trace.Hop{From: trace.Entra, To: trace.MSAL, Carries: res.Token.Name, Status: http.StatusOK}
}

// recordRefusal draws a token request that failed: the answer of the
// sidecar, or of Entra to MSAL, with the AADSTS code when there is one; or
// the request that got no answer. A request refused before it was sent
// (no user token) is no hop.
func recordRefusal(rec *trace.Recorder, provider, kind, target string, err error) {
	if errors.Is(err, identity.ErrNoUserToken) {
		return
	}
	asker, asked := trace.MSAL, trace.Entra
	if provider != "msal" {
		asker, asked = trace.Agent, trace.Sidecar
	}
	h := trace.Hop{From: asker, To: asked, Carries: kind + " for the " + target + ": no answer", Failed: true}
	var ie *identity.Error
	if errors.As(err, &ie) && (ie.Status != 0 || ie.Code != 0) {
		h = trace.Hop{From: asked, To: asker, Carries: kind + " for the " + target + " refused", Status: ie.Status, Failed: true}
		if ie.Code != 0 {
			h.Code = fmt.Sprintf("AADSTS%d", ie.Code)
		}
	}
	rec.AddHop("token", provider, "No "+kind+" for the "+target+": "+err.Error(), h, nil)
}

// identityError maps an identity failure to the turn's status: a missing
// user token is the caller's (401); anything else is upstream (502).
func identityError(err error) error {
	var ie *identity.Error
	if errors.As(err, &ie) {
		status := http.StatusBadGateway
		if errors.Is(err, identity.ErrNoUserToken) {
			status = http.StatusUnauthorized
		}
		return &Error{Status: status, Message: ie.Message, Err: err}
	}
	return &Error{Status: http.StatusBadGateway, Message: "getting a token: " + err.Error(), Err: err}
}

// setCorrelation sends the turn's ID downstream: X-Correlation-ID, and a
// W3C traceparent whose trace ID is derived from it.
func setCorrelation(h http.Header, id string) {
	if id == "" {
		return
	}
	h.Set(correlation.Header, id)
	hexID := strings.ReplaceAll(id, "-", "")
	if len(hexID) == 32 {
		span := make([]byte, 8)
		rand.Read(span)
		h.Set("traceparent", "00-"+hexID+"-"+hex.EncodeToString(span)+"-01")
	}
}

func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Describe writes a weather result as a sentence.
func Describe(w weatherResult) string {
	if e, ok := w["error"]; ok {
		return fmt.Sprintf("The Weather API refused the request (%v): %v", e, w["message"])
	}
	return fmt.Sprintf("In %v it is %v°F and %v, with humidity at %v%% and wind at %v mph.",
		w["city"], w["temperature"], strings.ToLower(fmt.Sprint(w["condition"])), w["humidity"], w["wind_speed"])
}
