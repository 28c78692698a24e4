package tenant

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// AWSAccount is the AWS side of the tenant file: the IAM OIDC providers and
// roles cloudsim's STS trusts, as an account set up by the tutorial has.
type AWSAccount struct {
	AccountID     string          `json:"accountId"`
	Region        string          `json:"region"`
	OIDCProviders []*OIDCProvider `json:"oidcProviders"`
	Roles         []*Role         `json:"roles"`
	// DevCredentials and BedrockAPIKeys let tests exercise the static-key
	// and API-key credential tiers. cloudsim never exports them: the demo
	// reaches AWS through web identity only.
	DevCredentials []DevCredential `json:"devCredentials"`
	BedrockAPIKeys []string        `json:"bedrockApiKeys"`
	// OutboundIssuer is the account's issuer URL once outbound identity
	// federation is enabled (iam:EnableOutboundWebIdentityFederation):
	// STS GetWebIdentityToken signs tokens as it. Empty: not enabled.
	OutboundIssuer string `json:"outboundIssuer"`
	// InferenceProfiles adds cross-Region inference profile IDs (such as
	// us.anthropic.claude-…) to the ones cloudsim's Bedrock knows, for a
	// model newer than its table.
	InferenceProfiles []string `json:"inferenceProfiles"`
	// CredentialProviders are AgentCore Identity's OAuth2 credential
	// providers (vendor MicrosoftOauth2) cloudsim creates at start, as
	// CreateOauth2CredentialProvider would, so the demo's vault works with
	// no setup script: a provider's callback URL is only known once it
	// exists, and its app must list it as a web redirect URI.
	CredentialProviders []*CredentialProvider `json:"credentialProviders"`
}

// CredentialProvider is a MicrosoftOauth2 credential provider of the
// tenant file: the app whose client ID and first secret it holds, and the
// UUID of its callback URL (<cloudsim>/identities/oauth2/callback/<uuid>),
// which the app's webRedirectUris must name.
type CredentialProvider struct {
	Name       string `json:"name"`
	ClientApp  string `json:"clientApp"`
	CallbackID string `json:"callbackId"`
}

// DevCredential is an IAM user's long-lived access key pair: the IAM
// admin the setup scripts sign in as, or a user for the env-keys tier's
// tests. Its policies are what it may do; with none, nothing.
type DevCredential struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	// UserName is the IAM user the key belongs to (default cloudsim-dev),
	// as GetCallerIdentity names it.
	UserName string `json:"userName"`
	// Profile names the key's profile in the shared credentials file
	// cloudsim writes to its state folder (aws-credentials), for the
	// scripts' AWS_PROFILE. Never in cloudsim.env.
	Profile  string                     `json:"profile"`
	Policies map[string]json.RawMessage `json:"policies"`
}

// OIDCProvider is an IAM OIDC identity provider: an issuer without its
// https:// prefix, exactly as IAM stores it, and its client-ID (audience)
// list.
type OIDCProvider struct {
	URL       string   `json:"url"`
	ClientIDs []string `json:"clientIds"`
}

// Role is an IAM role, as IAM's CreateRole and PutRolePolicy take it: a
// trust policy and inline permissions policies, as JSON policy documents
// (cloudsim's IAM parses and evaluates them), an optional path and tags
// (cloudsim's IAM checks them as CreateRole does).
type Role struct {
	Name string `json:"name"`
	// Path is CreateRole's Path, such as /agents/: "/" when empty. It is
	// part of the role's ARN.
	Path string `json:"path"`
	// MaxSessionDuration in seconds: 3600 (IAM's default) to 43200.
	MaxSessionDuration int                        `json:"maxSessionDuration"`
	TrustPolicy        json.RawMessage            `json:"trustPolicy"`
	Policies           map[string]json.RawMessage `json:"policies"`
	Tags               []RoleTag                  `json:"tags"`
	ExportAs           string                     `json:"exportAs"`
}

// RoleTag is one of a role's tags, as IAM's Tag shape has it.
type RoleTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ARN is the role's ARN in its account: its path without the leading
// slash, then its name.
func (a *AWSAccount) ARN(r *Role) string {
	path := r.Path
	if path == "" {
		path = "/"
	}
	return "arn:aws:iam::" + a.AccountID + ":role" + path + r.Name
}

// CallbackPath is where AgentCore Identity's per-provider OAuth2
// callbacks are, under cloudsim's URL.
const CallbackPath = "/identities/oauth2/callback/"

var providerName = regexp.MustCompile(`^[a-zA-Z0-9\-_]{1,128}$`) // CredentialProviderName

