package identity

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/crosscloud-agentid/agentid/internal/agentid"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// Sidecar modes.
const (
	SidecarModeHeader     = "authorization-header" // the agent gets the header and calls the API
	SidecarModeDownstream = "downstream-api"       // the sidecar calls the API; the agent holds no token
)

// Settings are the identity settings of llm-agent; see docs/settings.md.
type Settings struct {
	Provider     string // sidecar or msal
	AgentID      string
	AgentUserUPN string

	SidecarURL   string
	SidecarMode  string
	AppAPI       string
	DelegatedAPI string
	MCPAPI       string

	MSAL       agentid.Config
	AppScopes  []string
	UserScopes []string
	// MCPScopes are the MCP server's delegated scopes (MCP_SCOPES), set by
	// whoever reads the MCP settings; msal asks for them.
	MCPScopes []string

	// UserTokenSource is how the Weather API's token on behalf of the
	// user is got (USER_TOKEN_SOURCE): SourceEntraOBO or
	// SourceAgentCoreVault.
	UserTokenSource string
	// Vault is the vault source's settings, with SourceAgentCoreVault.
	Vault VaultSettings
}

// VaultSettings are the settings of AgentCore Identity's token vault as
// the user token source.
type VaultSettings struct {
	// Provider is the OAuth2 credential provider's name
	// (AGENTCORE_VAULT_PROVIDER).
	Provider string
	// Scopes are asked of Entra through the provider
	// (AGENTCORE_VAULT_SCOPES): the Weather API's delegated scope.
	Scopes []string
	// ReturnURL is where AgentCore sends the browser after consent
	// (AGENTCORE_VAULT_RETURN_URL); empty: consent.html at the origin of
	// the page that sent the turn.
	ReturnURL string
}

// DefaultVaultProvider is AGENTCORE_VAULT_PROVIDER's default: the name
// the setup gives the vault's credential provider.
const DefaultVaultProvider = "entra-weather-api"

// LoadTokenSource reads USER_TOKEN_SOURCE and, on AgentCore Runtime, the
// vault's settings. The vault needs the workload access token only
// AgentCore Runtime gives an invocation, so anywhere else it is refused.
func LoadTokenSource(r *config.Reader, s *Settings, agentCore bool) {
	s.UserTokenSource = r.OneOf("USER_TOKEN_SOURCE", SourceEntraOBO, SourceEntraOBO, SourceAgentCoreVault)
	if !agentCore {
		if s.UserTokenSource == SourceAgentCoreVault {
			r.Problem("USER_TOKEN_SOURCE", "agentcore-vault needs the workload access token AgentCore Runtime passes with each invocation: use it with AGENTCORE_RUNTIME=true, or use entra-obo")
		}
		return
	}
	// Read on the runtime whatever the source, so every setting is seen
	// (and checked) in one place.
	v := VaultSettings{Provider: r.String("AGENTCORE_VAULT_PROVIDER", DefaultVaultProvider)}
	if !vaultProviderName.MatchString(v.Provider) {
		r.Problem("AGENTCORE_VAULT_PROVIDER", "%q is not a credential provider name (1 to 128 letters, digits, - and _)", v.Provider)
	}
	def := ""
	if len(s.UserScopes) > 0 {
		def = s.UserScopes[0]
	}
	for _, sc := range strings.FieldsFunc(r.String("AGENTCORE_VAULT_SCOPES", def), func(c rune) bool { return c == ',' || c == ' ' }) {
		if len(sc) > 128 {
			r.Problem("AGENTCORE_VAULT_SCOPES", "%q is longer than the 128 characters AgentCore takes for a scope", sc)
		}
		v.Scopes = append(v.Scopes, sc)
	}
	if len(v.Scopes) == 0 && s.UserTokenSource == SourceAgentCoreVault {
		r.Problem("AGENTCORE_VAULT_SCOPES", "is required with USER_TOKEN_SOURCE=agentcore-vault: the Weather API's delegated scope, api://<WEATHER_API_APP_ID>/Weather.Read")
	}
	v.ReturnURL = r.URL("AGENTCORE_VAULT_RETURN_URL", "", false)
	s.Vault = v
}

// vaultProviderName is the model's CredentialProviderName pattern.
var vaultProviderName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

// LoadSettings reads IDENTITY_PROVIDER (default sidecar) and what it
// needs; a setting the chosen provider needs and lacks is a problem, never
// a fallback. The blueprint secret is read here, once.
func LoadSettings(r *config.Reader) Settings { return LoadSettingsDefault(r, "sidecar") }

