// Package awssts is cloudsim's AWS STS over the query protocol, with AWS's
// error codes:
//   - AssumeRoleWithWebIdentity, unsigned as the SDK sends it, validating
//     the web identity token the way IAM does for an OIDC provider. The
//     credentials it issues are remembered, so cloudsim's Bedrock can check
//     SigV4 signatures made with them.
//   - GetWebIdentityToken (outbound identity federation), signed with
//     those credentials: a JWT about the caller's role, from the account's
//     own issuer, with that issuer's discovery document and keys.
//   - GetCallerIdentity, signed: who the credentials belong to.
//
// Wire shapes follow botocore's model (botocore/data/sts/2011-06-15).
package awssts

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsiam"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsquery"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/entra"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/jwtpeek"
)

// maxSessionPolicy is the model's sessionPolicyDocumentType maximum.
const maxSessionPolicy = 2048

// ClockSkew is how far past exp IAM still accepts a web identity token.
const ClockSkew = 5 * time.Minute

// Credential is a set of temporary credentials STS issued.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	AssumedRoleARN  string // arn:aws:sts::<acct>:assumed-role/<role>/<session>
	AssumedRoleID   string // AROA…:<session>, GetCallerIdentity's UserId
	Subject         string // the web identity token's sub
	SourceIdentity  string // from the token's source identity claim, if any
	// SessionPolicy is the Policy passed to AssumeRoleWithWebIdentity: the
	// session may do only what both it and the role's policies allow.
	SessionPolicy *awsiam.Policy
	roleName      string
	// roleARN is the role's ARN, path included, as the role had it when
	// the session began: GetWebIdentityToken's sub.
	roleARN string
}

// Server answers STS requests for one tenant file's AWS account.
type Server struct {
	account *awsiam.Account
	tenant  string
	keys    *signing.Keys
	// outbound signs GetWebIdentityToken's tokens: the account's issuer
	// has keys of its own, not Entra's.
	outbound *signing.Keys
	now      func() time.Time
	log      *slog.Logger
	stats    *entra.Stats

	mu    sync.Mutex
	creds map[string]Credential // by access key ID
}

// Options configures a Server.
type Options struct {
	Directory *tenant.Directory
	// Account is the IAM state STS decides from: providers, roles, users.
	Account *awsiam.Account
	Keys    *signing.Keys // Entra's keys, for the web identity tokens it trusts
	// OutboundKeys are the account issuer's keys (GetWebIdentityToken).
	OutboundKeys *signing.Keys
	Now          func() time.Time
	Logger       *slog.Logger
	Stats        *entra.Stats
}

// New returns an STS for d's AWS account, or nil when d has none.
func New(o Options) *Server {
	if o.Directory.AWS == nil {
		return nil
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stats == nil {
		o.Stats = entra.NewStats()
	}
	return &Server{account: o.Account, tenant: o.Directory.Tenant.ID, keys: o.Keys, outbound: o.OutboundKeys, now: o.Now,
		log: o.Logger, stats: o.Stats, creds: map[string]Credential{}}
}

// Path is where cloudsim serves STS; AWS_ENDPOINT_URL_STS is its URL.
const Path = "/sts"

// Register adds the STS endpoint and the outbound issuer's discovery to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Path, s.ServeHTTP)
	mux.HandleFunc("POST "+Path+"/{$}", s.ServeHTTP)
	mux.HandleFunc("GET "+OutboundPath+"/.well-known/openid-configuration", s.outboundDiscovery)
	mux.HandleFunc("GET "+OutboundPath+"/.well-known/jwks.json", s.outboundKeys)
}

// Lookup returns the credential with this access key ID, if STS issued it.
func (s *Server) Lookup(accessKeyID string) (Credential, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[accessKeyID]
	return c, ok
}

// Secret implements sigv4.Credentials: a credential STS issued, or an IAM
// user's key pair (no session token, no expiry).
func (s *Server) Secret(accessKeyID string) (secret, sessionToken string, expires time.Time, principal string, ok bool) {
	if c, found := s.Lookup(accessKeyID); found {
		return c.SecretAccessKey, c.SessionToken, c.Expiration, c.AssumedRoleARN + " (web identity sub " + c.Subject + ")", true
	}
	if u, found := s.account.User(accessKeyID); found {
		return u.Secret, "", time.Time{}, s.account.UserARN(u.Name), true
	}
	return "", "", time.Time{}, "", false
}

