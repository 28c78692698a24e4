package sidecar

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Config is the sidecar's configuration, under the names Microsoft's image
// reads (AzureAd__*, DownstreamApis__*, Sidecar__*), so compose can swap
// one image for the other.
type Config struct {
	Instance    string // AzureAd__Instance
	TenantID    string // AzureAd__TenantId
	ClientID    string // AzureAd__ClientId: the blueprint
	Audience    string // AzureAd__Audience: the inbound token's aud; default the blueprint's ID and api://ID
	Scope       string // AzureAd__Scopes: a scope inbound tokens must carry ("" for none)
	Credential  Credential
	APIs        map[string]DownstreamAPI // by lower-cased name
	Overrides   Overrides
	AllowRedirs bool // Sidecar__AllowOutboundRedirects
}

// Credential is the first usable AzureAd__ClientCredentials__N entry.
type Credential struct {
	SourceType              string // ClientSecret or SignedAssertionFromManagedIdentity
	ClientSecret            string
	ManagedIdentityClientID string
	// ManagedIdentityToken, when set, gets the managed identity's token
	// in-process instead of through MSAL, which finds the endpoint in the
	// environment: cloudsim's built-in sidecar, whose own process serves
	// that endpoint, sets it.
	ManagedIdentityToken func(ctx context.Context, resource string) (string, error)
}

// DownstreamAPI is one DownstreamApis__<name> entry.
type DownstreamAPI struct {
	Name            string
	BaseURL         string
	RelativePath    string
	HTTPMethod      string
	Scopes          []string
	RequestAppToken bool
}

// Overrides gate the Agent* and optionsOverride.* query parameters per
// route (Sidecar__AllowOverrides__*), with the 1.1.x defaults.
type Overrides struct {
	GetAuthorizationHeader                bool
	GetAuthorizationHeaderUnauthenticated bool
	CallDownstreamAPI                     bool
	CallDownstreamAPIUnauthenticated      bool
}

// DefaultOverrides are 1.1.x's: allowed on the authenticated routes only.
var DefaultOverrides = Overrides{GetAuthorizationHeader: true, CallDownstreamAPI: true}

// ConfigFromEnv reads environ (os.Environ()) the way ASP.NET configuration
// does: "__" separates sections, names are case-insensitive, lists are
// numbered (__Scopes__0) or, for scopes, space-separated.
func ConfigFromEnv(environ []string) (Config, error) {
	kv := map[string]string{}
	for _, e := range environ {
		k, v, ok := strings.Cut(e, "=")
		if ok {
			kv[strings.ToLower(k)] = v
		}
	}
	cfg := Config{
		Instance: strings.TrimRight(orDefault(kv["azuread__instance"], "https://login.microsoftonline.com/"), "/"),
		TenantID: kv["azuread__tenantid"],
		ClientID: kv["azuread__clientid"],
		Audience: kv["azuread__audience"],
		Scope:    strings.TrimSpace(kv["azuread__scopes"]),
		APIs:     map[string]DownstreamAPI{},
	}
	var problems []string
	if cfg.TenantID == "" || cfg.ClientID == "" {
		problems = append(problems, "AzureAd__TenantId and AzureAd__ClientId are required")
	}
	if _, err := url.Parse(cfg.Instance); err != nil || !strings.HasPrefix(cfg.Instance, "https://") {
		problems = append(problems, fmt.Sprintf("AzureAd__Instance %q must be an https URL", cfg.Instance))
	}
	for n := 0; ; n++ {
		prefix := "azuread__clientcredentials__" + strconv.Itoa(n) + "__"
		st, ok := kv[prefix+"sourcetype"]
		if !ok {
			break
		}
		switch st {
		case "ClientSecret", "SignedAssertionFromManagedIdentity":
			if cfg.Credential.SourceType == "" {
				cfg.Credential = Credential{SourceType: st, ClientSecret: kv[prefix+"clientsecret"], ManagedIdentityClientID: kv[prefix+"managedidentityclientid"]}
			}
		default:
			if cfg.Credential.SourceType == "" {
				problems = append(problems, fmt.Sprintf("AzureAd__ClientCredentials__%d__SourceType %q is not supported by cloudsim's sidecar (ClientSecret or SignedAssertionFromManagedIdentity)", n, st))
			}
		}
	}
	if cfg.Credential.SourceType == "" && len(problems) == 0 {
		problems = append(problems, "AzureAd__ClientCredentials__0__SourceType is required (ClientSecret or SignedAssertionFromManagedIdentity)")
	}
	for k, v := range kv {
		rest, ok := strings.CutPrefix(k, "downstreamapis__")
		if !ok {
			continue
		}
		name, field, _ := strings.Cut(rest, "__")
		api := cfg.APIs[name]
		if api.Name == "" {
			api.Name = originalName(environ, name)
		}
		switch {
		case field == "baseurl":
			api.BaseURL = strings.TrimRight(v, "/")
		case field == "relativepath":
			api.RelativePath = v
		case field == "httpmethod":
			api.HTTPMethod = strings.ToUpper(v)
		case field == "requestapptoken":
			api.RequestAppToken = strings.EqualFold(v, "true")
		}
		cfg.APIs[name] = api
	}
	for name, api := range cfg.APIs {
		api.Scopes = scopesOf(kv, name)
		cfg.APIs[name] = api
	}
	cfg.Overrides = DefaultOverrides
	for field, p := range map[string]*bool{
		"getauthorizationheader":                &cfg.Overrides.GetAuthorizationHeader,
		"getauthorizationheaderunauthenticated": &cfg.Overrides.GetAuthorizationHeaderUnauthenticated,
		"calldownstreamapi":                     &cfg.Overrides.CallDownstreamAPI,
		"calldownstreamapiunauthenticated":      &cfg.Overrides.CallDownstreamAPIUnauthenticated,
	} {
		if v, ok := kv["sidecar__allowoverrides__"+field]; ok {
			*p = strings.EqualFold(v, "true")
		}
	}
	cfg.AllowRedirs = strings.EqualFold(kv["sidecar__allowoutboundredirects"], "true")
	if len(problems) > 0 {
		return cfg, fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return cfg, nil
}

// scopesOf reads an API's scopes: a space-separated __Scopes value, then
// __Scopes__N values in N order.
func scopesOf(kv map[string]string, name string) []string {
	prefix := "downstreamapis__" + name + "__scopes"
	var out []string
	out = append(out, strings.Fields(kv[prefix])...)
	var idx []int
	for k := range kv {
		if n, ok := strings.CutPrefix(k, prefix+"__"); ok {
			if i, err := strconv.Atoi(n); err == nil {
				idx = append(idx, i)
			}
		}
	}
	sort.Ints(idx)
	for _, i := range idx {
		out = append(out, kv[prefix+"__"+strconv.Itoa(i)])
	}
	return out
}

// originalName recovers an API's name as spelled in the environment (for
// messages); lookups are case-insensitive.
func originalName(environ []string, lower string) string {
	for _, e := range environ {
		k, _, _ := strings.Cut(e, "=")
		if rest, ok := strings.CutPrefix(strings.ToLower(k), "downstreamapis__"+lower+"__"); ok && rest != "" {
			return k[len("DownstreamApis__") : len("DownstreamApis__")+len(lower)]
		}
	}
	return lower
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
