// Package tenant is cloudsim's directory: the apps, agent identities, users,
// federated credentials and consents of one Entra tenant, read from one
// readable file (JSON with comments) that ships with the repository.
package tenant

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/config"
)

// TokenExchangeAppID is the first-party "AzureADTokenExchange" application.
// Tokens for api://AzureADTokenExchange (managed-identity assertions, T1, T2)
// carry it as their audience.
const (
	TokenExchangeAppID = "fb60f99c-7a34-4190-8149-302f77469936"
	TokenExchangeURI   = "api://AzureADTokenExchange"
)

// Directory is the whole tenant file.
type Directory struct {
	Tenant          Info             `json:"tenant"`
	ManagedIdentity ManagedIdentity  `json:"managedIdentity"`
	Applications    []*Application   `json:"applications"`
	AgentIdentities []*AgentIdentity `json:"agentIdentities"`
	Users           []*User          `json:"users"`
	AgentUsers      []*AgentUser     `json:"agentUsers"`
	Consents        []*Consent       `json:"consents"`
	// AWS is the account cloudsim's STS plays; nil when the file has none.
	AWS *AWSAccount `json:"aws"`

	apps       map[string]*Application // by appId
	parts      map[Part]*Application
	agents     map[string]*AgentIdentity
	byURI      map[string]*Application // by identifier URI
	usersByUPN map[string]*User
	usersByID  map[string]*User
	agentUsers map[string]*AgentUser // by UPN and by object ID
	// hideAfter hides what was created after it from the token endpoint
	// (Live.ForTokens); zero hides nothing.
	hideAfter time.Time
}

// Info names the tenant.
type Info struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Domain      string `json:"domain"`
}

// ManagedIdentity is the host's identity that cloudsim's managed identity
// endpoint issues tokens for.
type ManagedIdentity struct {
	Name       string `json:"name"`
	ClientID   string `json:"clientId"`
	ObjectID   string `json:"objectId"`
	ResourceID string `json:"resourceId"`
}

// Application is an app registration with its service principal.
type Application struct {
	Name                   string                `json:"name"`
	AppID                  string                `json:"appId"`
	ServicePrincipalID     string                `json:"servicePrincipalId"`
	AgentIdentityBlueprint bool                  `json:"agentIdentityBlueprint"`
	AccessTokenVersion     int                   `json:"accessTokenVersion"`
	IdentifierURIs         []string              `json:"identifierUris"`
	Scopes                 []string              `json:"scopes"`
	AppRoles               []string              `json:"appRoles"`
	Secrets                []string              `json:"secrets"`
	FederatedCredentials   []FederatedCredential `json:"federatedCredentials"`
	SPARedirectURIs        []string              `json:"spaRedirectUris"`
	// WebRedirectURIs are where Entra may send the browser back after a
	// consent request for the app, or for an agent identity of this
	// blueprint.
	WebRedirectURIs       []string `json:"webRedirectUris"`
	AllowPublicClient     bool     `json:"allowPublicClient"`
	InheritDelegatedPerms bool     `json:"inheritDelegatedPermissions"`
	// ExportAs names the setting cloudsim.env gives this appId (for
	// example WEATHER_API_APP_ID), so other binaries find it.
	ExportAs string `json:"exportAs"`
	// Part is what the app is in the product, by which cloudsim and the
	// demo find it, whatever setting name it is exported as.
	Part Part `json:"part"`
	// AdminConsentScopes are the scopes (of Scopes) only an admin may
	// consent to (an oauth2PermissionScope of type "Admin"): a user who
	// is not one gets AADSTS90094 on the consent page.
	AdminConsentScopes []string `json:"adminConsentScopes"`
	// SecretEnds is when each secret Microsoft Graph added stops being
	// valid (its passwordCredential's endDateTime); the file's have none.
	SecretEnds map[string]time.Time `json:"-"`
	// SecretStarts is when each secret Microsoft Graph added starts being
	// valid (its passwordCredential's startDateTime).
	SecretStarts map[string]time.Time `json:"-"`
	// SignInAudience is who may sign in to the app (application resource
	// type: AzureADMyOrg, the default, AzureADMultipleOrgs,
	// AzureADandPersonalMicrosoftAccount, PersonalMicrosoftAccount).
	// cloudsim has one tenant, so only Graph reads it.
	SignInAudience string `json:"signInAudience"`
	// RequiredResourceAccess is the permissions the app asks for, as
	// Microsoft Graph was given them (application resource type,
	// requiredResourceAccess); only Graph reads it. Replaced whole, never
	// changed in place.
	RequiredResourceAccess []byte `json:"-"`
	// CreatedAt is when Microsoft Graph created it; zero for the file's.
	CreatedAt time.Time `json:"-"`
	// ObjectID is the application object's id in Microsoft Graph; empty
	// in the file, where it is derived from the appId.
	ObjectID string `json:"-"`
	// ScopeIDs and AppRoleIDs are the permission IDs Graph gave the
	// scopes and app roles it created; the file's are derived from the
	// appId and the name.
	ScopeIDs   map[string]string `json:"-"`
	AppRoleIDs map[string]string `json:"-"`
	// Owners are the object IDs of the users who created it through Graph.
	Owners []string `json:"-"`
	// FirstParty marks Microsoft's own applications (Microsoft Graph, the
	// Graph Command Line Tools, the MCP Server for Enterprise): their
	// application object lives in Microsoft's tenant, so this tenant has
	// only their service principal. Microsoft Graph neither lists nor
	// serves them as applications.
	FirstParty bool `json:"firstParty"`
}

