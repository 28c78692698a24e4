package agentcoreid

import (
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// workload is a workload identity.
type workload struct {
	name       string
	returnURLs []string
	tags       map[string]string
	created    time.Time
	updated    time.Time
	// runtime is the ARN of the AgentCore Runtime that created it, or "".
	runtime string
}

// provider is an OAuth2 credential provider (MicrosoftOauth2 only).
type provider struct {
	name       string
	clientID   string
	secret     string // never returned
	tenantID   string // as given; "" uses cloudsim's tenant
	callbackID string // the UUID of its callback URL
	secretARN  string
	created    time.Time
	updated    time.Time
}

// Limits on what one cloudsim holds, so a runaway script cannot grow it
// without bound. AWS's own quotas (Service Quotas for AgentCore) are not
// modeled; cloudsim answers ThrottlingException past these.
const (
	maxWorkloads = 1000
	maxProviders = 200
)

type workloadInput struct {
	Name       *string           `json:"name"`
	ReturnURLs []string          `json:"allowedResourceOauth2ReturnUrls"`
	Tags       map[string]string `json:"tags"`
}

func (in *workloadInput) check(withURLs bool) *apiError {
	var v checker
	v.str("name", in.Name, true, minWorkloadName, maxWorkloadName, workloadNamePattern, false)
	if withURLs {
		v.returnURLs("allowedResourceOauth2ReturnUrls", in.ReturnURLs)
	}
	v.tags(in.Tags)
	return v.err()
}

func (s *Server) workloadBody(w *workload, times bool) map[string]any {
	out := map[string]any{"name": w.name, "workloadIdentityArn": s.WorkloadIdentityARN(w.name)}
	if w.returnURLs != nil {
		out["allowedResourceOauth2ReturnUrls"] = w.returnURLs
	}
	if times {
		out["createdTime"], out["lastUpdatedTime"] = epoch(w.created), epoch(w.updated)
	}
	return out
}

func (s *Server) createWorkloadIdentity(c *call) (int, any, *apiError) {
	var in workloadInput
	if e := c.decode(&in); e != nil {
		return 0, nil, e
	}
	if e := in.check(true); e != nil {
		return 0, nil, e
	}
	if e := c.authorize(s, "bedrock-agentcore:CreateWorkloadIdentity", s.DirectoryARN(), s.WorkloadIdentityARN(*in.Name)); e != nil {
		return 0, nil, e
	}
	w, e := s.putWorkload(*in.Name, in.ReturnURLs, in.Tags)
	if e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return http.StatusCreated, s.workloadBody(w, false), nil
}

// putWorkload creates a workload identity. A name in use is a
// ValidationException with reason ResourceConflict: CreateWorkloadIdentity
// has no ConflictException in the model, and ResourceConflict is one of
// ValidationExceptionReason's values (the real message is unverified).
func (s *Server) putWorkload(name string, urls []string, tags map[string]string) (*workload, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.workloads[name]; ok {
		return nil, &apiError{status: http.StatusBadRequest, code: "ValidationException", reason: "ResourceConflict",
			msg: "A workload identity named " + name + " already exists"}
	}
	if len(s.workloads) >= maxWorkloads {
		return nil, throttled("1000 workload identities")
	}
	now := s.o.Now()
	w := &workload{name: name, returnURLs: slices.Clone(urls), tags: tags, created: now, updated: now}
	s.workloads[name] = w
	return w, nil
}

// workloadName reads a request that names a workload identity: the name
// checked, then the action authorized on it.
func (s *Server) workloadName(c *call, action string) (string, *apiError) {
	var in workloadInput
	if e := c.decode(&in); e != nil {
		return "", e
	}
	var v checker
	v.str("name", in.Name, true, minWorkloadName, maxWorkloadName, workloadNamePattern, false)
	if e := v.err(); e != nil {
		return "", e
	}
	if e := c.authorize(s, action, s.DirectoryARN(), s.WorkloadIdentityARN(*in.Name)); e != nil {
		return "", e
	}
	return *in.Name, nil
}

func (s *Server) getWorkloadIdentity(c *call) (int, any, *apiError) {
	name, e := s.workloadName(c, "bedrock-agentcore:GetWorkloadIdentity")
	if e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workloads[name]
	if !ok {
		return 0, nil, workloadNotFound(name)
	}
	return http.StatusOK, s.workloadBody(w, true), nil
}

func workloadNotFound(name string) *apiError {
	return notFound("Workload identity %s not found", name)
}

// updateWorkloadIdentity replaces the allowed return URLs with the list
// given (replace or merge is unverified, fact sheet §1; PY-SDK sends the
// full list, which only replacement makes right). An absent list clears
// them, as an absent member of a replacing update does.
func (s *Server) updateWorkloadIdentity(c *call) (int, any, *apiError) {
	var in workloadInput
	if e := c.decode(&in); e != nil {
		return 0, nil, e
	}
	in.Tags = nil // not a member of UpdateWorkloadIdentityRequest
	if e := in.check(true); e != nil {
		return 0, nil, e
	}
	if e := c.authorize(s, "bedrock-agentcore:UpdateWorkloadIdentity", s.DirectoryARN(), s.WorkloadIdentityARN(*in.Name)); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workloads[*in.Name]
	if !ok {
		return 0, nil, workloadNotFound(*in.Name)
	}
	w.returnURLs, w.updated = slices.Clone(in.ReturnURLs), s.o.Now()
	return http.StatusOK, s.workloadBody(w, true), nil
}

func (s *Server) deleteWorkloadIdentity(c *call) (int, any, *apiError) {
	name, e := s.workloadName(c, "bedrock-agentcore:DeleteWorkloadIdentity")
	if e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.workloads[name]; !ok {
		return 0, nil, workloadNotFound(name)
	}
	delete(s.workloads, name)
	// Its tokens and sessions go with it: nothing can name it any more.
	for k, t := range s.wats {
		if t.workload == name {
			delete(s.wats, k)
		}
	}
	for k := range s.vault {
		if k.workload == name {
			delete(s.vault, k)
		}
	}
	return http.StatusNoContent, nil, nil
}

type listInput struct {
	NextToken  *string `json:"nextToken"`
	MaxResults *int    `json:"maxResults"`
}

// page returns the names after the token, at most max of them (absent:
// 10, unverified), and the next token: the last name returned, encoded.
func page(names []string, in listInput) ([]string, string, *apiError) {
	sort.Strings(names)
	start := 0
	if in.NextToken != nil {
		after, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil || len(after) == 0 {
			return nil, "", invalid("nextToken", "The nextToken is not one this service returned")
		}
		start = sort.SearchStrings(names, string(after))
		if start < len(names) && names[start] == string(after) {
			start++
		}
	}
	n := 10
	if in.MaxResults != nil {
		n = *in.MaxResults
	}
	end := min(start+n, len(names))
	out := names[start:end]
	next := ""
	if end < len(names) {
		next = base64.RawURLEncoding.EncodeToString([]byte(names[end-1]))
	}
	return out, next, nil
}

func (s *Server) listWorkloadIdentities(c *call) (int, any, *apiError) {
	return s.list(c, "bedrock-agentcore:ListWorkloadIdentities", s.DirectoryARN(), "workloadIdentities", func() []string {
		return slices.Collect(maps.Keys(s.workloads))
	}, func(n string) map[string]any {
		item := s.workloadBody(s.workloads[n], false)
		delete(item, "allowedResourceOauth2ReturnUrls") // WorkloadIdentityType has name and ARN only
		return item
	})
}

// list is a List operation: the input checked, the action authorized on
// arn, then one page of the names keys returns (under s.mu), each answered
// as item makes it, under field.
func (s *Server) list(c *call, action, arn, field string, keys func() []string, item func(name string) map[string]any) (int, any, *apiError) {
	var in listInput
	if e := c.decode(&in); e != nil {
		return 0, nil, e
	}
	var v checker
	v.maxResults(in.MaxResults)
	if e := v.err(); e != nil {
		return 0, nil, e
	}
	if e := c.authorize(s, action, arn); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	got, next, e := page(keys(), in)
	if e != nil {
		return 0, nil, e
	}
	items := []map[string]any{}
	for _, n := range got {
		items = append(items, item(n))
	}
	out := map[string]any{field: items}
	if next != "" {
		out["nextToken"] = next
	}
	return http.StatusOK, out, nil
}

// VendorMicrosoft is the one credentialProviderVendor cloudsim emulates.
const VendorMicrosoft = "MicrosoftOauth2"

// vendors is CredentialProviderVendorType's enum (BC-CTL).
var vendors = []string{"GoogleOauth2", "GithubOauth2", "SlackOauth2", "SalesforceOauth2", "MicrosoftOauth2", "CustomOauth2", "AtlassianOauth2",
	"LinkedinOauth2", "XOauth2", "OktaOauth2", "OneLoginOauth2", "PingOneOauth2", "FacebookOauth2", "YandexOauth2", "RedditOauth2", "ZoomOauth2",
	"TwitchOauth2", "SpotifyOauth2", "DropboxOauth2", "NotionOauth2", "HubspotOauth2", "CyberArkOauth2", "FusionAuthOauth2", "Auth0Oauth2", "CognitoOauth2"}

type microsoftConfig struct {
	ClientID           *string `json:"clientId"`
	ClientSecret       *string `json:"clientSecret"`
	TenantID           *string `json:"tenantId"`
	ClientSecretSource *string `json:"clientSecretSource"`
	ClientSecretConfig any     `json:"clientSecretConfig"`
}

type providerInput struct {
	Name   *string `json:"name"`
	Vendor *string `json:"credentialProviderVendor"`
	// Config is the Oauth2ProviderConfigInput union: exactly one member.
	Config map[string]*microsoftConfig `json:"oauth2ProviderConfigInput"`
	Tags   map[string]string           `json:"tags"`
}

// check validates a Create or Update request. tenantId (optional,
// 1–2048) is in BC-CTL 1.43.11 and GO-CTL v1.81.0 alike (read
// 2026-12-06; when it was added is unverified). Creating a provider also
// needs secretsmanager:CreateSecret and its kin on AWS (seen in a
// third-party Terraform policy; the official list is unverified):
// cloudsim checks only bedrock-agentcore:CreateOauth2CredentialProvider.
// Whether AWS refuses a single-tenant Entra app (DG-MS: "only
// multi-tenant Microsoft Entra applications") cloudsim does not check:
// its Entra has one tenant. The Microsoft config's
// clientSecret is required (BC-CTL 1.43.11: ClientSecretType, 1–2048,
// required); since 2026-05-29 (GO-CTL v1.42.0) it may be left out for
// clientSecretSource EXTERNAL, a secret of the caller's in Secrets
// Manager, which cloudsim does not emulate and refuses.
func (in *providerInput) check() (*microsoftConfig, *apiError) {
	var v checker
	v.str("name", in.Name, true, 1, maxProviderName, providerNamePattern, false)
	if in.Vendor == nil {
		v.missing("credentialProviderVendor")
	} else if !slices.Contains(vendors, *in.Vendor) {
		v.fail("credentialProviderVendor", *in.Vendor, false, "Member must satisfy enum value set: ["+strings.Join(vendors, ", ")+"]")
	}
	if in.Config == nil {
		v.missing("oauth2ProviderConfigInput")
	}
	v.tags(in.Tags)
	if e := v.err(); e != nil {
		return nil, e
	}
	if *in.Vendor != VendorMicrosoft {
		return nil, invalid("credentialProviderVendor", "cloudsim emulates only the MicrosoftOauth2 credential provider vendor, not "+*in.Vendor)
	}
	if len(in.Config) != 1 {
		return nil, invalid("oauth2ProviderConfigInput", "oauth2ProviderConfigInput is a union: set exactly one member")
	}
	cfg, ok := in.Config["microsoftOauth2ProviderConfig"]
	if !ok || cfg == nil {
		return nil, invalid("oauth2ProviderConfigInput", "The MicrosoftOauth2 vendor takes oauth2ProviderConfigInput.microsoftOauth2ProviderConfig")
	}
	if cfg.ClientSecretSource != nil && *cfg.ClientSecretSource != "MANAGED" {
		return nil, invalid("oauth2ProviderConfigInput.microsoftOauth2ProviderConfig.clientSecretSource",
			"cloudsim emulates only service-managed client secrets (clientSecretSource MANAGED), not "+*cfg.ClientSecretSource)
	}
	const f = "oauth2ProviderConfigInput.microsoftOauth2ProviderConfig."
	v.str(f+"clientId", cfg.ClientID, true, 1, maxClientID, nil, false)
	v.str(f+"clientSecret", cfg.ClientSecret, true, 1, maxClientSecret, nil, true)
	v.str(f+"tenantId", cfg.TenantID, false, 1, maxTenantID, nil, false)
	return cfg, v.err()
}

// discoveryURL is the provider's Entra metadata. Which endpoints the real
// Microsoft vendor uses is unverified (fact sheet §4); cloudsim points at
// the v2.0 metadata of the provider's tenant on cloudsim's Entra.
func (s *Server) discoveryURL(p *provider) string {
	return s.o.BaseURL + "/" + s.providerTenant(p) + "/v2.0/.well-known/openid-configuration"
}

// providerTenant is the Entra tenant a provider signs users in to: its
// tenantId, or, when none was given, cloudsim's tenant. (Real AgentCore
// without a tenantId would presumably use the multi-tenant "common"
// authority; unverified, and cloudsim's Entra serves one tenant's
// authorize and token endpoints, so it uses that tenant.)
func (s *Server) providerTenant(p *provider) string {
	if p.tenantID != "" {
		return p.tenantID
	}
	return s.o.TenantID
}

// CallbackURL is a provider's OAuth2 callback: unique per provider since
// the per-provider callback (TS#37 output, DG-IDP "you won't know it
// until after you call CreateOauth2CredentialProvider").
func (s *Server) callbackURL(p *provider) string {
	return s.o.BaseURL + PathPrefix + "oauth2/callback/" + p.callbackID
}

func (s *Server) providerBody(p *provider, full bool) map[string]any {
	out := map[string]any{
		"clientSecretArn":       map[string]string{"secretArn": p.secretARN},
		"name":                  p.name,
		"credentialProviderArn": s.ProviderARN(p.name),
		"callbackUrl":           s.callbackURL(p),
		"oauth2ProviderConfigOutput": map[string]any{"microsoftOauth2ProviderConfig": map[string]any{
			"oauthDiscovery": map[string]string{"discoveryUrl": s.discoveryURL(p)},
			"clientId":       p.clientID,
		}},
		"status": "READY",
	}
	if full {
		out["credentialProviderVendor"] = VendorMicrosoft
		out["createdTime"], out["lastUpdatedTime"] = epoch(p.created), epoch(p.updated)
	}
	return out
}

// secretSuffix is Secrets Manager's six random characters after a
// secret's name in its ARN.
func secretSuffix() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte(randomToken(6))
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b[:6])
}

