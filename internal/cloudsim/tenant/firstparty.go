package tenant

import "slices"

// Microsoft's first-party applications every tenant has, which the tenant
// file does not list: the Microsoft Graph resource, so the token endpoint
// issues Graph tokens, and the Microsoft Graph Command Line Tools public
// client, which entra-setup.sh signs in with by device code. Their
// application objects are Microsoft's (FirstParty); the tenant holds their
// service principals.
const (
	GraphAppID    = "00000003-0000-0000-c000-000000000000"
	GraphResource = "https://graph.microsoft.com"
	GraphCLIAppID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
)

// graphScopes are the delegated permissions of Microsoft Graph that
// cloudsim's Graph checks (internal/cloudsim/graph's permissions table)
// or that a token may ask for; a scope outside them is refused as Entra
// refuses one the resource does not publish.
var graphScopes = []string{
	"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All",
	"Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All",
	"RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory",
	"Application.Read.All", "Application.ReadWrite.All",
	"AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All",
	"AgentIdentityBlueprint.Create", "AgentIdentityBlueprint.Read.All", "AgentIdentityBlueprint.ReadWrite.All",
	"AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprint.UpdateBranding.All",
	"AgentIdentityBlueprint.UpdateAuthProperties.All",
	"AgentIdentityBlueprintPrincipal.Create", "AgentIdentityBlueprintPrincipal.ReadWrite.All",
	"AgentIdentity.Create.All", "AgentIdentity.Read.All", "AgentIdentity.ReadWrite.All",
	"AgentIdUser.ReadWrite.IdentityParentedBy", "AgentIdUser.ReadWrite.All",
}

// graphUserConsentScopes are those of graphScopes a user may consent to
// for themselves; every other one requires an admin. The Microsoft Graph
// permissions reference's "AdminConsentRequired" row for the delegated
// permission (read 2026-12-06): "No" for User.Read, User.ReadWrite and
// User.ReadBasic.All; "Yes" for User.Read.All, User.ReadWrite.All,
// Directory.*, RoleManagement.*, Application.*, AppRoleAssignment.*,
// DelegatedPermissionGrant.* and every AgentIdentityBlueprint*,
// AgentIdentity* and AgentIdUser* permission, which is the "type" (User or
// Admin) of Graph's oauth2PermissionScopes
// (learn.microsoft.com/graph/migrate-azure-ad-graph-permissions-differences
// for Application.*, Directory.*, User.Read, User.ReadBasic.All and
// User.Read.All; graphpermissions.merill.net, which mirrors the reference,
// for the others).
var graphUserConsentScopes = []string{"User.Read", "User.ReadWrite", "User.ReadBasic.All"}

// addFirstParty adds the first-party applications the file does not.
func (d *Directory) addFirstParty() {
	apps := []*Application{
		{Name: "Microsoft Graph", AppID: GraphAppID, ServicePrincipalID: DerivedID("servicePrincipal/" + GraphAppID), AccessTokenVersion: 1,
			IdentifierURIs: []string{GraphResource}, Scopes: slices.Clone(graphScopes), FirstParty: true,
			AdminConsentScopes: slices.DeleteFunc(slices.Clone(graphScopes), func(s string) bool { return slices.Contains(graphUserConsentScopes, s) })},
		{Name: "Microsoft Graph Command Line Tools", AppID: GraphCLIAppID, ServicePrincipalID: DerivedID("servicePrincipal/" + GraphCLIAppID),
			AccessTokenVersion: 1, AllowPublicClient: true, FirstParty: true},
	}
	for _, a := range apps {
		if d.findApp(a.AppID) == nil {
			d.Applications = append(d.Applications, a)
		}
	}
}
