package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/agentid"
	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// SidecarProvider asks the Microsoft Entra auth sidecar (the Entra SDK for
// AgentID container) for the agent's tokens, over its HTTP API.
type SidecarProvider struct {
	base         string // SIDECAR_URL, no trailing slash
	http         *http.Client
	agentID      string
	agentUser    string
	appAPI       string // SIDECAR_APP_API: an entry with RequestAppToken=true
	delegatedAPI string // SIDECAR_DELEGATED_API: an entry with delegated scopes
	mcpAPI       string // SIDECAR_MCP_API: the MCP server's delegated entry
	decoded      DecodedTokens
	// flight shares one sidecar call among concurrent requests for the
	// same token (flow, target, user).
	flight agentid.Flight[*Result]
}

// SidecarConfig configures a SidecarProvider.
type SidecarConfig struct {
	URL          string
	AgentID      string
	AgentUserUPN string
	AppAPI       string
	DelegatedAPI string
	MCPAPI       string
	HTTPClient   *http.Client // nil: a client with a 30 s timeout
}

// NewSidecarProvider returns a client of the sidecar at cfg.URL.
func NewSidecarProvider(cfg SidecarConfig) *SidecarProvider {
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &SidecarProvider{base: strings.TrimRight(cfg.URL, "/"), http: client, agentID: cfg.AgentID, agentUser: cfg.AgentUserUPN,
		appAPI: cfg.AppAPI, delegatedAPI: cfg.DelegatedAPI, mcpAPI: cfg.MCPAPI}
}

// Name implements Provider.
func (p *SidecarProvider) Name() string { return "sidecar" }

// route is the sidecar call for a flow: path, query and whether the user's
// token goes with it.
type route struct {
	path     string
	api      string
	query    url.Values
	withUser bool
}

// routeFor maps a flow to the sidecar's API (its OpenAPI description, and
// the agent identity pages of the Microsoft Entra SDK docs): autonomous
// on the unauthenticated route of the app-token entry; OBO on the
// authenticated route with the user's token; the agent user on the
// unauthenticated route of the delegated entry, with AgentUsername.
func (p *SidecarProvider) routeFor(req Request, prefix string) (route, *Error) {
	q := url.Values{"AgentIdentity": {p.agentID}}
	delegated := p.delegatedAPI
	if req.Target == MCPServer {
		if req.Flow == Autonomous {
			return route{}, errAppOnlyMCP(p.Name())
		}
		delegated = p.mcpAPI
	}
	switch req.Flow {
	case Autonomous:
		return route{path: prefix + "Unauthenticated/" + url.PathEscape(p.appAPI), api: p.appAPI, query: q}, nil
	case OnBehalfOf:
		if req.UserToken.IsZero() {
			return route{}, &Error{Provider: p.Name(), Flow: req.Flow, Message: "the on-behalf-of flow needs the signed-in user's token: sign in first", Err: ErrNoUserToken}
		}
		return route{path: prefix + "/" + url.PathEscape(delegated), api: delegated, query: q, withUser: true}, nil
	case AgentUser:
		if p.agentUser == "" {
			return route{}, &Error{Provider: p.Name(), Flow: req.Flow, Message: "the agent user flow needs AGENT_USER_UPN"}
		}
		q.Set("AgentUsername", p.agentUser)
		return route{path: prefix + "Unauthenticated/" + url.PathEscape(delegated), api: delegated, query: q}, nil
	}
	return route{}, &Error{Provider: p.Name(), Flow: req.Flow, Message: fmt.Sprintf("unknown flow %q", req.Flow)}
}

// AuthorizationHeader implements Provider. Concurrent requests for the
// same token (flow, target and user) share one call to the sidecar.
func (p *SidecarProvider) AuthorizationHeader(ctx context.Context, req Request) (*Result, error) {
	rt, e := p.routeFor(req, "/AuthorizationHeader")
	if e != nil {
		return nil, e
	}
	res, err, _ := p.flight.Do(ctx, flightKey(req), func(ctx context.Context) (*Result, error) { return p.authorizationHeader(ctx, rt, req) })
	if err != nil {
		return nil, err
	}
	out := *res // each caller its own Result; the cards are shared read-only
	return &out, nil
}

// flightKey names the token a request is for: flow, target and the user
// (by the SHA-256 of their token, never the token).
func flightKey(req Request) string {
	key := string(req.Flow) + "\x00" + string(req.Target)
	if req.Flow == OnBehalfOf && !req.UserToken.IsZero() {
		sum := sha256.Sum256([]byte(req.UserToken.Reveal()))
		key += "\x00" + hex.EncodeToString(sum[:])
	}
	return key
}

