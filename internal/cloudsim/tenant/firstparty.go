package tenant

import (
	"maps"
	"net/url"
	"slices"
)

// Microsoft's first-party applications every tenant has, which the tenant
// file does not list: the Microsoft Graph resource, so the token endpoint
// issues Graph tokens, the Microsoft Graph Command Line Tools public
// client, which entra-setup.sh signs in with by device code, and the
// Azure CLI's public client. Their application objects are Microsoft's
// (FirstParty); the tenant holds their service principals.
const (
	GraphAppID    = "00000003-0000-0000-c000-000000000000"
	GraphResource = "https://graph.microsoft.com"
	GraphCLIAppID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
	// AzureCLIAppID is the Azure CLI's public client ("Microsoft Azure
	// CLI"), the client_id azure-cli signs in with
	// (src/azure-cli-core/azure/cli/core/auth/identity.py,
	// AZURE_CLI_CLIENT_ID, read 2026-12-06).
	AzureCLIAppID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
)

// LocalGraphPath is where cloudsim serves Microsoft Graph on its own
// host.
const LocalGraphPath = "/graph"

// IsLocalGraphURL reports whether id is cloudsim's own Graph URL, with or
// without its trailing slash: https://<any host that reaches cloudsim>/graph.
// In a cloud other than Azure's public one, Graph's resource ID is that
// cloud's Graph endpoint (the Azure CLI's AzureChinaCloud has
// https://microsoftgraph.chinacloudapi.cn), and the Azure CLI uses the one
// value both as the resource it asks tokens for and as the URL it calls
// (azure-cli, role/_msgrpah/_graph_client.py: "self._scopes =
// resource_to_scopes(...microsoft_graph_resource_id)", "self._endpoint =
// ...microsoft_graph_resource_id.rstrip('/')", read 2026-12-06): so a cloud
// registered at cloudsim names Graph by this URL.
func IsLocalGraphURL(id string) bool {
	u, err := url.Parse(id)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.RawQuery == "" && u.Fragment == "" &&
		(u.Path == LocalGraphPath || u.Path == LocalGraphPath+"/")
}

// GraphIdentifiers are the names Microsoft Graph's resource answers to
// besides its appId: its identifier URI, and the same with a trailing
// slash, the form of a v1 resource ID that the Azure CLI turns into a
// scope by appending "/.default", which gives
// "https://graph.microsoft.com//.default" (the scopes page, "Trailing
// slash and .default": "when you request a token for
// https://management.azure.com/ and use .default, you must request
// https://management.azure.com//.default (notice the double slash!)",
// learn.microsoft.com/entra/identity-platform/scopes-oidc, read
// 2026-12-06). A v1 token's aud is the identifier the request used
// (access token claims reference, aud: "the resource URI used in the
// request"), so Graph accepts each as its audience.
var GraphIdentifiers = []string{GraphResource, GraphResource + "/"}

