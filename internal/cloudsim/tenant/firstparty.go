package tenant

import "slices"

// Microsoft's first-party applications every tenant has, which the tenant
// file does not list: the Microsoft Graph resource, so the token endpoint
// issues Graph tokens, and the Microsoft Graph Command Line Tools public
// client, which entra-setup.sh signs in with by device code.
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

// addFirstParty adds the first-party applications the file does not.
func (d *Directory) addFirstParty() {
	apps := []*Application{
		{Name: "Microsoft Graph", AppID: GraphAppID, ServicePrincipalID: DerivedID("servicePrincipal/" + GraphAppID), AccessTokenVersion: 1,
			IdentifierURIs: []string{GraphResource}, Scopes: slices.Clone(graphScopes)},
		{Name: "Microsoft Graph Command Line Tools", AppID: GraphCLIAppID, ServicePrincipalID: DerivedID("servicePrincipal/" + GraphCLIAppID),
			AccessTokenVersion: 1, AllowPublicClient: true},
	}
	for _, a := range apps {
		if d.findApp(a.AppID) == nil {
			d.Applications = append(d.Applications, a)
		}
	}
}
