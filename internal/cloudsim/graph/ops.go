package graph

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// route is one operation: its method, its path (after the version, with
// the captures), what it does, and the types its body's @odata.type may
// name (what the path creates; an update checks the object's type).
type route struct {
	name      string
	method    string
	pattern   *regexp.Regexp
	run       func(*Server, *call) (int, any, *apiError)
	bodyTypes []string
}

// An object is named by its id or, for applications and service
// principals, by appId: applications(appId='…'); a federated identity
// credential by its id or its name: federatedIdentityCredentials(name='…').
const (
	id       = `([0-9a-fA-F-]{36})`
	byAppID  = `\(appId='([0-9a-fA-F-]{36})'\)`
	appRef   = `applications(?:/` + id + `|` + byAppID + `)`
	bpCast   = `(?:/microsoft\.graph\.agentIdentityBlueprint)?`
	ficByKey = `federatedIdentityCredentials(?:/` + id + `|\(name='((?:[^']|'')+)'\))`
)

// rt compiles a route. Graph's URL segments, casts included, ignore case
// (the "create agent identities" guide posts to
// /serviceprincipals/Microsoft.Graph.AgentIdentity).
func rt(name, method, pattern string, run func(*Server, *call) (int, any, *apiError), bodyTypes ...string) route {
	return route{name: name, method: method, pattern: regexp.MustCompile(`(?i)` + pattern), run: run, bodyTypes: bodyTypes}
}

var routes = []route{
	rt("me.get", "GET", `^me$`, (*Server).getMe),
	rt("me.memberOf", "GET", `^me/memberOf/microsoft\.graph\.directoryRole$`, (*Server).myRoles),
	rt("me.transitiveMemberOf", "GET", `^me/transitiveMemberOf/microsoft\.graph\.directoryRole$`, (*Server).myRoles),
	rt("blueprint.create", "POST", `^applications/microsoft\.graph\.agentIdentityBlueprint$`, (*Server).createBlueprint, "agentIdentityBlueprint"),
	rt("application.create", "POST", `^applications$`, (*Server).createApplication, "application"),
	rt("application.list", "GET", `^applications$`, (*Server).listApplications),
	rt("blueprint.list", "GET", `^applications/microsoft\.graph\.agentIdentityBlueprint$`, (*Server).listApplications),
	rt("agentIdentity.list", "GET", `^servicePrincipals/microsoft\.graph\.agentIdentity$`, (*Server).listAgentIdentities),
	rt("servicePrincipal.list", "GET", `^servicePrincipals$`, (*Server).listServicePrincipals),
	rt("application.get", "GET", `^`+appRef+bpCast+`$`, (*Server).getApplication),
	rt("application.owners", "GET", `^`+appRef+bpCast+`/owners$`, (*Server).listOwners),
	rt("application.update", "PATCH", `^`+appRef+bpCast+`$`, (*Server).updateApplication, "application"),
	rt("application.delete", "DELETE", `^applications/`+id+bpCast+`$`, (*Server).deleteApplication),
	rt("blueprint.password", "POST", `^`+appRef+`/microsoft\.graph\.agentIdentityBlueprint/addPassword$`, (*Server).addPassword),
	rt("application.password", "POST", `^`+appRef+`/addPassword$`, (*Server).addPassword),
	rt("blueprint.removePassword", "POST", `^`+appRef+`/microsoft\.graph\.agentIdentityBlueprint/removePassword$`, (*Server).removePassword),
	rt("application.removePassword", "POST", `^`+appRef+`/removePassword$`, (*Server).removePassword),
	rt("blueprint.fic", "POST", `^`+appRef+`/microsoft\.graph\.agentIdentityBlueprint/federatedIdentityCredentials$`, (*Server).addFIC,
		"federatedIdentityCredential"),
	rt("application.fic", "POST", `^`+appRef+`/federatedIdentityCredentials$`, (*Server).addFIC, "federatedIdentityCredential"),
	rt("fic.get", "GET", `^`+appRef+bpCast+`/`+ficByKey+`$`, (*Server).getFIC),
	rt("fic.delete", "DELETE", `^`+appRef+bpCast+`/`+ficByKey+`$`, (*Server).deleteFIC),
	rt("fic.list", "GET", `^`+appRef+bpCast+`/federatedIdentityCredentials$`, (*Server).listFICs),
	rt("blueprintPrincipal.create", "POST", `^servicePrincipals/microsoft\.graph\.agentIdentityBlueprintPrincipal$`, (*Server).createPrincipal,
		"agentIdentityBlueprintPrincipal"),
	rt("agentIdentity.create", "POST", `^servicePrincipals/microsoft\.graph\.agentIdentity$`, (*Server).createAgentIdentity, "agentIdentity"),
	rt("servicePrincipal.create", "POST", `^servicePrincipals$`, (*Server).createPrincipal, "servicePrincipal"),
	rt("servicePrincipal.get", "GET", `^servicePrincipals(?:/`+id+`|`+byAppID+`)$`, (*Server).getServicePrincipal),
	rt("servicePrincipal.delete", "DELETE", `^servicePrincipals/`+id+`$`, (*Server).deleteServicePrincipal),
	rt("appRoleAssignment.create", "POST", `^servicePrincipals/`+id+`/appRoleAssignments$`, (*Server).assignAppRole, "appRoleAssignment"),
	rt("oauth2PermissionGrant.create", "POST", `^oauth2PermissionGrants$`, (*Server).grantScopes, "oAuth2PermissionGrant"),
	rt("agentUser.create", "POST", `^users/microsoft\.graph\.agentUser$`, (*Server).createAgentUser, "agentUser"),
	rt("agentUser.delete", "DELETE", `^users/`+id+`$`, (*Server).deleteAgentUser),
}

// match finds the route for a request and its captures (empty ones
// dropped, so the id or the appId is captures[0]; GUIDs lower-cased, a
// credential's name as written).
func match(method, path string) (*route, []string) {
	for i, rt := range routes {
		if rt.method != method {
			continue
		}
		if m := rt.pattern.FindStringSubmatch(path); m != nil {
			var caps []string
			for _, c := range m[1:] {
				switch {
				case c == "":
				case len(c) == 36 && strings.Count(c, "-") == 4:
					caps = append(caps, strings.ToLower(c))
				default:
					caps = append(caps, strings.ReplaceAll(c, "''", "'"))
				}
			}
			return &routes[i], caps
		}
	}
	return nil, nil
}

