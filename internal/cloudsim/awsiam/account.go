// Package awsiam is cloudsim's IAM: one account's OIDC providers, roles
// with their trust and inline policies, users with their keys and
// policies, and outbound identity federation, kept in an Account that
// cloudsim's STS and Bedrock decide from, and served over IAM's query API
// (botocore/data/iam/2010-05-08) for the setup scripts. The tenant file's
// aws section is its starting state; changes made through the API last
// until cloudsim stops.
package awsiam

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// Provider is an IAM OIDC identity provider. URL is the issuer without
// https://, as IAM stores it and names it in the provider's ARN.
type Provider struct {
	URL         string
	ClientIDs   []string
	Thumbprints []string
	Created     time.Time
}

// Role is an IAM role: its path, trust policy, inline permissions
// policies and tags.
type Role struct {
	Name string
	// Path is "/" or /…/ (pathType); it is part of the role's ARN.
	Path               string
	Description        string
	MaxSessionDuration int
	Trust              *Policy
	Policies           map[string]*Policy
	// Tags keep the order they were added in; keys ignore case.
	Tags    []Tag
	Created time.Time
}

// Tag is one of a role's tags.
type Tag struct{ Key, Value string }

// User is an IAM user with one access key and inline policies.
type User struct {
	Name        string
	AccessKeyID string
	Secret      string
	// Profile names the user's section in cloudsim's shared credentials
	// file; empty keeps the key out of it.
	Profile  string
	Policies []*Policy
}

// Account is one AWS account's IAM state, safe for concurrent use. Its
// readers get copies, so a change through the API never races a check.
type Account struct {
	ID     string
	Region string
	now    func() time.Time

	mu        sync.RWMutex
	providers map[string]Provider // by URL
	roles     map[string]Role     // by lower-case name: IAM names ignore case
	users     []User
	// outboundIssuer is the issuer EnableOutboundWebIdentityFederation
	// returns; outboundOn whether it is enabled.
	outboundIssuer string
	outboundOn     bool
}

// NewAccount builds the account's starting state from the tenant file's
// aws section, parsing every policy document as IAM would on its way in.
func NewAccount(a *tenant.AWSAccount, now func() time.Time) (*Account, error) {
	if now == nil {
		now = time.Now
	}
	acct := &Account{ID: a.AccountID, Region: a.Region, now: now, providers: map[string]Provider{}, roles: map[string]Role{},
		outboundIssuer: a.OutboundIssuer, outboundOn: a.OutboundIssuer != ""}
	if acct.outboundIssuer == "" {
		acct.outboundIssuer = DefaultOutboundIssuer(a.AccountID)
	}
	created := now().UTC().Truncate(time.Second)
	for _, p := range a.OIDCProviders {
		acct.providers[p.URL] = Provider{URL: p.URL, ClientIDs: slices.Clone(p.ClientIDs), Created: created}
	}
	for i, r := range a.Roles {
		at := fmt.Sprintf("aws.roles[%d]", i)
		role := Role{Name: r.Name, Path: r.Path, MaxSessionDuration: r.MaxSessionDuration, Policies: map[string]*Policy{}, Created: created}
		if role.Path == "" {
			role.Path = "/"
		}
		if err := checkPath(role.Path); err != nil {
			return nil, fmt.Errorf("%s.path: %w", at, err)
		}
		for _, t := range r.Tags {
			role.Tags = append(role.Tags, Tag{Key: t.Key, Value: t.Value})
		}
		if err := checkTags(role.Tags); err != nil {
			return nil, fmt.Errorf("%s.tags: %w", at, err)
		}
		trust, err := Parse(string(r.TrustPolicy), Trust)
		if err != nil {
			return nil, fmt.Errorf("%s.trustPolicy: %w", at, err)
		}
		if err := checkTrustSize(trust); err != nil {
			return nil, fmt.Errorf("%s.trustPolicy: %w", at, err)
		}
		role.Trust = trust
		for name, doc := range r.Policies {
			p, err := Parse(string(doc), Identity)
			if err != nil {
				return nil, fmt.Errorf("%s.policies.%s: %w", at, name, err)
			}
			role.Policies[name] = p
		}
		if err := checkRolePoliciesSize(r.Name, role.Policies); err != nil {
			return nil, fmt.Errorf("%s.policies: %w", at, err)
		}
		acct.roles[strings.ToLower(r.Name)] = role
	}
	// Principals are checked once every role is in: a role may trust one
	// the file lists after it, as it could once both exist in IAM.
	for i, r := range a.Roles {
		if err := acct.checkPrincipals(acct.roles[strings.ToLower(r.Name)].Trust); err != nil {
			return nil, fmt.Errorf("aws.roles[%d].trustPolicy: %w", i, err)
		}
	}
	for i, d := range a.DevCredentials {
		u := User{Name: d.UserName, AccessKeyID: d.AccessKeyID, Secret: d.SecretAccessKey, Profile: d.Profile}
		if u.Name == "" {
			u.Name = "cloudsim-dev"
		}
		for _, name := range slices.Sorted(maps.Keys(d.Policies)) {
			p, err := Parse(string(d.Policies[name]), Identity)
			if err != nil {
				return nil, fmt.Errorf("aws.devCredentials[%d].policies.%s: %w", i, name, err)
			}
			u.Policies = append(u.Policies, p)
		}
		acct.users = append(acct.users, u)
	}
	return acct, nil
}

