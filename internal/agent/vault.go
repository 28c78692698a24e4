package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// AgentCore Identity's token vault as the source of the user's token for
// the Weather API (USER_TOKEN_SOURCE=agentcore-vault). Beside Entra's
// on-behalf-of exchange, where the agent identity turns the user's token
// into TU on every cold turn and Entra holds the grant, the vault holds a
// token of an ordinary app registration (the vault's app, with a client
// secret AgentCore keeps) that the user consented to once, through
// AgentCore's authorization URL:
//
//  1. A turn asks GetResourceOauth2Token with the invocation's workload
//     access token. With no token vaulted for the user, AgentCore answers
//     with an authorization URL and a session, and the turn ends with
//     consent_required, as Entra's consent on demand does.
//  2. The browser opens the URL: AgentCore sends it to Entra, Entra back to
//     AgentCore's callback with a code, AgentCore to the app's own page
//     (consent.html) with session_id.
//  3. The page sends the turn again with vault_session and exactly the
//     token it sent the first time (the relay passes both on). The agent
//     binds the session (CompleteResourceTokenAuth, with that token and the
//     runtime role's credentials); AgentCore then exchanges the code with
//     Entra and vaults TV. The same turn then gets TV.
//  4. Every later turn gets TV from the vault: one AgentCore call, no Entra
//     request.

// sessionURIPattern is the model's shape of a session URI
// (bedrock-agentcore 2024-02-28, RequestUri), at most 1024 characters.
var sessionURIPattern = regexp.MustCompile(`^urn:ietf:params:oauth:request_uri:[a-zA-Z0-9._~-]+$`)

// ValidSessionURI reports whether s is shaped as AgentCore's session URI.
func ValidSessionURI(s string) bool {
	return len(s) <= 1024 && sessionURIPattern.MatchString(s)
}

// usesVault reports whether a turn's Weather API token comes from the
// vault: an on-behalf-of turn with the vault as the user token source.
func (a *Agent) usesVault(t Turn) bool {
	return a.cfg.Vault != nil && t.Flow == identity.OnBehalfOf
}

// vaultState is what a turn learned from session binding, for the vault
// calls after it.
type vaultState struct {
	// session is the bound session, sent with GetResourceOauth2Token.
	session string
	// refused is why the page's session could not be bound, told to the
	// user with the new authorization URL.
	refused error
}

// bindVaultSession binds the session the page came back with, once per
// turn, before anything else runs: with the user's token of this turn,
// which the page keeps from the turn that started the session.
func (a *Agent) bindVaultSession(ctx context.Context, t Turn, rec *trace.Recorder) *vaultState {
	st := &vaultState{}
	if !a.usesVault(t) || t.VaultSession == "" {
		return st
	}
	ctx, end := a.span(ctx, "vault session binding")
	defer end()
	provider := a.cfg.Vault.Provider()
	rec.AddHop("vault", "llm-agent", "Session binding: CompleteResourceTokenAuth with the session the browser came back with and the user's token that started it, signed with the runtime role's AWS credentials",
		trace.Hop{From: trace.Agent, To: trace.AgentCoreIdentity, Carries: "CompleteResourceTokenAuth (session, Tc)"},
		map[string]any{"session_uri": t.VaultSession, "credential_provider": provider})
	err := a.cfg.Vault.Complete(ctx, t.VaultSession, t.UserToken)
	if err != nil {
		var ie *identity.Error
		h := trace.Hop{From: trace.AgentCoreIdentity, To: trace.Agent, Carries: "session binding refused", Failed: true}
		if errors.As(err, &ie) {
			h.Status, h.Code = ie.Status, ie.AWSCode
		}
		rec.AddHop("vault", "agentcore-identity", "AgentCore Identity refused the session binding: "+err.Error(), h, map[string]any{"session_uri": t.VaultSession})
		a.log.InfoContext(ctx, "vault session binding refused", "code", awsCode(err))
		// Another user's session, or this user's started with a token the
		// page no longer has: the turn starts a new one with its own token.
		st.refused = err
		return st
	}
	rec.AddHop("vault", "agentcore-identity", "AgentCore Identity bound the session to the user", trace.Hop{From: trace.AgentCoreIdentity, To: trace.Agent, Carries: "session bound", Status: http.StatusOK},
		map[string]any{"session_uri": t.VaultSession})
	// What AgentCore Identity does then, inside AWS: drawn from the
	// protocol, not seen by llm-agent.
	rec.AddHop("vault", "agentcore-identity", "AgentCore Identity exchanges the authorization code at Entra's token endpoint with the vault app's client secret (inside AWS; not seen by llm-agent)",
		trace.Hop{From: trace.AgentCoreIdentity, To: trace.Entra, Carries: "the code + the vault app's secret"}, map[string]any{"observed": false})
	rec.AddHop("vault", "entra", "Entra issues the vault app's delegated token, which AgentCore Identity keeps for the user (inside AWS; not seen by llm-agent)",
		trace.Hop{From: trace.Entra, To: trace.AgentCoreIdentity, Carries: identity.VaultTokenName, Status: http.StatusOK}, map[string]any{"observed": false})
	st.session = t.VaultSession
	return st
}

