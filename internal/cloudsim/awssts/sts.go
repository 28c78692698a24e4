// Package awssts is cloudsim's AWS STS over the query protocol, with AWS's
// error codes:
//   - AssumeRoleWithWebIdentity, unsigned as the SDK sends it, validating
//     the web identity token the way IAM does for an OIDC provider. The
//     credentials it issues are remembered, so cloudsim's Bedrock can check
//     SigV4 signatures made with them.
//   - GetWebIdentityToken (outbound identity federation), signed with
//     those credentials: a JWT about the caller's role, from the account's
//     own issuer, with that issuer's discovery document and keys.
package awssts

import (
	"crypto/rand"
	"crypto/sha256"
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

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/entra"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// ClockSkew is how far past exp IAM still accepts a web identity token.
const ClockSkew = 5 * time.Minute

// Credential is a set of temporary credentials STS issued.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	AssumedRoleARN  string // arn:aws:sts::<acct>:assumed-role/<role>/<session>
	Subject         string // the web identity token's sub
}

// Server answers STS requests for one tenant file's AWS account.
type Server struct {
	account *tenant.AWSAccount
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
	Keys      *signing.Keys // Entra's keys, for the web identity tokens it trusts
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
	return &Server{account: o.Directory.AWS, tenant: o.Directory.Tenant.ID, keys: o.Keys, outbound: o.OutboundKeys, now: o.Now,
		log: o.Logger, stats: o.Stats, creds: map[string]Credential{}}
}

// Path is where cloudsim serves STS; AWS_ENDPOINT_URL_STS is its URL.
const Path = "/sts"

// Register adds the STS endpoint and the outbound issuer's discovery to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Path, s.serve)
	mux.HandleFunc("POST "+Path+"/{$}", s.serve)
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

// Secret implements bedrock.Credentials: a credential STS issued, or one of
// the tenant file's dev key pairs (no session token, no expiry).
func (s *Server) Secret(accessKeyID string) (secret, sessionToken string, expires time.Time, principal string, ok bool) {
	if c, found := s.Lookup(accessKeyID); found {
		return c.SecretAccessKey, c.SessionToken, c.Expiration, c.AssumedRoleARN + " (web identity sub " + c.Subject + ")", true
	}
	for _, d := range s.account.DevCredentials {
		if d.AccessKeyID == accessKeyID {
			return d.SecretAccessKey, "", time.Time{}, "dev key pair", true
		}
	}
	return "", "", time.Time{}, "", false
}

// Allowed implements bedrock.Credentials: whether the role behind an
// STS-issued credential may perform action. Dev key pairs may do anything.
func (s *Server) Allowed(accessKeyID, action string) bool {
	c, found := s.Lookup(accessKeyID)
	if !found {
		return true
	}
	_, rest, _ := strings.Cut(c.AssumedRoleARN, ":assumed-role/")
	name, _, _ := strings.Cut(rest, "/")
	role := s.account.RoleByName(name)
	return role != nil && slices.Contains(role.Allow, action)
}

// Region is the account's region (AWS_REGION).
func (s *Server) Region() string { return s.account.Region }

// apiError is an STS error in the query protocol's shape.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func invalidToken(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidIdentityToken", fmt.Sprintf(format, args...)}
}

func validation(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationError", fmt.Sprintf(format, args...)}
}

