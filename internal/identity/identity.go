package identity

import (
	"context"
	"errors"
	"strings"

	"github.com/crosscloud-agentid/agentid/internal/jwtpeek"
	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// Flow is one of the three ways the agent calls an API.
type Flow string

// The flows, named as the chat API names them.
const (
	Autonomous Flow = "autonomous" // TR: the agent identity's own app-only token
	OnBehalfOf Flow = "obo"        // TU: the agent on behalf of the signed-in user
	AgentUser  Flow = "agent_user" // TAU: the agent's own user account
)

// ParseFlow accepts the flow names of the chat API.
func ParseFlow(s string) (Flow, error) {
	switch f := Flow(strings.ToLower(strings.TrimSpace(s))); f {
	case Autonomous, OnBehalfOf, AgentUser:
		return f, nil
	}
	// The value is not repeated: a client's text never reaches an error.
	return "", errors.New("token_flow must be autonomous, obo or agent_user")
}

// TokenName is the name the trace and the docs give this flow's token.
func (f Flow) TokenName() string {
	switch f {
	case OnBehalfOf:
		return "TU"
	case AgentUser:
		return "TAU"
	}
	return "TR"
}

// Target is the API a token is for.
type Target string

// The targets. The zero value is the Weather API.
const (
	WeatherAPI Target = ""
	// MCPServer is the Microsoft MCP Server for Enterprise, which takes
	// delegated tokens only (OBO or agent user).
	MCPServer Target = "mcp"
)

// String names the target for messages and the trace.
func (t Target) String() string {
	if t == MCPServer {
		return "the MCP server"
	}
	return "the Weather API"
}

// Request asks for a token in one flow. UserToken is Tc, needed for OBO.
type Request struct {
	Flow      Flow
	UserToken secret.Value
	Target    Target
}

// errAppOnlyMCP is the one refusal both providers make before asking.
func errAppOnlyMCP(provider string) *Error {
	return &Error{Provider: provider, Flow: Autonomous, Message: "the MCP server takes delegated tokens only: use the on-behalf-of or agent user flow"}
}

// Result is a token the agent may send, with what the trace may show.
type Result struct {
	// Header is the Authorization value, scheme included ("Bearer eyJ…").
	Header secret.Value
	// Token is the token in Header, decoded.
	Token DecodedToken
	// Chain holds, decoded, the tokens this process obtained on the way
	// (T1, T2); only the msal provider holds them.
	Chain []DecodedToken
	Facts Facts
}

// Facts are the non-secret facts of an acquisition.
type Facts struct {
	Provider   string   `json:"provider"` // sidecar or msal
	Flow       Flow     `json:"flow"`
	API        string   `json:"api,omitempty"`   // the sidecar's downstream API entry
	Route      string   `json:"route,omitempty"` // the sidecar path called, without the query
	Scopes     []string `json:"scopes,omitempty"`
	Target     Target   `json:"target,omitempty"`
	CacheHit   *bool    `json:"cache_hit,omitempty"` // known only in process
	Credential string   `json:"blueprint_credential,omitempty"`
	// CredentialProvider is AgentCore Identity's OAuth2 credential
	// provider the vault source asked (AGENTCORE_VAULT_PROVIDER).
	CredentialProvider string `json:"credential_provider,omitempty"`
}

// Provider gets Authorization values for the Weather API and the MCP
// server.
type Provider interface {
	Name() string
	AuthorizationHeader(ctx context.Context, req Request) (*Result, error)
	// Check proves the provider can work now: the sidecar's /healthz, or
	// MSAL getting T1.
	Check(ctx context.Context) error
}

// DownstreamCaller is a provider that can call a downstream API itself, so
// the agent never holds the token: the sidecar's DownstreamApi.
type DownstreamCaller interface {
	CallDownstream(ctx context.Context, req Request, method, relativePath string) (*DownstreamResponse, Facts, error)
}

// ErrNoUserToken is the cause of an Error for a delegated flow asked for
// without the signed-in user's token: the caller's to fix, not upstream's.
var ErrNoUserToken = errors.New("no signed-in user's token")

// Error is a failed acquisition: one line naming the likely fix, plus what
// the trace shows.
type Error struct {
	Provider string
	Flow     Flow
	Status   int // the sidecar's HTTP status; 0 when there was none
	Code     int // the AADSTS code when Entra refused
	// AWSCode is AWS's error code when AgentCore Identity refused
	// (AccessDeniedException, ValidationException, …).
	AWSCode       string
	CorrelationID string
	Message       string
	Err           error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// DecodedToken is a token decoded for display: header and claims, never the
// signature, never the encoded token.
type DecodedToken struct {
	Name   string         `json:"name"` // Tc, T1, T2, TR, TU, TAU
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// DecodeToken decodes a JWT's header and claims without verifying them: the
// API that receives the token verifies it.
func DecodeToken(name, token string) (DecodedToken, error) {
	c := DecodedToken{Name: name}
	if jwtpeek.Header(token, &c.Header) != nil || jwtpeek.Claims(token, &c.Claims) != nil {
		return DecodedToken{}, errors.New("not a JWT")
	}
	return c, nil
}

// Client is the app ID a token names as its client: appid (v1) or azp (v2).
func (c DecodedToken) Client() string {
	if v, ok := c.Claims["azp"].(string); ok && v != "" {
		return v
	}
	v, _ := c.Claims["appid"].(string)
	return v
}
