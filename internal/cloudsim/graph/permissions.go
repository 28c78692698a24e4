package graph

import "net/http"

// permission is what one operation, or one group of properties of an
// update, needs of a delegated caller: one of its permissions (the
// page's least privileged first, then the higher ones), and, for a caller
// who does not own the object, one of its directory roles.
type permission struct {
	doc   string // the page under learn.microsoft.com/graph/api/
	any   []string
	roles []string
	// agentID marks the Agent ID writes the over-privileged token fails.
	agentID bool
}

// The Agent ID roles, least privileged first. The Agent ID pages say
// "Agent ID Administrator" and "Agent ID Developer - Create agent
// identity blueprints and blueprint principals".
var (
	agentIDRoles      = []string{"Agent ID Developer", "Agent ID Administrator"}
	agentIDAdminRoles = []string{"Agent ID Administrator"}
)

// permissions is the one table of what each operation needs, each row
// from its page's permissions table (delegated, work or school account).
var permissions = map[string]permission{
	"me.get": {doc: "user-get", any: []string{"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All",
		"Directory.Read.All", "Directory.ReadWrite.All"}},
	// Listing memberOf needs only User.Read for /me; each directory role
	// in it is readable only with a role-reading permission, else it
	// comes back with id and @odata.type alone (user-list-memberof,
	// directoryrole-list).
	"me.memberOf":          {doc: "user-list-memberof", any: []string{"User.Read", "User.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"}},
	"directoryRole.read":   {doc: "directoryrole-list", any: []string{"RoleManagement.Read.Directory", "Directory.Read.All", "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"}},
	"application.get":      {doc: "application-get", any: []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All"}},
	"application.create":   {doc: "application-post-applications", any: []string{"Application.ReadWrite.All"}},
	"application.update":   {doc: "application-update", any: []string{"Application.ReadWrite.All"}},
	"application.delete":   {doc: "application-delete", any: []string{"Application.ReadWrite.All"}},
	"application.password": {doc: "application-addpassword", any: []string{"Application.ReadWrite.All"}},
	"application.fic":      {doc: "federatedidentitycredential-post (for an application)", any: []string{"Application.ReadWrite.All"}},
	"blueprint.get": {doc: "agentidentityblueprint-get", any: []string{"AgentIdentityBlueprint.Read.All", "AgentIdentityBlueprint.ReadWrite.All",
		"Application.Read.All", "Application.ReadWrite.All"}},
	"blueprint.create": {doc: "agentidentityblueprint-post", any: []string{"AgentIdentityBlueprint.Create", "AgentIdentityBlueprint.ReadWrite.All"},
		roles: agentIDRoles, agentID: true},
	// agentidentityblueprint-update lists AddRemoveCreds.All and
	// UpdateBranding.All as least privileged and ReadWrite.All as higher:
	// each covers its own properties only. identifierUris, api, web and
	// the other sign-in properties need UpdateAuthProperties.All, which
	// Microsoft's Entra PowerShell connects with to add a scope
	// (Add-EntraScopeToAgentIdentityBlueprint), or ReadWrite.All.
	"blueprint.update.credentials": {doc: "agentidentityblueprint-update", any: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"},
		roles: agentIDRoles, agentID: true},
	"blueprint.update.branding": {doc: "agentidentityblueprint-update", any: []string{"AgentIdentityBlueprint.UpdateBranding.All", "AgentIdentityBlueprint.ReadWrite.All"},
		roles: agentIDRoles, agentID: true},
	"blueprint.update.auth": {doc: "agentidentityblueprint-update; add-entrascopetoagentidentityblueprint",
		any: []string{"AgentIdentityBlueprint.UpdateAuthProperties.All", "AgentIdentityBlueprint.ReadWrite.All"}, roles: agentIDRoles, agentID: true},
	"blueprint.password": {doc: "agentidentityblueprint-addpassword", any: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"},
		roles: agentIDRoles, agentID: true},
	"blueprint.fic": {doc: "federatedidentitycredential-post (for an agentIdentityBlueprint)",
		any: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"}, roles: agentIDRoles, agentID: true},
	"blueprint.delete": {doc: "agentidentityblueprint-delete", any: []string{"AgentIdentityBlueprint.ReadWrite.All"}, roles: agentIDRoles, agentID: true},
	"blueprintPrincipal.create": {doc: "agentidentityblueprintprincipal-post",
		any: []string{"AgentIdentityBlueprintPrincipal.Create", "AgentIdentityBlueprintPrincipal.ReadWrite.All"}, roles: agentIDRoles, agentID: true},
	"agentIdentity.create": {doc: "agentidentity-post", any: []string{"AgentIdentity.Create.All", "AgentIdentity.ReadWrite.All"},
		roles: agentIDRoles, agentID: true},
	"agentIdentity.get": {doc: "agentidentity-get", any: []string{"AgentIdentity.Read.All", "AgentIdentity.ReadWrite.All", "Application.Read.All",
		"Application.ReadWrite.All"}},
	"agentIdentity.delete": {doc: "agentidentity-delete", any: []string{"AgentIdentity.ReadWrite.All"}, roles: agentIDRoles, agentID: true},
	// The least privileged role is Agent ID Administrator (agentuser-post).
	"agentUser.create": {doc: "agentuser-post", any: []string{"AgentIdUser.ReadWrite.IdentityParentedBy", "AgentIdUser.ReadWrite.All", "User.ReadWrite.All"},
		roles: agentIDAdminRoles, agentID: true},
	"agentUser.delete":        {doc: "agentuser-delete", any: []string{"AgentIdUser.ReadWrite.All", "User.ReadWrite.All"}, roles: agentIDAdminRoles, agentID: true},
	"servicePrincipal.get":    {doc: "serviceprincipal-get", any: []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All"}},
	"servicePrincipal.create": {doc: "serviceprincipal-post-serviceprincipals", any: []string{"Application.ReadWrite.All"}},
	"servicePrincipal.delete": {doc: "serviceprincipal-delete", any: []string{"Application.ReadWrite.All"}},
	"oauth2PermissionGrant.create": {doc: "oauth2permissiongrant-post", any: []string{"DelegatedPermissionGrant.ReadWrite.All",
		"Directory.ReadWrite.All"}},
	"appRoleAssignment.create": {doc: "serviceprincipal-post-approleassignments", any: []string{"AppRoleAssignment.ReadWrite.All"}},
}

// check applies a row: the permission, the over-privileged token, then
// the role of a caller who is not an owner.
func (c *caller) check(row string, owner bool) *apiError {
	p, ok := permissions[row]
	if !ok {
		return &apiError{http.StatusInternalServerError, "generalException", "cloudsim's Graph has no permissions row " + row}
	}
	switch {
	case !c.has(p.any):
		return denied()
	case p.agentID && c.overPrivileged():
		return denied()
	case len(p.roles) > 0 && !owner && !c.hasRole(p.roles):
		return denied()
	}
	return nil
}
