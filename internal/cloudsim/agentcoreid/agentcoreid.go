// Package agentcoreid is cloudsim's AgentCore Identity: the identity part
// of Amazon Bedrock AgentCore's control plane (workload identities and
// OAuth2 credential providers, bedrock-agentcore-control 2023-06-05) and
// of its data plane (workload access tokens, the token vault's
// GetResourceOauth2Token and CompleteResourceTokenAuth, bedrock-agentcore
// 2024-02-28), with the browser leg of the three-legged flow
// (/identities/oauth2/authorize and the per-provider callback) against
// cloudsim's Entra. Wire shapes, status codes, errors and constraints
// follow botocore 1.43.11's models and aws-sdk-go-v2's bedrockagentcore
// v1.59.0 and bedrockagentcorecontrol v1.81.0 (read 2026-12-06); behaviour
// no model states follows ../shared/reference/agentcore-identity.md
// (the fact sheet, compiled 2026-12-06), whose short source names the
// comments use.
//
// Emulated: the MicrosoftOauth2 vendor only (every other vendor is a
// ValidationException saying so); the USER_FEDERATION and M2M flows
// (ON_BEHALF_OF_TOKEN_EXCHANGE is a ValidationException saying it is not
// emulated); service-managed client secrets only (clientSecretSource
// EXTERNAL is refused). Every operation is SigV4-signed for
// bedrock-agentcore and authorized as bedrock-agentcore:<Operation> by
// cloudsim's IAM policy evaluation.
//
// The vault does not refresh. No source says the real vault uses refresh
// tokens (fact sheet, "Refresh", unverified), so cloudsim keeps a refresh
// token Entra returns but never redeems it: a vaulted token past its
// expiry is dropped, and GetResourceOauth2Token answers with a new
// authorizationUrl, as for a user who never consented, rather than fail.
// The token's key is the workload identity, the user (iss+sub of the JWT,
// or the user ID), the provider and the requested scopes (scopes in the
// key: unverified; without them a token for one scope would answer for
// another).
package agentcoreid

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsquery"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sigv4"
)

// SigningName is the SigV4 service name of both planes (BC-CTL and BC-DP
// metadata signingName).
const SigningName = "bedrock-agentcore"

// PathPrefix is where both planes' identity operations live; the browser
// leg is under it too. AWS_ENDPOINT_URL_BEDROCK_AGENTCORE and
// AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL are cloudsim's root URL: the
// models' request URIs are absolute (/identities/…), and the two planes'
// identity paths do not collide.
const PathPrefix = "/identities/"

// Credentials finds the secret of an access key and says what it may do:
// cloudsim's STS (its role sessions and the account's IAM users).
type Credentials interface {
	sigv4.Credentials
	Allowed(accessKeyID, action, resource string) bool
}

// Options configures a Server.
type Options struct {
	Region  string
	Account string
	// BaseURL is cloudsim's URL: callback URLs, authorization URLs and
	// the providers' discovery URL are under it.
	BaseURL string
	// TenantID is cloudsim's Entra tenant: a provider without a tenantId
	// uses it (see providerTenant).
	TenantID string
	// Issuers are the JWT issuers GetWorkloadAccessTokenForJWT accepts,
	// and VerifyJWT checks a JWT's signature and returns its payload:
	// cloudsim's Entra.
	Issuers   []string
	VerifyJWT func(token string) ([]byte, error)
	// Entra serves cloudsim's Entra token endpoint in process: the vault
	// redeems codes and runs client credentials there.
	Entra       http.Handler
	Credentials Credentials
	Now         func() time.Time
	Logger      *slog.Logger
	// Count records each operation and refusal, for cloudsim's stats.
	Count func(string)
}

// Server is AgentCore Identity for one account and region.
type Server struct {
	o Options

	mu        sync.Mutex
	workloads map[string]*workload
	providers map[string]*provider
	wats      map[string]*wat
	sessions  map[string]*session // by sessionUri
	vault     map[vaultKey]*vaulted
}

// New returns an empty AgentCore Identity.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	return &Server{o: o, workloads: map[string]*workload{}, providers: map[string]*provider{}, wats: map[string]*wat{},
		sessions: map[string]*session{}, vault: map[vaultKey]*vaulted{}}
}

