// Package mcptool is the agent's client of an MCP server (the Microsoft MCP
// Server for Enterprise, or cloudsim's stand-in): streamable HTTP through
// the MCP Go SDK, one session per turn with that turn's delegated token,
// and the server's tool list remembered per user so a turn that only needs
// the list does not dial out.
package mcptool

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// DefaultServerURL is the Microsoft MCP Server for Enterprise.
const DefaultServerURL = "https://mcp.svc.cloud.microsoft/enterprise"

// How long and for how many users a tool list, or a refusal, is
// remembered.
const (
	toolsTTL     = 10 * time.Minute
	maxToolLists = 1024
	RefusalTTL   = 2 * time.Minute
	maxRefusals  = 1024
)

// Client talks to one MCP server.
type Client struct {
	endpoint string
	http     *http.Client

	mu       sync.Mutex
	lists    map[string]toolList
	refusals map[string]Refusal
}

// Refusal is Entra refusing a user's MCP token for a reason only a person
// can fix (consent, multifactor sign-in): the error, never a token.
type Refusal struct {
	Err error
	At  time.Time
}

type toolList struct {
	tools []*mcp.Tool
	at    time.Time
}

// New returns a client of the server at endpoint. httpClient is nil in
// production (a client with a 30 s timeout).
func New(endpoint string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{endpoint: endpoint, http: httpClient, lists: map[string]toolList{}, refusals: map[string]Refusal{}}
}

// URL is the server's endpoint.
func (c *Client) URL() string { return c.endpoint }

// RefusedError is the server refusing the token: 401 or 403, with its
// WWW-Authenticate challenge (which names the scope it wants).
type RefusedError struct {
	Status    int
	Challenge string
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("the MCP server refused the token (HTTP %d %s)", e.Status, http.StatusText(e.Status))
	if e.Challenge != "" {
		msg += ": " + e.Challenge
	}
	return msg
}

// Session is one MCP connection carrying one turn's token.
type Session struct {
	cs      *mcp.ClientSession
	refused *refusal
}

// refusal keeps the last 401/403 the server sent: the SDK's own error does
// not carry the challenge.
type refusal struct {
	mu  sync.Mutex
	err *RefusedError
}

func (r *refusal) get() *RefusedError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// bearer sends the token with every request and notes refusals.
type bearer struct {
	authorization secret.Value
	next          http.RoundTripper
	refused       *refusal
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", b.authorization.Reveal())
	resp, err := b.next.RoundTrip(r)
	if err == nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		b.refused.mu.Lock()
		b.refused.err = &RefusedError{Status: resp.StatusCode, Challenge: resp.Header.Get("WWW-Authenticate")}
		b.refused.mu.Unlock()
	}
	return resp, err
}

// Connect opens a session; authorization is the Authorization value
// ("Bearer …").
func (c *Client) Connect(ctx context.Context, authorization secret.Value) (*Session, error) {
	next := c.http.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	ref := &refusal{}
	hc := *c.http
	hc.Transport = bearer{authorization: authorization, next: next, refused: ref}
	client := mcp.NewClient(&mcp.Implementation{Name: "llm-agent", Version: "1"}, nil)
	// One request-response exchange per call: no standalone event stream
	// and no reconnects to hold open for a turn.
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: c.endpoint, HTTPClient: &hc, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	if err != nil {
		return nil, c.failure(ref, err)
	}
	return &Session{cs: cs, refused: ref}, nil
}

func (c *Client) failure(ref *refusal, err error) error {
	if r := ref.get(); r != nil {
		return r
	}
	return fmt.Errorf("the MCP server at %s: %w", c.endpoint, err)
}

// Close ends the session.
func (s *Session) Close() error { return s.cs.Close() }

// Tools lists the server's tools.
func (s *Session) Tools(ctx context.Context) ([]*mcp.Tool, error) {
	var out []*mcp.Tool
	for t, err := range s.cs.Tools(ctx, nil) {
		if err != nil {
			if r := s.refused.get(); r != nil {
				return nil, r
			}
			return nil, fmt.Errorf("listing the MCP server's tools: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// Call runs a tool. A result with IsError is the tool's answer, not an
// error here.
func (s *Session) Call(ctx context.Context, name string, args map[string]any) (*mcp.CallToolResult, error) {
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		if r := s.refused.get(); r != nil {
			return nil, r
		}
		return nil, fmt.Errorf("calling the MCP tool %s: %w", name, err)
	}
	return res, nil
}

// CachedTools returns the tool list remembered for user, if it is fresh.
func (c *Client) CachedTools(user string) ([]*mcp.Tool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.lists[user]
	if !ok || time.Since(l.at) > toolsTTL {
		return nil, false
	}
	return l.tools, true
}

// RememberTools keeps user's tool list for a while. The list is per user
// because the server lists what the user's token may call.
func (c *Client) RememberTools(user string, tools []*mcp.Tool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	makeRoom(c.lists, maxToolLists, func(l toolList) bool { return time.Since(l.at) > toolsTTL })
	c.lists[user] = toolList{tools: tools, at: time.Now()}
}

// makeRoom keeps a per-user map under max entries: when it is full, the
// expired entries go, and if none had expired, all of them.
func makeRoom[V any](m map[string]V, max int, expired func(V) bool) {
	if len(m) < max {
		return
	}
	for k, v := range m {
		if expired(v) {
			delete(m, k)
		}
	}
	if len(m) >= max {
		clear(m)
	}
}

// Refused returns the refusal remembered for user, if it is recent.
func (c *Client) Refused(user string) (Refusal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.refusals[user]
	if !ok || time.Since(r.At) > RefusalTTL {
		return Refusal{}, false
	}
	return r, true
}

// RememberRefusal keeps Entra's refusal of user's MCP token for
// RefusalTTL, so the user's next turns (a weather question offers the MCP
// tools too) do not each cost a refused request; a turn sent again after
// consent forgets it (ForgetRefusal). Per replica: another replica asks
// Entra once itself.
func (c *Client) RememberRefusal(user string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	makeRoom(c.refusals, maxRefusals, func(r Refusal) bool { return time.Since(r.At) > RefusalTTL })
	c.refusals[user] = Refusal{Err: err, At: time.Now()}
}

// ForgetRefusal drops user's remembered refusal: they have just granted
// consent.
func (c *Client) ForgetRefusal(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.refusals, user)
}

// ResultText is a tool result as text: its structured content when there
// is some (JSON), else its text contents.
func ResultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}