// NeedsAdminConsent reports whether only an admin may consent to the
// scope.
func (a *Application) NeedsAdminConsent(scope string) bool {
	return slices.Contains(a.AdminConsentScopes, scope)
}

// ID is the application object's id.
func (a *Application) ID() string {
	if a.ObjectID != "" {
		return a.ObjectID
	}
	return DerivedID("application/" + a.AppID)
}

// ScopeID is the id of the delegated permission (oauth2PermissionScope)
// with this value.
func (a *Application) ScopeID(name string) string {
	if id, ok := a.ScopeIDs[name]; ok {
		return id
	}
	return DerivedID("scope/" + a.AppID + "/" + name)
}

// AppRoleID is the id of the app role with this value.
func (a *Application) AppRoleID(name string) string {
	if id, ok := a.AppRoleIDs[name]; ok {
		return id
	}
	return DerivedID("approle/" + a.AppID + "/" + name)
}

// DerivedID is a stable GUID for a seed, for the IDs the tenant file does
// not spell out.
func DerivedID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	h := hex.EncodeToString(sum[:16])
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

// Part is what an application is in the product.
type Part string

// The parts; each is given to at most one application.
const (
	PartBlueprint  Part = "blueprint"   // the agent identity blueprint the agent runs as
	PartSPA        Part = "spa"         // the chat UI's public client
	PartWeatherAPI Part = "weather-api" // the protected API the agent calls
	PartSTS        Part = "sts"         // the STS app chain B's web identity token is for
)

var parts = []Part{PartBlueprint, PartSPA, PartWeatherAPI, PartSTS}

// FederatedCredential trusts tokens from an issuer for a subject.
type FederatedCredential struct {
	Name      string   `json:"name"`
	Issuer    string   `json:"issuer"`
	Subject   string   `json:"subject"`
	Audiences []string `json:"audiences"`
	// CreatedAt is when Microsoft Graph added it; zero for the file's.
	CreatedAt time.Time `json:"-"`
}

// AgentIdentity is a service principal created from a blueprint. It holds no
// credential of its own: it authenticates with its blueprint's T1.
type AgentIdentity struct {
	Name      string `json:"name"`
	AppID     string `json:"appId"`
	Blueprint string `json:"blueprint"`
	ExportAs  string `json:"exportAs"`
	// CreatedAt is when Microsoft Graph created it; zero for the file's.
	CreatedAt time.Time `json:"-"`
}

// User is a human member of the tenant.
type User struct {
	UPN         string `json:"upn"`
	ObjectID    string `json:"objectId"`
	DisplayName string `json:"displayName"`
	Password    string `json:"password"`
	// Admin may grant admin consent (the v2 adminconsent endpoint).
	Admin bool `json:"admin"`
	// DirectoryRoles are the user's Microsoft Entra roles by display name,
	// such as "Agent ID Administrator", which Microsoft Graph's Agent ID
	// operations require of a caller who does not own the object.
	DirectoryRoles []string `json:"directoryRoles"`
}

// ConsentAdminRoles are the directory roles that may grant consent for
// the organization and consent to permissions that need an admin: "Cloud
// Application Administrator or Application Administrator is required to
// grant Microsoft Graph delegated permissions", Privileged Role
// Administrator its application permissions (Microsoft Entra Agent ID,
// "Create an agent identity blueprint", prerequisites).
var ConsentAdminRoles = []string{"Global Administrator", "Privileged Role Administrator", "Cloud Application Administrator", "Application Administrator"}