// Register adds both planes' identity operations and the browser leg to
// mux.
func (s *Server) Register(mux *http.ServeMux) {
	for name, h := range map[string]opHandler{
		"CreateWorkloadIdentity":          s.createWorkloadIdentity,
		"GetWorkloadIdentity":             s.getWorkloadIdentity,
		"UpdateWorkloadIdentity":          s.updateWorkloadIdentity,
		"DeleteWorkloadIdentity":          s.deleteWorkloadIdentity,
		"ListWorkloadIdentities":          s.listWorkloadIdentities,
		"CreateOauth2CredentialProvider":  s.createProvider,
		"GetOauth2CredentialProvider":     s.getProvider,
		"UpdateOauth2CredentialProvider":  s.updateProvider,
		"DeleteOauth2CredentialProvider":  s.deleteProvider,
		"ListOauth2CredentialProviders":   s.listProviders,
		"GetWorkloadAccessToken":          s.getWorkloadAccessToken,
		"GetWorkloadAccessTokenForJWT":    s.getWorkloadAccessTokenForJWT,
		"GetWorkloadAccessTokenForUserId": s.getWorkloadAccessTokenForUserID,
		"CompleteResourceTokenAuth":       s.completeResourceTokenAuth,
	} {
		mux.HandleFunc("POST "+PathPrefix+name, s.serve(name, h))
	}
	mux.HandleFunc("POST "+PathPrefix+"oauth2/token", s.serve("GetResourceOauth2Token", s.getResourceOauth2Token))
	mux.HandleFunc("GET "+PathPrefix+"oauth2/authorize", s.authorize)
	mux.HandleFunc("GET "+PathPrefix+"oauth2/callback/{id}", s.callback)
}

// NotFound answers a request under PathPrefix that no route matched, in a
// shape the SDKs read: an identity operation cloudsim does not emulate
// (GetTokenVault, the API key providers…). A catch-all route under
// PathPrefix would clash with Entra's /{tenant}/… routes in the shared
// mux, so cloudsim's root handler calls this.
func NotFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", awsquery.NewRequestID())
	(&apiError{status: http.StatusNotFound, code: "UnknownOperationException", msg: "cloudsim's AgentCore Identity does not emulate " +
		r.Method + " " + r.URL.Path + "; it serves the workload identity, OAuth2 credential provider and token vault operations"}).write(w)
}

// apiError is a modeled error: its code goes in X-Amzn-ErrorType and
// __type (the Go SDK reads the header first, botocore either), its
// message in message; a ValidationException also has reason and
// fieldList.
type apiError struct {
	status int
	code   string
	msg    string
	reason string
	fields []fieldError
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func (e *apiError) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	body := map[string]any{"__type": e.code, "message": e.msg}
	if e.reason != "" {
		body["reason"] = e.reason
	}
	if len(e.fields) > 0 {
		body["fieldList"] = e.fields
	}
	_ = json.NewEncoder(w).Encode(body)
}

func notFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, code: "ResourceNotFoundException", msg: fmt.Sprintf(format, args...)}
}

func accessDenied(format string, args ...any) *apiError {
	return &apiError{status: http.StatusForbidden, code: "AccessDeniedException", msg: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *apiError {
	return &apiError{status: http.StatusConflict, code: "ConflictException", msg: fmt.Sprintf(format, args...)}
}

func throttled(what string) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: "ThrottlingException", msg: "cloudsim holds at most " + what + "; try again later"}
}

// call is one signed request being answered.
type call struct {
	r         *http.Request
	body      []byte
	keyID     string
	principal string // the caller's ARN, for AccessDenied messages
}