// graphAppRoles are Microsoft Graph's application permissions (app
// roles) that cloudsim's Graph checks or a tenant may grant, with their
// IDs: the Agent ID ones from "Microsoft Entra Agent ID APIs in Microsoft
// Graph overview", "Permissions for managing agent identities", App-only
// ID column (learn.microsoft.com/graph/api/resources/agentid-platform-
// overview, read 2026-12-06), the others from the Microsoft Graph
// permissions reference (learn.microsoft.com/graph/permissions-reference,
// read 2026-12-06). An app-only Graph token's roles are those of them
// granted to its client (an appRoleAssignment on Graph's principal, or the
// tenant file's consents).
var graphAppRoles = map[string]string{
	"Application.Read.All":                          "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
	"Application.ReadWrite.All":                     "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
	"Application.ReadWrite.OwnedBy":                 "18a4783c-866b-4cc7-a460-3d5e5662c884",
	"AppRoleAssignment.ReadWrite.All":               "06b708a9-e830-4db3-a914-8e69da51d44f",
	"DelegatedPermissionGrant.ReadWrite.All":        "8e8e4742-1d95-4f68-9d56-6ee75648c72a",
	"Directory.Read.All":                            "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
	"Directory.ReadWrite.All":                       "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
	"User.Read.All":                                 "df021288-bdef-4463-88db-98f22de89214",
	"User.ReadWrite.All":                            "741f803b-c850-494e-b5df-cde7c675a1ca",
	"AgentIdentity.Read.All":                        "b2b8f011-2898-4234-9092-5059f6c1ebfa",
	"AgentIdentity.ReadWrite.All":                   "dcf7150a-88d4-4fe6-9be1-c2744c455397",
	"AgentIdentity.CreateAsManager":                 "4c390976-b2b7-42e0-9187-c6be3bead001",
	"AgentIdentity.Create.All":                      "ad25cc1d-84d8-47df-a08e-b34c2e800819",
	"AgentIdentityBlueprint.Read.All":               "7547a7d1-36fa-4479-9c31-559a600eaa4f",
	"AgentIdentityBlueprint.ReadWrite.All":          "7fddd33b-d884-4ec0-8696-72cff90ff825",
	"AgentIdentityBlueprint.AddRemoveCreds.All":     "0510736e-bdfb-4b37-9a1f-89b4a074763a",
	"AgentIdentityBlueprint.UpdateBranding.All":     "76232daa-a1e4-4544-b664-495a006513bf",
	"AgentIdentityBlueprint.Create":                 "ea4b2453-ad2d-4d94-9155-10d5d9493ce9",
	"AgentIdentityBlueprintPrincipal.Create":        "8959696d-d07e-4916-9b1e-3ba9ce459161",
	"AgentIdentityBlueprintPrincipal.ReadWrite.All": "3bc933bc-8b4d-4cb6-ac49-b73774299250",
	"AgentIdUser.ReadWrite.All":                     "b782c9ad-6f2b-4894-a21b-72bf22417f0a",
	"AgentIdUser.ReadWrite.IdentityParentedBy":      "4aa6e624-eee0-40ab-bdd8-f9639038a614",
}

// GraphAppRoleID is the ID of one of Microsoft Graph's application
// permissions ("" when cloudsim does not know it).
func GraphAppRoleID(name string) string { return graphAppRoles[name] }

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

// firstPartyApps are the first-party applications as every tenant has
// them, new copies each time.
func firstPartyApps() []*Application {
	roles := slices.Sorted(maps.Keys(graphAppRoles))
	return []*Application{
		{Name: "Microsoft Graph", AppID: GraphAppID, ServicePrincipalID: DerivedID("servicePrincipal/" + GraphAppID), AccessTokenVersion: 1,
			IdentifierURIs: slices.Clone(GraphIdentifiers), Scopes: slices.Clone(graphScopes), FirstParty: true,
			AdminConsentScopes: slices.DeleteFunc(slices.Clone(graphScopes), func(s string) bool { return slices.Contains(graphUserConsentScopes, s) }),
			AppRoles:           roles, AppRoleIDs: maps.Clone(graphAppRoles)},
		{Name: "Microsoft Graph Command Line Tools", AppID: GraphCLIAppID, ServicePrincipalID: DerivedID("servicePrincipal/" + GraphCLIAppID),
			AccessTokenVersion: 1, AllowPublicClient: true, FirstParty: true},
		{Name: "Microsoft Azure CLI", AppID: AzureCLIAppID, ServicePrincipalID: DerivedID("servicePrincipal/" + AzureCLIAppID),
			AccessTokenVersion: 1, AllowPublicClient: true, FirstParty: true},
	}
}

// firstPartyApp is the first-party application with this appId, or nil:
// what the tenant file's consents may name before addFirstParty runs.
func firstPartyApp(appID string) *Application {
	for _, a := range firstPartyApps() {
		if a.AppID == appID {
			return a
		}
	}
	return nil
}

// addFirstParty adds the first-party applications the file does not.
func (d *Directory) addFirstParty() {
	for _, a := range firstPartyApps() {
		if d.findApp(a.AppID) == nil {
			d.Applications = append(d.Applications, a)
		}
	}
}