// MayConsentAsAdmin reports whether the user may consent to permissions
// that need an admin, for themselves or for everyone: the tenant file's
// "admin": true, or one of ConsentAdminRoles.
func (u *User) MayConsentAsAdmin() bool {
	return u.Admin || slices.ContainsFunc(u.DirectoryRoles, func(r string) bool { return slices.Contains(ConsentAdminRoles, r) })
}

// AgentUser is the user account an agent identity acts as (agent user flow).
type AgentUser struct {
	UPN           string `json:"upn"`
	ObjectID      string `json:"objectId"`
	DisplayName   string `json:"displayName"`
	AgentIdentity string `json:"agentIdentity"`
	ExportAs      string `json:"exportAs"`
}

// Consent grants a client delegated scopes and app roles on a resource.
type Consent struct {
	Client   string   `json:"client"`
	Resource string   `json:"resource"`
	Scopes   []string `json:"scopes"`
	Roles    []string `json:"roles"`
}

// Load reads and validates a tenant file.
func Load(path string) (*Directory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tenant file: %w", err)
	}
	return Parse(filepath.Base(path), data)
}

// Parse validates a tenant file's contents; name prefixes each problem.
func Parse(name string, src []byte) (*Directory, error) {
	data := stripComments(src)
	d := &Directory{}
	if err := decodeStrict(name, data, d); err != nil {
		return nil, err
	}
	v := &validator{offsets: valueOffsets(data), name: name, data: data, ids: map[string]string{}}
	d.validate(v)
	if len(v.problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(v.problems, "\n"))
	}
	d.addFirstParty()
	d.index()
	return d, nil
}

type validator struct {
	name     string
	data     []byte
	offsets  map[string]int64
	problems []string
	ids      map[string]string // every object ID → where it is, to catch copy-paste duplicates
}

// claim records an object ID, refusing one already used elsewhere.
func (v *validator) claim(path, id string) {
	if prev, dup := v.ids[id]; dup && id != "" {
		v.fail(path, "%s is already used at %s", id, prev)
	}
	v.ids[id] = path
}