// Authorize implements awsiam.Authorizer: whether the identity behind an
// access key may make a request, by IAM's policy evaluation logic. A role
// session is judged by its role's policies within its session policy, a
// user by the user's policies.
func (s *Server) Authorize(accessKeyID string, r awsiam.Request) (principalARN string, ok bool) {
	if c, found := s.Lookup(accessKeyID); found {
		return c.AssumedRoleARN, s.account.RolePermitted(c.roleName, r, c.SessionPolicy)
	}
	if u, found := s.account.User(accessKeyID); found {
		return s.account.UserARN(u.Name), s.account.UserPermitted(u, r)
	}
	return "", false
}

// Allowed implements bedrock.Credentials.
func (s *Server) Allowed(accessKeyID, action, resource string) bool {
	_, ok := s.Authorize(accessKeyID, awsiam.Request{Action: action, Resource: resource})
	return ok
}

// Region is the account's region (AWS_REGION).
func (s *Server) Region() string { return s.account.Region }

func invalidToken(format string, args ...any) *awsquery.Error {
	return awsquery.Errorf(http.StatusBadRequest, "InvalidIdentityToken", format, args...)
}

func validation(format string, args ...any) *awsquery.Error {
	return awsquery.Errorf(http.StatusBadRequest, "ValidationError", format, args...)
}

var accessDenied = &awsquery.Error{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}

// The actions STS serves; any other is InvalidAction, as STS answers an
// operation it does not have.
var actions = map[string]bool{"AssumeRoleWithWebIdentity": true, "GetWebIdentityToken": true, "GetCallerIdentity": true}

const maxRequestBytes = 64 << 10

// ServeHTTP answers one STS query-protocol request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := awsquery.NewRequestID()
	// The body is read whole first: a signed request's signature covers it.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	form, perr := url.ParseQuery(string(body))
	if err != nil || perr != nil {
		s.fail(w, requestID, &awsquery.Error{Status: http.StatusBadRequest, Code: "MalformedInput", Message: "The request body could not be parsed as a form."})
		return
	}
	action := form.Get("Action")
	switch {
	case action == "":
		s.fail(w, requestID, &awsquery.Error{Status: http.StatusBadRequest, Code: "MissingAction", Message: "Missing Action"})
	case !actions[action]:
		s.fail(w, requestID, awsquery.Errorf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version 2011-06-15", action))
	case form.Get("Version") != "2011-06-15":
		s.fail(w, requestID, awsquery.Errorf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", action, form.Get("Version")))
	case action == "GetCallerIdentity":
		s.stats.Add("sts.GetCallerIdentity")
		res, err := s.callerIdentity(r, body)
		if err != nil {
			s.fail(w, requestID, err)
			return
		}
		res.Metadata.RequestID = requestID
		awsquery.WriteXML(w, http.StatusOK, requestID, res)
	case action == "GetWebIdentityToken":
		s.stats.Add("sts.GetWebIdentityToken")
		res, err := s.webIdentityToken(r, body, form)
		if err != nil {
			s.fail(w, requestID, err)
			return
		}
		res.Metadata.RequestID = requestID
		awsquery.WriteXML(w, http.StatusOK, requestID, res)
	default:
		s.stats.Add("sts.AssumeRoleWithWebIdentity")
		res, err := s.assumeRole(form)
		if err != nil {
			s.fail(w, requestID, err)
			return
		}
		s.log.Info("assumed role with web identity", "role", res.Result.AssumedRoleUser.Arn, "sub", res.Result.SubjectFromWebIdentityToken,
			"aud", res.Result.Audience, "expires", res.Result.Credentials.Expiration)
		res.Metadata.RequestID = requestID
		awsquery.WriteXML(w, http.StatusOK, requestID, res)
	}
}

func (s *Server) fail(w http.ResponseWriter, requestID string, err error) {
	var e *awsquery.Error
	var m *awsiam.MalformedError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &m):
		e = &awsquery.Error{Status: http.StatusBadRequest, Code: "MalformedPolicyDocument", Message: m.Message}
	default:
		e = &awsquery.Error{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "The request processing has failed because of an unknown error."}
	}
	s.stats.Add("sts.error." + e.Code)
	s.log.Info("sts refused", "code", e.Code, "message", e.Message)
	awsquery.WriteError(w, namespace, requestID, e)
}