// ---- lists: $filter, $top and @odata.nextLink

// The properties each collection filters on with eq, as its list page and
// Graph's advanced query capabilities page document them (application-list,
// serviceprincipal-list, agentidentity-list, application-list-
// federatedidentitycredentials: "This method supports the $filter (eq)
// ... /applications/{id}/federatedIdentityCredentials?$filter=subject eq
// 'value'"; "Advanced query capabilities on Microsoft Entra ID objects",
// learn.microsoft.com/graph/aad-advanced-queries, read 2026-12-06).
var (
	appFilters         = []string{"appId", "displayName", "id", "signInAudience"}
	appAnyFilters      = []string{"identifierUris"}
	spFilters          = []string{"appId", "displayName", "id", "servicePrincipalType"}
	spAnyFilters       = []string{"servicePrincipalNames"}
	agentFilters       = []string{"appId", "displayName", "id", "agentIdentityBlueprintId"}
	ficFilters         = []string{"name", "subject", "issuer"}
	ficAnyFilters      = []string{"audiences"}
	listContextByRoute = map[string]string{
		"application.list": "applications", "blueprint.list": "applications/microsoft.graph.agentIdentityBlueprint",
		"agentIdentity.list": "servicePrincipals/microsoft.graph.agentIdentity", "servicePrincipal.list": "servicePrincipals",
	}
)

// list filters items, pages them, and answers the collection.
func list(c *call, ctx, resource string, items []map[string]any, scalar, collections []string) (int, any, *apiError) {
	clauses, err := parseFilter(c, resource, scalar, collections)
	if err != nil {
		return 0, nil, err
	}
	kept := []map[string]any{}
	for _, item := range items {
		if matches(item, clauses) {
			kept = append(kept, item)
		}
	}
	pageItems, next, err := page(c, kept)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, collection(context(c.version, ctx), pageItems, next), nil
}

// listApplications lists applications, or at the cast only agent identity
// blueprints (application-list, agentidentityblueprint-list).
func (s *Server) listApplications(c *call) (int, any, *apiError) {
	blueprints := c.route == "blueprint.list"
	row := "application.get"
	if blueprints {
		row = "blueprint.get"
	}
	if err := c.caller.permitted(row); err != nil {
		return 0, nil, err
	}
	ownedOnly := c.caller.onlyOwned(row)
	items := []map[string]any{}
	for _, a := range c.dir.Applications {
		// Microsoft's first-party applications are registered in
		// Microsoft's tenant, not this one.
		if !a.FirstParty && (!blueprints || a.AgentIdentityBlueprint) && (!ownedOnly || c.owns(a)) {
			items = append(items, c.applicationJSON(a))
		}
	}
	return list(c, listContextByRoute[c.route], "Application", items, appFilters, appAnyFilters)
}

// listAgentIdentities lists agent identities (agentidentity-list); a
// blueprint with AgentIdentity.CreateAsManager, those it manages.
func (s *Server) listAgentIdentities(c *call) (int, any, *apiError) {
	if err := c.caller.permitted("agentIdentity.get"); err != nil {
		return 0, nil, err
	}
	ownedOnly := c.caller.onlyOwned("agentIdentity.get")
	items := []map[string]any{}
	for _, ag := range c.dir.AgentIdentities {
		if !ownedOnly || c.manages(ag) {
			items = append(items, c.agentIdentityJSON(ag))
		}
	}
	return list(c, listContextByRoute[c.route], "ServicePrincipal", items, agentFilters, nil)
}

// listServicePrincipals lists the tenant's service principals
// (serviceprincipal-list): the applications' (Microsoft's first-party
// ones included: their principals are the tenant's), the agent
// identities (an agentIdentity is a servicePrincipal) and the managed
// identity.
func (s *Server) listServicePrincipals(c *call) (int, any, *apiError) {
	if err := c.caller.permitted("servicePrincipal.get"); err != nil {
		return 0, nil, err
	}
	ownedOnly := c.caller.onlyOwned("servicePrincipal.get")
	items := []map[string]any{}
	for _, a := range c.dir.Applications {
		if a.ServicePrincipalID != "" && (!ownedOnly || c.owns(a)) {
			items = append(items, c.servicePrincipalJSON(a))
		}
	}
	if !ownedOnly {
		for _, ag := range c.dir.AgentIdentities {
			items = append(items, c.agentIdentityJSON(ag))
		}
		if mi := c.dir.ManagedIdentity; mi.ObjectID != "" {
			items = append(items, c.managedIdentityJSON())
		}
	}
	return list(c, listContextByRoute[c.route], "ServicePrincipal", items, spFilters, spAnyFilters)
}

// ---- the signed-in user

// errMeNeedsAUser is Graph's answer to /me with an app-only token.
func errMeNeedsAUser() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "BadRequest", message: "/me request is only valid with delegated authentication flow."}
}

func (s *Server) getMe(c *call) (int, any, *apiError) {
	if c.caller.appOnly() {
		return 0, nil, errMeNeedsAUser()
	}
	if err := c.caller.check("me.get", false); err != nil {
		return 0, nil, err
	}
	u := c.caller.user
	return http.StatusOK, map[string]any{"@odata.context": context(c.version, "users/$entity"), "id": u.ObjectID, "displayName": u.DisplayName,
		"userPrincipalName": u.UPN}, nil
}

// myRoles lists the user's directory roles (memberOf: held directly;
// transitiveMemberOf: also through a role-assignable group, which
// cloudsim's tenant has none of, so the same). Without a role-reading
// permission each comes back with id and @odata.type only, as Graph
// returns objects the caller may not read. Roles a user is only eligible
// for (Privileged Identity Management) are in neither until activated.
func (s *Server) myRoles(c *call) (int, any, *apiError) {
	if c.caller.appOnly() {
		return 0, nil, errMeNeedsAUser()
	}
	if err := c.caller.check(c.route, false); err != nil {
		return 0, nil, err
	}
	readable := c.caller.check("directoryRole.read", false) == nil
	roles := []map[string]any{}
	for _, name := range c.caller.user.DirectoryRoles {
		role := map[string]any{"@odata.type": "#microsoft.graph.directoryRole", "id": tenant.DerivedID("directoryRole/" + name)}
		if readable {
			role["displayName"] = name
		}
		roles = append(roles, role)
	}
	return http.StatusOK, map[string]any{"@odata.context": context(c.version, "directoryObjects"), "value": roles}, nil
}

