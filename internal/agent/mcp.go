package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/mcptool"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// profileTool is the MCP server's read-only Graph tool; /me is the
// signed-in user's profile.
const profileTool = "microsoft_graph_get"

// directoryPlaceholder stands in for the MCP server's tools when they
// could not be listed (no consent yet, say), so the model can still say a
// question needs the directory; calling it ends the turn with the reason.
const directoryPlaceholder = "microsoft_directory"

// noMCPForAutonomous is why an autonomous turn offers no MCP tools.
const noMCPForAutonomous = "MCP tools are not offered: an autonomous turn acts as the agent alone, and the MCP server takes delegated tokens only (on behalf of a user, or as the agent user)"

// ConsentNeeded is a turn that cannot go on until a person grants the agent
// identity what it lacks: the user for themselves, or an admin for all.
type ConsentNeeded struct {
	Reason string `json:"reason"` // consent_required or interaction_required
	// Source is whose consent it is: empty for Entra's, for the agent
	// identity; agentcore-vault for AgentCore Identity's token vault.
	Source   string   `json:"source,omitempty"`
	AADSTS   int      `json:"aadsts,omitempty"`
	Resource string   `json:"resource"`
	Scopes   []string `json:"scopes"`
	// URL is the user's own consent request; empty in the agent user flow,
	// where only an admin can consent.
	URL      string `json:"url,omitempty"`
	AdminURL string `json:"admin_url,omitempty"`
	// SessionURI is the vault's session the URL starts: the page checks
	// that the browser came back with it.
	SessionURI string `json:"session_uri,omitempty"`
	Message    string `json:"message"`
}

// ConsentError ends a turn with a ConsentNeeded.
type ConsentError struct{ Needed ConsentNeeded }

func (e *ConsentError) Error() string { return e.Needed.Message }

// mcpTurn is one turn's use of the MCP server. The token is asked for and
// the session opened only when a tool is listed or called.
type mcpTurn struct {
	a       *Agent
	t       Turn
	rec     *trace.Recorder
	session *mcptool.Session
}

func (a *Agent) mcpTurn(t Turn, rec *trace.Recorder) *mcpTurn {
	if a.cfg.MCP == nil || t.Flow == identity.Autonomous {
		return nil
	}
	return &mcpTurn{a: a, t: t, rec: rec}
}

// userKey is whose tool list this is: the signed-in user's, or the agent
// user's.
func (m *mcpTurn) userKey() string {
	if m.t.Flow == identity.AgentUser {
		return "agent_user"
	}
	return "user:" + m.t.UserID
}

// connect gets the turn's MCP token and opens the session. A turn that
// only offers the MCP tools (every delegated Bedrock turn lists them, a
// weather question too) does not ask Entra again for a token it refused
// this user a moment ago for a reason only a person can fix: the refusal
// is remembered for mcptool.RefusalTTL. A turn that needs the directory
// (explicit: Direct mode's "who am I?", a call of a listed tool) asks
// again, as does a turn sent again from the consent page (AfterConsent);
// a token issued forgets the refusal.
func (m *mcpTurn) connect(ctx context.Context, explicit bool) error {
	if m.session != nil {
		return nil
	}
	mcpc := m.a.cfg.MCP
	if !explicit && !m.t.AfterConsent {
		if r, ok := mcpc.Refused(m.userKey()); ok {
			code, _, _ := identity.NeedsInteraction(r.Err)
			m.rec.Add("mcp", "llm-agent", fmt.Sprintf("Entra refused the MCP server's token for this user %s ago (AADSTS%d): not asked again for the tool list until consent is granted or %s have passed",
				time.Since(r.At).Round(time.Second), code, mcptool.RefusalTTL), map[string]any{"remembered": true, "aadsts": code})
			return m.a.mcpIdentityError(r.Err, m.t)
		}
	}
	res, err := m.a.token(ctx, m.rec, m.t, identity.Request{Flow: m.t.Flow, UserToken: m.t.UserToken, Target: identity.MCPServer}, "MCP server")
	if err != nil {
		if _, _, ok := identity.NeedsInteraction(err); ok {
			mcpc.RememberRefusal(m.userKey(), err)
		}
		return m.a.mcpIdentityError(err, m.t)
	}
	mcpc.ForgetRefusal(m.userKey())
	s, err := m.a.cfg.MCP.Connect(ctx, res.Header)
	if err != nil {
		return m.a.mcpError(err)
	}
	m.session = s
	m.rec.AddHop("mcp", "llm-agent", "Connected to the MCP server with "+res.Token.Name,
		trace.Hop{From: trace.Agent, To: trace.MCPServer, Carries: res.Token.Name}, map[string]any{"url": m.a.cfg.MCP.URL()})
	return nil
}

// tools lists the server's tools: remembered per user, else asked for
// with this turn's token. explicit: the turn needs the directory, not
// just the offer of it (see connect).
func (m *mcpTurn) tools(ctx context.Context, explicit bool) ([]*mcp.Tool, error) {
	if tools, ok := m.a.cfg.MCP.CachedTools(m.userKey()); ok {
		m.rec.Add("mcp", "llm-agent", "MCP tools, as listed earlier for this user: "+toolNames(tools), map[string]any{"cached": true})
		return tools, nil
	}
	if err := m.connect(ctx, explicit); err != nil {
		return nil, err
	}
	tools, err := m.session.Tools(ctx)
	if err != nil {
		return nil, m.a.mcpError(err)
	}
	m.a.cfg.MCP.RememberTools(m.userKey(), tools)
	m.rec.AddHop("mcp", "mcp-server", "The MCP server listed its tools: "+toolNames(tools),
		trace.Hop{From: trace.MCPServer, To: trace.Agent, Carries: "its tools", Status: http.StatusOK}, map[string]any{"cached": false, "url": m.a.cfg.MCP.URL()})
	return tools, nil
}