// providerRequest reads a Create or Update request: the input checked,
// then the action authorized on the provider it names.
func (s *Server) providerRequest(c *call, action string) (string, *microsoftConfig, *apiError) {
	var in providerInput
	if e := c.decode(&in); e != nil {
		return "", nil, e
	}
	cfg, e := in.check()
	if e != nil {
		return "", nil, e
	}
	if e := c.authorize(s, action, s.TokenVaultARN(), s.ProviderARN(*in.Name)); e != nil {
		return "", nil, e
	}
	return *in.Name, cfg, nil
}

func (s *Server) createProvider(c *call) (int, any, *apiError) {
	name, cfg, e := s.providerRequest(c, "bedrock-agentcore:CreateOauth2CredentialProvider")
	if e != nil {
		return 0, nil, e
	}
	p, e := s.putProvider(name, *cfg.ClientID, *cfg.ClientSecret, deref(cfg.TenantID), "")
	if e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return http.StatusCreated, s.providerBody(p, false), nil
}

// Provider is what cloudsim's wiring and tests learn of a provider.
type Provider struct {
	Name, ARN, CallbackURL, SecretARN string
}

// CreateProvider creates a MicrosoftOauth2 provider, as
// CreateOauth2CredentialProvider does, for cloudsim's own setup: the
// tenant file's pre-created provider, whose callback UUID is fixed
// (callbackID; "" picks a new one) so the vault app's redirect URI can
// name it.
func (s *Server) CreateProvider(name, clientID, secret, tenantID, callbackID string) (Provider, error) {
	p, e := s.putProvider(name, clientID, secret, tenantID, callbackID)
	if e != nil {
		return Provider{}, e
	}
	return Provider{Name: p.name, ARN: s.ProviderARN(p.name), CallbackURL: s.callbackURL(p), SecretARN: p.secretARN}, nil
}

