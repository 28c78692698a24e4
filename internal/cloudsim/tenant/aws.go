package tenant

import (
	"crypto/sha256"
	"encoding/base32"
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
}

// DevCredential is a long-lived access key pair, for the env-keys tier's
// tests.
type DevCredential struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	// UserName is the IAM user the key belongs to (default cloudsim-dev),
	// as GetCallerIdentity names it.
	UserName string `json:"userName"`
}

// OIDCProvider is an IAM OIDC identity provider: an issuer without its
// https:// prefix, exactly as IAM stores it, and its client-ID (audience)
// list.
type OIDCProvider struct {
	URL       string   `json:"url"`
	ClientIDs []string `json:"clientIds"`
}

// Role is an IAM role that web identities may assume.
type Role struct {
	Name string `json:"name"`
	// MaxSessionDuration in seconds: 3600 (IAM's default) to 43200.
	MaxSessionDuration int `json:"maxSessionDuration"`
	// Trust lists who may assume the role with AssumeRoleWithWebIdentity:
	// one statement per federated provider.
	Trust []TrustStatement `json:"trust"`
	// Allow lists the IAM actions the role's policy allows (for example
	// bedrock:InvokeModel); cloudsim's Bedrock refuses the others.
	Allow    []string `json:"allow"`
	ExportAs string   `json:"exportAs"`
}

// TrustStatement allows sts:AssumeRoleWithWebIdentity to tokens from a
// provider whose claims match: Conditions["aud"] is StringEquals on
// "<provider>:aud", Conditions["sub"] on "<provider>:sub".
type TrustStatement struct {
	Provider   string              `json:"provider"`
	Conditions map[string][]string `json:"conditions"`
	// Actions the statement allows besides sts:AssumeRoleWithWebIdentity:
	// sts:SetSourceIdentity lets a token's source identity claim through.
	Actions []string `json:"actions"`
}

// ARN is the role's ARN in its account.
func (a *AWSAccount) ARN(r *Role) string { return "arn:aws:iam::" + a.AccountID + ":role/" + r.Name }

// ProviderARN is an OIDC provider's ARN.
func (a *AWSAccount) ProviderARN(p *OIDCProvider) string {
	return "arn:aws:iam::" + a.AccountID + ":oidc-provider/" + p.URL
}

// ProviderForIssuer returns the provider registered for a token's iss:
// IAM compares the issuer with https:// and the provider URL exactly.
func (a *AWSAccount) ProviderForIssuer(iss string) *OIDCProvider {
	rest, ok := strings.CutPrefix(iss, "https://")
	if !ok {
		return nil
	}
	for _, p := range a.OIDCProviders {
		if p.URL == rest {
			return p
		}
	}
	return nil
}

// RoleByName returns the role with this name.
func (a *AWSAccount) RoleByName(name string) *Role {
	for _, r := range a.Roles {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// RoleByARN returns the role with this ARN in this account.
func (a *AWSAccount) RoleByARN(arn string) *Role {
	for _, r := range a.Roles {
		if a.ARN(r) == arn {
			return r
		}
	}
	return nil
}

var (
	awsAccountID = regexp.MustCompile(`^[0-9]{12}$`)
	awsRegion    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	awsRoleName  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
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
	for i, c := range a.DevCredentials {
		if !strings.HasPrefix(c.AccessKeyID, "AKIA") || len(c.SecretAccessKey) < 20 {
			v.fail(fmt.Sprintf("aws.devCredentials[%d]", i), "needs an AKIA… access key ID and a secret of at least 20 characters")
		}
	}
	for i, id := range a.InferenceProfiles {
		if !strings.Contains(id, ".") || strings.ContainsAny(id, "/ ") {
			v.fail(fmt.Sprintf("aws.inferenceProfiles[%d]", i), "%q is not an inference profile ID such as us.anthropic.claude-3-haiku-20240307-v1:0", id)
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
		if len(r.Trust) == 0 {
			v.fail(path+".trust", "needs at least one statement, or nobody can assume the role")
		}
		for j, t := range r.Trust {
			tp := fmt.Sprintf("%s.trust[%d]", path, j)
			if !slices.ContainsFunc(a.OIDCProviders, func(p *OIDCProvider) bool { return p != nil && p.URL == t.Provider }) {
				v.fail(tp+".provider", "%q is not the url of one of aws.oidcProviders", t.Provider)
			}
			for k := range t.Conditions {
				if k != "aud" && k != "sub" {
					v.fail(tp+".conditions", "%q is not aud or sub", k)
				}
			}
			for _, action := range t.Actions {
				if action != "sts:SetSourceIdentity" {
					v.fail(tp+".actions", "%q is not sts:SetSourceIdentity, the one extra action cloudsim evaluates", action)
				}
			}
		}
	}
}

// UserARN is the ARN of the IAM user a dev key pair belongs to.
func (a *AWSAccount) UserARN(d *DevCredential) string {
	return "arn:aws:iam::" + a.AccountID + ":user/" + d.userName()
}

// UserID is the user's unique ID (AIDA…), stable for its name.
func (a *AWSAccount) UserID(d *DevCredential) string {
	sum := sha256.Sum256([]byte(a.AccountID + "/user/" + d.userName()))
	return "AIDA" + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

func (d *DevCredential) userName() string {
	if d.UserName == "" {
		return "cloudsim-dev"
	}
	return d.UserName
}