// call runs one tool. A tool's own error is a result for the model; a
// refused token or missing consent ends the turn.
func (m *mcpTurn) call(ctx context.Context, name string, args map[string]any) (*mcp.CallToolResult, error) {
	ctx, end := m.a.span(ctx, "mcp tool "+name, attribute.String("agentid.tool", name))
	defer end()
	if err := m.connect(ctx, true); err != nil {
		return nil, err
	}
	m.rec.AddHop("mcp", "llm-agent", "Calling the MCP tool "+name,
		trace.Hop{From: trace.Agent, To: trace.MCPServer, Carries: "tool call " + name}, map[string]any{"tool": name, "arguments": args, "url": m.a.cfg.MCP.URL()})
	res, err := m.session.Call(ctx, name, args)
	if err != nil {
		return nil, m.a.mcpError(err)
	}
	data := map[string]any{"tool": name, "is_error": res.IsError}
	msg := "The MCP server answered " + name
	if res.IsError {
		msg = "The MCP tool " + name + " failed: " + mcptool.ResultText(res)
		data["status"] = http.StatusBadGateway
	} else if res.StructuredContent != nil {
		data["result"] = res.StructuredContent
	}
	m.rec.AddHop("mcp", "mcp-server", msg, trace.Hop{From: trace.MCPServer, To: trace.Agent, Carries: "result of " + name, Failed: res.IsError}, data)
	return res, nil
}

func (m *mcpTurn) close() {
	if m != nil && m.session != nil {
		m.session.Close()
	}
}

// mcpIdentityError turns a failed acquisition of the MCP token into a
// consent request when a person can fix it, else the usual turn error.
func (a *Agent) mcpIdentityError(err error, t Turn) error {
	code, reason, ok := identity.NeedsInteraction(err)
	if !ok {
		return identityError(err)
	}
	req := a.cfg.Consent
	req.RedirectURI, req.State = t.ConsentRedirectURI, t.CorrelationID
	n := ConsentNeeded{Reason: reason, AADSTS: code, Resource: "Microsoft MCP Server for Enterprise", Scopes: req.Scopes, AdminURL: req.AdminURL()}
	who := "you"
	if t.Flow == identity.AgentUser {
		who = "an admin (the agent user cannot consent for itself)"
	} else {
		n.URL = req.UserURL()
	}
	n.Message = fmt.Sprintf("To read the directory through the MCP server, the agent needs %s to grant it %s (Entra answered AADSTS%d). Open the consent link, accept, then send the message again.",
		who, strings.Join(scopeNames(req.Scopes), ", "), code)
	if reason == "interaction_required" {
		n.Message = fmt.Sprintf("Entra needs you to sign in again interactively before the agent can act for you on the MCP server (AADSTS%d). Open the link, then send the message again.", code)
	}
	return &ConsentError{Needed: n}
}

// mcpError maps the MCP server's failures to the turn's status: a refused
// token names the scopes to fix.
func (a *Agent) mcpError(err error) error {
	var refused *mcptool.RefusedError
	if errors.As(err, &refused) {
		return &Error{Status: http.StatusBadGateway, Err: err, Message: fmt.Sprintf(
			"the MCP server at %s refused the agent's token (HTTP %d, %s): the token must be delegated, for the MCP server, with the scope it names; check MCP_SCOPES (or the sidecar's DownstreamApis__<SIDECAR_MCP_API>__Scopes) and the consent for them",
			a.cfg.MCP.URL(), refused.Status, orNone(refused.Challenge))}
	}
	return &Error{Status: http.StatusBadGateway, Err: err, Message: fmt.Sprintf("the MCP server at %s failed: %v", a.cfg.MCP.URL(), rootCause(err))}
}

// scopeNames drops the resource from each scope: MCP.User.Read.All.
func scopeNames(scopes []string) []string {
	out := make([]string, len(scopes))
	for i, sc := range scopes {
		out[i] = sc[strings.LastIndex(sc, "/")+1:]
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "no WWW-Authenticate"
	}
	return s
}

func toolNames(tools []*mcp.Tool) string {
	var names []string
	for _, t := range tools {
		names = append(names, t.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func hasTool(tools []*mcp.Tool, name string) bool {
	return slices.ContainsFunc(tools, func(t *mcp.Tool) bool { return t.Name == name })
}

// profile is a Graph user as the profile tool returns it.
type profile struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
}

// describeProfile writes the /me answer as a sentence.
func describeProfile(res *mcp.CallToolResult, flow identity.Flow) string {
	var p profile
	raw, _ := json.Marshal(res.StructuredContent)
	if res.StructuredContent == nil {
		raw = []byte(mcptool.ResultText(res))
	}
	if json.Unmarshal(raw, &p) != nil || p.DisplayName == "" {
		return "The directory answered: " + mcptool.ResultText(res)
	}
	if flow == identity.AgentUser {
		return fmt.Sprintf("I am acting as my agent user, %s (%s), object ID %s: the directory's answer, read through the MCP server as the agent user.", p.DisplayName, p.UserPrincipalName, p.ID)
	}
	return fmt.Sprintf("You are %s (%s), object ID %s: the directory's answer, read through the MCP server on your behalf.", p.DisplayName, p.UserPrincipalName, p.ID)
}
