// Package mcpserver is cloudsim's stand-in for the Microsoft MCP Server
// for Enterprise: read-only Microsoft Graph over MCP (streamable HTTP, the
// go-sdk server) on the tenant file's directory. Like the real server it
// takes delegated tokens only: audienced to its app, from this tenant, with
// the MCP.User.Read.All scope. Anything else is a 401 or 403 with
// WWW-Authenticate.
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// Path is where cloudsim serves it; MCP_SERVER_URL is its URL.
const Path = "/mcp/enterprise"

// AppID is the real server's resource app, "Microsoft MCP Server for
// Enterprise"; RequiredScope is what every tool needs.
const (
	AppID         = "e8c77dc2-69b3-43f4-bc51-3213c9d915b4"
	RequiredScope = "MCP.User.Read.All"
)

// Options configure the handler.
type Options struct {
	Directory *tenant.Directory
	// Verify checks a token's signature with the tenant's keys and returns
	// its payload.
	Verify func(token string) ([]byte, error)
	Logger *slog.Logger
	Now    func() time.Time
	// Count, when set, is told "mcp.request" for every HTTP request and
	// "mcp.tool.<name>" for every tool call, for tests to read.
	Count func(key string)
}

type claims struct {
	Iss string          `json:"iss"`
	Aud json.RawMessage `json:"aud"`
	Tid string          `json:"tid"`
	Exp int64           `json:"exp"`
	Scp string          `json:"scp"`
	Oid string          `json:"oid"`
	Azp string          `json:"azp"`
}

// Handler is the MCP endpoint behind bearer-token checks.
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "cloudsim MCP Server for Enterprise", Version: "1"}, nil)
	d := o.Directory
	mcp.AddTool(server, &mcp.Tool{Name: "microsoft_graph_get",
		Description: "Run a read-only Microsoft Graph GET as the signed-in user: /me, /users, /users/{id or userPrincipalName}.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in getInput) (*mcp.CallToolResult, any, error) {
		o.Count("mcp.tool.microsoft_graph_get")
		oid, _ := req.Extra.TokenInfo.Extra["oid"].(string)
		out, err := graphGet(d, oid, in.RelativeURL)
		if err != nil {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}, nil, nil
		}
		o.Logger.Info("mcp graph get", "path", in.RelativeURL, "caller", req.Extra.TokenInfo.Extra["azp"], "user", oid)
		return nil, out, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "microsoft_graph_suggest_queries",
		Description: "Suggest Microsoft Graph queries for what the user wants to know.",
	}, func(_ context.Context, _ *mcp.CallToolRequest, in suggestInput) (*mcp.CallToolResult, any, error) {
		return nil, map[string]any{"intent": in.Intent, "queries": []map[string]string{
			{"relativeUrl": "/me", "purpose": "the signed-in user's own profile"},
			{"relativeUrl": "/users?$select=displayName,userPrincipalName", "purpose": "the directory's users"},
		}}, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "microsoft_graph_list_properties",
		Description: "List the properties of a Microsoft Graph entity (user).",
	}, func(_ context.Context, _ *mcp.CallToolRequest, in propertiesInput) (*mcp.CallToolResult, any, error) {
		if !strings.EqualFold(in.Entity, "user") {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "cloudsim knows the user entity only"}}}, nil, nil
		}
		return nil, map[string]any{"entity": "user", "properties": []string{"id", "displayName", "userPrincipalName", "mail"}}, nil
	})

	verify := func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		payload, err := o.Verify(token)
		if err != nil {
			return nil, fmt.Errorf("%w: the signature does not verify with the tenant's keys", auth.ErrInvalidToken)
		}
		var c claims
		if err := json.Unmarshal(payload, &c); err != nil {
			return nil, fmt.Errorf("%w: the claims are not JSON", auth.ErrInvalidToken)
		}
		tid := d.Tenant.ID
		aud := audience(c.Aud)
		switch {
		case c.Iss != "https://login.microsoftonline.com/"+tid+"/v2.0" && c.Iss != "https://sts.windows.net/"+tid+"/":
			return nil, fmt.Errorf("%w: the issuer is not this tenant", auth.ErrInvalidToken)
		case c.Tid != tid:
			return nil, fmt.Errorf("%w: the token is from another tenant", auth.ErrInvalidToken)
		case aud != AppID && aud != "api://"+AppID && aud != "https://mcp.svc.cloud.microsoft":
			return nil, fmt.Errorf("%w: the token is for %q, not the MCP server", auth.ErrInvalidToken, aud)
		}
		info := &auth.TokenInfo{Expiration: time.Unix(c.Exp, 0), UserID: c.Oid, Extra: map[string]any{"oid": c.Oid, "azp": c.Azp}}
		// Delegated only: an app-only token carries roles, never scp, so the
		// scope check refuses it with 403.
		info.Scopes = strings.Fields(c.Scp)
		return info, nil
	}
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{Stateless: true})
	protected := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{Scopes: []string{RequiredScope}})(mcpHandler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.Count("mcp.request")
		protected.ServeHTTP(&challenge{ResponseWriter: w, withToken: r.Header.Get("Authorization") != ""}, r)
	})
}

