package awsiam

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsquery"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sigv4"
)

// Path is where cloudsim serves IAM; AWS_ENDPOINT_URL_IAM is its URL.
const Path = "/iam"

const (
	apiVersion = "2010-05-08"
	namespace  = "https://iam.amazonaws.com/doc/" + apiVersion + "/"
)

// Authorizer says who signed with an access key and whether that identity
// may make a request: cloudsim's STS, which knows both its role sessions
// and the account's users.
type Authorizer interface {
	sigv4.Credentials
	Authorize(accessKeyID string, r Request) (principalARN string, ok bool)
}

// Server is IAM's query API over one Account.
type Server struct {
	account *Account
	auth    Authorizer
	now     func() time.Time
	log     *slog.Logger
	count   func(string)
}

// Options configures a Server.
type Options struct {
	Account    *Account
	Authorizer Authorizer
	Now        func() time.Time
	Logger     *slog.Logger
	// Count records each operation and refusal, for cloudsim's stats.
	Count func(string)
}

// NewServer returns IAM's API over o.Account.
func NewServer(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	return &Server{account: o.Account, auth: o.Authorizer, now: o.Now, log: o.Logger, count: o.Count}
}

// Register adds the IAM endpoint to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Path, s.ServeHTTP)
	mux.HandleFunc("POST "+Path+"/{$}", s.ServeHTTP)
}

// Errors carry the code and status of the model's error shapes (their
// "error" traits in botocore's iam service-2.json).
func noSuchEntity(format string, args ...any) *awsquery.Error {
	return awsquery.Errorf(http.StatusNotFound, "NoSuchEntity", format, args...)
}

func alreadyExists(format string, args ...any) *awsquery.Error {
	return awsquery.Errorf(http.StatusConflict, "EntityAlreadyExists", format, args...)
}

func invalidInput(format string, args ...any) *awsquery.Error {
	return awsquery.Errorf(http.StatusBadRequest, "InvalidInput", format, args...)
}

// validation is the model's constraint check, worded as AWS words it.
func validation(field, constraint, value string) *awsquery.Error {
	return awsquery.Errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint)
}

// call is one request: its parameters and who made it.
type call struct {
	form      url.Values
	accessKey string
}

// operation is one IAM action: the resource its permission names and what
// it does, returning the result element's content (nil for none).
type operation struct {
	resource func(s *Server, c call) string
	run      func(s *Server, c call) (any, error)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := awsquery.NewRequestID()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	form, perr := url.ParseQuery(string(body))
	if err != nil || perr != nil {
		s.fail(w, requestID, "", &awsquery.Error{Status: http.StatusBadRequest, Code: "MalformedInput", Message: "The request body could not be parsed as a form."})
		return
	}
	action := form.Get("Action")
	op, known := operations[action]
	switch {
	case action == "":
		s.fail(w, requestID, action, &awsquery.Error{Status: http.StatusBadRequest, Code: "MissingAction", Message: "Missing Action"})
		return
	case !known || form.Get("Version") != apiVersion:
		s.fail(w, requestID, action, awsquery.Errorf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", action, form.Get("Version")))
		return
	}
	// IAM is global: its endpoint takes requests signed for us-east-1
	// (botocore's IAM endpoint rules give that signing region). A client
	// with an endpoint override signs for its own region instead, which a
	// real IAM never sees, so the account's region passes too.
	rules := sigv4.Rules{Service: "iam", Region: "us-east-1", OtherRegions: []string{s.account.Region}, MaxSkew: 15 * time.Minute}
	signer, refusal := sigv4.Verify(r, body, s.auth, rules, s.now())
	if refusal != nil {
		s.fail(w, requestID, action, awsquery.SignatureError(refusal))
		return
	}
	c := call{form: form, accessKey: signer.AccessKeyID}
	resource := op.resource(s, c)
	if who, ok := s.auth.Authorize(c.accessKey, Request{Action: "iam:" + action, Resource: resource}); !ok {
		s.fail(w, requestID, action, &awsquery.Error{Status: http.StatusForbidden, Code: "AccessDenied", Message: fmt.Sprintf(
			"User: %s is not authorized to perform: iam:%s on resource: %s because no identity-based policy allows the iam:%s action",
			who, action, resource, action)})
		return
	}
	result, err := op.run(s, c)
	if err != nil {
		s.fail(w, requestID, action, err)
		return
	}
	s.count("iam." + action)
	s.log.Info("iam", "action", action, "resource", resource)
	var buf bytes.Buffer
	buf.WriteString(xml.Header + "<" + action + "Response xmlns=\"" + namespace + "\">")
	if result != nil {
		enc := xml.NewEncoder(&buf)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			s.fail(w, requestID, action, err)
			return
		}
		enc.Flush()
	}
	buf.WriteString("<ResponseMetadata><RequestId>" + requestID + "</RequestId></ResponseMetadata></" + action + "Response>")
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.Write(buf.Bytes())
}

