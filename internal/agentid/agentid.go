// Package agentid acquires Microsoft Entra Agent ID tokens in process with
// MSAL Go: the blueprint's exchange token T1 (client credentials with
// fmi_path), and with T1 as the agent identity's client assertion, TR
// (app-only), TU (on behalf of a user) and, through T2, TAU (the agent
// user). Clients are built once; MSAL's caches do the reuse. The OBO cache
// is keyed by the user's assertion, so one user's token is never served to
// another, and bounded (oboPartitions). TAU is asked of Entra once per
// token: later requests go through AcquireTokenSilent with the account the
// first answer named. Concurrent requests for the same token share one
// request to Entra (Flight).
package agentid

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/crosscloud-agentid/agentid/internal/entraerr"
	"github.com/crosscloud-agentid/agentid/internal/httpclient"
	"github.com/crosscloud-agentid/agentid/internal/sdkbody"
	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// TokenExchangeResource is the audience of the exchange tokens (managed
// identity assertion, T1, T2); TokenExchangeScope asks for it.
const (
	TokenExchangeResource = "api://AzureADTokenExchange"
	TokenExchangeScope    = TokenExchangeResource + "/.default"
)

// Credential kinds for the blueprint (BLUEPRINT_CREDENTIAL).
const (
	CredentialSecret          = "secret"
	CredentialCertificate     = "certificate"
	CredentialManagedIdentity = "managed-identity"
	// CredentialAWSWebIdentity proves the blueprint with a token AWS STS
	// GetWebIdentityToken issues to the workload's IAM role (outbound
	// identity federation): no secret on AWS either.
	CredentialAWSWebIdentity = "aws-web-identity"
)

// Credential is how the blueprint proves itself. An agent identity holds no
// credential: it presents its blueprint's T1.
type Credential struct {
	Kind string
	// Secret for CredentialSecret: local development only.
	Secret secret.Value
	// CertPEM for CredentialCertificate: certificate and RSA key, PEM.
	CertPEM []byte
	// ManagedIdentityClientID for CredentialManagedIdentity: a
	// user-assigned identity, or "" for the system-assigned one. The
	// blueprint's federated credential must trust it.
	ManagedIdentityClientID string
	// ManagedIdentityToken, when set, gets the managed identity's token
	// for a resource in place of MSAL's managed identity client, which
	// finds its endpoint only in the process environment. cloudsim's
	// built-in sidecar sets it: it runs in the process that serves that
	// endpoint. Production code leaves it nil.
	ManagedIdentityToken func(ctx context.Context, resource string) (string, error)
}

// Config is what a Blueprint needs.
type Config struct {
	AuthorityHost string // https://login.microsoftonline.com, or cloudsim
	TenantID      string
	BlueprintID   string
	Credential    Credential
	// HTTPClient is nil in production (MSAL's default); tests pass one
	// that trusts their cloudsim.
	HTTPClient *http.Client
	// MaxOBOPartitions bounds the users whose on-behalf-of tokens each
	// agent keeps (0: DefaultMaxOBOPartitions).
	MaxOBOPartitions int
}

// Blueprint is the agent identity blueprint's confidential client.
type Blueprint struct {
	cfg    Config
	http   *http.Client // every MSAL client's, the OpenID configuration shared
	client confidential.Client
	t1     Flight[confidential.AuthResult]

	mu     sync.Mutex
	agents map[string]*Agent
}

// maxAgents bounds the agent identities a blueprint keeps clients for: the
// sidecar stand-in builds one for each AgentIdentity it is asked for.
const maxAgents = 64

// NewBlueprint builds the blueprint's client and credential. Nothing is
// requested until a token is needed.
func NewBlueprint(cfg Config) (*Blueprint, error) {
	cred, err := blueprintCredential(cfg)
	if err != nil {
		return nil, err
	}
	hc := discoveryClient(cfg.HTTPClient)
	client, err := newClient(cfg, hc, cfg.BlueprintID, cred, cfg.Credential.Kind == CredentialCertificate)
	if err != nil {
		return nil, err
	}
	return &Blueprint{cfg: cfg, http: hc, client: client, agents: map[string]*Agent{}}, nil
}

