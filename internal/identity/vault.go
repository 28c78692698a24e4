package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
	"github.com/aws/smithy-go"

	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// The user token sources: how llm-agent gets a token for the Weather API
// on behalf of the signed-in user (USER_TOKEN_SOURCE).
const (
	// SourceEntraOBO is the agent identity's on-behalf-of exchange (TU):
	// the grant lives in Entra, and the token names the agent identity.
	SourceEntraOBO = "entra-obo"
	// SourceAgentCoreVault is AgentCore Identity's token vault (TV): an
	// ordinary app registration's delegated token, got once by user
	// federation (3LO) and kept by AWS for the user.
	SourceAgentCoreVault = "agentcore-vault"
)

// VaultProviderName is how Facts and the trace name the vault source.
const VaultProviderName = "agentcore-vault"

// VaultTokenName is the trace's name for the vaulted token: the vault
// app's delegated token for the Weather API.
const VaultTokenName = "TV"

// The request headers that carry AgentCore Runtime's workload access
// token to the container: WorkloadAccessToken, which the runtime has
// always sent, and X-Amz-Bedrock-AgentCore-Identity-WAT, which newer
// runtimes send too and the Python SDK prefers since 2026-08
// (aws/bedrock-agentcore-sdk-python, runtime/models.py).
const (
	WATHeader    = "X-Amz-Bedrock-AgentCore-Identity-WAT"
	WATHeaderOld = "WorkloadAccessToken"
)

// WorkloadToken reads the workload access token from an invocation's
// headers: the newer header first, else the older one.
func WorkloadToken(h http.Header) secret.Value {
	if v := strings.TrimSpace(h.Get(WATHeader)); v != "" {
		return secret.New(v)
	}
	return secret.New(strings.TrimSpace(h.Get(WATHeaderOld)))
}

// VaultAPI is the part of the bedrock-agentcore data plane client the vault
// source uses; *bedrockagentcore.Client is one.
type VaultAPI interface {
	GetResourceOauth2Token(ctx context.Context, in *bedrockagentcore.GetResourceOauth2TokenInput, opts ...func(*bedrockagentcore.Options)) (*bedrockagentcore.GetResourceOauth2TokenOutput, error)
	CompleteResourceTokenAuth(ctx context.Context, in *bedrockagentcore.CompleteResourceTokenAuthInput, opts ...func(*bedrockagentcore.Options)) (*bedrockagentcore.CompleteResourceTokenAuthOutput, error)
}

// Vault gets the user's token for the Weather API from AgentCore
// Identity's token vault, with the workload access token AgentCore Runtime
// minted from the user's own token for this invocation.
type Vault struct {
	api      VaultAPI
	provider string
	scopes   []string
	decoded  DecodedTokens
}

// NewVault is the vault source for the credential provider named provider
// (AGENTCORE_VAULT_PROVIDER), asking for scopes.
func NewVault(api VaultAPI, provider string, scopes []string) *Vault {
	return &Vault{api: api, provider: provider, scopes: scopes}
}

// Provider is the credential provider's name.
func (v *Vault) Provider() string { return v.provider }

// Scopes are the scopes the vault is asked for.
func (v *Vault) Scopes() []string { return v.scopes }

// VaultRequest asks the vault for the user's token.
type VaultRequest struct {
	// WorkloadToken is the invocation's workload access token.
	WorkloadToken secret.Value
	// ReturnURL is where AgentCore sends the browser once the user has
	// consented: the app's own page, one of the workload identity's
	// allowedResourceOauth2ReturnUrls.
	ReturnURL string
	// SessionURI is a session the app has just bound
	// (CompleteResourceTokenAuth): the same request with it gets the
	// token the session stored.
	SessionURI string
	// CustomState comes back to the return URL (not the browser's
	// business; it names the turn).
	CustomState string
}

// VaultAuthorization is the vault's answer when it holds no token for the
// user yet: the URL the user must open, and the session it starts.
type VaultAuthorization struct {
	URL        string
	SessionURI string
}

// ErrNoWorkloadToken is the cause of an Error for a vault request without
// a workload access token: only AgentCore Runtime gives one.
var ErrNoWorkloadToken = errors.New("no workload access token")

// Token asks the vault for the user's token (GetResourceOauth2Token,
// USER_FEDERATION). It returns the token, or the authorization the user
// must give first, or an Error naming the likely fix.
func (v *Vault) Token(ctx context.Context, req VaultRequest) (*Result, *VaultAuthorization, error) {
	if req.WorkloadToken.IsZero() {
		return nil, nil, &Error{Provider: VaultProviderName, Flow: OnBehalfOf, Err: ErrNoWorkloadToken,
			Message: "AgentCore Identity's token vault needs the workload access token AgentCore Runtime passes with each invocation (WorkloadAccessToken or X-Amz-Bedrock-AgentCore-Identity-WAT), and none came"}
	}
	in := &bedrockagentcore.GetResourceOauth2TokenInput{
		WorkloadIdentityToken:          aws.String(req.WorkloadToken.Reveal()),
		ResourceCredentialProviderName: aws.String(v.provider),
		Scopes:                         v.scopes,
		Oauth2Flow:                     types.Oauth2FlowTypeUserFederation,
		// AWS requires the return URL on every USER_FEDERATION call, the
		// first and every one after it.
		ResourceOauth2ReturnUrl: aws.String(req.ReturnURL),
	}
	if req.SessionURI != "" {
		in.SessionUri = aws.String(req.SessionURI)
	}
	if req.CustomState != "" {
		in.CustomState = aws.String(req.CustomState)
	}
	out, err := v.api.GetResourceOauth2Token(ctx, in)
	if err != nil {
		return nil, nil, v.fail("GetResourceOauth2Token", err, req.WorkloadToken)
	}
	switch {
	case aws.ToString(out.AccessToken) != "":
		tok := aws.ToString(out.AccessToken)
		card, err := v.decoded.Decode(VaultTokenName, tok)
		if err != nil {
			return nil, nil, &Error{Provider: VaultProviderName, Flow: OnBehalfOf, Message: "AgentCore Identity's vault returned a token for " + v.provider + " that is not a JWT: the provider must be Entra's (MicrosoftOauth2) with a scope of the Weather API"}
		}
		return &Result{Header: secret.New("Bearer " + tok), Token: card,
			Facts: Facts{Provider: VaultProviderName, Flow: OnBehalfOf, Scopes: v.scopes, CredentialProvider: v.provider}}, nil, nil
	case aws.ToString(out.AuthorizationUrl) != "":
		return nil, &VaultAuthorization{URL: aws.ToString(out.AuthorizationUrl), SessionURI: aws.ToString(out.SessionUri)}, nil
	case out.SessionStatus == types.SessionStatusFailed:
		return nil, nil, &Error{Provider: VaultProviderName, Flow: OnBehalfOf, AWSCode: "FAILED",
			Message: "AgentCore Identity says the user's authorization session failed: send the message again to start a new one"}
	}
	return nil, nil, &Error{Provider: VaultProviderName, Flow: OnBehalfOf,
		Message: "AgentCore Identity returned neither a token nor an authorization URL for " + v.provider}
}