// ---- applications and blueprints

// appBody is what entra-setup.sh and its tests send for an application.
type appBody struct {
	DisplayName            *string         `json:"displayName"`
	IdentifierURIs         *[]string       `json:"identifierUris"`
	API                    *apiBody        `json:"api"`
	AppRoles               *[]appRoleBody  `json:"appRoles"`
	Web                    *redirects      `json:"web"`
	SPA                    *redirects      `json:"spa"`
	IsFallbackPublicClient *bool           `json:"isFallbackPublicClient"`
	RequiredResourceAccess json.RawMessage `json:"requiredResourceAccess"`
	SignInAudience         *string         `json:"signInAudience"`
	Sponsors               []string        `json:"sponsors@odata.bind"`
	Owners                 []string        `json:"owners@odata.bind"`
}

type apiBody struct {
	RequestedAccessTokenVersion *int         `json:"requestedAccessTokenVersion"`
	OAuth2PermissionScopes      *[]scopeBody `json:"oauth2PermissionScopes"`
}

type scopeBody struct {
	ID        string `json:"id"`
	Value     string `json:"value"`
	IsEnabled *bool  `json:"isEnabled"`
	// Type is who may consent: "User" (any user, for themselves) or
	// "Admin" (an admin only; permissionScope's type).
	Type string `json:"type"`
}

type appRoleBody struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

type redirects struct {
	RedirectURIs []string `json:"redirectUris"`
}

// appProperties are the properties cloudsim applies, by the permission
// group agentidentityblueprint-update puts them in; any other is refused.
var appProperties = map[string]string{
	"displayName": "branding", "identifierUris": "auth", "api": "auth", "appRoles": "auth", "web": "auth", "spa": "auth",
	"isFallbackPublicClient": "auth", "requiredResourceAccess": "auth", "signInAudience": "auth",
}