// DefaultOutboundIssuer is the issuer an account gets when outbound
// identity federation is enabled through IAM: a host of its own under
// tokens.sts.global.api.aws, as AWS's are (the User Guide's example is
// https://<id>.tokens.sts.global.api.aws), stable for the account ID.
func DefaultOutboundIssuer(accountID string) string {
	sum := sha256.Sum256([]byte("outbound/" + accountID))
	h := hex.EncodeToString(sum[:16])
	return "https://" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32] + ".tokens.sts.global.api.aws"
}

// ProviderARN is the ARN of the provider for an issuer URL without https://.
func (a *Account) ProviderARN(url string) string {
	return "arn:aws:iam::" + a.ID + ":oidc-provider/" + url
}

// RoleARN is the role's ARN: its path without the leading slash, then
// its name, arn:aws:iam::<account>:role/<path…/><name> (the IAM User
// Guide's "IAM identifiers" page, "Friendly names and paths" and "IAM
// ARNs", read 2026-12-06). A session of the role has no path in its ARN:
// arn:aws:sts::<account>:assumed-role/<name>/<session> (cloudsim's STS;
// hashicorp/terraform-provider-aws#19957 reports it from AWS).
func (a *Account) RoleARN(r Role) string { return a.roleARN(r.Path, r.Name) }

func (a *Account) roleARN(path, name string) string {
	if path == "" {
		path = "/"
	}
	return "arn:aws:iam::" + a.ID + ":role" + path + name
}

// UserARN is the ARN of the user with this name.
func (a *Account) UserARN(name string) string { return "arn:aws:iam::" + a.ID + ":user/" + name }

// RoleID is a stable AROA… ID for a role, as IAM assigns one per role.
func (a *Account) RoleID(name string) string { return uniqueID("AROA", a.ID+"/"+name) }

// UserID is a stable AIDA… ID for a user.
func (a *Account) UserID(name string) string { return uniqueID("AIDA", a.ID+"/user/"+name) }

func uniqueID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return prefix + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

// ProviderForIssuer returns the provider registered for a token's iss:
// IAM compares the issuer with https:// and the provider URL exactly.
func (a *Account) ProviderForIssuer(iss string) (Provider, bool) {
	rest, ok := strings.CutPrefix(iss, "https://")
	if !ok {
		return Provider{}, false
	}
	return a.Provider(rest)
}

