package graph

import "net/http"

// permission is what one operation, or one group of properties of an
// update, needs of a delegated caller: one of its permissions (the
// page's least privileged first, then the higher ones), and, for a caller
// who does not own the object, one of its directory roles; and of an
// app-only caller, one of the application permissions of the page's
// Application row (app), or one of those that reach only what the caller
// owns or manages (appOwned: Application.ReadWrite.OwnedBy,
// AgentIdentity.CreateAsManager, AgentIdUser.ReadWrite.IdentityParentedBy)
// with the object its own. An application holds no directory role.
type permission struct {
	doc      string // the page under learn.microsoft.com/graph/api/
	any      []string
	roles    []string
	app      []string
	appOwned []string
	// agentID marks the Agent ID writes the over-privileged token fails.
	agentID bool
	// adminConsent marks a consent for the whole organization: only a
	// user who may grant admin consent makes one, owner or not
	// (tenant.User.MayConsentAsAdmin).
	adminConsent bool
}

// The Agent ID roles, least privileged first. The Agent ID pages say
// "Agent ID Administrator" and "Agent ID Developer - Create agent
// identity blueprints and blueprint principals", which creates (and so
// owns) them. For every other Agent ID write the pages, read 2026-12-06
// (agentidentityblueprint-addpassword, -update, -delete,
// federatedidentitycredential-post for a blueprint, agentidentity-post),
// say: "A principal who creates an agent identity blueprint or blueprint
// principal is automatically assigned as the owner. Owners can create and
// modify agent identities associated with a blueprint they own without
// being assigned an Agent ID role. For nonowners ... the following
// least-privileged built-in role: Agent ID Administrator". So a
// developer changes, adds credentials to and makes agents of the
// blueprints it created, and only an Agent ID Administrator those of
// others.
var (
	agentIDRoles      = []string{"Agent ID Developer", "Agent ID Administrator"}
	agentIDAdminRoles = []string{"Agent ID Administrator"}
	// appAdminRoles may change any application or service principal: the
	// pages of the application and service principal writes list "a
	// non-admin member user with default user permissions - for
	// applications they own", then Cloud Application Administrator and
	// Application Administrator (the rbac-apps-serviceprincipal-creds-apis
	// and rbac-application-apis-write notes; the others they name, Hybrid
	// Identity Administrator for basic properties, Directory Writers for
	// extension properties, Security Administrator, are not emulated).
	appAdminRoles = []string{"Cloud Application Administrator", "Application Administrator"}
	// appRoleAssignmentRoles may assign an app role of a resource the
	// caller does not own (serviceprincipal-post-approleassignments: "The
	// roles listed above are not required when the signed-in user is a
	// native member of the tenant (member user) and is an owner of the
	// resource application"; the rbac-approleassignments-apis-write
	// include of the page, read 2026-12-06).
	appRoleAssignmentRoles = []string{"Directory Writers", "Hybrid Identity Administrator", "Identity Governance Administrator",
		"Privileged Role Administrator", "User Administrator", "Application Administrator", "Cloud Application Administrator"}
)