// challenge adds RFC 6750's error code to the go-sdk middleware's
// challenge, which names only the scope: invalid_token for a token that
// was refused, insufficient_scope for one without the scope. A request
// with no token gets no error code, as RFC 6750 §3.1 says.
type challenge struct {
	http.ResponseWriter
	withToken bool
}

func (c *challenge) WriteHeader(status int) {
	h := c.Header()
	if v := h.Get("WWW-Authenticate"); strings.HasPrefix(v, "Bearer ") {
		switch {
		case status == http.StatusForbidden:
			h.Set("WWW-Authenticate", `Bearer error="insufficient_scope", `+strings.TrimPrefix(v, "Bearer "))
		case status == http.StatusUnauthorized && c.withToken:
			h.Set("WWW-Authenticate", `Bearer error="invalid_token", `+strings.TrimPrefix(v, "Bearer "))
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

// Flush lets the streamable transport's event streams through.
func (c *challenge) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap is for http.ResponseController.
func (c *challenge) Unwrap() http.ResponseWriter { return c.ResponseWriter }

type getInput struct {
	RelativeURL string `json:"relativeUrl" jsonschema:"the Graph path, for example /me or /users"`
}

type suggestInput struct {
	Intent string `json:"intent" jsonschema:"what the user wants to know"`
}

type propertiesInput struct {
	Entity string `json:"entity" jsonschema:"the entity, for example user"`
}

type graphUser struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
}

func userOf(u *tenant.User) graphUser {
	return graphUser{ID: u.ObjectID, DisplayName: u.DisplayName, UserPrincipalName: u.UPN, Mail: u.UPN}
}

// graphGet answers the read-only paths cloudsim models, as Graph shapes them.
func graphGet(d *tenant.Directory, oid, rawPath string) (any, error) {
	path, _, _ := strings.Cut(strings.TrimSpace(rawPath), "?")
	path = "/" + strings.Trim(strings.TrimPrefix(path, "/v1.0"), "/")
	switch {
	case path == "/me":
		if u := d.UserByID(oid); u != nil {
			return userOf(u), nil
		}
		if au := d.AgentUser(oid); au != nil {
			return graphUser{ID: au.ObjectID, DisplayName: au.DisplayName, UserPrincipalName: au.UPN, Mail: au.UPN}, nil
		}
		return nil, errors.New("Request_ResourceNotFound: the signed-in user is not in the directory")
	case path == "/users":
		var out []graphUser
		for _, u := range d.Users {
			out = append(out, userOf(u))
		}
		slices.SortFunc(out, func(a, b graphUser) int { return strings.Compare(a.UserPrincipalName, b.UserPrincipalName) })
		return map[string]any{"value": out}, nil
	case strings.HasPrefix(path, "/users/"):
		key := strings.TrimPrefix(path, "/users/")
		u := d.UserByID(key)
		if u == nil {
			u = d.UserByUPN(key)
		}
		if u == nil {
			return nil, fmt.Errorf("Request_ResourceNotFound: no user %q", key)
		}
		return userOf(u), nil
	}
	return nil, fmt.Errorf("cloudsim's MCP server answers GET /me, /users and /users/{id}, not %q", rawPath)
}

func audience(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) == 1 {
		return list[0]
	}
	return ""
}
