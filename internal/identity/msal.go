package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/crosscloud-agentid/agentid/internal/agentid"
	"github.com/crosscloud-agentid/agentid/internal/entraerr"
	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// MSALProvider gets the agent's tokens in process with MSAL Go. It is the
// only provider that holds T1 and T2, so the only one whose trace shows
// them.
type MSALProvider struct {
	blueprint  *agentid.Blueprint
	agent      *agentid.Agent
	agentUser  string
	appScopes  []string
	userScopes []string
	mcpScopes  []string
	credential string
	decoded    DecodedTokens
}

// MSALScopes are the scopes the msal provider asks for: the Weather API's
// for app-only and delegated tokens, and the MCP server's (delegated).
type MSALScopes struct {
	App, User, MCP []string
}

// NewMSALProvider builds the blueprint and agent clients once.
func NewMSALProvider(cfg agentid.Config, agentID, agentUserUPN string, scopes MSALScopes) (*MSALProvider, error) {
	bp, err := agentid.NewBlueprint(cfg)
	if err != nil {
		return nil, err
	}
	agent, err := bp.Agent(agentID)
	if err != nil {
		return nil, err
	}
	return &MSALProvider{blueprint: bp, agent: agent, agentUser: agentUserUPN, appScopes: scopes.App, userScopes: scopes.User, mcpScopes: scopes.MCP,
		credential: cfg.Credential.Kind}, nil
}

// Name implements Provider.
func (p *MSALProvider) Name() string { return "msal" }

// Check implements Provider: the blueprint can get T1 for the agent.
func (p *MSALProvider) Check(ctx context.Context) error {
	if _, err := p.blueprint.T1(ctx, p.agent.ID()); err != nil {
		return p.fail(Autonomous, WeatherAPI, "T1", err)
	}
	return nil
}

// AuthorizationHeader implements Provider.
func (p *MSALProvider) AuthorizationHeader(ctx context.Context, req Request) (*Result, error) {
	facts := Facts{Provider: p.Name(), Flow: req.Flow, Credential: p.credential, Target: req.Target}
	// The MCP server's delegated scopes serve both user-bound flows.
	userScopes, agentUserScopes := p.userScopes, p.appScopes
	if req.Target == MCPServer {
		if req.Flow == Autonomous {
			return nil, errAppOnlyMCP(p.Name())
		}
		if len(p.mcpScopes) == 0 {
			return nil, &Error{Provider: p.Name(), Flow: req.Flow, Message: "no scopes for the MCP server: set MCP_SCOPES"}
		}
		userScopes, agentUserScopes = p.mcpScopes, p.mcpScopes
	}
	var res, t2 confidential.AuthResult
	var err error
	switch req.Flow {
	case Autonomous:
		facts.Scopes = p.appScopes
		res, err = p.agent.AppToken(ctx, p.appScopes)
	case OnBehalfOf:
		if req.UserToken.IsZero() {
			return nil, &Error{Provider: p.Name(), Flow: req.Flow, Message: "the on-behalf-of flow needs the signed-in user's token: sign in first", Err: ErrNoUserToken}
		}
		facts.Scopes = userScopes
		res, err = p.agent.OBO(ctx, req.UserToken.Reveal(), userScopes)
	case AgentUser:
		if p.agentUser == "" {
			return nil, &Error{Provider: p.Name(), Flow: req.Flow, Message: "the agent user flow needs AGENT_USER_UPN"}
		}
		facts.Scopes = agentUserScopes
		res, t2, err = p.agent.AgentUserToken(ctx, agentid.AgentUser{UPN: p.agentUser}, agentUserScopes)
	default:
		return nil, &Error{Provider: p.Name(), Flow: req.Flow, Message: fmt.Sprintf("unknown flow %q", req.Flow)}
	}
	if err != nil {
		return nil, p.fail(req.Flow, req.Target, req.Flow.TokenName()+" for "+req.Target.String(), err)
	}
	hit := res.Metadata.TokenSource == confidential.TokenSourceCache
	facts.CacheHit = &hit
	out := &Result{Header: secret.New("Bearer " + res.AccessToken), Facts: facts}
	if out.Token, err = p.decoded.Decode(req.Flow.TokenName(), res.AccessToken); err != nil {
		return nil, p.fail(req.Flow, req.Target, req.Flow.TokenName(), err)
	}
	// T1 is in MSAL's cache by now (the agent's credential needed it).
	if t1, err := p.blueprint.T1(ctx, p.agent.ID()); err == nil {
		if c, err := p.decoded.Decode("T1", t1.AccessToken); err == nil {
			out.Chain = append(out.Chain, c)
		}
	}
	if t2.AccessToken != "" {
		if c, err := p.decoded.Decode("T2", t2.AccessToken); err == nil {
			out.Chain = append(out.Chain, c)
		}
	}
	return out, nil
}

func (p *MSALProvider) fail(flow Flow, target Target, token string, err error) *Error {
	e := &Error{Provider: p.Name(), Flow: flow, Err: err}
	if info, ok := entraerr.From(err); ok {
		e.Code, e.CorrelationID = info.Code(), info.CorrelationID
		e.Message = withHint(fmt.Sprintf("getting %s: Entra refused: %s", token, info.Summary()), info.Code(), target)
		return e
	}
	var inner *Error
	if errors.As(err, &inner) {
		return inner
	}
	e.Message = fmt.Sprintf("getting %s: %v", token, err)
	return e
}