func newClient(cfg Config, hc *http.Client, clientID string, cred confidential.Credential, x5c bool) (confidential.Client, error) {
	// Instance discovery resolves multi-cloud aliases; the authority here is
	// always the tenant's own, and cloudsim's host is unknown to it.
	opts := []confidential.Option{confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(hc)}
	if x5c {
		opts = append(opts, confidential.WithX5C()) // subject name + issuer certificate auth
	}
	c, err := confidential.New(cfg.AuthorityHost+"/"+cfg.TenantID, clientID, cred, opts...)
	if err != nil {
		return confidential.Client{}, fmt.Errorf("MSAL client for %s: %w", clientID, err)
	}
	return c, nil
}

func blueprintCredential(cfg Config) (confidential.Credential, error) {
	c := cfg.Credential
	switch c.Kind {
	case CredentialSecret:
		if c.Secret.IsZero() {
			return confidential.Credential{}, errors.New("BLUEPRINT_CLIENT_SECRET is empty")
		}
		return confidential.NewCredFromSecret(c.Secret.Reveal())
	case CredentialCertificate:
		certs, key, err := confidential.CertFromPEM(c.CertPEM, "")
		if err != nil {
			return confidential.Credential{}, fmt.Errorf("BLUEPRINT_CERT_PATH: %w", err)
		}
		return certCredential(certs, key)
	case CredentialManagedIdentity:
		if c.ManagedIdentityToken != nil {
			return confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
				return c.ManagedIdentityToken(ctx, TokenExchangeResource)
			}), nil
		}
		id := managedidentity.SystemAssigned()
		if c.ManagedIdentityClientID != "" {
			id = managedidentity.UserAssignedClientID(c.ManagedIdentityClientID)
		}
		// The endpoint's answer is read whole by MSAL: bound it.
		mi, err := managedidentity.New(id, managedidentity.WithHTTPClient(httpclient.Bounded(cfg.HTTPClient, httpclient.MaxAnswerBytes)))
		if err != nil {
			return confidential.Credential{}, fmt.Errorf("managed identity: %w", err)
		}
		return confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
			r, err := mi.AcquireToken(ctx, TokenExchangeResource)
			if err != nil {
				return "", fmt.Errorf("managed identity token for the blueprint: %w", err)
			}
			return r.AccessToken, nil
		}), nil
	case CredentialAWSWebIdentity:
		return awsWebIdentityCredential()
	default:
		return confidential.Credential{}, fmt.Errorf("BLUEPRINT_CREDENTIAL %q is not secret, certificate, managed-identity or aws-web-identity", c.Kind)
	}
}

// awsWebIdentityCredential asks AWS STS, with the role's credentials from
// the SDK's default chain, for a JWT about that role, audienced to Entra's
// token exchange; the blueprint's federated credential trusts the
// account's issuer and the role's ARN. GetWebIdentityToken is regional, so
// AWS_REGION must be set.
func awsWebIdentityCredential() (confidential.Credential, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("AWS configuration for BLUEPRINT_CREDENTIAL=aws-web-identity: %w", err)
	}
	if awsCfg.Region == "" {
		return confidential.Credential{}, errors.New("BLUEPRINT_CREDENTIAL=aws-web-identity needs AWS_REGION: STS GetWebIdentityToken has no global endpoint")
	}
	client := sts.NewFromConfig(awsCfg, func(o *sts.Options) { o.HTTPClient = sdkbody.Buffered(o.HTTPClient) })
	return confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
		out, err := client.GetWebIdentityToken(ctx, &sts.GetWebIdentityTokenInput{
			Audience: []string{TokenExchangeResource}, SigningAlgorithm: aws.String("RS256"), DurationSeconds: aws.Int32(300),
		})
		if err != nil {
			return "", fmt.Errorf("AWS STS GetWebIdentityToken for the blueprint: %w", err)
		}
		return aws.ToString(out.WebIdentityToken), nil
	}), nil
}

func certCredential(certs []*x509.Certificate, key crypto.PrivateKey) (confidential.Credential, error) {
	if len(certs) == 0 || key == nil {
		return confidential.Credential{}, errors.New("BLUEPRINT_CERT_PATH must hold a certificate and its private key")
	}
	return confidential.NewCredFromCert(certs, key)
}

// ReadCert reads BLUEPRINT_CERT_PATH once.
func ReadCert(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("BLUEPRINT_CERT_PATH: %w", err)
	}
	return b, nil
}