// The Application rows of the application and service principal pages
// (application-get, application-list, application-post-applications,
// application-update, application-addpassword, serviceprincipal-list,
// federatedidentitycredential-*, read 2026-12-06): Application.Read.All
// to read, Application.ReadWrite.All to write, and
// Application.ReadWrite.OwnedBy for the applications the caller owns.
var (
	appRead  = []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All"}
	appWrite = []string{"Application.ReadWrite.All"}
	ownedBy  = []string{"Application.ReadWrite.OwnedBy"}
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
	"me.memberOf": {doc: "user-list-memberof", any: []string{"User.Read", "User.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"}},
	// The roles held directly or through a role-assignable group
	// (user-list-transitivememberof: User.Read for /me, read 2026-12-06).
	"me.transitiveMemberOf": {doc: "user-list-transitivememberof", any: []string{"User.Read", "User.Read.All", "Directory.Read.All",
		"Directory.ReadWrite.All"}},
	"directoryRole.read": {doc: "directoryrole-list", any: []string{"RoleManagement.Read.Directory", "Directory.Read.All", "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"}},
	"application.get": {doc: "application-get", any: []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All"},
		app: appRead, appOwned: ownedBy},
	// A member may register applications (and so owns them) unless the
	// tenant restricts it (application-post-applications); changing one
	// another owns takes an application administrator's role.
	"application.create": {doc: "application-post-applications", any: []string{"Application.ReadWrite.All"}, app: appWrite, appOwned: ownedBy},
	"application.update": {doc: "application-update", any: []string{"Application.ReadWrite.All"}, roles: appAdminRoles, app: appWrite, appOwned: ownedBy},
	"application.delete": {doc: "application-delete", any: []string{"Application.ReadWrite.All"}, roles: appAdminRoles, app: appWrite, appOwned: ownedBy},
	"application.password": {doc: "application-addpassword", any: []string{"Application.ReadWrite.All"}, roles: appAdminRoles, app: appWrite,
		appOwned: ownedBy},
	"application.fic": {doc: "federatedidentitycredential-post (for an application)", any: []string{"Application.ReadWrite.All"}, roles: appAdminRoles,
		app: appWrite, appOwned: ownedBy},
	"application.fic.delete": {doc: "federatedidentitycredential-delete (for an application)", any: []string{"Application.ReadWrite.All"},
		roles: appAdminRoles, app: appWrite, appOwned: ownedBy},
	"blueprint.get": {doc: "agentidentityblueprint-get", any: []string{"AgentIdentityBlueprint.Read.All", "AgentIdentityBlueprint.ReadWrite.All",
		"Application.Read.All", "Application.ReadWrite.All"}, app: []string{"AgentIdentityBlueprint.Read.All", "AgentIdentityBlueprint.ReadWrite.All",
		"Application.Read.All", "Application.ReadWrite.All"}, appOwned: ownedBy},
	"blueprint.create": {doc: "agentidentityblueprint-post", any: []string{"AgentIdentityBlueprint.Create", "AgentIdentityBlueprint.ReadWrite.All"},
		roles: agentIDRoles, agentID: true, app: []string{"AgentIdentityBlueprint.Create", "AgentIdentityBlueprint.ReadWrite.All"}},
	// agentidentityblueprint-update lists AddRemoveCreds.All and
	// UpdateBranding.All as least privileged and ReadWrite.All as higher:
	// each covers its own properties only. identifierUris, api, web and
	// the other sign-in properties need UpdateAuthProperties.All, which
	// Microsoft's Entra PowerShell connects with to add a scope
	// (Add-EntraScopeToAgentIdentityBlueprint), or ReadWrite.All.
	// Any of the update page's permissions lets a PATCH through to its
	// properties, each group then checked against its own; an empty PATCH
	// needs one of them all the same.
	"blueprint.update": {doc: "agentidentityblueprint-update", any: []string{"AgentIdentityBlueprint.AddRemoveCreds.All",
		"AgentIdentityBlueprint.UpdateBranding.All", "AgentIdentityBlueprint.UpdateAuthProperties.All", "AgentIdentityBlueprint.ReadWrite.All"},
		roles: agentIDAdminRoles, agentID: true, app: []string{"AgentIdentityBlueprint.AddRemoveCreds.All",
			"AgentIdentityBlueprint.UpdateBranding.All", "AgentIdentityBlueprint.UpdateAuthProperties.All", "AgentIdentityBlueprint.ReadWrite.All"}},
	"blueprint.update.credentials": {doc: "agentidentityblueprint-update", any: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"},
		roles: agentIDAdminRoles, agentID: true, app: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"}},
	"blueprint.update.branding": {doc: "agentidentityblueprint-update", any: []string{"AgentIdentityBlueprint.UpdateBranding.All", "AgentIdentityBlueprint.ReadWrite.All"},
		roles: agentIDAdminRoles, agentID: true, app: []string{"AgentIdentityBlueprint.UpdateBranding.All", "AgentIdentityBlueprint.ReadWrite.All"}},
	"blueprint.update.auth": {doc: "agentidentityblueprint-update; add-entrascopetoagentidentityblueprint",
		any: []string{"AgentIdentityBlueprint.UpdateAuthProperties.All", "AgentIdentityBlueprint.ReadWrite.All"}, roles: agentIDAdminRoles, agentID: true, app: []string{"AgentIdentityBlueprint.UpdateAuthProperties.All", "AgentIdentityBlueprint.ReadWrite.All"}},
	"blueprint.password": {doc: "agentidentityblueprint-addpassword", any: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"},
		roles: agentIDAdminRoles, agentID: true, app: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"}},
	"blueprint.fic": {doc: "federatedidentitycredential-post (for an agentIdentityBlueprint)",
		any: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"}, roles: agentIDAdminRoles, agentID: true, app: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"}},
	"blueprint.fic.delete": {doc: "federatedidentitycredential-delete (for an agentIdentityBlueprint)",
		any: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"}, roles: agentIDAdminRoles, agentID: true, app: []string{"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.ReadWrite.All"}},
	"blueprint.delete": {doc: "agentidentityblueprint-delete", any: []string{"AgentIdentityBlueprint.ReadWrite.All"}, roles: agentIDAdminRoles, agentID: true, app: []string{"AgentIdentityBlueprint.ReadWrite.All"}},
	"blueprintPrincipal.create": {doc: "agentidentityblueprintprincipal-post",
		any: []string{"AgentIdentityBlueprintPrincipal.Create", "AgentIdentityBlueprintPrincipal.ReadWrite.All"}, roles: agentIDRoles, agentID: true, app: []string{"AgentIdentityBlueprintPrincipal.Create", "AgentIdentityBlueprintPrincipal.ReadWrite.All"}},
	// Application: "AgentIdentity.CreateAsManager, AgentIdentity.Create.All"
	// (agentidentity-post, v1.0, read 2026-12-06); CreateAsManager creates
	// agent identities of the calling blueprint only, which it then
	// manages ("Create agent identities in agent identity platform": the
	// blueprint's own Graph token creates them).
	"agentIdentity.create": {doc: "agentidentity-post", any: []string{"AgentIdentity.Create.All", "AgentIdentity.ReadWrite.All"},
		roles: agentIDAdminRoles, agentID: true, app: []string{"AgentIdentity.Create.All"}, appOwned: []string{"AgentIdentity.CreateAsManager"}},
	// Application: "AgentIdentity.Read.All, AgentIdentity.CreateAsManager |
	// Application.Read.All" (agentidentity-get, v1.0, read 2026-12-06): a
	// blueprint reads the agent identities it manages.
	"agentIdentity.get": {doc: "agentidentity-get", any: []string{"AgentIdentity.Read.All", "AgentIdentity.ReadWrite.All", "Application.Read.All",
		"Application.ReadWrite.All"}, app: []string{"AgentIdentity.Read.All", "AgentIdentity.ReadWrite.All", "Application.Read.All",
		"Application.ReadWrite.All"}, appOwned: []string{"AgentIdentity.CreateAsManager"}},
	"agentIdentity.delete": {doc: "agentidentity-delete", any: []string{"AgentIdentity.ReadWrite.All"}, roles: agentIDAdminRoles, agentID: true,
		app: []string{"AgentIdentity.ReadWrite.All"}},
	// The least privileged role is Agent ID Administrator (agentuser-post).
	"agentUser.create": {doc: "agentuser-post", any: []string{"AgentIdUser.ReadWrite.IdentityParentedBy", "AgentIdUser.ReadWrite.All", "User.ReadWrite.All"},
		roles: agentIDAdminRoles, agentID: true, app: []string{"AgentIdUser.ReadWrite.All", "User.ReadWrite.All"},
		appOwned: []string{"AgentIdUser.ReadWrite.IdentityParentedBy"}},
	"agentUser.delete": {doc: "agentuser-delete", any: []string{"AgentIdUser.ReadWrite.All", "User.ReadWrite.All"}, roles: agentIDAdminRoles, agentID: true,
		app: []string{"AgentIdUser.ReadWrite.All", "User.ReadWrite.All"}},
	"servicePrincipal.get": {doc: "serviceprincipal-get, serviceprincipal-list", any: []string{"Application.Read.All", "Application.ReadWrite.All",
		"Directory.Read.All", "Directory.ReadWrite.All"}, app: appRead, appOwned: ownedBy},
	// The owner of an application creates and deletes its principal; anyone
	// else needs a role (serviceprincipal-post-serviceprincipals,
	// serviceprincipal-delete).
	"servicePrincipal.create": {doc: "serviceprincipal-post-serviceprincipals", any: []string{"Application.ReadWrite.All"}, roles: appAdminRoles,
		app: appWrite, appOwned: ownedBy},
	"servicePrincipal.delete": {doc: "serviceprincipal-delete", any: []string{"Application.ReadWrite.All"}, roles: appAdminRoles, app: appWrite,
		appOwned: ownedBy},
	// An AllPrincipals grant is the admin's consent for everyone.
	// oauth2permissiongrant-post's roles note (read 2026-12-06) lists
	// Application Administrator, Application Developer, Cloud Application
	// Administrator, Directory Writers, Privileged Role Administrator and
	// User Administrator, and has no exemption for owners; "Grant
	// tenant-wide admin consent to an application" (Microsoft Entra,
	// enterprise apps, read 2026-12-06) needs "Privileged Role
	// Administrator", or "Cloud Application Administrator or Application
	// Administrator ... except Microsoft Graph app roles". cloudsim takes
	// the roles both pages name: tenant.ConsentAdminRoles (or the tenant
	// file's "admin": true), the ones that may consent for the
	// organization on its consent pages too. An Agent ID Developer or
	// Administrator alone may not.
	"oauth2PermissionGrant.create": {doc: "oauth2permissiongrant-post; grant-admin-consent", any: []string{"DelegatedPermissionGrant.ReadWrite.All",
		"Directory.ReadWrite.All"}, adminConsent: true, app: []string{"DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All"}},
	"appRoleAssignment.create": {doc: "serviceprincipal-post-approleassignments", any: []string{"AppRoleAssignment.ReadWrite.All"},
		roles: appRoleAssignmentRoles, app: []string{"AppRoleAssignment.ReadWrite.All"}},
}

// permitted applies a row's permission half, all that can be checked
// before the object is known: one of its permissions (for an app-only
// caller, one of its application permissions, the owned-only ones
// included), and not the over-privileged token for an Agent ID write.
func (c *caller) permitted(row string) *apiError {
	p, ok := permissions[row]
	if !ok {
		return &apiError{status: http.StatusInternalServerError, code: "generalException", message: "cloudsim's Graph has no permissions row " + row}
	}
	switch {
	case c.appOnly() && !c.has(p.app) && !c.has(p.appOwned):
		return denied()
	case !c.appOnly() && !c.has(p.any):
		return denied()
	case p.agentID && c.overPrivileged():
		return denied()
	}
	return nil
}

// onlyOwned reports whether an app-only caller holds the row's
// application permissions only for what it owns or manages, so a list
// shows only those.
func (c *caller) onlyOwned(row string) bool {
	p := permissions[row]
	return c.appOnly() && !c.has(p.app) && c.has(p.appOwned)
}

// permittedAny passes if one of the rows does: for an object that is not
// there, whichever kind it would have been.
func (c *caller) permittedAny(rows ...string) *apiError {
	var err *apiError
	for _, row := range rows {
		if err = c.permitted(row); err == nil {
			return nil
		}
	}
	return err
}

// check applies a whole row: the permission, then the role of a caller
// who does not own the object.
func (c *caller) check(row string, owner bool) *apiError {
	if err := c.permitted(row); err != nil {
		return err
	}
	p := permissions[row]
	if c.appOnly() {
		// An application holds no directory role; its permission is the
		// whole of it, an owned-only one for what it owns.
		if !c.has(p.app) && !owner {
			return denied()
		}
		return nil
	}
	switch {
	case p.adminConsent && !c.user.MayConsentAsAdmin():
		return denied()
	case len(p.roles) > 0 && !owner && !c.hasRole(p.roles):
		return denied()
	}
	return nil
}