// Complete binds a session to the user who started it
// (CompleteResourceTokenAuth): AgentCore Identity then exchanges the
// authorization code and vaults the token. userToken must be exactly the
// token that minted the workload access token of the call that started
// the session; AWS refuses any other, a renewed one of the same user
// included, with AccessDeniedException ("Invalid or expired session").
func (v *Vault) Complete(ctx context.Context, sessionURI string, userToken secret.Value) error {
	if userToken.IsZero() {
		return &Error{Provider: VaultProviderName, Flow: OnBehalfOf, Err: ErrNoUserToken, Message: "session binding needs the signed-in user's token"}
	}
	_, err := v.api.CompleteResourceTokenAuth(ctx, &bedrockagentcore.CompleteResourceTokenAuthInput{
		SessionUri:     aws.String(sessionURI),
		UserIdentifier: &types.UserIdentifierMemberUserToken{Value: userToken.Reveal()},
	})
	if err != nil {
		return v.fail("CompleteResourceTokenAuth", err, userToken)
	}
	return nil
}

// SessionRefused reports whether err is AWS refusing a session binding:
// the session is another user's, was started with another token, or has
// expired.
func SessionRefused(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Provider == VaultProviderName && e.AWSCode == "AccessDeniedException"
}

// vaultHints name the likely fix for AgentCore Identity's refusals.
var vaultHints = map[string]string{
	"ResourceNotFoundException": "check AGENTCORE_VAULT_PROVIDER: the OAuth2 credential provider must exist in this account and Region (aws-agentcore.sh creates it)",
	"ValidationException":       "the return URL (AGENTCORE_VAULT_RETURN_URL, else consent.html at the page's origin) must be one of the runtime's workload identity's allowedResourceOauth2ReturnUrls, and AGENTCORE_VAULT_SCOPES one or more scopes",
	"UnauthorizedException":     "the workload access token was refused; it expires with the user's token: sign in again",
	"ThrottlingException":       "AgentCore Identity is throttling: send the message again in a moment",
}

// fail turns an SDK error into an Error: AWS's code and message, cut
// short, and the likely fix. AWS's messages should name no token; in case
// one echoes a value, the token sent and anything shaped as a JWT are
// taken out of it.
func (v *Vault) fail(op string, err error, sent secret.Value) error {
	e := &Error{Provider: VaultProviderName, Flow: OnBehalfOf, Err: err}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		e.Status = re.HTTPStatusCode()
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		e.Message = fmt.Sprintf("AgentCore Identity did not answer %s: %s", op, scrub(rootError(err).Error(), sent))
		e.Err = errors.New(e.Message)
		return e
	}
	e.AWSCode = api.ErrorCode()
	e.Message = fmt.Sprintf("AgentCore Identity refused %s: %s: %s", op, api.ErrorCode(), cut(scrub(api.ErrorMessage(), sent), 300))
	e.Err = errors.New(e.Message) // the SDK's error may quote the request
	switch {
	case e.AWSCode == "AccessDeniedException" && op == "CompleteResourceTokenAuth":
		e.Message += " (a session is bound only by the user who started it, with exactly the token that started it)"
	case e.AWSCode == "AccessDeniedException":
		e.Message += " (the runtime's role needs bedrock-agentcore:GetResourceOauth2Token on the token vault and the workload identity, and secretsmanager:GetSecretValue on the provider's secret)"
	case strings.Contains(api.ErrorMessage(), "Token has expired"):
		e.Message += " (the workload access token expires with the user's token: sign in again)"
	default:
		if h, ok := vaultHints[e.AWSCode]; ok {
			e.Message += " (" + h + ")"
		}
	}
	return e
}

// rootError is the innermost error of an SDK call that got no answer.
func rootError(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// jwtShaped matches what could be a JWT or another long opaque token.
var jwtShaped = regexp.MustCompile(`[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)

// scrub takes the token sent, and anything shaped as a JWT, out of a
// message.
func scrub(msg string, sent secret.Value) string {
	if t := sent.Reveal(); len(t) >= 8 {
		msg = strings.ReplaceAll(msg, t, "[redacted]")
	}
	return jwtShaped.ReplaceAllString(msg, "[redacted]")
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