// T1 is the blueprint's exchange token for agentID (fmi_path), cached by
// MSAL per agent. Concurrent cold acquisitions (every flow needs T1 first)
// share one request.
func (b *Blueprint) T1(ctx context.Context, agentID string) (confidential.AuthResult, error) {
	r, err, _ := b.t1.Do(ctx, agentID, func(ctx context.Context) (confidential.AuthResult, error) {
		return b.client.AcquireTokenByCredential(ctx, []string{TokenExchangeScope}, confidential.WithFMIPath(agentID))
	})
	return r, err
}

// AppToken is the blueprint's own app token. Entra refuses it for agentic
// blueprints (AADSTS82001); the sidecar stand-in asks for it when it
// ignores AgentIdentity, as the real sidecar does.
func (b *Blueprint) AppToken(ctx context.Context, scopes []string) (confidential.AuthResult, error) {
	return b.client.AcquireTokenByCredential(ctx, scopes)
}

// OBO is the blueprint's own on-behalf-of token (Entra refuses it for
// blueprints: AADSTS82002).
func (b *Blueprint) OBO(ctx context.Context, userToken string, scopes []string) (confidential.AuthResult, error) {
	return b.client.AcquireTokenOnBehalfOf(ctx, userToken, scopes)
}

// Agent returns the client of one agent identity, built on first use.
func (b *Blueprint) Agent(agentID string) (*Agent, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.agents[agentID]; ok {
		return a, nil
	}
	t1 := confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
		r, err := b.T1(ctx, agentID)
		if err != nil {
			return "", fmt.Errorf("T1 (the blueprint's exchange token for agent %s): %w", agentID, err)
		}
		return r.AccessToken, nil
	})
	client, err := newClient(b.cfg, b.http, agentID, t1, false)
	if err != nil {
		return nil, err
	}
	a := &Agent{id: agentID, client: client, blueprint: b}
	a.obo = newOBOPartitions(b.cfg.MaxOBOPartitions, func() (confidential.Client, error) { return newClient(b.cfg, b.http, agentID, t1, false) })
	if len(b.agents) >= maxAgents {
		clear(b.agents) // their clients (and caches) go with them
	}
	b.agents[agentID] = a
	return a, nil
}

// Agent is one agent identity's confidential client; its credential is T1.
type Agent struct {
	id        string
	client    confidential.Client
	blueprint *Blueprint
	// obo holds the on-behalf-of caches, one client per user assertion.
	obo *oboPartitions
	// flight shares concurrent requests for the same token.
	flight Flight[tokens]
	// accounts are the agent users' MSAL accounts, from the first TAU.
	accounts accountList
}

// tokens is one shared acquisition: the token, and T2 when it was needed.
type tokens struct{ token, t2 confidential.AuthResult }

// ID is the agent identity's app ID.
func (a *Agent) ID() string { return a.id }

// AppToken is TR: the agent's app-only token, scopes ending in /.default.
func (a *Agent) AppToken(ctx context.Context, scopes []string) (confidential.AuthResult, error) {
	r, err, _ := a.flight.Do(ctx, "app\x00"+strings.Join(scopes, " "), func(ctx context.Context) (tokens, error) {
		r, err := a.client.AcquireTokenByCredential(ctx, scopes)
		return tokens{token: r}, err
	})
	return r.token, err
}

// OBO is TU: the agent's token on behalf of the user whose token
// (audience: the blueprint) is userToken, from that token's partition of
// the bounded OBO cache.
func (a *Agent) OBO(ctx context.Context, userToken string, scopes []string) (confidential.AuthResult, error) {
	key := partitionKey(userToken)
	r, err, _ := a.flight.Do(ctx, "obo\x00"+key+"\x00"+strings.Join(scopes, " "), func(ctx context.Context) (tokens, error) {
		client, err := a.obo.client(key, userToken)
		if err != nil {
			return tokens{}, err
		}
		r, err := client.AcquireTokenOnBehalfOf(ctx, userToken, scopes)
		if err != nil {
			a.obo.failed(key)
			return tokens{}, err
		}
		a.obo.acquired(key, r.ExpiresOn)
		return tokens{token: r}, nil
	})
	return r.token, err
}

// OBOPartitions is how many users' on-behalf-of caches the agent holds.
func (a *Agent) OBOPartitions() int { return a.obo.len() }