// putProvider creates a MicrosoftOauth2 provider. Its client secret is kept in cloudsim's memory, standing in for the Secrets
// Manager secret bedrock-agentcore-identity!default/oauth2/{name} (names
// seen in sample repos' IAM policies; its JSON layout is unverified and
// not emulated: no Secrets Manager here).
func (s *Server) putProvider(name, clientID, secret, tenantID, callbackID string) (*provider, *apiError) {
	if callbackID == "" {
		callbackID = newUUID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.providers[name]; ok {
		return nil, conflict("An OAuth2 credential provider named %s already exists", name)
	}
	if len(s.providers) >= maxProviders {
		return nil, throttled("200 credential providers")
	}
	now := s.o.Now()
	p := &provider{name: name, clientID: clientID, secret: secret, tenantID: tenantID, callbackID: callbackID, created: now, updated: now,
		secretARN: "arn:aws:secretsmanager:" + s.o.Region + ":" + s.o.Account + ":secret:bedrock-agentcore-identity!default/oauth2/" + name + "-" + secretSuffix()}
	s.providers[name] = p
	return p, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

type nameInput struct {
	Name *string `json:"name"`
}

func (s *Server) providerByName(c *call, action string) (*provider, *apiError) {
	var in nameInput
	if e := c.decode(&in); e != nil {
		return nil, e
	}
	var v checker
	v.str("name", in.Name, true, 1, maxProviderName, providerNamePattern, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := c.authorize(s, action, s.TokenVaultARN(), s.ProviderARN(*in.Name)); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.providers[*in.Name]
	if !ok {
		return nil, providerNotFound(*in.Name)
	}
	return p, nil
}

func providerNotFound(name string) *apiError {
	return notFound("Credential provider %s not found", name)
}

func (s *Server) getProvider(c *call) (int, any, *apiError) {
	p, e := s.providerByName(c, "bedrock-agentcore:GetOauth2CredentialProvider")
	if e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return http.StatusOK, s.providerBody(p, true), nil
}

// updateProvider replaces the client ID, secret and tenant. The callback
// URL and the secret's ARN stay: AWS reissues the callback URL only when
// the provider is recreated or its vendor changes
// (aws-samples/sample-strands-agent-with-agentcore PR #219, 2026-08-04),
// and the one vendor here cannot change.
func (s *Server) updateProvider(c *call) (int, any, *apiError) {
	name, cfg, e := s.providerRequest(c, "bedrock-agentcore:UpdateOauth2CredentialProvider")
	if e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.providers[name]
	if !ok {
		return 0, nil, providerNotFound(name)
	}
	p.clientID, p.secret, p.tenantID, p.updated = *cfg.ClientID, *cfg.ClientSecret, deref(cfg.TenantID), s.o.Now()
	return http.StatusOK, s.providerBody(p, true), nil
}

// deleteProvider removes the provider, its vaulted tokens and its
// sessions (what happens to them on AWS is unverified; its secret is
// deleted with it, so nothing could use them).
func (s *Server) deleteProvider(c *call) (int, any, *apiError) {
	p, e := s.providerByName(c, "bedrock-agentcore:DeleteOauth2CredentialProvider")
	if e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.providers, p.name)
	for k := range s.vault {
		if k.provider == p.name {
			delete(s.vault, k)
		}
	}
	for k, ss := range s.sessions {
		if ss.provider == p.name {
			delete(s.sessions, k)
		}
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) listProviders(c *call) (int, any, *apiError) {
	return s.list(c, "bedrock-agentcore:ListOauth2CredentialProviders", s.TokenVaultARN(), "credentialProviders", func() []string {
		return slices.Collect(maps.Keys(s.providers))
	}, func(n string) map[string]any {
		p := s.providers[n]
		return map[string]any{"name": p.name, "credentialProviderVendor": VendorMicrosoft, "credentialProviderArn": s.ProviderARN(p.name),
			"createdTime": epoch(p.created), "lastUpdatedTime": epoch(p.updated)}
	})
}