// validateCredentialProviders checks each provider against the
// applications: its app exists with a secret, and registers its callback
// as a web redirect URI (Entra would answer AADSTS50011 otherwise).
func (d *Directory) validateCredentialProviders(v *validator) {
	names := map[string]bool{}
	for i, p := range d.AWS.CredentialProviders {
		path := fmt.Sprintf("aws.credentialProviders[%d]", i)
		if p == nil {
			v.fail(path, "must be an object")
			continue
		}
		if !providerName.MatchString(p.Name) || names[p.Name] {
			v.fail(path+".name", "%q is not a credential provider name (1-128 letters, digits, - and _) or is given twice", p.Name)
		}
		names[p.Name] = true
		p.ClientApp = v.guid(path+".clientApp", p.ClientApp)
		p.CallbackID = v.guid(path+".callbackId", p.CallbackID)
		var app *Application
		for _, a := range d.Applications {
			if a != nil && strings.EqualFold(a.AppID, p.ClientApp) {
				app = a
			}
		}
		switch {
		case app == nil:
			v.fail(path+".clientApp", "%s is not an application of this file", p.ClientApp)
		case len(app.Secrets) == 0:
			v.fail(path+".clientApp", "%s has no secret for the provider to hold", app.Name)
		case !slices.ContainsFunc(app.WebRedirectURIs, func(u string) bool { return strings.HasSuffix(u, CallbackPath+p.CallbackID) }):
			v.fail(path+".callbackId", "%s lists no web redirect URI ending %s%s (https://127.0.0.1%s%s: Entra ignores a loopback URI's port)",
				app.Name, CallbackPath, p.CallbackID, CallbackPath, p.CallbackID)
		}
	}
}

var (
	awsAccountID = regexp.MustCompile(`^[0-9]{12}$`)
	awsRegion    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	awsRoleName  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	profileName  = regexp.MustCompile(`^[\w-]+$`)
)

func (a *AWSAccount) validate(v *validator) {
	if !awsAccountID.MatchString(a.AccountID) {
		v.fail("aws.accountId", "%q is not a 12-digit AWS account ID", a.AccountID)
	}
	if !awsRegion.MatchString(a.Region) {
		v.fail("aws.region", "%q is not an AWS region such as us-east-1", a.Region)
	}
	for i, p := range a.OIDCProviders {
		path := fmt.Sprintf("aws.oidcProviders[%d]", i)
		if p == nil {
			v.fail(path, "must be an object")
			continue
		}
		if p.URL == "" || strings.Contains(p.URL, "://") || strings.ContainsAny(p.URL, "?#") {
			v.fail(path+".url", "%q must be the issuer without https:// (for example sts.windows.net/<tenant>/), as IAM stores it", p.URL)
		}
		if len(p.ClientIDs) == 0 {
			v.fail(path+".clientIds", "needs at least one client ID (the token audience AWS accepts)")
		}
	}
	if a.OutboundIssuer != "" {
		if u, err := url.Parse(a.OutboundIssuer); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" {
			v.fail("aws.outboundIssuer", "%q is not an https issuer URL (for example https://<id>.tokens.sts.global.api.aws)", a.OutboundIssuer)
		}
	}
	profiles := map[string]bool{}
	for i, c := range a.DevCredentials {
		if !strings.HasPrefix(c.AccessKeyID, "AKIA") || len(c.SecretAccessKey) < 20 {
			v.fail(fmt.Sprintf("aws.devCredentials[%d]", i), "needs an AKIA… access key ID and a secret of at least 20 characters")
		}
		switch {
		case c.Profile == "":
		case !profileName.MatchString(c.Profile):
			v.fail(fmt.Sprintf("aws.devCredentials[%d].profile", i), "%q is not a profile name (letters, digits, - and _)", c.Profile)
		case profiles[c.Profile]:
			v.fail(fmt.Sprintf("aws.devCredentials[%d].profile", i), "%q is given to another key: the credentials file has one section per profile", c.Profile)
		}
		profiles[c.Profile] = true
	}
	for i, id := range a.InferenceProfiles {
		if !strings.Contains(id, ".") || strings.ContainsAny(id, "/ ") {
			v.fail(fmt.Sprintf("aws.inferenceProfiles[%d]", i), "%q is not an inference profile ID such as us.anthropic.<model>-v1:0", id)
		}
	}
	for i, k := range a.BedrockAPIKeys {
		if len(k) < 20 {
			v.fail(fmt.Sprintf("aws.bedrockApiKeys[%d]", i), "must be at least 20 characters")
		}
	}
	for i, r := range a.Roles {
		path := fmt.Sprintf("aws.roles[%d]", i)
		if r == nil {
			v.fail(path, "must be an object")
			continue
		}
		if !awsRoleName.MatchString(r.Name) {
			v.fail(path+".name", "%q is not an IAM role name", r.Name)
		}
		switch {
		case r.MaxSessionDuration == 0:
			r.MaxSessionDuration = 3600
		case r.MaxSessionDuration < 3600 || r.MaxSessionDuration > 43200:
			v.fail(path+".maxSessionDuration", "must be 3600 to 43200 seconds")
		}
		if len(r.TrustPolicy) == 0 || string(r.TrustPolicy) == "null" {
			v.fail(path+".trustPolicy", "needs a trust policy, or nobody can assume the role")
		}
	}
}