// decode reads the JSON body into v. An empty body is an empty object
// (the SDKs send {} for an input with no members set).
func (c *call) decode(v any) *apiError {
	if len(strings.TrimSpace(string(c.body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return &apiError{status: http.StatusBadRequest, code: "ValidationException", reason: "CannotParse",
			msg: "Could not parse the request body as JSON: " + err.Error()}
	}
	return nil
}

// opHandler answers one operation: a success status and body, or an error.
type opHandler func(c *call) (int, any, *apiError)

// maxBody bounds a request: a JWT and a WAT of the models' 131072
// characters each fit, with room.
const maxBody = 1 << 20

func (s *Server) serve(op string, h opHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-Requestid", awsquery.NewRequestID())
		s.o.Count("agentcore." + op)
		status, out, e := s.answer(r, op, h)
		if e != nil {
			s.o.Count("agentcore.error." + e.code)
			s.o.Logger.Info("agentcore identity refused", "operation", op, "code", e.code, "message", e.msg)
			e.write(w)
			return
		}
		if out == nil {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(out)
	}
}

func (s *Server) answer(r *http.Request, op string, h opHandler) (int, any, *apiError) {
	// Unsigned requests are refused before their body is read.
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		_, e := s.authenticate(r, nil)
		return 0, nil, e
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return 0, nil, &apiError{status: http.StatusBadRequest, code: "ValidationException", reason: "CannotParse",
			msg: fmt.Sprintf("cloudsim reads request bodies of up to %d bytes; this one is larger or unreadable", maxBody)}
	}
	c, e := s.authenticate(r, body)
	if e != nil {
		return 0, nil, e
	}
	return h(c)
}

// authenticate checks SigV4 as cloudsim's Bedrock does, with AWS's
// front-door errors (they are not in the model; the SDKs surface them by
// code).
func (s *Server) authenticate(r *http.Request, body []byte) (*call, *apiError) {
	signer, refusal := sigv4.Verify(r, body, s.o.Credentials, sigv4.Rules{Service: SigningName, Region: s.o.Region, MaxSkew: 5 * time.Minute}, s.o.Now())
	if refusal == nil {
		who, _, _ := strings.Cut(signer.Principal, " (")
		return &call{r: r, body: body, keyID: signer.AccessKeyID, principal: who}, nil
	}
	switch refusal.Failure {
	case sigv4.Missing:
		return nil, &apiError{status: http.StatusForbidden, code: "MissingAuthenticationTokenException", msg: refusal.Message}
	case sigv4.BadCredential, sigv4.NoDate:
		return nil, &apiError{status: http.StatusBadRequest, code: "IncompleteSignatureException", msg: refusal.Message}
	case sigv4.UnknownKey:
		return nil, &apiError{status: http.StatusForbidden, code: "UnrecognizedClientException", msg: refusal.Message}
	case sigv4.Expired:
		return nil, &apiError{status: http.StatusForbidden, code: "ExpiredTokenException", msg: refusal.Message}
	default:
		return nil, &apiError{status: http.StatusForbidden, code: "InvalidSignatureException", msg: refusal.Message}
	}
}

// authorize checks that the caller may perform bedrock-agentcore:<op> on
// every resource the operation names, as IAM's service authorization
// reference lists several resource types per identity operation and the
// starter toolkit's execution role grants GetResourceOauth2Token on all
// four (fact sheet §3). Which resources AWS evaluates for each operation
// is unverified; cloudsim's choice is resources().
func (c *call) authorize(s *Server, action string, resources ...string) *apiError {
	for _, res := range resources {
		if !s.o.Credentials.Allowed(c.keyID, action, res) {
			return accessDenied("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
				c.principal, action, res, action)
		}
	}
	return nil
}

// ARNs, as IAM policies in the samples write them (fact sheet §1 and §3).
func (s *Server) arnPrefix() string {
	return "arn:aws:bedrock-agentcore:" + s.o.Region + ":" + s.o.Account + ":"
}

// DirectoryARN is the account's workload identity directory.
func (s *Server) DirectoryARN() string { return s.arnPrefix() + "workload-identity-directory/default" }

// WorkloadIdentityARN is a workload identity's ARN.
func (s *Server) WorkloadIdentityARN(name string) string {
	return s.DirectoryARN() + "/workload-identity/" + name
}

// TokenVaultARN is the account's default token vault.
func (s *Server) TokenVaultARN() string { return s.arnPrefix() + "token-vault/default" }

// ProviderARN is an OAuth2 credential provider's ARN. The model's pattern
// says arn:aws:acps:…, but the ARNs AWS returns and IAM policies name are
// arn:aws:bedrock-agentcore:…:token-vault/default/oauth2credentialprovider/
// {name} (aws/bedrock-agentcore-sdk-typescript#37, 2025-12): cloudsim
// emits those.
func (s *Server) ProviderARN(name string) string {
	return s.TokenVaultARN() + "/oauth2credentialprovider/" + name
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// epoch is a rest-json timestamp with no timestampFormat: epoch seconds.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