// vaultToken gets the Weather API's token from the vault. With none
// vaulted for the user, the turn ends with the authorization URL.
func (a *Agent) vaultToken(ctx context.Context, t Turn, rec *trace.Recorder) (*identity.Result, error) {
	ctx, end := a.span(ctx, "token "+identity.VaultTokenName)
	defer end()
	v := a.cfg.Vault
	st := t.vault
	if st == nil {
		st = &vaultState{}
	}
	returnURL := firstSet(a.cfg.VaultReturnURL, t.ConsentRedirectURI)
	data := map[string]any{"credential_provider": v.Provider(), "scopes": v.Scopes(), "oauth2_flow": "USER_FEDERATION", "return_url": returnURL}
	if st.session != "" {
		data["session_uri"] = st.session
	}
	rec.AddHop("vault", "llm-agent", "GetResourceOauth2Token: the user's token for the Weather API from AgentCore Identity's token vault, with the workload access token AgentCore Runtime passed",
		trace.Hop{From: trace.Agent, To: trace.AgentCoreIdentity, Carries: "GetResourceOauth2Token (workload access token)"}, data)
	res, auth, err := v.Token(ctx, identity.VaultRequest{WorkloadToken: t.WorkloadToken, ReturnURL: returnURL, SessionURI: st.session})
	a.countVault(ctx, res, auth, err)
	switch {
	case err != nil:
		var ie *identity.Error
		h := trace.Hop{From: trace.AgentCoreIdentity, To: trace.Agent, Carries: identity.VaultTokenName + " for the Weather API refused", Failed: true}
		if errors.Is(err, identity.ErrNoWorkloadToken) {
			h = trace.Hop{From: trace.Agent, To: trace.AgentCoreIdentity, Carries: identity.VaultTokenName + ": no workload access token", Failed: true}
		} else if errors.As(err, &ie) {
			h.Status, h.Code = ie.Status, ie.AWSCode
		}
		rec.AddHop("vault", "agentcore-identity", "No "+identity.VaultTokenName+" for the Weather API: "+err.Error(), h, nil)
		return nil, identityError(err)
	case auth != nil:
		rec.AddHop("vault", "agentcore-identity", "AgentCore Identity holds no token for this user yet: it answered with an authorization URL and a session",
			trace.Hop{From: trace.AgentCoreIdentity, To: trace.Agent, Carries: "an authorization URL", Status: http.StatusOK}, map[string]any{"session_uri": auth.SessionURI})
		return nil, a.vaultConsent(t, auth, st.refused)
	}
	rec.AddTokenHop("token", "agentcore-identity", identity.VaultTokenName+" from AgentCore Identity's token vault, for the Weather API (on behalf of the user, as the vault's app)",
		trace.CardOf(identity.VaultTokenName, res.Token, "Weather API"),
		trace.Hop{From: trace.AgentCoreIdentity, To: trace.Agent, Carries: identity.VaultTokenName, Status: http.StatusOK}, factsData(res.Facts))
	a.log.InfoContext(ctx, "token acquired", "token", identity.VaultTokenName, "target", "Weather API", "uti", res.Token.Claims["uti"], "provider", identity.VaultProviderName)
	return res, nil
}

// countVault counts a vault acquisition as the other tokens are counted
// (kind TV, provider agentcore-vault), its result issued, consent (an
// authorization URL) or refused; whether the vault had it is AWS's to know.
func (a *Agent) countVault(ctx context.Context, res *identity.Result, auth *identity.VaultAuthorization, err error) {
	if a.cfg.Acquisitions == nil {
		return
	}
	result := "issued"
	switch {
	case err != nil:
		result = "refused"
	case auth != nil:
		result = "consent"
	}
	a.cfg.Acquisitions.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", identity.VaultTokenName), attribute.String("provider", identity.VaultProviderName),
		attribute.String("result", result), attribute.String("cache", "unknown")))
}

// vaultConsent ends the turn with the vault's authorization URL, as Entra's
// consent on demand ends one with its consent link.
func (a *Agent) vaultConsent(t Turn, auth *identity.VaultAuthorization, refused error) error {
	v := a.cfg.Vault
	n := ConsentNeeded{Reason: "consent_required", Source: identity.SourceAgentCoreVault,
		Resource: "the Weather API, through AgentCore Identity's token vault (credential provider " + v.Provider() + ")",
		Scopes:   v.Scopes(), URL: auth.URL, SessionURI: auth.SessionURI}
	n.Message = fmt.Sprintf("To call the Weather API on your behalf through AgentCore Identity's token vault, the vault's app needs you to sign in to Entra and grant it %s; AgentCore then keeps the token for your next turns. Open the link, accept, and your message is sent again.",
		strings.Join(scopeNames(v.Scopes()), ", "))
	if refused != nil {
		if identity.SessionRefused(refused) {
			n.Message = "AgentCore Identity refused to bind the consent you came back with (AccessDeniedException): a session is bound only by the user who started it, with exactly the sign-in token that started it, and this turn's token is not that one. A new consent has started with this turn's token. " + n.Message
		} else {
			n.Message = "The consent you came back with could not be bound (" + awsCode(refused) + "): a new one has started. " + n.Message
		}
	}
	return &ConsentError{Needed: n}
}

// awsCode is the AWS error code of a vault failure, or "no answer".
func awsCode(err error) string {
	var ie *identity.Error
	if errors.As(err, &ie) && ie.AWSCode != "" {
		return ie.AWSCode
	}
	return "no answer"
}

func firstSet(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