func (s *Server) fail(w http.ResponseWriter, requestID, action string, err error) {
	var e *awsquery.Error
	var m *MalformedError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &m):
		e = &awsquery.Error{Status: http.StatusBadRequest, Code: "MalformedPolicyDocument", Message: m.Message}
	default:
		e = &awsquery.Error{Status: http.StatusInternalServerError, Code: "ServiceFailure",
			Message: "The request processing has failed because of an unknown error, exception or failure."}
	}
	s.count("iam.error." + e.Code)
	s.log.Info("iam refused", "action", action, "code", e.Code, "message", e.Message)
	awsquery.WriteError(w, namespace, requestID, e)
}

// list reads a query-protocol list: Name.member.1, Name.member.2, …
func list(form url.Values, name string) []string {
	var out []string
	for i := 1; form.Has(name + ".member." + strconv.Itoa(i)); i++ {
		out = append(out, form.Get(name+".member."+strconv.Itoa(i)))
	}
	return out
}

var thumbprintPattern = regexp.MustCompile(`^[0-9A-Fa-f]{40}$`)

func required(form url.Values, field, param string) (string, error) {
	v := form.Get(param)
	if v == "" {
		return "", awsquery.Errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return v, nil
}

// nameParam reads a required name parameter (RoleName, PolicyName) that
// the IAM model constrains to max characters and [\w+=,.@-]+.
func nameParam(form url.Values, field, param string, max int) (string, error) {
	name, err := required(form, field, param)
	if err != nil {
		return name, err
	}
	return name, checkName(field, name, max)
}

func roleName(form url.Values) (string, error) {
	return nameParam(form, "roleName", "RoleName", maxRoleName)
}

// roleResource is the ARN a role operation is authorized against: the
// role's canonical ARN, its name as created, whatever case the request
// spells it in. IAM role names are unique without regard to case (the
// RoleName of CreateRole in the IAM API reference), so AGENTID-X names the
// role agentid-x, and a policy that denies arn:…:role/agentid-x must deny
// it. The ARN has the role's path. A role that does not exist (CreateRole's,
// or a NoSuchEntity to be) is named as spelled, with CreateRole's Path
// when it is a valid one.
func (s *Server) roleResource(c call) string {
	name := c.form.Get("RoleName")
	if r, ok := s.account.Role(name); ok {
		return s.account.RoleARN(r)
	}
	path := "/"
	if p, err := rolePath(c.form); err == nil && c.form.Get("Action") == "CreateRole" {
		path = p
	}
	return s.account.roleARN(path, name)
}

// providerResource is the ARN of the provider an operation names, the
// same parameter the operation then acts on: a provider's ARN is its URL,
// and cloudsim finds providers by the URL exactly, as it authorizes them.
func (s *Server) providerResource(c call) string { return c.form.Get("OpenIDConnectProviderArn") }

// newProviderResource is CreateOpenIDConnectProvider's: the ARN the
// provider will have, from Url alone (an OpenIDConnectProviderArn sent
// beside it names nothing the operation touches).
func (s *Server) newProviderResource(c call) string {
	return s.account.ProviderARN(strings.TrimPrefix(c.form.Get("Url"), "https://"))
}

func anyResource(*Server, call) string { return "*" }

var operations = map[string]operation{
	"CreateOpenIDConnectProvider":             {(*Server).newProviderResource, (*Server).createProvider},
	"GetOpenIDConnectProvider":                {(*Server).providerResource, (*Server).getProvider},
	"ListOpenIDConnectProviders":              {anyResource, (*Server).listProviders},
	"DeleteOpenIDConnectProvider":             {(*Server).providerResource, (*Server).deleteProvider},
	"AddClientIDToOpenIDConnectProvider":      {(*Server).providerResource, (*Server).addClientID},
	"RemoveClientIDFromOpenIDConnectProvider": {(*Server).providerResource, (*Server).removeClientID},
	"UpdateOpenIDConnectProviderThumbprint":   {(*Server).providerResource, (*Server).updateThumbprints},
	"CreateRole":                              {(*Server).roleResource, (*Server).createRole},
	"GetRole":                                 {(*Server).roleResource, (*Server).getRole},
	"UpdateRole":                              {(*Server).roleResource, (*Server).updateRole},
	"UpdateAssumeRolePolicy":                  {(*Server).roleResource, (*Server).updateAssumeRolePolicy},
	"DeleteRole":                              {(*Server).roleResource, (*Server).deleteRole},
	"PutRolePolicy":                           {(*Server).roleResource, (*Server).putRolePolicy},
	"GetRolePolicy":                           {(*Server).roleResource, (*Server).getRolePolicy},
	"ListRolePolicies":                        {(*Server).roleResource, (*Server).listRolePolicies},
	"DeleteRolePolicy":                        {(*Server).roleResource, (*Server).deleteRolePolicy},
	"TagRole":                                 {(*Server).roleResource, (*Server).tagRole},
	"UntagRole":                               {(*Server).roleResource, (*Server).untagRole},
	"ListRoleTags":                            {(*Server).roleResource, (*Server).listRoleTags},
	"EnableOutboundWebIdentityFederation":     {anyResource, (*Server).enableOutbound},
	"GetOutboundWebIdentityFederationInfo":    {anyResource, (*Server).getOutbound},
	"DisableOutboundWebIdentityFederation":    {anyResource, (*Server).disableOutbound},
}

// ---- OIDC providers

type providerResult struct {
	URL         string   `xml:"Url"`
	ClientIDs   []string `xml:"ClientIDList>member"`
	Thumbprints []string `xml:"ThumbprintList>member"`
	CreateDate  string   `xml:"CreateDate"`
}

func (s *Server) lookupProvider(c call) (Provider, error) {
	arn, err := required(c.form, "openIDConnectProviderArn", "OpenIDConnectProviderArn")
	if err != nil {
		return Provider{}, err
	}
	p, ok := s.account.ProviderByARN(arn)
	if !ok {
		return Provider{}, noSuchEntity("OpenIDConnect Provider not found for arn %s", arn)
	}
	return p, nil
}

func checkThumbprints(tps []string) error {
	if len(tps) > 5 {
		return validation("thumbprintList", "Member must have length less than or equal to 5", strings.Join(tps, ","))
	}
	for _, t := range tps {
		if !thumbprintPattern.MatchString(t) {
			return validation("thumbprintList", "Member must have length 40 and be hexadecimal (a certificate's SHA-1)", t)
		}
	}
	return nil
}

func checkClientIDs(ids []string) error {
	if len(ids) > 100 {
		return &awsquery.Error{Status: http.StatusConflict, Code: "LimitExceeded", Message: "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100"}
	}
	for _, id := range ids {
		if id == "" || len(id) > 255 {
			return validation("clientIDList", "Member must have length between 1 and 255", id)
		}
	}
	return nil
}

func (s *Server) createProvider(c call) (any, error) {
	raw, err := required(c.form, "url", "Url")
	if err != nil {
		return nil, err
	}
	u, perr := url.Parse(raw)
	if perr != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
		return nil, invalidInput("Invalid Open ID Connect Provider URL: %s (https://, a host, no port, no query)", raw)
	}
	clientIDs, thumbprints := list(c.form, "ClientIDList"), list(c.form, "ThumbprintList")
	if err := checkClientIDs(clientIDs); err != nil {
		return nil, err
	}
	if err := checkThumbprints(thumbprints); err != nil {
		return nil, err
	}
	stored := strings.TrimPrefix(raw, "https://")
	a := s.account
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.providers[stored]; ok {
		return nil, alreadyExists("Provider with url %s already exists.", raw)
	}
	a.providers[stored] = Provider{URL: stored, ClientIDs: dedupe(clientIDs), Thumbprints: thumbprints, Created: s.now().UTC().Truncate(time.Second)}
	return struct {
		ARN string `xml:"OpenIDConnectProviderArn"`
	}{a.ProviderARN(stored)}, nil
}