// propertyGroups reads which groups a body's properties fall in, refusing
// one cloudsim does not apply and the credentials, which have their own
// actions.
func propertyGroups(c *call, create bool) ([]string, *apiError) {
	if c.bodyErr != nil {
		return nil, c.bodyErr
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(c.body, &fields); err != nil {
		return nil, badRequest("Unable to read JSON request payload: %v", err)
	}
	var groups []string
	for name := range fields {
		group, ok := appProperties[name]
		switch {
		case name == "passwordCredentials" || name == "keyCredentials":
			return nil, badRequest("Property '%s' cannot be set with this request: use addPassword or addKey.", name)
		case create && (name == "sponsors@odata.bind" || name == "owners@odata.bind"), name == "@odata.type":
			// The annotation names the type (checked by decode); it sets
			// no property.
			continue
		case !ok:
			return nil, badRequest("Property '%s' is not one cloudsim's Graph applies (it applies %s).", name, strings.Join(sortedNames(appProperties), ", "))
		}
		if !slices.Contains(groups, group) {
			groups = append(groups, group)
		}
	}
	return groups, nil
}

func sortedNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (s *Server) createBlueprint(c *call) (int, any, *apiError) {
	if err := c.caller.check("blueprint.create", false); err != nil {
		return 0, nil, err
	}
	var body appBody
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	if len(body.Sponsors) == 0 {
		// A blueprint needs a sponsor (agentidentityblueprint-post's
		// request body; known issues: sponsors must be users).
		return 0, nil, badRequest("A sponsor is required: set sponsors@odata.bind to a user.")
	}
	return s.createApp(c, body, true)
}

func (s *Server) createApplication(c *call) (int, any, *apiError) {
	if err := c.caller.check("application.create", false); err != nil {
		return 0, nil, err
	}
	var body appBody
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	return s.createApp(c, body, false)
}

func (s *Server) createApp(c *call, body appBody, blueprint bool) (int, any, *apiError) {
	if _, err := propertyGroups(c, true); err != nil {
		return 0, nil, err
	}
	if body.DisplayName == nil || *body.DisplayName == "" {
		return 0, nil, badRequest("Property 'displayName' is required.")
	}
	a := &tenant.Application{AppID: newGUID(), ObjectID: newGUID(), AgentIdentityBlueprint: blueprint, AccessTokenVersion: 1,
		CreatedAt: c.now, Owners: []string{c.caller.id()}, SignInAudience: "AzureADMyOrg"}
	var result map[string]any
	err := s.update(func(next *tenant.Directory) *apiError {
		if err := apply(a, body, next); err != nil {
			return err
		}
		next.Applications = append(next.Applications, a)
		result = c.applicationJSON(a)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	s.created(c.now, "app:"+a.ObjectID, "app:"+a.AppID)
	return http.StatusCreated, result, nil
}

// apply sets the properties of body on a (a copy, for an update), with
// Graph's refusals: an identifier URI another app has, and changing or
// removing an enabled scope, which Graph refuses until it is disabled.
func apply(a *tenant.Application, body appBody, dir *tenant.Directory) *apiError {
	if body.DisplayName != nil {
		a.Name = *body.DisplayName
	}
	if body.IdentifierURIs != nil {
		for _, uri := range *body.IdentifierURIs {
			if other := dir.AppByIdentifier(uri); other != nil && other.AppID != a.AppID {
				return badRequest("Another object with the same value for property identifierUris already exists.")
			}
		}
		a.IdentifierURIs = *body.IdentifierURIs
	}
	if body.API != nil && body.API.RequestedAccessTokenVersion != nil {
		v := *body.API.RequestedAccessTokenVersion
		if v != 1 && v != 2 {
			return badRequest("Invalid value for requestedAccessTokenVersion: %d (1 or 2).", v)
		}
		a.AccessTokenVersion = v
	}
	if body.API != nil && body.API.OAuth2PermissionScopes != nil {
		if err := setScopes(a, *body.API.OAuth2PermissionScopes); err != nil {
			return err
		}
	}
	if body.AppRoles != nil {
		a.AppRoles, a.AppRoleIDs = nil, map[string]string{}
		for _, r := range *body.AppRoles {
			if r.ID == "" || r.Value == "" {
				return badRequest("An app role needs an id and a value.")
			}
			a.AppRoles = append(a.AppRoles, r.Value)
			a.AppRoleIDs[r.Value] = strings.ToLower(r.ID)
		}
	}
	if body.Web != nil {
		a.WebRedirectURIs = body.Web.RedirectURIs
	}
	if body.SPA != nil {
		a.SPARedirectURIs = body.SPA.RedirectURIs
	}
	if body.IsFallbackPublicClient != nil {
		a.AllowPublicClient = *body.IsFallbackPublicClient
	}
	if len(body.RequiredResourceAccess) > 0 && string(body.RequiredResourceAccess) != "null" {
		var rra []json.RawMessage
		if err := json.Unmarshal(body.RequiredResourceAccess, &rra); err != nil {
			return badRequest("Invalid value for requiredResourceAccess: a collection of requiredResourceAccess is expected.")
		}
		a.RequiredResourceAccess = slices.Clone(body.RequiredResourceAccess)
	}
	if body.SignInAudience != nil {
		if !slices.Contains(signInAudiences, *body.SignInAudience) {
			return badRequest("Invalid value for signInAudience: '%s' (one of %s).", *body.SignInAudience, strings.Join(signInAudiences, ", "))
		}
		a.SignInAudience = *body.SignInAudience
	}
	// "If signInAudience on the application is configured as
	// AzureADandPersonalMicrosoftAccount or PersonalMicrosoftAccount, the
	// value for this property must be 2" (apiApplication resource type,
	// requestedAccessTokenVersion, learn.microsoft.com/graph/api/resources/
	// apiapplication, read 2026-12-06).
	if (a.SignInAudience == "AzureADandPersonalMicrosoftAccount" || a.SignInAudience == "PersonalMicrosoftAccount") && a.AccessTokenVersion != 2 {
		return badRequest("Property api.requestedAccessTokenVersion is invalid: signInAudience %s needs 2.", a.SignInAudience)
	}
	return nil
}

// signInAudiences are signInAudience's values (application resource
// type, learn.microsoft.com/graph/api/resources/application, read
// 2026-12-06: "AzureADMyOrg (default), AzureADMultipleOrgs,
// AzureADandPersonalMicrosoftAccount, and PersonalMicrosoftAccount").
// cloudsim has one tenant, so none changes who may sign in.
var signInAudiences = []string{"AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount"}

// setScopes replaces an app's delegated permissions. An enabled scope
// that the new list drops or changes is refused: "Permission (scope or
// role) cannot be deleted or updated unless disabled first."
func setScopes(a *tenant.Application, scopes []scopeBody) *apiError {
	next := map[string]scopeBody{}
	for _, sc := range scopes {
		if sc.ID == "" || sc.Value == "" {
			return badRequest("An oauth2PermissionScope needs an id and a value.")
		}
		if sc.Type != "" && sc.Type != "User" && sc.Type != "Admin" {
			return badRequest("An oauth2PermissionScope's type is User or Admin, not '%s'.", sc.Type)
		}
		next[strings.ToLower(sc.ID)] = sc
	}
	for _, name := range a.Scopes {
		sc, kept := next[a.ScopeID(name)]
		if !kept || sc.Value != name {
			return &apiError{status: http.StatusBadRequest, code: "CannotDeleteOrUpdateEnabledEntitlement", message: "Permission (scope or role) cannot be deleted or updated unless disabled first."}

		}
	}
	a.Scopes, a.ScopeIDs, a.AdminConsentScopes = nil, map[string]string{}, nil
	for id, sc := range next {
		a.ScopeIDs[sc.Value] = id
		if sc.IsEnabled == nil || *sc.IsEnabled {
			a.Scopes = append(a.Scopes, sc.Value)
			if sc.Type == "Admin" {
				a.AdminConsentScopes = append(a.AdminConsentScopes, sc.Value)
			}
		}
	}
	slices.Sort(a.Scopes)
	slices.Sort(a.AdminConsentScopes)
	return nil
}

// lookupApp finds the application a route names by id or appId: nil
// when there is none, or it is Microsoft's (first-party), whose
// application object Graph does not serve from this tenant.
func lookupApp(c *call) *tenant.Application {
	for _, a := range c.dir.Applications {
		if !a.FirstParty && (a.ID() == c.path[0] || a.AppID == c.path[0]) {
			if c.srv.missed(c.now, "app:"+c.path[0]) {
				return nil // a replica that has not seen it yet
			}
			return a
		}
	}
	return nil
}

// checkedApp finds the application a route names and checks the caller
// may act on it: the blueprint's row for a blueprint, the app's row for
// any other. The permission comes first, as Graph answers 403 before 404:
// an object that is not there is 404 only to a caller holding either
// row's permission. The role of a caller who does not own it comes last,
// as it depends on the object.
func checkedApp(c *call, appRow, blueprintRow string) (*tenant.Application, *apiError) {
	a := lookupApp(c)
	if a == nil {
		if err := c.caller.permittedAny(appRow, blueprintRow); err != nil {
			return nil, err
		}
		return nil, notFound(c.path[0])
	}
	row := appRow
	if a.AgentIdentityBlueprint {
		row = blueprintRow
	}
	if err := c.caller.check(row, c.owns(a)); err != nil {
		return nil, err
	}
	return a, nil
}

// owns reports whether the caller owns the application: it created it
// (a user, or an application's principal).
func (c *call) owns(a *tenant.Application) bool {
	return slices.Contains(a.Owners, c.caller.id())
}

// manages reports whether the caller manages the agent identity: an
// app-only caller that is its blueprint (AgentIdentity.CreateAsManager),
// or a user who owns its blueprint.
func (c *call) manages(ag *tenant.AgentIdentity) bool {
	if c.caller.appOnly() {
		return c.caller.clientAppID() == ag.Blueprint
	}
	bp := c.dir.App(ag.Blueprint)
	return bp != nil && c.owns(bp)
}

func (s *Server) getApplication(c *call) (int, any, *apiError) {
	a, err := checkedApp(c, "application.get", "blueprint.get")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.applicationJSON(a), nil
}

// listOwners lists an application's owners, the users who created it
// through Graph (application-list-owners, agentidentityblueprint-list-
// owners: the read permissions of the application).
func (s *Server) listOwners(c *call) (int, any, *apiError) {
	a, err := checkedApp(c, "application.get", "blueprint.get")
	if err != nil {
		return 0, nil, err
	}
	owners := []map[string]any{}
	for _, oid := range a.Owners {
		owners = append(owners, map[string]any{"@odata.type": "#microsoft.graph.user", "id": oid})
	}
	return http.StatusOK, map[string]any{"@odata.context": context(c.version, "directoryObjects"), "value": owners}, nil
}

// updateApplication is PATCH: the caller must be able to update the
// object at all (an empty body included) before its body is read; then
// a blueprint's properties are checked by group, each against its own
// permission; an ordinary app's against Application.ReadWrite.All.
func (s *Server) updateApplication(c *call) (int, any, *apiError) {
	a, err := checkedApp(c, "application.update", "blueprint.update")
	if err != nil {
		return 0, nil, err
	}
	// The body's @odata.type may name what the object is: an application,
	// or a blueprint (an application's derived type).
	c.bodyTypes = []string{"application"}
	if a.AgentIdentityBlueprint {
		c.bodyTypes = append(c.bodyTypes, "agentIdentityBlueprint")
	}
	if strings.Contains(strings.ToLower(c.route+c.self), "microsoft.graph.agentidentityblueprint") {
		c.bodyTypes = []string{"agentIdentityBlueprint"}
	}
	if err := checkODataType(c.body, c.bodyTypes...); c.bodyErr == nil && err != nil {
		return 0, nil, err
	}
	groups, err := propertyGroups(c, false)
	if err != nil {
		return 0, nil, err
	}
	for _, g := range groups {
		row := "application.update"
		if a.AgentIdentityBlueprint {
			row = "blueprint.update." + g
		}
		if err := c.caller.check(row, c.owns(a)); err != nil {
			return 0, nil, err
		}
	}
	var body appBody
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.update(func(next *tenant.Directory) *apiError {
		return apply(next.EditApp(a.AppID), body, next)
	})
}

func (s *Server) deleteApplication(c *call) (int, any, *apiError) {
	a, err := checkedApp(c, "application.delete", "blueprint.delete")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.update(func(next *tenant.Directory) *apiError {
		next.Applications = slices.DeleteFunc(next.Applications, func(x *tenant.Application) bool { return x.AppID == a.AppID })
		next.Consents = slices.DeleteFunc(next.Consents, func(x *tenant.Consent) bool { return x.Client == a.AppID || x.Resource == a.AppID })
		return nil
	})
}

// addPassword adds a client secret and returns it, once, as secretText.
func (s *Server) addPassword(c *call) (int, any, *apiError) {
	a, err := checkedApp(c, "application.password", "blueprint.password")
	if err != nil {
		return 0, nil, err
	}
	var body struct {
		PasswordCredential struct {
			DisplayName   string     `json:"displayName"`
			StartDateTime *time.Time `json:"startDateTime"`
			EndDateTime   *time.Time `json:"endDateTime"`
		} `json:"passwordCredential"`
	}
	c.bodyTypes = nil // the body is the action's parameters, untyped
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	// passwordCredential: "startDateTime ... Optional. The default value
	// is 'now'"; "endDateTime ... Optional. The default value is
	// 'startDateTime + 2 years'" (application-addpassword,
	// agentidentityblueprint-addpassword, read 2026-12-06). Both come back
	// with the secret, second precision, in UTC.
	start := c.now.UTC().Truncate(time.Second)
	if st := body.PasswordCredential.StartDateTime; st != nil {
		start = st.UTC().Truncate(time.Second)
	}
	end := start.AddDate(2, 0, 0)
	if e := body.PasswordCredential.EndDateTime; e != nil {
		if !e.After(start) {
			return 0, nil, badRequest("The passwordCredential's endDateTime must be later than its startDateTime.")
		}
		end = e.UTC().Truncate(time.Second)
	}
	raw := make([]byte, 30)
	rand.Read(raw)
	secret := strings.NewReplacer("+", "~", "/", "_", "=", "").Replace(base64.StdEncoding.EncodeToString(raw))
	err = s.update(func(next *tenant.Directory) *apiError {
		app := next.EditApp(a.AppID)
		app.Secrets = append(app.Secrets, secret)
		if app.SecretEnds == nil {
			app.SecretEnds = map[string]time.Time{}
		}
		app.SecretEnds[secret] = end
		if app.SecretStarts == nil {
			app.SecretStarts = map[string]time.Time{}
		}
		app.SecretStarts[secret] = start
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"@odata.context": context(c.version, "microsoft.graph.passwordCredential"),
		"displayName": body.PasswordCredential.DisplayName, "keyId": tenant.DerivedID(a.AppID + "/secret/" + secret), "hint": secret[:3],
		"startDateTime": start.Format(time.RFC3339), "endDateTime": end.Format(time.RFC3339), "secretText": secret}, nil
}

// removePassword removes a client secret by its keyId: 204 No Content
// (application-removepassword, agentidentityblueprint-removepassword,
// read 2026-12-06). The same permissions and roles as addPassword. Graph's
// answer for a keyId the app does not hold is not documented: cloudsim
// answers 400.
func (s *Server) removePassword(c *call) (int, any, *apiError) {
	a, err := checkedApp(c, "application.password", "blueprint.password")
	if err != nil {
		return 0, nil, err
	}
	var body struct {
		KeyID string `json:"keyId"`
	}
	c.bodyTypes = nil // the body is the action's parameters, untyped
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.update(func(next *tenant.Directory) *apiError {
		app := next.EditApp(a.AppID)
		for i, secret := range app.Secrets {
			if strings.EqualFold(tenant.DerivedID(app.AppID+"/secret/"+secret), body.KeyID) {
				app.Secrets = slices.Delete(app.Secrets, i, i+1)
				delete(app.SecretEnds, secret)
				delete(app.SecretStarts, secret)
				return nil
			}
		}
		return badRequest("The application has no password credential with keyId '%s'.", body.KeyID)
	})
}

// addFIC adds a federated identity credential (at most 20 per app, as
// federatedidentitycredential-post says).
func (s *Server) addFIC(c *call) (int, any, *apiError) {
	a, err := checkedApp(c, "application.fic", "blueprint.fic")
	if err != nil {
		return 0, nil, err
	}
	var fc tenant.FederatedCredential
	if err := c.decode(&fc); err != nil {
		return 0, nil, err
	}
	switch {
	case fc.Name == "" || fc.Issuer == "" || fc.Subject == "" || len(fc.Audiences) != 1:
		return 0, nil, badRequest("A federated identity credential needs a name, an issuer, a subject and one audience.")
	case len(a.FederatedCredentials) >= maxFICs:
		// "Maximum of 20 objects can be added to an application"
		// (application-post-federatedidentitycredentials, read
		// 2026-12-06); Graph's wording of the refusal is not documented.
		return 0, nil, badRequest("An application can have at most 20 federated identity credentials.")
	}
	for _, old := range a.FederatedCredentials {
		if old.Name == fc.Name || old.Issuer == fc.Issuer && old.Subject == fc.Subject {
			return 0, nil, &apiError{status: http.StatusConflict, code: "Request_MultipleObjectsWithSameKeyValue", message: "FederatedIdentityCredential with name " + fc.Name + " or its issuer and subject already exists."}

		}
	}
	fc.CreatedAt = c.now
	err = s.update(func(next *tenant.Directory) *apiError {
		app := next.EditApp(a.AppID)
		app.FederatedCredentials = append(app.FederatedCredentials, fc)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	out := ficJSON(fc)
	out["@odata.context"] = context(c.version, "applications('"+a.ID()+"')/federatedIdentityCredentials/$entity")
	return http.StatusCreated, out, nil
}

// maxFICs is how many federated identity credentials an application may
// hold.
const maxFICs = 20

// findFIC is the federated identity credential the path names, by id or
// by name (federatedidentitycredential-get, -delete: "GET
// /applications/{id}/federatedIdentityCredentials/{federatedIdentityCredentialId}",
// ".../federatedIdentityCredentials(name='{name}')", read 2026-12-06).
func findFIC(a *tenant.Application, key string) (tenant.FederatedCredential, bool) {
	for _, fc := range a.FederatedCredentials {
		if ficID(fc) == key || fc.Name == key {
			return fc, true
		}
	}
	return tenant.FederatedCredential{}, false
}

// getFIC reads one federated identity credential, with the read
// permissions of its application.
func (s *Server) getFIC(c *call) (int, any, *apiError) {
	a, err := checkedApp(c, "application.get", "blueprint.get")
	if err != nil {
		return 0, nil, err
	}
	fc, ok := findFIC(a, c.path[1])
	if !ok {
		return 0, nil, notFound(c.path[1])
	}
	out := ficJSON(fc)
	out["@odata.context"] = context(c.version, "applications('"+a.ID()+"')/federatedIdentityCredentials/$entity")
	return http.StatusOK, out, nil
}

// deleteFIC removes a federated identity credential by its id or name
// (federatedidentitycredential-delete; for a blueprint at its cast).
func (s *Server) deleteFIC(c *call) (int, any, *apiError) {
	a, err := checkedApp(c, "application.fic.delete", "blueprint.fic.delete")
	if err != nil {
		return 0, nil, err
	}
	fc, ok := findFIC(a, c.path[1])
	if !ok {
		return 0, nil, notFound(c.path[1])
	}
	return http.StatusNoContent, nil, s.update(func(next *tenant.Directory) *apiError {
		app := next.EditApp(a.AppID)
		app.FederatedCredentials = slices.DeleteFunc(app.FederatedCredentials, func(x tenant.FederatedCredential) bool { return ficID(x) == ficID(fc) })
		return nil
	})
}

// listFICs lists an app's federated identity credentials, a navigation
// property Graph does not return with the application
// (application-list-federatedidentitycredentials: the read permissions of
// the app; $filter (eq) on name, subject and issuer).
func (s *Server) listFICs(c *call) (int, any, *apiError) {
	a, err := checkedApp(c, "application.get", "blueprint.get")
	if err != nil {
		return 0, nil, err
	}
	fics := []map[string]any{}
	for _, fc := range a.FederatedCredentials {
		fics = append(fics, ficJSON(fc))
	}
	return list(c, "applications('"+a.ID()+"')/federatedIdentityCredentials", "FederatedIdentityCredential", fics, ficFilters, ficAnyFilters)
}

// ---- service principals and agent identities

// createPrincipal creates an app's service principal; for a blueprint,
// at the agentIdentityBlueprintPrincipal cast (its own permission).
func (s *Server) createPrincipal(c *call) (int, any, *apiError) {
	blueprintRoute := c.route == "blueprintPrincipal.create"
	row := "servicePrincipal.create"
	if blueprintRoute {
		row = "blueprintPrincipal.create"
	}
	if err := c.caller.permitted(row); err != nil {
		return 0, nil, err
	}
	var body struct {
		AppID string `json:"appId"`
	}
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	appID := strings.ToLower(body.AppID)
	a := c.dir.App(appID)
	noBacking := &apiError{http.StatusBadRequest, "Request_BadRequest",
		"The appId '" + appID + "' of the service principal does not reference a valid application object.", [][2]string{{"NoBackingApplicationObject", "appId"}}}
	if a == nil || c.srv.missed(c.now, "app:"+appID) {
		return 0, nil, noBacking
	}
	// The application's owner creates its principal; anyone else needs a
	// role.
	if err := c.caller.check(row, c.owns(a)); err != nil {
		return 0, nil, err
	}
	switch {
	case a.AgentIdentityBlueprint != blueprintRoute:
		if blueprintRoute {
			return 0, nil, badRequest("The application '%s' is not an agent identity blueprint.", appID)
		}
		return 0, nil, badRequest("An agent identity blueprint's principal is created at /servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal.")
	case a.ServicePrincipalID != "":
		return 0, nil, &apiError{status: http.StatusConflict, code: "Request_MultipleObjectsWithSameKeyValue", message: "The service principal cannot be created, updated, or restored because the service principal name " + appID + " is already in use."}

	}
	var result map[string]any
	spID := newGUID()
	err := s.update(func(next *tenant.Directory) *apiError {
		app := next.EditApp(a.AppID)
		app.ServicePrincipalID = spID
		result = c.servicePrincipalJSON(app)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	s.created(c.now, "sp:"+spID, "sp:"+a.AppID)
	return http.StatusCreated, result, nil
}

// createAgentIdentity creates an agent identity from a blueprint whose
// principal exists. Its owner (the blueprint's) needs no role.
func (s *Server) createAgentIdentity(c *call) (int, any, *apiError) {
	if err := c.caller.permitted("agentIdentity.create"); err != nil {
		return 0, nil, err
	}
	var body struct {
		DisplayName string   `json:"displayName"`
		BlueprintID string   `json:"agentIdentityBlueprintId"`
		Sponsors    []string `json:"sponsors@odata.bind"`
	}
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	bp := c.dir.App(body.BlueprintID)
	// The blueprint's owner needs no role; a blueprint's own app-only
	// token with AgentIdentity.CreateAsManager creates its own agent
	// identities only.
	owner := bp != nil && c.owns(bp)
	if c.caller.appOnly() {
		owner = bp != nil && c.caller.clientAppID() == bp.AppID
	}
	if err := c.caller.check("agentIdentity.create", owner); err != nil {
		return 0, nil, err
	}
	switch {
	case body.DisplayName == "":
		return 0, nil, badRequest("Property 'displayName' is required.")
	case len(body.Sponsors) == 0:
		return 0, nil, badRequest("A sponsor is required: set sponsors@odata.bind to a user or group.")
	case bp == nil || !bp.AgentIdentityBlueprint:
		return 0, nil, badRequest("agentIdentityBlueprintId '%s' is not an agent identity blueprint in this tenant.", body.BlueprintID)
	case bp.ServicePrincipalID == "":
		return 0, nil, badRequest("The agent identity blueprint '%s' has no principal: create its agentIdentityBlueprintPrincipal first.", bp.AppID)
	}
	ag := &tenant.AgentIdentity{Name: body.DisplayName, AppID: newGUID(), Blueprint: bp.AppID, CreatedAt: c.now}
	err := s.update(func(next *tenant.Directory) *apiError {
		next.AgentIdentities = append(next.AgentIdentities, ag)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	s.created(c.now, "sp:"+ag.AppID)
	return http.StatusCreated, c.agentIdentityJSON(ag), nil
}

func (s *Server) getServicePrincipal(c *call) (int, any, *apiError) {
	if ag := c.dir.Agent(c.path[0]); ag != nil {
		if err := c.caller.check("agentIdentity.get", c.manages(ag)); err != nil {
			return 0, nil, err
		}
		if s.missed(c.now, "sp:"+c.path[0]) {
			return 0, nil, notFound(c.path[0])
		}
		return http.StatusOK, c.agentIdentityJSON(ag), nil
	}
	if err := c.caller.check("servicePrincipal.get", false); err != nil {
		return 0, nil, err
	}
	if s.missed(c.now, "sp:"+c.path[0]) {
		return 0, nil, notFound(c.path[0])
	}
	// The host's managed identity is a service principal of the tenant
	// (servicePrincipalType ManagedIdentity), found by its object ID or
	// client ID: a script checks that a trusted identity still exists.
	if mi := c.dir.ManagedIdentity; mi.ObjectID != "" && (strings.EqualFold(mi.ObjectID, c.path[0]) || strings.EqualFold(mi.ClientID, c.path[0])) {
		return http.StatusOK, c.managedIdentityJSON(), nil
	}
	for _, a := range c.dir.Applications {
		if a.ServicePrincipalID != "" && (a.ServicePrincipalID == c.path[0] || a.AppID == c.path[0]) {
			return http.StatusOK, c.servicePrincipalJSON(a), nil
		}
	}
	return 0, nil, notFound(c.path[0])
}

func (s *Server) deleteServicePrincipal(c *call) (int, any, *apiError) {
	if ag := c.dir.Agent(c.path[0]); ag != nil {
		bp := c.dir.App(ag.Blueprint)
		if err := c.caller.check("agentIdentity.delete", bp != nil && c.owns(bp)); err != nil {
			return 0, nil, err
		}
		return http.StatusNoContent, nil, s.update(func(next *tenant.Directory) *apiError {
			next.AgentIdentities = slices.DeleteFunc(next.AgentIdentities, func(x *tenant.AgentIdentity) bool { return x.AppID == ag.AppID })
			next.Consents = slices.DeleteFunc(next.Consents, func(x *tenant.Consent) bool { return x.Client == ag.AppID })
			return nil
		})
	}
	if err := c.caller.permitted("servicePrincipal.delete"); err != nil {
		return 0, nil, err
	}
	a := c.dir.AppByServicePrincipal(c.path[0])
	if a == nil {
		return 0, nil, notFound(c.path[0])
	}
	if err := c.caller.check("servicePrincipal.delete", c.owns(a)); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.update(func(next *tenant.Directory) *apiError {
		next.EditApp(a.AppID).ServicePrincipalID = ""
		return nil
	})
}

// ---- grants

// principalApp names the app (or agent identity) behind a service
// principal's object ID: its appId.
func principalApp(dir *tenant.Directory, spID string) (string, bool) {
	if ag := dir.Agent(spID); ag != nil {
		return ag.AppID, true
	}
	if a := dir.AppByServicePrincipal(spID); a != nil {
		return a.AppID, true
	}
	return "", false
}

// assignAppRole grants an app role of a resource to a client principal:
// the roles claim of the client's app-only tokens for it.
func (s *Server) assignAppRole(c *call) (int, any, *apiError) {
	if err := c.caller.permitted("appRoleAssignment.create"); err != nil {
		return 0, nil, err
	}
	var body struct {
		PrincipalID string `json:"principalId"`
		ResourceID  string `json:"resourceId"`
		AppRoleID   string `json:"appRoleId"`
	}
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	if s.missed(c.now, "sp:"+c.path[0]) {
		return 0, nil, notFound(c.path[0])
	}
	client, ok := principalApp(c.dir, strings.ToLower(body.PrincipalID))
	if !ok || strings.ToLower(body.PrincipalID) != c.path[0] {
		return 0, nil, badRequest("principalId '%s' must be the service principal in the URL and exist in the tenant.", body.PrincipalID)
	}
	resource := c.dir.AppByServicePrincipal(strings.ToLower(body.ResourceID))
	if resource == nil {
		return 0, nil, notFound(body.ResourceID)
	}
	// The resource application's owner assigns its roles; anyone else
	// needs a role of the page's. Microsoft Graph's application
	// permissions take more: "Privileged Role Administrator role is the
	// least privileged role required to grant Microsoft Graph Application
	// permissions" (Microsoft Entra Agent ID, "Create an agent identity
	// blueprint", prerequisites, read 2026-12-06; "Grant tenant-wide admin
	// consent": Cloud Application Administrator and Application
	// Administrator grant any "except Microsoft Graph app roles").
	if err := c.caller.check("appRoleAssignment.create", c.owns(resource)); err != nil {
		return 0, nil, err
	}
	if resource.AppID == tenant.GraphAppID && !c.caller.appOnly() && !c.caller.hasRole([]string{"Privileged Role Administrator"}) {
		return 0, nil, denied()
	}
	role := ""
	for _, name := range resource.AppRoles {
		if resource.AppRoleID(name) == strings.ToLower(body.AppRoleID) {
			role = name
		}
	}
	if role == "" {
		return 0, nil, badRequest("Permission being assigned was not found on application '%s'.", resource.AppID)
	}
	if _, roles := c.dir.Grant(client, resource.AppID); slices.Contains(roles, role) {
		// Graph refuses a second assignment of the same role (its message,
		// as reported for serviceprincipal-post-approleassignments; unverified).
		return 0, nil, badRequest("Permission being assigned already exists on the object")
	}
	err := s.update(func(next *tenant.Directory) *apiError {
		next.Consents = append(next.Consents, &tenant.Consent{Client: client, Resource: resource.AppID, Roles: []string{role}})
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]any{"@odata.context": context(c.version, "servicePrincipals('"+c.path[0]+"')/appRoleAssignments/$entity"),
		"id": newGUID(), "principalId": body.PrincipalID, "resourceId": body.ResourceID, "appRoleId": body.AppRoleID, "principalType": "ServicePrincipal"}, nil
}

// grantScopes is an admin's consent for all users (consentType
// AllPrincipals): the scp of the client's delegated tokens for the
// resource. Single-user grants (Principal) are not emulated.
func (s *Server) grantScopes(c *call) (int, any, *apiError) {
	if err := c.caller.check("oauth2PermissionGrant.create", false); err != nil {
		return 0, nil, err
	}
	var body struct {
		ClientID    string `json:"clientId"`
		ConsentType string `json:"consentType"`
		ResourceID  string `json:"resourceId"`
		Scope       string `json:"scope"`
	}
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	if body.ConsentType != "AllPrincipals" {
		return 0, nil, badRequest("cloudsim's Graph grants consentType AllPrincipals only (an admin's consent for every user); '%s' is not emulated.", body.ConsentType)
	}
	client, ok := principalApp(c.dir, strings.ToLower(body.ClientID))
	resource := c.dir.AppByServicePrincipal(strings.ToLower(body.ResourceID))
	switch {
	case !ok:
		return 0, nil, notFound(body.ClientID)
	case resource == nil:
		return 0, nil, notFound(body.ResourceID)
	}
	scopes := strings.Fields(body.Scope)
	for _, sc := range scopes {
		if !slices.Contains(resource.Scopes, sc) {
			return 0, nil, badRequest("Scope '%s' is not a delegated permission the resource '%s' publishes.", sc, resource.AppID)
		}
	}
	for _, g := range c.dir.Consents {
		if g.Client == client && g.Resource == resource.AppID && len(g.Scopes) > 0 {
			// One AllPrincipals grant per client and resource: a second is a
			// conflict (its scope is updated with PATCH, not emulated).
			return 0, nil, &apiError{status: http.StatusConflict, code: "Request_MultipleObjectsWithSameKeyValue", message: "Permission entry already exists."}
		}
	}
	err := s.update(func(next *tenant.Directory) *apiError {
		next.Consents = append(next.Consents, &tenant.Consent{Client: client, Resource: resource.AppID, Scopes: scopes})
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]any{"@odata.context": context(c.version, "oauth2PermissionGrants/$entity"), "id": newGUID(),
		"clientId": body.ClientID, "consentType": body.ConsentType, "resourceId": body.ResourceID, "scope": body.Scope}, nil
}

// ---- agent users

func (s *Server) createAgentUser(c *call) (int, any, *apiError) {
	if err := c.caller.permitted("agentUser.create"); err != nil {
		return 0, nil, err
	}
	var body struct {
		DisplayName       string `json:"displayName"`
		UserPrincipalName string `json:"userPrincipalName"`
		MailNickname      string `json:"mailNickname"`
		AccountEnabled    *bool  `json:"accountEnabled"`
		IdentityParentID  string `json:"identityParentId"`
	}
	if err := c.decode(&body); err != nil {
		return 0, nil, err
	}
	// AgentIdUser.ReadWrite.IdentityParentedBy (agentuser-post's
	// Application row) reaches agent users of the agent identities the
	// calling blueprint manages.
	parent := c.dir.Agent(strings.ToLower(body.IdentityParentID))
	if err := c.caller.check("agentUser.create", parent != nil && c.caller.appOnly() && c.manages(parent)); err != nil {
		return 0, nil, err
	}
	upn := strings.ToLower(body.UserPrincipalName)
	_, domain, _ := strings.Cut(upn, "@")
	switch {
	case body.DisplayName == "" || body.MailNickname == "" || body.AccountEnabled == nil:
		return 0, nil, badRequest("An agent user needs displayName, mailNickname, accountEnabled and userPrincipalName.")
	case domain != c.dir.Tenant.Domain:
		return 0, nil, badRequest("The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.")
	case c.dir.Agent(strings.ToLower(body.IdentityParentID)) == nil:
		return 0, nil, badRequest("identityParentId '%s' is not an agent identity in this tenant.", body.IdentityParentID)
	case c.dir.UserByUPN(upn) != nil || c.dir.AgentUser(upn) != nil:
		return 0, nil, badRequest("Another object with the same value for property userPrincipalName already exists.")
	}
	for _, au := range c.dir.AgentUsers {
		if au.AgentIdentity == strings.ToLower(body.IdentityParentID) {
			return 0, nil, badRequest("The agent identity '%s' already has an agent user.", body.IdentityParentID)
		}
	}
	au := &tenant.AgentUser{UPN: upn, ObjectID: newGUID(), DisplayName: body.DisplayName, AgentIdentity: strings.ToLower(body.IdentityParentID)}
	err := s.update(func(next *tenant.Directory) *apiError {
		next.AgentUsers = append(next.AgentUsers, au)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c.agentUserJSON(au), nil
}

func (s *Server) deleteAgentUser(c *call) (int, any, *apiError) {
	if err := c.caller.check("agentUser.delete", false); err != nil {
		return 0, nil, err
	}
	au := c.dir.AgentUser(c.path[0])
	if au == nil {
		return 0, nil, notFound(c.path[0])
	}
	return http.StatusNoContent, nil, s.update(func(next *tenant.Directory) *apiError {
		next.AgentUsers = slices.DeleteFunc(next.AgentUsers, func(x *tenant.AgentUser) bool { return x.ObjectID == au.ObjectID })
		return nil
	})
}

// update publishes a change to the live tenant.
func (s *Server) update(edit func(next *tenant.Directory) *apiError) *apiError {
	var failed *apiError
	s.live.Update(func(next *tenant.Directory) error {
		if failed = edit(next); failed != nil {
			return failed
		}
		return nil
	})
	return failed
}