// fail records a problem at a JSON path, with the line it is on.
func (v *validator) fail(path, format string, args ...any) {
	line := 1
	// Walk up the path until a known element is found.
	for p := path; p != ""; {
		if off, ok := v.offsets[p]; ok {
			line = lineAt(v.data, off)
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	v.problems = append(v.problems, fmt.Sprintf("%s:%d: %s: %s", v.name, line, path, fmt.Sprintf(format, args...)))
}

func (v *validator) guid(path, value string) string {
	if !config.IsGUID(value) {
		v.fail(path, "%q is not a GUID", value)
	}
	return strings.ToLower(value)
}

// validate checks every section and normalises IDs and UPNs to lower
// case; index then builds the lookups from the valid file.
func (d *Directory) validate(v *validator) {
	d.Tenant.ID = v.guid("tenant.id", d.Tenant.ID)
	if d.Tenant.Domain == "" || strings.ContainsAny(d.Tenant.Domain, "/ @") {
		v.fail("tenant.domain", "must be a domain name such as contoso.example")
	}
	d.ManagedIdentity.ClientID = v.guid("managedIdentity.clientId", d.ManagedIdentity.ClientID)
	d.ManagedIdentity.ObjectID = v.guid("managedIdentity.objectId", d.ManagedIdentity.ObjectID)
	v.claim("managedIdentity.objectId", d.ManagedIdentity.ObjectID)
	d.validateApplications(v)
	d.validateAgentIdentities(v)
	d.validateUsers(v)
	d.validateExports(v)
	if d.AWS != nil {
		d.AWS.validate(v)
		d.validateCredentialProviders(v)
	}
	d.validateConsents(v)
}

func (d *Directory) validateApplications(v *validator) {
	uris := map[string]string{} // identifier URI → the app that has it
	given := map[Part]string{}  // part → the app given it
	for i, a := range d.Applications {
		p := fmt.Sprintf("applications[%d]", i)
		if a == nil {
			v.fail(p, "must be an object")
			continue
		}
		a.AppID = v.guid(p+".appId", a.AppID)
		v.claim(p+".appId", a.AppID)
		a.ServicePrincipalID = v.guid(p+".servicePrincipalId", a.ServicePrincipalID)
		v.claim(p+".servicePrincipalId", a.ServicePrincipalID)
		switch a.AccessTokenVersion {
		case 0:
			a.AccessTokenVersion = 1 // Entra's default when the manifest leaves it null
		case 1, 2:
		default:
			v.fail(p+".accessTokenVersion", "must be 1 or 2")
		}
		if a.Part != "" {
			if !slices.Contains(parts, a.Part) {
				v.fail(p+".part", "%q is not one of %v", a.Part, parts)
			} else if prev, dup := given[a.Part]; dup {
				v.fail(p+".part", "%q is already given to %s", a.Part, prev)
			}
			given[a.Part] = p
		}
		if a.Part == PartBlueprint && !a.AgentIdentityBlueprint {
			v.fail(p+".part", "the blueprint needs agentIdentityBlueprint: true")
		}
		for j, uri := range a.IdentifierURIs {
			if u, err := url.Parse(uri); err != nil || u.Scheme == "" {
				v.fail(fmt.Sprintf("%s.identifierUris[%d]", p, j), "%q is not a URI such as api://<appId>", uri)
			}
			if other, dup := uris[uri]; dup {
				v.fail(fmt.Sprintf("%s.identifierUris[%d]", p, j), "%q is already used by %s", uri, other)
			}
			uris[uri] = a.Name
		}
		for j, fc := range a.FederatedCredentials {
			validateFederatedCredential(v, fmt.Sprintf("%s.federatedCredentials[%d]", p, j), fc)
		}
		for j, sc := range a.AdminConsentScopes {
			if !slices.Contains(a.Scopes, sc) {
				v.fail(fmt.Sprintf("%s.adminConsentScopes[%d]", p, j), "%q is not one of the app's scopes", sc)
			}
		}
		if a.FirstParty && (a.Part != "" || len(a.Secrets) > 0 || len(a.FederatedCredentials) > 0 || a.AgentIdentityBlueprint) {
			// Its application object, and so its credentials, are
			// Microsoft's, not this tenant's.
			v.fail(p+".firstParty", "a first-party application has no part, secrets, federated credentials or blueprint here")
		}
		for k, uris := range [][]string{a.SPARedirectURIs, a.WebRedirectURIs} {
			field := []string{"spaRedirectUris", "webRedirectUris"}[k]
			for j, r := range uris {
				if u, err := url.Parse(r); err != nil || u.Host == "" {
					v.fail(fmt.Sprintf("%s.%s[%d]", p, field, j), "%q is not an absolute URL", r)
				}
			}
		}
	}
}

func validateFederatedCredential(v *validator, p string, fc FederatedCredential) {
	if u, err := url.Parse(fc.Issuer); err != nil || u.Scheme != "https" {
		v.fail(p+".issuer", "%q is not an https issuer URL", fc.Issuer)
	}
	if fc.Subject == "" {
		v.fail(p+".subject", "is required")
	}
	if len(fc.Audiences) == 0 {
		v.fail(p+".audiences", "needs at least one audience (usually %s)", TokenExchangeURI)
	}
}

func (d *Directory) validateAgentIdentities(v *validator) {
	for i, ag := range d.AgentIdentities {
		p := fmt.Sprintf("agentIdentities[%d]", i)
		if ag == nil {
			v.fail(p, "must be an object")
			continue
		}
		ag.AppID = v.guid(p+".appId", ag.AppID)
		v.claim(p+".appId", ag.AppID)
		ag.Blueprint = strings.ToLower(ag.Blueprint)
		if bp := d.findApp(ag.Blueprint); bp == nil || !bp.AgentIdentityBlueprint {
			v.fail(p+".blueprint", "%q is not the appId of an application with agentIdentityBlueprint: true", ag.Blueprint)
		}
	}
}

func (d *Directory) validateUsers(v *validator) {
	upns := map[string]bool{} // humans' and agent users' alike
	upn := func(path, value string) string {
		value = strings.ToLower(value)
		if !strings.Contains(value, "@") {
			v.fail(path, "%q is not a UPN such as someone@%s", value, d.Tenant.Domain)
		}
		if upns[value] {
			v.fail(path, "%q is used twice", value)
		}
		upns[value] = true
		return value
	}
	for i, u := range d.Users {
		p := fmt.Sprintf("users[%d]", i)
		if u == nil {
			v.fail(p, "must be an object")
			continue
		}
		u.UPN = upn(p+".upn", u.UPN)
		u.ObjectID = v.guid(p+".objectId", u.ObjectID)
		v.claim(p+".objectId", u.ObjectID)
		if u.Password == "" {
			v.fail(p+".password", "is required (demo users sign in with it)")
		}
	}
	for i, u := range d.AgentUsers {
		p := fmt.Sprintf("agentUsers[%d]", i)
		if u == nil {
			v.fail(p, "must be an object")
			continue
		}
		u.UPN = upn(p+".upn", u.UPN)
		u.ObjectID = v.guid(p+".objectId", u.ObjectID)
		v.claim(p+".objectId", u.ObjectID)
		u.AgentIdentity = strings.ToLower(u.AgentIdentity)
		if d.findAgent(u.AgentIdentity) == nil {
			v.fail(p+".agentIdentity", "%q is not the appId of an agent identity", u.AgentIdentity)
		}
	}
}

// validateExports checks that each exported setting name is one, once.
func (d *Directory) validateExports(v *validator) {
	exports := map[string]string{}
	export := func(path, name string) {
		if name == "" {
			return
		}
		if !envName.MatchString(name) {
			v.fail(path, "%q is not a setting name such as WEATHER_API_APP_ID", name)
		}
		if prev, dup := exports[name]; dup {
			v.fail(path, "%s is already exported at %s", name, prev)
		}
		exports[name] = path
	}
	for i, a := range d.Applications {
		if a != nil {
			export(fmt.Sprintf("applications[%d].exportAs", i), a.ExportAs)
		}
	}
	for i, a := range d.AgentIdentities {
		if a != nil {
			export(fmt.Sprintf("agentIdentities[%d].exportAs", i), a.ExportAs)
		}
	}
	for i, a := range d.AgentUsers {
		if a != nil {
			export(fmt.Sprintf("agentUsers[%d].exportAs", i), a.ExportAs)
		}
	}
	if d.AWS != nil {
		for i, r := range d.AWS.Roles {
			if r != nil {
				export(fmt.Sprintf("aws.roles[%d].exportAs", i), r.ExportAs)
			}
		}
	}
}

func (d *Directory) validateConsents(v *validator) {
	for i, c := range d.Consents {
		p := fmt.Sprintf("consents[%d]", i)
		if c == nil {
			v.fail(p, "must be an object")
			continue
		}
		c.Client, c.Resource = strings.ToLower(c.Client), strings.ToLower(c.Resource)
		if d.findApp(c.Client) == nil && d.findAgent(c.Client) == nil && firstPartyApp(c.Client) == nil {
			v.fail(p+".client", "%q is not the appId of an application or agent identity", c.Client)
		}
		// A consent may name a first-party application the file does not
		// list: Microsoft Graph's application permissions, for example.
		res := d.findApp(c.Resource)
		if res == nil {
			res = firstPartyApp(c.Resource)
		}
		if res == nil {
			v.fail(p+".resource", "%q is not the appId of an application", c.Resource)
			continue
		}
		for j, s := range c.Scopes {
			if !slices.Contains(res.Scopes, s) {
				v.fail(fmt.Sprintf("%s.scopes[%d]", p, j), "%s does not publish the scope %q", res.Name, s)
			}
		}
		for j, r := range c.Roles {
			if !slices.Contains(res.AppRoles, r) {
				v.fail(fmt.Sprintf("%s.roles[%d]", p, j), "%s does not define the app role %q", res.Name, r)
			}
		}
	}
}

// findApp and findAgent look an appId up while the file is validated,
// before index has built the maps.
func (d *Directory) findApp(appID string) *Application {
	for _, a := range d.Applications {
		if a != nil && a.AppID == appID {
			return a
		}
	}
	return nil
}

func (d *Directory) findAgent(appID string) *AgentIdentity {
	for _, ag := range d.AgentIdentities {
		if ag != nil && ag.AppID == appID {
			return ag
		}
	}
	return nil
}

// index builds the lookups of a validated directory.
func (d *Directory) index() {
	d.apps = map[string]*Application{}
	d.byURI = map[string]*Application{}
	d.parts = map[Part]*Application{}
	for _, a := range d.Applications {
		d.apps[a.AppID] = a
		for _, uri := range a.IdentifierURIs {
			d.byURI[uri] = a
		}
		if a.Part != "" {
			d.parts[a.Part] = a
		}
	}
	d.agents = map[string]*AgentIdentity{}
	for _, ag := range d.AgentIdentities {
		d.agents[ag.AppID] = ag
	}
	d.usersByUPN = map[string]*User{}
	d.usersByID = map[string]*User{}
	for _, u := range d.Users {
		d.usersByUPN[u.UPN] = u
		d.usersByID[u.ObjectID] = u
	}
	d.agentUsers = map[string]*AgentUser{}
	for _, u := range d.AgentUsers {
		d.agentUsers[u.UPN] = u
		d.agentUsers[u.ObjectID] = u
	}
}

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// App returns the application with this appId.
func (d *Directory) App(appID string) *Application {
	if a := d.apps[strings.ToLower(appID)]; a != nil && !d.hidden(a.CreatedAt) {
		return a
	}
	return nil
}

// FederatedCredentials are the app's federated credentials the token
// endpoint knows: one added less than the replication delay ago is not
// among them. "It takes a few seconds for the federated identity
// credential to be propagated after being initially added. If a token
// request is made immediately after adding the federated identity
// credential, it might lead to failure for a couple of minutes" (Azure
// workload identity FAQ, "Is there a propagation delay after creating a
// federated identity credential?").
func (d *Directory) FederatedCredentials(a *Application) []FederatedCredential {
	var known []FederatedCredential
	for _, fc := range a.FederatedCredentials {
		if !d.hidden(fc.CreatedAt) {
			known = append(known, fc)
		}
	}
	return known
}

// Agent returns the agent identity with this appId.
func (d *Directory) Agent(appID string) *AgentIdentity {
	if ag := d.agents[strings.ToLower(appID)]; ag != nil && !d.hidden(ag.CreatedAt) {
		return ag
	}
	return nil
}

// UserByUPN returns the human user with this UPN.
func (d *Directory) UserByUPN(upn string) *User { return d.usersByUPN[strings.ToLower(upn)] }

// UserByID returns the human user with this object ID.
func (d *Directory) UserByID(oid string) *User { return d.usersByID[strings.ToLower(oid)] }

// AgentUser returns the agent user with this UPN or object ID.
func (d *Directory) AgentUser(upnOrID string) *AgentUser {
	return d.agentUsers[strings.ToLower(upnOrID)]
}

// AppByServicePrincipal returns the application whose service principal
// has this object ID.
func (d *Directory) AppByServicePrincipal(oid string) *Application {
	for _, a := range d.Applications {
		if a.ServicePrincipalID != "" && a.ServicePrincipalID == strings.ToLower(oid) && !d.hidden(a.CreatedAt) {
			return a
		}
	}
	return nil
}

// AppFor returns the application that is this part, or nil.
func (d *Directory) AppFor(p Part) *Application { return d.parts[p] }

// AppByIdentifier finds an application by appId or identifier URI, the two
// ways a scope names its resource.
func (d *Directory) AppByIdentifier(id string) *Application {
	if a := d.App(id); a != nil {
		return a
	}
	if a := d.byURI[id]; a != nil && !d.hidden(a.CreatedAt) {
		return a
	}
	if IsLocalGraphURL(id) {
		return d.apps[GraphAppID]
	}
	return nil
}

// Grant returns the consented scopes and roles of client on resource. An
// agent identity whose blueprint has inheritDelegatedPermissions also gets
// the blueprint's delegated scopes.
func (d *Directory) Grant(client, resource string) (scopes, roles []string) {
	client, resource = strings.ToLower(client), strings.ToLower(resource)
	add := func(clientID string, withRoles bool) {
		for _, c := range d.Consents {
			if c.Client == clientID && c.Resource == resource {
				scopes = append(scopes, c.Scopes...)
				if withRoles {
					roles = append(roles, c.Roles...)
				}
			}
		}
	}
	add(client, true)
	if ag := d.agents[client]; ag != nil {
		if bp := d.apps[ag.Blueprint]; bp != nil && bp.InheritDelegatedPerms {
			add(bp.AppID, false)
		}
	}
	sort.Strings(scopes)
	sort.Strings(roles)
	return slices.Compact(scopes), slices.Compact(roles)
}

// AgentsOf lists the agent identities a blueprint owns.
func (d *Directory) AgentsOf(blueprint string) []*AgentIdentity {
	var out []*AgentIdentity
	for _, ag := range d.AgentIdentities {
		if ag.Blueprint == strings.ToLower(blueprint) {
			out = append(out, ag)
		}
	}
	return out
}