// LoadSettingsDefault is LoadSettings with another default provider, for a
// runtime that has no sidecar (AgentCore Runtime).
func LoadSettingsDefault(r *config.Reader, defaultProvider string) Settings {
	s := Settings{
		Provider:     r.OneOf("IDENTITY_PROVIDER", defaultProvider, "sidecar", "msal"),
		AgentUserUPN: r.String("AGENT_USER_UPN", ""),
	}
	s.MCPScopes = mcpScopes(r)
	s.AgentID = r.FirstOf("AGENT_CLIENT_ID", "AGENT_APP_ID")
	switch {
	case s.AgentID == "":
		r.Problem("AGENT_CLIENT_ID", "is required: the agent identity's app ID (alias AGENT_APP_ID)")
	case !config.IsGUID(s.AgentID):
		r.Problem("AGENT_CLIENT_ID", "%q is not an app ID (GUID)", s.AgentID)
	}
	if s.Provider == "sidecar" {
		s.SidecarURL = r.URL("SIDECAR_URL", "", false)
		if s.SidecarURL == "" {
			r.Problem("SIDECAR_URL", "is required with IDENTITY_PROVIDER=sidecar (for example http://localhost:5000)")
		}
		s.SidecarMode = r.OneOf("SIDECAR_MODE", SidecarModeHeader, SidecarModeHeader, SidecarModeDownstream)
		s.AppAPI = r.String("SIDECAR_APP_API", "weather-app")
		s.DelegatedAPI = r.String("SIDECAR_DELEGATED_API", "weather")
		s.MCPAPI = r.String("SIDECAR_MCP_API", "mcp")
		return s
	}

	weather := r.GUID("WEATHER_API_APP_ID")
	s.AppScopes = []string{"api://" + weather + "/.default"}
	s.UserScopes = []string{r.String("WEATHER_API_SCOPE", "api://"+weather+"/Weather.Read")}
	cred := agentid.Credential{Kind: r.OneOf("BLUEPRINT_CREDENTIAL", agentid.CredentialManagedIdentity,
		agentid.CredentialSecret, agentid.CredentialCertificate, agentid.CredentialManagedIdentity, agentid.CredentialAWSWebIdentity)}
	secretValue := r.String("BLUEPRINT_CLIENT_SECRET", "")
	switch cred.Kind {
	case agentid.CredentialSecret:
		if secretValue == "" {
			r.Problem("BLUEPRINT_CLIENT_SECRET", "is required with BLUEPRINT_CREDENTIAL=secret")
		}
		cred.Secret = secret.New(secretValue)
	case agentid.CredentialCertificate:
		path := r.String("BLUEPRINT_CERT_PATH", "")
		if path == "" {
			r.Problem("BLUEPRINT_CERT_PATH", "is required with BLUEPRINT_CREDENTIAL=certificate (PEM: certificate and RSA key)")
		} else if pem, err := agentid.ReadCert(path); err != nil {
			r.Problem("BLUEPRINT_CERT_PATH", "%v", err)
		} else {
			cred.CertPEM = pem
		}
	case agentid.CredentialManagedIdentity:
		if id := r.String("MANAGED_IDENTITY_CLIENT_ID", ""); id != "" && !config.IsGUID(id) {
			r.Problem("MANAGED_IDENTITY_CLIENT_ID", "%q is not a client ID (GUID)", id)
		} else {
			cred.ManagedIdentityClientID = id
		}
	}
	if secretValue != "" && cred.Kind != agentid.CredentialSecret {
		r.Problem("BLUEPRINT_CLIENT_SECRET", "is set but BLUEPRINT_CREDENTIAL=%s does not use it: remove it, or set BLUEPRINT_CREDENTIAL=secret", cred.Kind)
	}
	s.MSAL = agentid.Config{
		AuthorityHost: r.URL("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com", true),
		TenantID:      r.GUID("TENANT_ID"),
		BlueprintID:   r.GUID("BLUEPRINT_APP_ID"),
		Credential:    cred,
	}
	return s
}

// mcpServerAppID is the app ID of the Microsoft MCP Server for
// Enterprise, the default MCP_APP_ID.
const mcpServerAppID = "e8c77dc2-69b3-43f4-bc51-3213c9d915b4"

// mcpScopes reads MCP_SCOPES (space- or comma-separated): a bare name such
// as MCP.User.Read.All is a scope of MCP_APP_ID, named by app ID, which
// Entra accepts whatever the app's identifier URIs are.
func mcpScopes(r *config.Reader) []string {
	app := r.String("MCP_APP_ID", mcpServerAppID)
	if !config.IsGUID(app) {
		r.Problem("MCP_APP_ID", "%q is not an app ID (GUID)", app)
	}
	var out []string
	for _, sc := range strings.FieldsFunc(r.String("MCP_SCOPES", "MCP.User.Read.All"), func(c rune) bool { return c == ',' || c == ' ' }) {
		switch {
		case sc == ".default" || strings.HasSuffix(sc, "/.default"):
			r.Problem("MCP_SCOPES", "%q: name the delegated scopes, not .default", sc)
		case !strings.Contains(sc, "/"):
			sc = app + "/" + sc
		}
		out = append(out, sc)
	}
	return out
}

// New builds the provider the settings choose. httpClient is nil in
// production; tests pass one that trusts their cloudsim.
func New(s Settings, httpClient *http.Client) (Provider, error) {
	switch s.Provider {
	case "sidecar":
		return NewSidecarProvider(SidecarConfig{URL: s.SidecarURL, AgentID: s.AgentID, AgentUserUPN: s.AgentUserUPN,
			AppAPI: s.AppAPI, DelegatedAPI: s.DelegatedAPI, MCPAPI: s.MCPAPI, HTTPClient: httpClient}), nil
	case "msal":
		cfg := s.MSAL
		cfg.HTTPClient = httpClient
		return NewMSALProvider(cfg, s.AgentID, s.AgentUserUPN, MSALScopes{App: s.AppScopes, User: s.UserScopes, MCP: s.MCPScopes})
	}
	return nil, fmt.Errorf("IDENTITY_PROVIDER %q is not sidecar or msal", s.Provider)
}
