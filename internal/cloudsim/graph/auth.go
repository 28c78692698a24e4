package graph

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// caller is who a Graph token names: the signed-in user and the delegated
// permissions (scp) a delegated token carries, or, for an app-only token,
// the client's service principal (an application's, or an agent
// identity) and the application permissions (roles) granted to it.
type caller struct {
	user   *tenant.User
	scopes []string
	// app-only: one of app and agent, and roles.
	app   *tenant.Application
	agent *tenant.AgentIdentity
	roles []string
}

// appOnly reports whether the token is app-only (no signed-in user).
func (c *caller) appOnly() bool { return c.user == nil }

// id is the caller's object ID: the user's, or the client's service
// principal's (an agent identity's is its appId), which Graph makes the
// owner of what the caller creates.
func (c *caller) id() string {
	switch {
	case c.user != nil:
		return c.user.ObjectID
	case c.agent != nil:
		return c.agent.AppID
	default:
		return c.app.ServicePrincipalID
	}
}

// clientAppID is an app-only caller's appId ("" for a delegated one).
func (c *caller) clientAppID() string {
	switch {
	case c.agent != nil:
		return c.agent.AppID
	case c.app != nil:
		return c.app.AppID
	}
	return ""
}

// name is for the logs: the user's UPN or the client's appId.
func (c *caller) name() string {
	if c.user != nil {
		return c.user.UPN
	}
	return "app:" + c.clientAppID()
}

// has reports whether the token carries one of perms: for a delegated
// token in its scp, for an app-only one in its roles.
func (c *caller) has(perms []string) bool {
	held := c.scopes
	if c.appOnly() {
		held = c.roles
	}
	return slices.ContainsFunc(perms, func(p string) bool {
		return slices.ContainsFunc(held, func(s string) bool { return strings.EqualFold(s, p) })
	})
}

// overPrivileged is the Agent ID known issue: with
// Directory.AccessAsUser.All or Directory.ReadWrite.All in a delegated
// token, Graph ignores its Agent ID permissions and refuses the Agent ID
// writes (Microsoft Entra Agent ID, "Known issues":
// "Directory.AccessAsUser.All hard rejection").
func (c *caller) overPrivileged() bool {
	return !c.appOnly() && c.has([]string{"Directory.AccessAsUser.All", "Directory.ReadWrite.All"})
}

// hasRole reports whether the user holds one of the directory roles.
// Global Administrator holds every role's rights. An application holds
// none.
func (c *caller) hasRole(roles []string) bool {
	if c.appOnly() {
		return false
	}
	return slices.ContainsFunc(c.user.DirectoryRoles, func(r string) bool {
		return r == "Global Administrator" || slices.Contains(roles, r)
	})
}

// graphClaims are what Graph reads from its access token.
type graphClaims struct {
	Aud   string   `json:"aud"`
	Tid   string   `json:"tid"`
	Exp   int64    `json:"exp"`
	Nbf   int64    `json:"nbf"`
	Scp   string   `json:"scp"`
	Roles []string `json:"roles"`
	Oid   string   `json:"oid"`
	Idtyp string   `json:"idtyp"`
}

// audienceOK reports whether aud names Microsoft Graph: its appId, its
// identifier URI with or without the trailing slash, or cloudsim's own
// Graph URL at the host this request came to (the resource ID of a cloud
// registered at cloudsim). A v1 token's aud is the identifier the token
// request used (access token claims reference: "the resource URI used in
// the request").
func audienceOK(aud, host string) bool {
	if aud == AppID || slices.Contains(tenant.GraphIdentifiers, aud) {
		return true
	}
	local := "https://" + host + Path
	return aud == local || aud == local+"/"
}

// authenticate checks the bearer token as Graph does and names the
// caller. Graph's messages for each failure are its documented ones
// (InvalidAuthenticationToken with 401).
func (s *Server) authenticate(r *http.Request) (*caller, *apiError) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, unauthenticated("Access token is empty.")
	}
	payload, err := s.verify(token)
	var c graphClaims
	if err != nil || json.Unmarshal(payload, &c) != nil {
		return nil, unauthenticated("Access token validation failure.")
	}
	dir := s.live.Load()
	now := s.live.Now().Unix()
	switch {
	case !audienceOK(c.Aud, r.Host):
		return nil, unauthenticated("Access token validation failure. Invalid audience.")
	case c.Tid != dir.Tenant.ID:
		return nil, unauthenticated("Access token validation failure. Invalid tenant.")
	case now >= c.Exp:
		return nil, unauthenticated("Lifetime validation failed, the token is expired.")
	case c.Nbf != 0 && now < c.Nbf-int64((5*time.Minute).Seconds()):
		return nil, unauthenticated("Lifetime validation failed, the token is not yet valid.")
	}
	if c.Scp == "" {
		// An app-only token: its oid is the client's service principal,
		// its roles the application permissions granted to it, which
		// each operation checks against its page's Application row.
		cl := &caller{roles: c.Roles}
		if cl.app = dir.AppByServicePrincipal(c.Oid); cl.app == nil {
			cl.agent = dir.Agent(c.Oid)
		}
		if cl.app == nil && cl.agent == nil {
			return nil, unauthenticated("Access token validation failure. The client's service principal is not in the tenant.")
		}
		return cl, nil
	}
	user := dir.UserByID(c.Oid)
	if user == nil {
		return nil, unauthenticated("Access token validation failure. The signed-in user is not in the tenant.")
	}
	return &caller{user: user, scopes: strings.Fields(c.Scp)}, nil
}