var accessDenied = &apiError{http.StatusForbidden, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"}

const maxRequestBytes = 64 << 10

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	// The body is read whole first: a signed request's signature covers it.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	form, perr := url.ParseQuery(string(body))
	if err != nil || perr != nil {
		s.fail(w, requestID, &apiError{http.StatusBadRequest, "MalformedInput", "The request body could not be parsed as a form."})
		return
	}
	action := form.Get("Action")
	switch {
	case action == "":
		s.fail(w, requestID, &apiError{http.StatusBadRequest, "MissingAction", "Missing Action"})
	case action != "AssumeRoleWithWebIdentity" && action != "GetWebIdentityToken":
		s.fail(w, requestID, &apiError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version 2011-06-15", action)})
	case form.Get("Version") != "2011-06-15":
		s.fail(w, requestID, &apiError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", action, form.Get("Version"))})
	case action == "GetWebIdentityToken":
		s.stats.Add("sts.GetWebIdentityToken")
		res, err := s.webIdentityToken(r, body, form)
		if err != nil {
			s.fail(w, requestID, err)
			return
		}
		res.Metadata.RequestID = requestID
		writeXML(w, http.StatusOK, requestID, res)
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
		writeXML(w, http.StatusOK, requestID, res)
	}
}

func (s *Server) fail(w http.ResponseWriter, requestID string, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = &apiError{http.StatusInternalServerError, "InternalFailure", "The request processing has failed because of an unknown error."}
	}
	s.stats.Add("sts.error." + e.code)
	s.log.Info("sts refused", "code", e.code, "message", e.msg)
	body := errorResponse{RequestID: requestID}
	body.Error.Type = "Sender"
	if e.status >= 500 {
		body.Error.Type = "Receiver"
	}
	body.Error.Code, body.Error.Message = e.code, e.msg
	writeXML(w, e.status, requestID, body)
}

type errorResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

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
		Provider         string `xml:"Provider"`
		PackedPolicySize int    `xml:"PackedPolicySize"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	Metadata struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

func writeXML(w http.ResponseWriter, status int, requestID string, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(body)
}

var sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// webIdentityClaims are the claims IAM reads from an OIDC token.
type webIdentityClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Azp string          `json:"azp"`
	Exp *float64        `json:"exp"`
}

func (s *Server) assumeRole(form map[string][]string) (*assumeRoleResponse, error) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	roleARN, session, token := get("RoleArn"), get("RoleSessionName"), get("WebIdentityToken")
	var problems []string
	for _, p := range []struct{ name, value string }{{"roleArn", roleARN}, {"roleSessionName", session}, {"webIdentityToken", token}} {
		if p.value == "" {
			problems = append(problems, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", p.name))
		}
	}
	if session != "" && !sessionName.MatchString(session) {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session))
	}
	if len(problems) > 0 {
		return nil, validation("%d validation error%s detected: %s", len(problems), plural(len(problems)), strings.Join(problems, "; "))
	}
	duration := 3600
	if d := get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			return nil, validation("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", d)
		}
		duration = n
	}

	payload, err := s.keys.Verify(token)
	var claims webIdentityClaims
	switch {
	case errors.Is(err, signing.ErrMalformed), err == nil && json.Unmarshal(payload, &claims) != nil:
		return nil, invalidToken("The web identity token is not a valid JWT.")
	case err != nil:
		// Parse what we can to name the issuer, as IAM does, before
		// reporting the signature.
		if c, ok := unverifiedClaims(token); ok && s.account.ProviderForIssuer(c.Iss) == nil {
			return nil, invalidToken("No OpenIDConnect provider found in your account for %s", c.Iss)
		}
		if errors.Is(err, signing.ErrUnknownKey) {
			return nil, invalidToken("Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements")
		}
		return nil, invalidToken("The web identity token signature could not be verified.")
	}
	provider := s.account.ProviderForIssuer(claims.Iss)
	if provider == nil {
		return nil, invalidToken("No OpenIDConnect provider found in your account for %s", claims.Iss)
	}
	if claims.Iss != entra.IssuerV1(s.tenant) && claims.Iss != entra.IssuerV2(s.tenant) {
		// A provider for an issuer whose keys cloudsim does not hold.
		return nil, invalidToken("Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements")
	}
	aud, ok := audience(claims)
	if !ok {
		return nil, invalidToken("Missing a required claim: aud")
	}
	if !slices.Contains(provider.ClientIDs, aud) {
		return nil, invalidToken("Incorrect token audience")
	}
	now := s.now()
	if claims.Exp == nil {
		return nil, invalidToken("Missing a required claim: exp")
	}
	if exp := time.Unix(int64(*claims.Exp), 0); now.After(exp.Add(ClockSkew)) {
		return nil, &apiError{http.StatusBadRequest, "ExpiredTokenException",
			fmt.Sprintf("Token expired: current date/time %d must be before the expiration date/time %d", now.Unix(), exp.Unix())}
	}
	role := s.account.RoleByARN(roleARN)
	if role == nil || !trusts(role, provider, aud, claims.Sub) {
		return nil, accessDenied
	}
	if duration > role.MaxSessionDuration {
		return nil, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}

	cred := Credential{
		AccessKeyID:     "ASIA" + randomUpper(16),
		SecretAccessKey: randomB64(30),
		SessionToken:    randomB64(300),
		Expiration:      now.Add(time.Duration(duration) * time.Second).UTC().Truncate(time.Second),
		AssumedRoleARN:  "arn:aws:sts::" + s.account.AccountID + ":assumed-role/" + role.Name + "/" + session,
		Subject:         claims.Sub,
	}
	s.remember(cred)

	res := &assumeRoleResponse{}
	res.Result.SubjectFromWebIdentityToken = claims.Sub
	res.Result.Audience = aud
	res.Result.AssumedRoleUser.Arn = cred.AssumedRoleARN
	res.Result.AssumedRoleUser.AssumedRoleID = roleID(s.account.AccountID, role.Name) + ":" + session
	res.Result.Credentials.AccessKeyID = cred.AccessKeyID
	res.Result.Credentials.SecretAccessKey = cred.SecretAccessKey
	res.Result.Credentials.SessionToken = cred.SessionToken
	res.Result.Credentials.Expiration = cred.Expiration.Format(time.RFC3339)
	res.Result.Provider = claims.Iss
	return res, nil
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

func trusts(role *tenant.Role, provider *tenant.OIDCProvider, aud, sub string) bool {
	for _, t := range role.Trust {
		if t.Provider != provider.URL {
			continue
		}
		if want, ok := t.Conditions["aud"]; ok && !slices.Contains(want, aud) {
			continue
		}
		if want, ok := t.Conditions["sub"]; ok && !slices.Contains(want, sub) {
			continue
		}
		return true
	}
	return false
}

func unverifiedClaims(token string) (webIdentityClaims, bool) {
	parts := strings.Split(token, ".")
	var c webIdentityClaims
	if len(parts) != 3 {
		return c, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	return c, err == nil && json.Unmarshal(raw, &c) == nil
}

// remember keeps the credential for SigV4 checks, dropping expired ones.
func (s *Server) remember(c Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, old := range s.creds {
		if now.After(old.Expiration) {
			delete(s.creds, id)
		}
	}
	s.creds[c.AccessKeyID] = c
}

// roleID is a stable AROA… ID for a role, as IAM assigns one per role.
func roleID(account, role string) string {
	sum := sha256.Sum256([]byte(account + "/" + role))
	return "AROA" + base32.StdEncoding.EncodeToString(sum[:])[:17]
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

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