// Provider returns the provider with this URL (no https://).
func (a *Account) Provider(url string) (Provider, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	p, ok := a.providers[url]
	return p, ok
}

// ProviderByARN returns the provider with this ARN.
func (a *Account) ProviderByARN(arn string) (Provider, bool) {
	url, ok := strings.CutPrefix(arn, "arn:aws:iam::"+a.ID+":oidc-provider/")
	if !ok {
		return Provider{}, false
	}
	return a.Provider(url)
}

// Role returns the role with this name (any case).
func (a *Account) Role(name string) (Role, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	r, ok := a.roles[strings.ToLower(name)]
	return r, ok
}

// RoleByARN returns the role with this ARN in this account: its path and
// name (what follows the last slash).
func (a *Account) RoleByARN(arn string) (Role, bool) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:iam::"+a.ID+":role/")
	if !ok {
		return Role{}, false
	}
	i := strings.LastIndex(rest, "/")
	path, name := "/"+rest[:i+1], rest[i+1:]
	r, ok := a.Role(name)
	// The ARN names the role as created, path included; IAM matches it
	// exactly.
	return r, ok && r.Name == name && r.Path == path
}

// User returns the user with this access key ID.
func (a *Account) User(accessKeyID string) (User, bool) {
	for _, u := range a.users {
		if u.AccessKeyID == accessKeyID {
			return u, true
		}
	}
	return User{}, false
}

// Users are the account's users, in the tenant file's order.
func (a *Account) Users() []User { return slices.Clone(a.users) }

// Outbound is the account's outbound identity federation issuer and
// whether the feature is enabled.
func (a *Account) Outbound() (issuer string, enabled bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.outboundIssuer, a.outboundOn
}

// RolePermitted decides a role session's request from the role's inline
// policies and the session's policy, if one was passed.
func (a *Account) RolePermitted(roleName string, r Request, session *Policy) bool {
	role, ok := a.Role(roleName)
	if !ok {
		return false
	}
	return Permitted(r, slices.Collect(maps.Values(role.Policies)), session)
}

// UserPermitted decides an IAM user's request from the user's policies.
func (a *Account) UserPermitted(u User, r Request) bool { return Permitted(r, u.Policies, nil) }

// checkPrincipals refuses a trust policy naming an OIDC provider the
// account does not have, or a role of this account that does not exist,
// as IAM does: 400 MalformedPolicyDocument "Invalid principal in policy:
// \"AWS\":\"arn:aws:iam::<account>:role/<name>\"" for a role
// (databrickslabs/ucx#2269, opstrace/opstrace#88: IAM turns a role
// principal into the role's unique ID, so the role must exist). A role is
// matched by its whole ARN, path included; a role ARN with a wildcard
// names no role. Other AWS principals (accounts, users, other accounts'
// roles) are not checked.
func (a *Account) checkPrincipals(p *Policy) error {
	invalid := func(typ, arn string) error {
		b, _ := json.Marshal(map[string]string{typ: arn})
		return malformed("Invalid principal in policy: %s", strings.Trim(string(b), "{}"))
	}
	for _, st := range p.statements {
		for _, arn := range st.principals["Federated"] {
			if !strings.HasPrefix(arn, "arn:aws:iam::") {
				continue // a provider named by its host, such as cognito-identity.amazonaws.com
			}
			if _, ok := a.ProviderByARN(arn); !ok {
				return invalid("Federated", arn)
			}
		}
		for _, arn := range st.principals["AWS"] {
			if !strings.HasPrefix(arn, "arn:aws:iam::"+a.ID+":role/") {
				continue
			}
			if _, ok := a.RoleByARN(arn); !ok {
				return invalid("AWS", arn)
			}
		}
	}
	return nil
}

// sortedProviders lists the providers by URL.
func (a *Account) sortedProviders() []Provider {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := slices.Collect(maps.Values(a.providers))
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out
}
