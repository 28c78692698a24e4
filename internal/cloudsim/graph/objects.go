package graph

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// The JSON views of tenant objects, with the properties entra-setup.sh
// and the tests read, in Graph's names (the resource type pages:
// application, agentIdentityBlueprint, servicePrincipal, agentIdentity,
// agentUser, directoryRole).

func context(version, entity string) string {
	return Resource + "/" + version + "/$metadata#" + entity
}

func (c *call) applicationJSON(a *tenant.Application) map[string]any {
	scopes := []map[string]any{}
	for _, name := range sortedKeys(a.ScopeIDs, a.Scopes) {
		typ := "User"
		if a.NeedsAdminConsent(name) {
			typ = "Admin"
		}
		scopes = append(scopes, map[string]any{"id": a.ScopeID(name), "value": name, "type": typ, "isEnabled": slices.Contains(a.Scopes, name)})
	}
	roles := []map[string]any{}
	for _, name := range a.AppRoles {
		roles = append(roles, map[string]any{"id": a.AppRoleID(name), "value": name, "allowedMemberTypes": []string{"Application"}, "isEnabled": true,
			"displayName": name})
	}
	passwords := []map[string]any{}
	for i, secret := range a.Secrets {
		p := map[string]any{"keyId": tenant.DerivedID(a.AppID + "/secret/" + secret), "displayName": "secret " + strconv.Itoa(i+1),
			"hint": secret[:min(3, len(secret))]}
		if end, ok := a.SecretEnds[secret]; ok {
			p["endDateTime"] = end.Format(time.RFC3339)
		}
		if start, ok := a.SecretStarts[secret]; ok {
			p["startDateTime"] = start.Format(time.RFC3339)
		}
		passwords = append(passwords, p)
	}
	typ, set := "#microsoft.graph.application", "applications"
	if a.AgentIdentityBlueprint {
		typ = "#microsoft.graph.agentIdentityBlueprint"
	}
	return map[string]any{
		"@odata.context": context(c.version, set+"/$entity"), "@odata.type": typ,
		"id": a.ID(), "appId": a.AppID, "displayName": a.Name, "identifierUris": nonNil(a.IdentifierURIs),
		"api":                    map[string]any{"requestedAccessTokenVersion": a.AccessTokenVersion, "oauth2PermissionScopes": scopes},
		"appRoles":               roles,
		"web":                    map[string]any{"redirectUris": nonNil(a.WebRedirectURIs)},
		"spa":                    map[string]any{"redirectUris": nonNil(a.SPARedirectURIs)},
		"isFallbackPublicClient": a.AllowPublicClient,
		"passwordCredentials":    passwords,
		"signInAudience":         signInAudience(a),
		"requiredResourceAccess": requiredResourceAccess(a),
	}
}

// requiredResourceAccess is what the app was given, an empty collection
// when nothing.
func requiredResourceAccess(a *tenant.Application) any {
	if len(a.RequiredResourceAccess) == 0 {
		return []any{}
	}
	return json.RawMessage(a.RequiredResourceAccess)
}

// signInAudience is the app's, AzureADMyOrg by default.
func signInAudience(a *tenant.Application) string {
	if a.SignInAudience == "" {
		return "AzureADMyOrg"
	}
	return a.SignInAudience
}

// managedIdentityJSON is the host's managed identity's principal.
func (c *call) managedIdentityJSON() map[string]any {
	mi := c.dir.ManagedIdentity
	return map[string]any{"@odata.context": context(c.version, "servicePrincipals/$entity"), "@odata.type": "#microsoft.graph.servicePrincipal",
		"id": strings.ToLower(mi.ObjectID), "appId": strings.ToLower(mi.ClientID), "displayName": mi.Name, "servicePrincipalType": "ManagedIdentity",
		"servicePrincipalNames": []string{strings.ToLower(mi.ClientID), mi.ResourceID}}
}

// ficID is a federated identity credential's id, derived from its
// issuer and subject (unique within an application).
func ficID(fc tenant.FederatedCredential) string {
	return tenant.DerivedID("fic/" + fc.Issuer + "/" + fc.Subject)
}

func ficJSON(fc tenant.FederatedCredential) map[string]any {
	return map[string]any{"id": ficID(fc), "name": fc.Name, "issuer": fc.Issuer, "subject": fc.Subject,
		"audiences": fc.Audiences}
}

// servicePrincipalJSON is an app's principal; an agent identity blueprint's
// is an agentIdentityBlueprintPrincipal.
func (c *call) servicePrincipalJSON(a *tenant.Application) map[string]any {
	typ := "#microsoft.graph.servicePrincipal"
	if a.AgentIdentityBlueprint {
		typ = "#microsoft.graph.agentIdentityBlueprintPrincipal"
	}
	app := c.applicationJSON(a)
	return map[string]any{
		"@odata.context": context(c.version, "servicePrincipals/$entity"), "@odata.type": typ,
		"id": a.ServicePrincipalID, "appId": a.AppID, "displayName": a.Name, "servicePrincipalType": "Application",
		"appRoles": app["appRoles"], "oauth2PermissionScopes": app["api"].(map[string]any)["oauth2PermissionScopes"],
		"servicePrincipalNames": append([]string{a.AppID}, a.IdentifierURIs...),
	}
}

// agentIdentityJSON: an agent identity has no application object, and
// its id is its appId.
func (c *call) agentIdentityJSON(ag *tenant.AgentIdentity) map[string]any {
	return map[string]any{
		"@odata.context": context(c.version, "servicePrincipals/$entity"), "@odata.type": "#microsoft.graph.agentIdentity",
		"id": ag.AppID, "appId": ag.AppID, "displayName": ag.Name, "servicePrincipalType": "ServiceIdentity",
		"agentIdentityBlueprintId": ag.Blueprint,
	}
}

func (c *call) agentUserJSON(u *tenant.AgentUser) map[string]any {
	return map[string]any{
		"@odata.context": context(c.version, "users/$entity"), "@odata.type": "#microsoft.graph.agentUser",
		"id": u.ObjectID, "displayName": u.DisplayName, "userPrincipalName": u.UPN, "identityParentId": u.AgentIdentity, "accountEnabled": true,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sortedKeys lists the scope names an app has: enabled ones, then those
// only in ids (disabled), each once.
func sortedKeys(ids map[string]string, enabled []string) []string {
	out := slices.Clone(enabled)
	for name := range ids {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
