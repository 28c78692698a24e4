// Package weatherapi is the Weather API: an HTTP service that answers only
// callers presenting an Entra access token that passes its policy, and says
// in every answer who it decided the caller was.
package weatherapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
)

// Settings are the Weather API's settings, from its environment; see
// docs/settings.md.
type Settings struct {
	ListenAddr     string
	TenantID       string
	AuthorityHost  string
	AppID          string
	Audiences      []string
	AllowedCallers []string // nil: any app in the tenant ("*")
	// DelegatedCallers may call with delegated tokens only (a user's, with
	// scp), never app-only: the token vault's app registration, whose
	// tokens AgentCore Identity gets for a signed-in user.
	DelegatedCallers     []string
	RequiredRole         string
	RequiredScope        string
	Versions             []int
	RequireAgentIdentity bool
	ValidateSignature    bool
	Leeway               time.Duration
	CacheFor             time.Duration // how long a token that passed is remembered
	Provider             string        // open-meteo or offline
}

// DefaultAuthorityHost is Entra's public cloud.
const DefaultAuthorityHost = "https://login.microsoftonline.com"

// LoadSettings reads and checks every setting, reporting all problems at once.
func LoadSettings(r *config.Reader) Settings {
	c := Settings{
		ListenAddr:           r.String("LISTEN_ADDR", ":8080"),
		TenantID:             r.GUID("TENANT_ID"),
		AuthorityHost:        r.URL("AZURE_AUTHORITY_HOST", DefaultAuthorityHost, true),
		AppID:                r.GUID("WEATHER_API_APP_ID"),
		RequiredRole:         permission(r, "REQUIRED_ROLE"),
		RequiredScope:        permission(r, "REQUIRED_SCOPE"),
		RequireAgentIdentity: r.Bool("REQUIRE_AGENT_IDENTITY", false),
		ValidateSignature:    r.Bool("VALIDATE_TOKEN_SIGNATURE", true),
		Leeway:               r.Duration("TOKEN_LEEWAY", time.Minute),
		CacheFor:             r.Duration("VALIDATION_CACHE_TTL", 5*time.Minute),
		Provider:             r.OneOf("WEATHER_PROVIDER", "open-meteo", "open-meteo", "offline"),
	}
	c.Audiences = r.List("ACCEPTED_AUDIENCES", []string{c.AppID, "api://" + c.AppID})

	callers := r.List("ALLOWED_CALLER_APP_IDS", nil)
	if callers == nil {
		if agent := r.FirstOf("AGENT_CLIENT_ID", "AGENT_APP_ID"); agent != "" {
			callers = []string{agent}
		}
	}
	switch {
	case callers == nil:
		r.Problem("ALLOWED_CALLER_APP_IDS", "is required: the app IDs that may call (defaults to AGENT_CLIENT_ID; * allows any app in the tenant)")
	case slices.Equal(callers, []string{"*"}):
		callers = nil
	default:
		for i, id := range callers {
			if !config.IsGUID(id) {
				r.Problem("ALLOWED_CALLER_APP_IDS", "%q is not an app ID (GUID)", id)
			}
			callers[i] = strings.ToLower(id)
		}
	}
	c.AllowedCallers = callers
	var vault []string
	if id := r.String("VAULT_APP_ID", ""); id != "" {
		vault = []string{id}
	}
	for _, id := range r.List("ALLOWED_DELEGATED_CALLER_APP_IDS", vault) {
		switch {
		case id == "*":
			r.Problem("ALLOWED_DELEGATED_CALLER_APP_IDS", "name the apps: * is not allowed here (ALLOWED_CALLER_APP_IDS=* already allows any app)")
		case !config.IsGUID(id):
			r.Problem("ALLOWED_DELEGATED_CALLER_APP_IDS", "%q is not an app ID (GUID)", id)
		default:
			c.DelegatedCallers = append(c.DelegatedCallers, strings.ToLower(id))
		}
	}

	for _, v := range r.List("ACCEPTED_TOKEN_VERSIONS", []string{"1", "2"}) {
		n, err := strconv.Atoi(v)
		if err != nil || (n != 1 && n != 2) {
			r.Problem("ACCEPTED_TOKEN_VERSIONS", "%q is not 1 or 2", v)
			continue
		}
		if !slices.Contains(c.Versions, n) {
			c.Versions = append(c.Versions, n)
		}
	}
	if c.RequiredRole == "" && c.RequiredScope == "" && c.AllowedCallers == nil {
		r.Problem("REQUIRED_ROLE", "with REQUIRED_SCOPE empty and ALLOWED_CALLER_APP_IDS=*, any token for this API would pass; require a role, a scope or a caller")
	}
	return c
}