// namespace is STS's XML namespace, for its answers and errors.
const namespace = "https://sts.amazonaws.com/doc/2011-06-15/"

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result  struct {
		SubjectFromWebIdentityToken string `xml:"SubjectFromWebIdentityToken"`
		Audience                    string `xml:"Audience"`
		AssumedRoleUser             struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			SessionToken    string `xml:"SessionToken"`
			Expiration      string `xml:"Expiration"`
		} `xml:"Credentials"`
		Provider string `xml:"Provider"`
		// PackedPolicySize is sent only when a session policy was passed,
		// as in real answers.
		PackedPolicySize *int   `xml:"PackedPolicySize,omitempty"`
		SourceIdentity   string `xml:"SourceIdentity,omitempty"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	Metadata struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

var sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// webIdentityClaims are the claims IAM reads from an OIDC token.
type webIdentityClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Azp string          `json:"azp"`
	Exp *float64        `json:"exp"`
	// SourceIdentity is the claim IAM reads a source identity from
	// (IAM User Guide, "Passing session tags / source identity using
	// AssumeRoleWithWebIdentity"); setting it needs sts:SetSourceIdentity
	// in the role's trust policy.
	SourceIdentity *string `json:"https://aws.amazon.com/source_identity"`
}

func (s *Server) assumeRole(form map[string][]string) (*assumeRoleResponse, error) {
	req, err := parseAssumeRole(form)
	if err != nil {
		return nil, err
	}
	claims, provider, aud, err := s.verifyWebIdentity(req.token)
	if err != nil {
		return nil, err
	}
	now := s.now()
	role, ok := s.account.RoleByARN(req.roleARN)
	if !ok {
		return nil, accessDenied
	}
	trustRequest := trustRequest(s.account.ProviderARN(provider.URL), provider.URL, aud, claims.Sub)
	if role.Trust.Decide(trustRequest) != awsiam.Allowed {
		return nil, accessDenied
	}
	sourceIdentity, err := checkSourceIdentity(claims, role.Trust, trustRequest)
	if err != nil {
		return nil, err
	}
	if req.duration > role.MaxSessionDuration {
		return nil, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}

	// The session's ARN names the role without its path, unlike the
	// role's own ARN (IAM User Guide, "IAM identifiers", read 2026-12-06;
	// hashicorp/terraform-provider-aws#19957 reports the same from AWS).
	cred := Credential{
		AccessKeyID:     "ASIA" + randomUpper(16),
		SecretAccessKey: randomB64(30),
		SessionToken:    randomB64(300),
		Expiration:      now.Add(time.Duration(req.duration) * time.Second).UTC().Truncate(time.Second),
		AssumedRoleARN:  "arn:aws:sts::" + s.account.ID + ":assumed-role/" + role.Name + "/" + req.session,
		AssumedRoleID:   s.account.RoleID(role.Name) + ":" + req.session,
		Subject:         claims.Sub,
		SourceIdentity:  sourceIdentity,
		SessionPolicy:   req.policy,
		roleName:        role.Name,
		roleARN:         s.account.RoleARN(role),
	}
	s.remember(cred)

	res := &assumeRoleResponse{}
	res.Result.SubjectFromWebIdentityToken = claims.Sub
	res.Result.Audience = aud
	res.Result.AssumedRoleUser.Arn = cred.AssumedRoleARN
	res.Result.AssumedRoleUser.AssumedRoleID = cred.AssumedRoleID
	res.Result.Credentials.AccessKeyID = cred.AccessKeyID
	res.Result.Credentials.SecretAccessKey = cred.SecretAccessKey
	res.Result.Credentials.SessionToken = cred.SessionToken
	res.Result.Credentials.Expiration = cred.Expiration.Format(time.RFC3339)
	// The provider's ARN, not the issuer: "arn:aws:iam::<account>:
	// oidc-provider/sts.windows.net/<tenant>/" in real answers.
	res.Result.Provider = s.account.ProviderARN(provider.URL)
	if req.policy != nil {
		res.Result.PackedPolicySize = &req.packedSize
	}
	res.Result.SourceIdentity = sourceIdentity
	return res, nil
}

// assumeRoleRequest is an AssumeRoleWithWebIdentity request's parameters,
// checked as STS checks them before it reads the token.
type assumeRoleRequest struct {
	roleARN, session, token string
	duration                int
	policy                  *awsiam.Policy
	packedSize              int // PackedPolicySize, a percentage of the packed limit
}

func parseAssumeRole(form map[string][]string) (assumeRoleRequest, error) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	req := assumeRoleRequest{roleARN: get("RoleArn"), session: get("RoleSessionName"), token: get("WebIdentityToken"), duration: 3600}
	var problems []string
	for _, p := range []struct{ name, value string }{{"roleArn", req.roleARN}, {"roleSessionName", req.session}, {"webIdentityToken", req.token}} {
		if p.value == "" {
			problems = append(problems, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", p.name))
		}
	}
	if req.session != "" && !sessionName.MatchString(req.session) {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", req.session))
	}
	policyText := get("Policy")
	if len(policyText) > maxSessionPolicy {
		problems = append(problems, fmt.Sprintf("Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to %d", maxSessionPolicy))
	}
	if len(problems) > 0 {
		return req, validation("%d validation error%s detected: %s", len(problems), plural(len(problems)), strings.Join(problems, "; "))
	}
	if form["PolicyArns.member.1"] != nil {
		// Managed session policies need IAM's managed policies, which
		// cloudsim does not model: refused rather than ignored.
		return req, &awsquery.Error{Status: http.StatusBadRequest, Code: "MalformedPolicyDocument", Message: "cloudsim does not emulate managed session policies (PolicyArns); pass an inline Policy instead"}
	}
	if policyText != "" {
		p, err := awsiam.Parse(policyText, awsiam.Session)
		if err != nil {
			return req, err
		}
		// AWS packs the policy in a compressed binary form whose size is
		// not documented; cloudsim reports the plain text's share.
		req.policy, req.packedSize = p, (len(policyText)*100+maxSessionPolicy-1)/maxSessionPolicy
	}
	if d := get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			return req, validation("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", d)
		}
		req.duration = n
	}
	return req, nil
}

// verifyWebIdentity checks the token as IAM does for an OIDC provider:
// its form, the provider for its issuer, the signature, the audience
// among the provider's client IDs, and its expiry.
func (s *Server) verifyWebIdentity(token string) (claims webIdentityClaims, provider awsiam.Provider, aud string, err error) {
	payload, verr := s.keys.Verify(token)
	switch {
	case errors.Is(verr, signing.ErrMalformed), verr == nil && json.Unmarshal(payload, &claims) != nil:
		return claims, provider, "", invalidToken("The web identity token is not a valid JWT.")
	case verr != nil:
		// Parse what we can to name the issuer, as IAM does, before
		// reporting the signature.
		if c, ok := unverifiedClaims(token); ok && !s.known(c.Iss) {
			return claims, provider, "", invalidToken("No OpenIDConnect provider found in your account for %s", c.Iss)
		}
		if errors.Is(verr, signing.ErrUnknownKey) {
			return claims, provider, "", invalidToken("Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements")
		}
		return claims, provider, "", invalidToken("The web identity token signature could not be verified.")
	}
	provider, found := s.account.ProviderForIssuer(claims.Iss)
	if !found {
		return claims, provider, "", invalidToken("No OpenIDConnect provider found in your account for %s", claims.Iss)
	}
	if claims.Iss != entra.IssuerV1(s.tenant) && claims.Iss != entra.IssuerV2(s.tenant) {
		// A provider for an issuer whose keys cloudsim does not hold.
		return claims, provider, "", invalidToken("Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements")
	}
	aud, ok := audience(claims)
	if !ok {
		return claims, provider, "", invalidToken("Missing a required claim: aud")
	}
	if !slices.Contains(provider.ClientIDs, aud) {
		return claims, provider, "", invalidToken("Incorrect token audience")
	}
	if claims.Exp == nil {
		return claims, provider, "", invalidToken("Missing a required claim: exp")
	}
	now := s.now()
	if exp := time.Unix(int64(*claims.Exp), 0); now.After(exp.Add(ClockSkew)) {
		return claims, provider, "", awsquery.Errorf(http.StatusBadRequest, "ExpiredTokenException", "Token expired: current date/time %d must be before the expiration date/time %d", now.Unix(), exp.Unix())
	}
	return claims, provider, aud, nil
}

// audience is what IAM compares with the client-ID list and the :aud
// condition: azp when the token carries one (Entra v2 tokens do, which is
// why a v2 token for an app fails where the v1 token passes), else aud.
func audience(c webIdentityClaims) (string, bool) {
	if c.Azp != "" {
		return c.Azp, true
	}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil && one != "" {
		return one, true
	}
	var list []string
	if json.Unmarshal(c.Aud, &list) == nil && len(list) > 0 {
		return list[0], true
	}
	return "", false
}

// known reports whether the account has a provider for an issuer.
func (s *Server) known(iss string) bool {
	_, ok := s.account.ProviderForIssuer(iss)
	return ok
}

// trustRequest is AssumeRoleWithWebIdentity as the role's trust policy
// judges it: the provider as the Federated principal, and the token's
// claims as the provider's condition keys, "<provider url>:aud" (azp when
// present, else aud) and "<provider url>:sub" (IAM User Guide, "Available
// keys for AWS web identity federation": for a generic OIDC provider the
// keys are the provider URL followed by the claim).
func trustRequest(providerARN, providerURL, aud, sub string) awsiam.Request {
	return awsiam.Request{
		Principal: awsiam.Principal{Type: "Federated", ID: providerARN},
		Action:    "sts:AssumeRoleWithWebIdentity",
		Context:   map[string][]string{providerURL + ":aud": {aud}, providerURL + ":sub": {sub}},
	}
}

// checkSourceIdentity returns the token's source identity, which the trust
// policy must let the caller set (sts:SetSourceIdentity, with the value as
// sts:SourceIdentity).
func checkSourceIdentity(c webIdentityClaims, trust *awsiam.Policy, r awsiam.Request) (string, error) {
	if c.SourceIdentity == nil {
		return "", nil
	}
	id := *c.SourceIdentity
	if !sourceIdentityPattern.MatchString(id) {
		return "", validation("1 validation error detected: Value '%s' at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", id)
	}
	r.Action = "sts:SetSourceIdentity"
	r.Context["sts:SourceIdentity"] = []string{id}
	if trust.Decide(r) != awsiam.Allowed {
		return "", accessDenied
	}
	return id, nil
}

// sourceIdentityPattern is the model's sourceIdentityType: 2 to 64 of
// these characters.
var sourceIdentityPattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func unverifiedClaims(token string) (webIdentityClaims, bool) {
	var c webIdentityClaims
	return c, jwtpeek.Claims(token, &c) == nil
}

// expiredKept is how long an expired credential is still recognised, so a
// request signed with it is answered ExpiredToken, as AWS answers, rather
// than as a key it never issued. (AWS reads the expiry from the session
// token itself, for ever; a day bounds what cloudsim keeps.)
const expiredKept = 24 * time.Hour

// remember keeps the credential for SigV4 checks, dropping those expired
// for longer than expiredKept.
func (s *Server) remember(c Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, old := range s.creds {
		if now.After(old.Expiration.Add(expiredKept)) {
			delete(s.creds, id)
		}
	}
	s.creds[c.AccessKeyID] = c
}

func randomUpper(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base32.StdEncoding.EncodeToString(b)[:n]
}

func randomB64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