func (p *SidecarProvider) authorizationHeader(ctx context.Context, rt route, req Request) (*Result, error) {
	body, err := p.call(ctx, http.MethodGet, rt, req)
	if err != nil {
		return nil, err
	}
	var answer struct {
		AuthorizationHeader string `json:"authorizationHeader"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.AuthorizationHeader == "" {
		return nil, &Error{Provider: p.Name(), Flow: req.Flow, Status: http.StatusOK, Message: "the sidecar answered 200 without an authorizationHeader: is SIDECAR_URL the Entra auth sidecar?"}
	}
	scheme, token, _ := strings.Cut(answer.AuthorizationHeader, " ")
	card, err := p.decoded.Decode(req.Flow.TokenName(), token)
	if err != nil {
		return nil, &Error{Provider: p.Name(), Flow: req.Flow, Status: http.StatusOK, Message: fmt.Sprintf("the sidecar's %s token is not a JWT", scheme)}
	}
	if client := card.Client(); client != p.agentID {
		return nil, &Error{Provider: p.Name(), Flow: req.Flow, Status: http.StatusOK, Message: fmt.Sprintf(
			"the sidecar returned a token for app %s, not the agent identity %s: it ignored AgentIdentity; set %s on the sidecar",
			client, p.agentID, overrideSetting(rt))}
	}
	return &Result{
		Header: secret.New(answer.AuthorizationHeader),
		Token:  card,
		Facts:  Facts{Provider: p.Name(), Flow: req.Flow, API: rt.api, Route: rt.path, Target: req.Target},
	}, nil
}

// overrideSetting is the sidecar setting that lets a route honour the
// Agent* parameters.
func overrideSetting(rt route) string {
	name := "GetAuthorizationHeader"
	if strings.HasPrefix(rt.path, "/DownstreamApi") {
		name = "CallDownstreamApi"
	}
	if strings.Contains(rt.path, "Unauthenticated") {
		name += "Unauthenticated"
	}
	return "Sidecar__AllowOverrides__" + name + "=true"
}

// DownstreamResponse is the downstream API's answer, relayed by the sidecar.
type DownstreamResponse struct {
	StatusCode int                 `json:"statusCode"`
	Headers    map[string][]string `json:"headers"`
	Content    *string             `json:"content"`
}

// CallDownstream has the sidecar call the API itself (SIDECAR_MODE=
// downstream-api): the agent never holds a token. method and relativePath
// (with its query) override the entry's.
func (p *SidecarProvider) CallDownstream(ctx context.Context, req Request, method, relativePath string) (*DownstreamResponse, Facts, error) {
	rt, e := p.routeFor(req, "/DownstreamApi")
	if e != nil {
		return nil, Facts{}, e
	}
	rt.query.Set("optionsOverride.HttpMethod", method)
	rt.query.Set("optionsOverride.RelativePath", relativePath)
	facts := Facts{Provider: p.Name(), Flow: req.Flow, API: rt.api, Route: rt.path}
	body, err := p.call(ctx, http.MethodPost, rt, req)
	if err != nil {
		return nil, facts, err
	}
	var out DownstreamResponse
	if json.Unmarshal(body, &out) != nil || out.StatusCode == 0 {
		return nil, facts, &Error{Provider: p.Name(), Flow: req.Flow, Status: http.StatusOK, Message: "the sidecar's DownstreamApi answer is not {statusCode, headers, content}"}
	}
	return &out, facts, nil
}

// Check implements Provider: GET /healthz.
func (p *SidecarProvider) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/healthz", nil)
	if err != nil {
		return err
	}
	req.Host = "localhost"
	resp, err := p.http.Do(req)
	if err != nil {
		return p.unreachable("", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &Error{Provider: p.Name(), Status: resp.StatusCode, Message: fmt.Sprintf("the sidecar's /healthz answered %s", resp.Status)}
	}
	return nil
}

const maxSidecarAnswer = 1 << 20

func (p *SidecarProvider) call(ctx context.Context, method string, rt route, req Request) ([]byte, error) {
	u := p.base + rt.path + "?" + rt.query.Encode()
	hr, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, &Error{Provider: p.Name(), Flow: req.Flow, Message: "SIDECAR_URL: " + err.Error(), Err: err}
	}
	// Sidecars before 1.1.0 filtered on the Host header instead of the
	// caller's address.
	hr.Host = "localhost"
	if rt.withUser {
		hr.Header.Set("Authorization", "Bearer "+req.UserToken.Reveal())
	}
	resp, err := p.http.Do(hr)
	if err != nil {
		return nil, p.unreachable(req.Flow, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSidecarAnswer))
	if err != nil {
		return nil, &Error{Provider: p.Name(), Flow: req.Flow, Status: resp.StatusCode, Message: "reading the sidecar's answer: " + err.Error(), Err: err}
	}
	if resp.StatusCode == http.StatusOK {
		return body, nil
	}
	return nil, p.refusal(req.Flow, rt, resp, body)
}

func (p *SidecarProvider) unreachable(flow Flow, err error) *Error {
	msg := fmt.Sprintf("the auth sidecar at %s did not answer: %v", p.base, rootCause(err))
	if errors.Is(err, syscall.ECONNREFUSED) {
		msg = fmt.Sprintf("the auth sidecar at %s refused the connection: is it running, in this container's network namespace (it accepts loopback callers only), and is SIDECAR_URL its address?", p.base)
	}
	return &Error{Provider: p.Name(), Flow: flow, Message: msg, Err: err}
}

// problem is an RFC 9457 ProblemDetails answer.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

var aadstsCode = regexp.MustCompile(`AADSTS(\d+)`)
var correlationID = regexp.MustCompile(`Correlation ID: ([0-9a-fA-F-]{36})`)

// refusal turns each sidecar status into an error that names the fix.
func (p *SidecarProvider) refusal(flow Flow, rt route, resp *http.Response, body []byte) *Error {
	e := &Error{Provider: p.Name(), Flow: flow, Status: resp.StatusCode}
	var pd problem
	_ = json.Unmarshal(body, &pd)
	detail := strings.TrimSpace(firstLineOf(pd.Detail))
	switch resp.StatusCode {
	case http.StatusBadRequest:
		e.Message = fmt.Sprintf("the sidecar refused the request (400: %s): it needs a downstream API entry named %q (DownstreamApis__%s__BaseUrl and __Scopes); or set %s here", orDefault(detail, "bad request"), rt.api, rt.api, p.apiSetting(rt))
	case http.StatusUnauthorized:
		switch {
		case detail == "" && rt.withUser:
			e.Message = "the sidecar refused the user's token (401): it must be a valid token for the blueprint (AzureAd__ClientId), from this tenant; sign in again"
		case detail == "":
			e.Message = "the sidecar answered 401 with no detail on an unauthenticated route: is SIDECAR_URL the Entra auth sidecar?"
		default:
			// Entra refused the sidecar's MSAL request; detail is its message.
			if m := aadstsCode.FindStringSubmatch(detail); m != nil {
				e.Code, _ = strconv.Atoi(m[1])
			}
			if m := correlationID.FindStringSubmatch(pd.Detail); m != nil {
				e.CorrelationID = m[1]
			}
			target := WeatherAPI
			if rt.api == p.mcpAPI {
				target = MCPServer
			}
			e.Message = withHint("Entra refused the sidecar's token request: "+detail, e.Code, target)
		}
	case http.StatusForbidden:
		e.Message = fmt.Sprintf("the sidecar at %s refused this caller (403): since 1.1.0 it accepts loopback callers only; run it in the agent's network namespace and set SIDECAR_URL=http://localhost:5000", p.base)
	case http.StatusNotFound:
		e.Message = fmt.Sprintf("the sidecar has no route %s (404): SIDECAR_URL must be the sidecar's base URL, with no path", rt.path)
	case http.StatusInternalServerError:
		e.Message = "the sidecar failed (500: " + orDefault(detail, "An unexpected error occurred.") + "); its log has the cause"
	default:
		e.Message = fmt.Sprintf("the sidecar answered %s: %s", resp.Status, orDefault(detail, "no detail"))
	}
	return e
}

func (p *SidecarProvider) apiSetting(rt route) string {
	switch {
	case strings.Contains(rt.path, "Unauthenticated") && !rt.query.Has("AgentUsername"):
		return "SIDECAR_APP_API"
	case rt.api == p.mcpAPI && rt.api != p.delegatedAPI:
		return "SIDECAR_MCP_API"
	}
	return "SIDECAR_DELEGATED_API"
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// rootCause is the innermost error, without the URL net/http adds.
func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
