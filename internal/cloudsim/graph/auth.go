package graph

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// caller is the signed-in user a delegated Graph token names, and the
// delegated permissions (scp) it carries.
type caller struct {
	user   *tenant.User
	scopes []string
}

// has reports whether the token carries one of perms.
func (c *caller) has(perms []string) bool {
	return slices.ContainsFunc(perms, func(p string) bool {
		return slices.ContainsFunc(c.scopes, func(s string) bool { return strings.EqualFold(s, p) })
	})
}

// overPrivileged is the Agent ID known issue: with
// Directory.AccessAsUser.All or Directory.ReadWrite.All in the token,
// Graph ignores its Agent ID permissions and refuses the Agent ID writes
// (Microsoft Entra Agent ID, "Known issues": "Directory.AccessAsUser.All
// hard rejection").
func (c *caller) overPrivileged() bool {
	return c.has([]string{"Directory.AccessAsUser.All", "Directory.ReadWrite.All"})
}

// hasRole reports whether the user holds one of the directory roles.
// Global Administrator holds every role's rights.
func (c *caller) hasRole(roles []string) bool {
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
	case c.Aud != Resource && c.Aud != AppID:
		return nil, unauthenticated("Access token validation failure. Invalid audience.")
	case c.Tid != dir.Tenant.ID:
		return nil, unauthenticated("Access token validation failure. Invalid tenant.")
	case now >= c.Exp:
		return nil, unauthenticated("Lifetime validation failed, the token is expired.")
	case c.Nbf != 0 && now < c.Nbf-int64((5*time.Minute).Seconds()):
		return nil, unauthenticated("Lifetime validation failed, the token is not yet valid.")
	}
	if c.Scp == "" {
		// An app-only token (application permissions in roles): the
		// scripts sign a person in, so cloudsim emulates delegated
		// access only.
		return nil, &apiError{status: http.StatusForbidden, code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation. (cloudsim's Graph emulates delegated access only; this token has no scp.)"}

	}
	user := dir.UserByID(c.Oid)
	if user == nil {
		return nil, unauthenticated("Access token validation failure. The signed-in user is not in the tenant.")
	}
	return &caller{user: user, scopes: strings.Fields(c.Scp)}, nil
}