// T2 is the agent identity's own exchange token, the agent user's
// federated credential.
func (a *Agent) T2(ctx context.Context) (confidential.AuthResult, error) {
	return a.client.AcquireTokenByCredential(ctx, []string{TokenExchangeScope})
}

// AgentUser names the agent user: by UPN, or by object ID.
type AgentUser struct {
	UPN      string
	ObjectID string
}

// key names the agent user as Microsoft.Identity.Web does for its account
// lookup: the UPN or the object ID, upper-cased.
func (u AgentUser) key() string {
	if u.UPN != "" {
		return "upn:" + strings.ToUpper(u.UPN)
	}
	return "oid:" + strings.ToUpper(u.ObjectID)
}

// AgentUserToken is TAU. The first time, T2 then user_fic for the agent
// user; its answer names an MSAL account, and every later request is
// AcquireTokenSilent with that account: the cached token, or a refresh
// token redeemed when it nears expiry, so Entra is asked once per token
// ("The result includes an Account that can be used with
// [Client.AcquireTokenSilent] for subsequent cached access", MSAL Go's
// doc of AcquireTokenByUserFederatedIdentityCredential). Microsoft's auth
// sidecar does the same (Microsoft.Identity.Web's TokenAcquisition,
// TryGetAuthenticationResultForAgentUserFicAsync, since 4.13.2): silent
// first with the account it stored per agent and user, the three legs
// when that fails. t2 is set only when T2 was needed, for the trace.
func (a *Agent) AgentUserToken(ctx context.Context, user AgentUser, scopes []string) (tau, t2 confidential.AuthResult, err error) {
	r, err, _ := a.flight.Do(ctx, "user\x00"+user.key()+"\x00"+strings.Join(scopes, " "), func(ctx context.Context) (tokens, error) {
		if account, ok := a.accounts.get(user.key()); ok {
			r, err := a.client.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(account))
			if err == nil {
				return tokens{token: r}, nil
			}
			if personMustAct(entraCode(err)) {
				// Entra refused the refresh for a reason user_fic would
				// meet too (no consent for these scopes): one refusal,
				// not two.
				return tokens{}, err
			}
			// No cached token and no refresh token that Entra honours:
			// the three legs again, as Microsoft.Identity.Web does.
		}
		t2, err := a.T2(ctx)
		if err != nil {
			return tokens{}, fmt.Errorf("T2 (the agent identity's exchange token): %w", err)
		}
		opt := confidential.WithUserFICUsername(user.UPN)
		if user.UPN == "" {
			opt = confidential.WithUserObjectID(user.ObjectID)
		}
		tau, err := a.client.AcquireTokenByUserFederatedIdentityCredential(ctx, scopes, t2.AccessToken, opt)
		if err != nil {
			return tokens{t2: t2}, err
		}
		if !tau.Account.IsZero() {
			a.accounts.put(user.key(), tau.Account)
		}
		return tokens{token: tau, t2: t2}, nil
	})
	return r.token, r.t2, err
}

// entraCode is the AADSTS code of Entra's refusal in err, or 0. The
// answer's body is left readable for whoever reads err next.
func entraCode(err error) int {
	var call msalerrors.CallErr
	if !errors.As(err, &call) || call.Resp == nil || call.Resp.Body == nil {
		return 0
	}
	raw, _ := io.ReadAll(io.LimitReader(call.Resp.Body, 64<<10))
	call.Resp.Body = io.NopCloser(bytes.NewReader(raw))
	info, _ := entraerr.From(err)
	call.Resp.Body = io.NopCloser(bytes.NewReader(raw))
	return info.Code()
}

// personMustAct reports Entra codes that only a person can clear:
// consent, or an interactive sign-in.
func personMustAct(code int) bool {
	switch code {
	case 65001, 50076, 50079, 50158:
		return true
	}
	return false
}

// maxAccounts bounds the agent users whose accounts an agent remembers.
const maxAccounts = 64

// accountList maps agent users to their MSAL accounts.
type accountList struct {
	mu sync.Mutex
	m  map[string]confidential.Account
}

func (l *accountList) get(key string) (confidential.Account, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	acc, ok := l.m[key]
	return acc, ok
}

func (l *accountList) put(key string, acc confidential.Account) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxAccounts {
		l.m = map[string]confidential.Account{}
	}
	l.m[key] = acc
}