// permission reads REQUIRED_ROLE or REQUIRED_SCOPE: Weather.Read unless
// set, and "none" to require nothing of that token kind.
func permission(r *config.Reader, name string) string {
	v := r.String(name, "Weather.Read")
	if v == "none" {
		return ""
	}
	if strings.ContainsAny(v, " ,") {
		r.Problem(name, "%q must be one role or scope name", v)
	}
	return v
}

// Policy is what jwtauth enforces for this configuration: the allowed
// callers are ALLOWED_CALLER_APP_IDS and ALLOWED_DELEGATED_CALLER_APP_IDS,
// so a validator built from it must be behind Guard, which refuses the
// latter's app-only tokens.
func (c Settings) Policy() jwtauth.Policy {
	callers := c.AllowedCallers
	if callers != nil {
		callers = append(slices.Clip(callers), c.DelegatedCallers...)
	}
	return jwtauth.Policy{
		TenantID:             c.TenantID,
		Audiences:            c.Audiences,
		Versions:             c.Versions,
		AllowedCallers:       callers,
		RequiredRole:         c.RequiredRole,
		RequiredScope:        c.RequiredScope,
		RequireAgentIdentity: c.RequireAgentIdentity,
		SkipSignature:        !c.ValidateSignature,
		Leeway:               c.Leeway,
		CacheFor:             c.CacheFor,
	}
}

// KeyURLs are the tenant's JWKS URLs for the accepted token versions.
func (c Settings) KeyURLs() []string {
	var urls []string
	for _, v := range c.Versions {
		if v == 1 {
			urls = append(urls, c.AuthorityHost+"/"+c.TenantID+"/discovery/keys")
		} else {
			urls = append(urls, c.AuthorityHost+"/"+c.TenantID+"/discovery/v2.0/keys")
		}
	}
	return urls
}

// Guard puts the callers' rule that jwtauth's policy cannot say in front
// of auth: an app of ALLOWED_DELEGATED_CALLER_APP_IDS that is not in
// ALLOWED_CALLER_APP_IDS passes only with a user's delegated token.
func (c Settings) Guard(auth Authenticator) Authenticator {
	var only []string
	for _, id := range c.DelegatedCallers {
		if c.AllowedCallers != nil && !slices.Contains(c.AllowedCallers, id) {
			only = append(only, id)
		}
	}
	if len(only) == 0 {
		return auth
	}
	return delegatedOnly{next: auth, apps: only}
}

// delegatedOnly refuses app-only tokens of apps that may act for users
// only.
type delegatedOnly struct {
	next Authenticator
	apps []string
}

func (d delegatedOnly) Authenticate(r *http.Request) (*jwtauth.Caller, *jwtauth.Error) {
	caller, refusal := d.next.Authenticate(r)
	if refusal != nil || !slices.Contains(d.apps, caller.AppID) || caller.Flow == "delegated" {
		return caller, refusal
	}
	return nil, &jwtauth.Error{Status: http.StatusForbidden, Code: jwtauth.CodeInsufficientScope,
		Description: fmt.Sprintf("the calling app %s may call on behalf of a signed-in user only (ALLOWED_DELEGATED_CALLER_APP_IDS), and this token is %s", caller.AppID, flowName(caller.Flow))}
}

func flowName(flow string) string {
	if flow == "app" {
		return "app-only"
	}
	return "an agent user's"
}