func dedupe(ids []string) []string {
	var out []string
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func (s *Server) getProvider(c call) (any, error) {
	p, err := s.lookupProvider(c)
	if err != nil {
		return nil, err
	}
	return providerResult{URL: p.URL, ClientIDs: p.ClientIDs, Thumbprints: p.Thumbprints, CreateDate: isoTime(p.Created)}, nil
}

func (s *Server) listProviders(call) (any, error) {
	type entry struct {
		ARN string `xml:"Arn"`
	}
	var out struct {
		Entries []entry `xml:"OpenIDConnectProviderList>member"`
	}
	for _, p := range s.account.sortedProviders() {
		out.Entries = append(out.Entries, entry{s.account.ProviderARN(p.URL)})
	}
	return out, nil
}

// updateProvider changes a provider under the account's lock.
func (s *Server) updateProvider(c call, change func(*Provider) error) (any, error) {
	p, err := s.lookupProvider(c)
	if err != nil {
		return nil, err
	}
	a := s.account
	a.mu.Lock()
	defer a.mu.Unlock()
	p.ClientIDs, p.Thumbprints = slices.Clone(p.ClientIDs), slices.Clone(p.Thumbprints)
	if err := change(&p); err != nil {
		return nil, err
	}
	a.providers[p.URL] = p
	return nil, nil
}

func (s *Server) deleteProvider(c call) (any, error) {
	p, err := s.lookupProvider(c)
	if err != nil {
		return nil, err
	}
	s.account.mu.Lock()
	delete(s.account.providers, p.URL)
	s.account.mu.Unlock()
	return nil, nil
}

func (s *Server) addClientID(c call) (any, error) {
	id, err := required(c.form, "clientID", "ClientID")
	if err != nil {
		return nil, err
	}
	return s.updateProvider(c, func(p *Provider) error {
		if !slices.Contains(p.ClientIDs, id) {
			p.ClientIDs = append(p.ClientIDs, id)
		}
		return checkClientIDs(p.ClientIDs)
	})
}

func (s *Server) removeClientID(c call) (any, error) {
	id, err := required(c.form, "clientID", "ClientID")
	if err != nil {
		return nil, err
	}
	return s.updateProvider(c, func(p *Provider) error {
		p.ClientIDs = slices.DeleteFunc(p.ClientIDs, func(x string) bool { return x == id })
		return nil
	})
}

func (s *Server) updateThumbprints(c call) (any, error) {
	tps := list(c.form, "ThumbprintList")
	if err := checkThumbprints(tps); err != nil {
		return nil, err
	}
	return s.updateProvider(c, func(p *Provider) error {
		p.Thumbprints = tps
		return nil
	})
}

// ---- roles

type roleResult struct {
	Path                     string   `xml:"Path"`
	RoleName                 string   `xml:"RoleName"`
	RoleID                   string   `xml:"RoleId"`
	ARN                      string   `xml:"Arn"`
	CreateDate               string   `xml:"CreateDate"`
	AssumeRolePolicyDocument string   `xml:"AssumeRolePolicyDocument"`
	Description              string   `xml:"Description,omitempty"`
	MaxSessionDuration       int      `xml:"MaxSessionDuration"`
	Tags                     []tagXML `xml:"Tags>member,omitempty"`
}

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func tagsXML(tags []Tag) []tagXML {
	var out []tagXML
	for _, t := range tags {
		out = append(out, tagXML(t))
	}
	return out
}

// roleXML is a role as IAM returns it: its path, its ARN with the path,
// and its tags. Policy documents come URL-encoded, as IAM sends them (the
// API reference's GetRole and GetRolePolicy; the AWS CLI decodes them).
func (s *Server) roleXML(r Role) any {
	return struct {
		Role roleResult `xml:"Role"`
	}{roleResult{Path: r.Path, RoleName: r.Name, RoleID: s.account.RoleID(r.Name), ARN: s.account.RoleARN(r), CreateDate: isoTime(r.Created),
		AssumeRolePolicyDocument: encodePolicy(r.Trust.Text), Description: r.Description, MaxSessionDuration: r.MaxSessionDuration,
		Tags: tagsXML(r.Tags)}}
}

func (s *Server) lookupRole(c call) (Role, error) {
	name, err := roleName(c.form)
	if err != nil {
		return Role{}, err
	}
	r, ok := s.account.Role(name)
	if !ok {
		return Role{}, noSuchEntity("The role with name %s cannot be found.", name)
	}
	return r, nil
}

func maxSessionDuration(form url.Values, current int) (int, error) {
	v := form.Get("MaxSessionDuration")
	if v == "" {
		return current, nil
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		return 0, validation("maxSessionDuration", "Member must be an integer", v)
	case n < 3600:
		return 0, validation("maxSessionDuration", "Member must have value greater than or equal to 3600", v)
	case n > 43200:
		return 0, validation("maxSessionDuration", "Member must have value less than or equal to 43200", v)
	}
	return n, nil
}

// trustPolicy reads and checks a trust policy: CreateRole's
// AssumeRolePolicyDocument or UpdateAssumeRolePolicy's PolicyDocument. It
// must parse, fit the role trust policy quota, and name principals that
// exist.
func (s *Server) trustPolicy(form url.Values, param string) (*Policy, error) {
	text, err := required(form, "policyDocument", param)
	if err != nil {
		return nil, err
	}
	p, err := Parse(text, Trust)
	if err != nil {
		return nil, err
	}
	if err := checkTrustSize(p); err != nil {
		return nil, err
	}
	return p, s.account.checkPrincipals(p)
}

func (s *Server) createRole(c call) (any, error) {
	name, err := roleName(c.form)
	if err != nil {
		return nil, err
	}
	path, err := rolePath(c.form)
	if err != nil {
		return nil, err
	}
	tags, err := formTags(c.form)
	if err != nil {
		return nil, err
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	maxDuration, err := maxSessionDuration(c.form, 3600)
	if err != nil {
		return nil, err
	}
	if c.form.Get("PermissionsBoundary") != "" {
		return nil, invalidInput("cloudsim does not emulate permissions boundaries")
	}
	trust, err := s.trustPolicy(c.form, "AssumeRolePolicyDocument")
	if err != nil {
		return nil, err
	}
	r := Role{Name: name, Path: path, Description: c.form.Get("Description"), MaxSessionDuration: maxDuration, Trust: trust,
		Policies: map[string]*Policy{}, Tags: tags, Created: s.now().UTC().Truncate(time.Second)}
	a := s.account
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.roles[strings.ToLower(name)]; ok {
		return nil, alreadyExists("Role with name %s already exists.", name)
	}
	a.roles[strings.ToLower(name)] = r
	return s.roleXML(r), nil
}

func (s *Server) getRole(c call) (any, error) {
	r, err := s.lookupRole(c)
	if err != nil {
		return nil, err
	}
	return s.roleXML(r), nil
}

// changeRole applies change to a copy of the role and stores it.
func (s *Server) changeRole(c call, change func(*Role) error) (any, error) {
	r, err := s.lookupRole(c)
	if err != nil {
		return nil, err
	}
	r.Policies, r.Tags = maps.Clone(r.Policies), slices.Clone(r.Tags)
	if err := change(&r); err != nil {
		return nil, err
	}
	s.account.mu.Lock()
	defer s.account.mu.Unlock()
	s.account.roles[strings.ToLower(r.Name)] = r
	return nil, nil
}

func (s *Server) updateRole(c call) (any, error) {
	_, err := s.changeRole(c, func(r *Role) (err error) {
		if c.form.Has("Description") {
			r.Description = c.form.Get("Description")
		}
		r.MaxSessionDuration, err = maxSessionDuration(c.form, r.MaxSessionDuration)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Its output is an empty UpdateRoleResult, which botocore expects.
	return struct{}{}, nil
}

func (s *Server) updateAssumeRolePolicy(c call) (any, error) {
	trust, err := s.trustPolicy(c.form, "PolicyDocument")
	if err != nil {
		return nil, err
	}
	return s.changeRole(c, func(r *Role) error {
		r.Trust = trust
		return nil
	})
}

func (s *Server) deleteRole(c call) (any, error) {
	r, err := s.lookupRole(c)
	if err != nil {
		return nil, err
	}
	if len(r.Policies) > 0 {
		return nil, &awsquery.Error{Status: http.StatusConflict, Code: "DeleteConflict", Message: "Cannot delete entity, must delete policies first."}
	}
	s.account.mu.Lock()
	delete(s.account.roles, strings.ToLower(r.Name))
	s.account.mu.Unlock()
	return nil, nil
}

func policyName(form url.Values) (string, error) {
	return nameParam(form, "policyName", "PolicyName", maxPolicyName)
}

func (s *Server) putRolePolicy(c call) (any, error) {
	name, err := policyName(c.form)
	if err != nil {
		return nil, err
	}
	text, err := required(c.form, "policyDocument", "PolicyDocument")
	if err != nil {
		return nil, err
	}
	p, err := Parse(text, Identity)
	if err != nil {
		return nil, err
	}
	return s.changeRole(c, func(r *Role) error {
		r.Policies[name] = p
		return checkRolePoliciesSize(r.Name, r.Policies)
	})
}

func (s *Server) getRolePolicy(c call) (any, error) {
	r, err := s.lookupRole(c)
	if err != nil {
		return nil, err
	}
	name, err := policyName(c.form)
	if err != nil {
		return nil, err
	}
	p, ok := r.Policies[name]
	if !ok {
		return nil, noSuchEntity("The role policy with name %s cannot be found.", name)
	}
	return struct {
		RoleName       string `xml:"RoleName"`
		PolicyName     string `xml:"PolicyName"`
		PolicyDocument string `xml:"PolicyDocument"`
	}{r.Name, name, encodePolicy(p.Text)}, nil
}

func (s *Server) listRolePolicies(c call) (any, error) {
	r, err := s.lookupRole(c)
	if err != nil {
		return nil, err
	}
	return struct {
		Names       []string `xml:"PolicyNames>member"`
		IsTruncated bool     `xml:"IsTruncated"`
	}{slices.Sorted(maps.Keys(r.Policies)), false}, nil
}

func (s *Server) deleteRolePolicy(c call) (any, error) {
	name, err := policyName(c.form)
	if err != nil {
		return nil, err
	}
	return s.changeRole(c, func(r *Role) error {
		if _, ok := r.Policies[name]; !ok {
			return noSuchEntity("The role policy with name %s cannot be found.", name)
		}
		delete(r.Policies, name)
		return nil
	})
}

// ---- role tags (TagRole, UntagRole, ListRoleTags)

func (s *Server) tagRole(c call) (any, error) {
	if _, err := roleName(c.form); err != nil {
		return nil, err
	}
	tags, err := formTags(c.form)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, awsquery.Errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	return s.changeRole(c, func(r *Role) (err error) {
		r.Tags, err = mergeTags(r.Tags, tags)
		return err
	})
}

// untagRole removes the tags with these keys, in any case; a key the role
// does not have is no error.
func (s *Server) untagRole(c call) (any, error) {
	if _, err := roleName(c.form); err != nil {
		return nil, err
	}
	keys := list(c.form, "TagKeys")
	switch {
	case len(keys) == 0:
		return nil, awsquery.Errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
	case len(keys) > maxTags:
		return nil, listTooLong("tagKeys", maxTags)
	}
	for i, k := range keys {
		if err := checkTagKey("tagKeys."+strconv.Itoa(i+1)+".member", k); err != nil {
			return nil, err
		}
	}
	return s.changeRole(c, func(r *Role) error {
		r.Tags = slices.DeleteFunc(r.Tags, func(t Tag) bool {
			return slices.ContainsFunc(keys, func(k string) bool { return strings.EqualFold(k, t.Key) })
		})
		return nil
	})
}

// listRoleTags pages through the role's tags, MaxItems (1–1000, default
// 100) at a time. The Marker is cloudsim's own: the index to go on from.
func (s *Server) listRoleTags(c call) (any, error) {
	r, err := s.lookupRole(c)
	if err != nil {
		return nil, err
	}
	maxItems := 100
	if v := c.form.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return nil, validation("maxItems", "Member must be an integer", v)
		case n < 1:
			return nil, validation("maxItems", "Member must have value greater than or equal to 1", v)
		case n > 1000:
			return nil, validation("maxItems", "Member must have value less than or equal to 1000", v)
		}
		maxItems = n
	}
	start := 0
	if m := c.form.Get("Marker"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 || n > len(r.Tags) {
			return nil, invalidInput("Invalid Marker: %s", m)
		}
		start = n
	}
	end := min(start+maxItems, len(r.Tags))
	// Tags is required in the answer: an empty <Tags/>, not a missing one.
	type tagList struct {
		Members []tagXML `xml:"member"`
	}
	out := struct {
		Tags        tagList `xml:"Tags"`
		IsTruncated bool    `xml:"IsTruncated"`
		Marker      string  `xml:"Marker,omitempty"`
	}{Tags: tagList{tagsXML(r.Tags[start:end])}, IsTruncated: end < len(r.Tags)}
	if out.IsTruncated {
		out.Marker = strconv.Itoa(end)
	}
	return out, nil
}

// ---- outbound identity federation. The FeatureEnabled and
// FeatureDisabled codes are the model's; their messages are not verified.

func (s *Server) enableOutbound(call) (any, error) {
	a := s.account
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.outboundOn {
		return nil, &awsquery.Error{Status: http.StatusConflict, Code: "FeatureEnabled", Message: "Outbound web identity federation is already enabled for this account."}
	}
	a.outboundOn = true
	return struct {
		Issuer string `xml:"IssuerIdentifier"`
	}{a.outboundIssuer}, nil
}

func (s *Server) getOutbound(call) (any, error) {
	issuer, on := s.account.Outbound()
	if !on {
		return nil, &awsquery.Error{Status: http.StatusNotFound, Code: "FeatureDisabled", Message: "Outbound web identity federation is not enabled for this account."}
	}
	return struct {
		Issuer  string `xml:"IssuerIdentifier"`
		Enabled bool   `xml:"JwtVendingEnabled"`
	}{issuer, true}, nil
}

func (s *Server) disableOutbound(call) (any, error) {
	a := s.account
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.outboundOn {
		return nil, &awsquery.Error{Status: http.StatusNotFound, Code: "FeatureDisabled", Message: "Outbound web identity federation is not enabled for this account."}
	}
	a.outboundOn = false
	return nil, nil
}

// encodePolicy percent-encodes a policy document as IAM returns it (spaces
// as %20: botocore's json_decode_policies handler unquotes, then parses).
func encodePolicy(text string) string {
	return strings.ReplaceAll(url.QueryEscape(text), "+", "%20")
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
