package chatapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go/tracing/smithyoteltracing"
	"go.opentelemetry.io/otel/metric"

	"github.com/crosscloud-agentid/agentid/deploy/models"
	"github.com/crosscloud-agentid/agentid/internal/agent"
	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpclient"
	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/mcptool"
	"github.com/crosscloud-agentid/agentid/internal/sdkbody"
	"github.com/crosscloud-agentid/agentid/internal/telemetry"
)

// Settings are llm-agent's settings; see docs/settings.md.
type Settings struct {
	ListenAddr string
	// AgentCoreAddr is where the AgentCore Runtime contract is served when
	// AGENTCORE_RUNTIME=true, instead of ListenAddr: the runtime sends
	// traffic to port 8080 on every interface.
	AgentCoreAddr string
	API           Config
	Agent         agent.Config
	Identity      identity.Settings
	AWS           agent.AWSInfo
}

// LoadSettings reads and checks every setting.
func LoadSettings(r *config.Reader) Settings {
	s := Settings{ListenAddr: r.String("LISTEN_ADDR", ":3000")}
	agentCore := r.Bool("AGENTCORE_RUNTIME", false)
	if agentCore {
		s.AgentCoreAddr = r.String("AGENTCORE_ADDR", "0.0.0.0:8080")
		s.Identity = identity.LoadSettingsDefault(r, "msal")
		if s.Identity.Provider != "msal" {
			r.Problem("IDENTITY_PROVIDER", "AgentCore Runtime runs one container with no auth sidecar beside it: use msal (the default there)")
		}
	} else {
		s.Identity = identity.LoadSettings(r)
	}
	identity.LoadTokenSource(r, &s.Identity, agentCore)
	s.API = Config{
		AuthorityHost:      r.URL("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com", true),
		TenantID:           r.GUID("TENANT_ID"),
		BlueprintID:        r.GUID("BLUEPRINT_APP_ID"),
		SPAClientID:        r.String("CLIENT_SPA_APP_ID", ""),
		AgentID:            s.Identity.AgentID,
		SidecarURL:         s.Identity.SidecarURL,
		Region:             r.String("AWS_REGION", "us-east-1"),
		ModelID:            r.String("BEDROCK_MODEL_ID", models.DefaultID),
		WeatherAPIURL:      r.URL("WEATHER_API_URL", "http://localhost:8080", false),
		TrustProxyHeaders:  r.Bool("TRUST_PROXY_HEADERS", false),
		AgentCore:          agentCore,
		InvocationURL:      r.URL("AGENTCORE_INVOCATION_URL", "", false),
		ConsentRedirectURI: r.URL("CONSENT_REDIRECT_URI", "", false),
	}
	if mcpURL := r.String("MCP_SERVER_URL", mcptool.DefaultServerURL); mcpURL != "off" {
		s.API.MCPServerURL = r.URL("MCP_SERVER_URL", mcptool.DefaultServerURL, false)
	}
	// The browser may reach the authority at another address than this
	// process does (compose: a host port, not the service name).
	s.API.BrowserAuthorityHost = r.URL("BROWSER_AUTHORITY_HOST", s.API.AuthorityHost, true)
	if s.API.SPAClientID != "" && !config.IsGUID(s.API.SPAClientID) {
		r.Problem("CLIENT_SPA_APP_ID", "%q is not an app ID (GUID)", s.API.SPAClientID)
	}
	loadGuards(r, &s)
	s.Agent = agent.Config{
		WeatherAPIURL: s.API.WeatherAPIURL,
		ModelID:       s.API.ModelID,
		MaxToolRounds: r.Int("MAX_TOOL_ROUNDS", 5, 1, 20),
		Downstream:    s.Identity.SidecarMode == identity.SidecarModeDownstream,
		Consent: identity.ConsentRequest{AuthorityHost: s.API.BrowserAuthorityHost, TenantID: s.API.TenantID, AgentID: s.Identity.AgentID,
			Scopes: s.Identity.MCPScopes},
		VaultReturnURL: s.Identity.Vault.ReturnURL,
	}
	s.API.UserTokenSource = s.Identity.UserTokenSource
	s.AWS = agent.AWSInfo{
		Region:          s.API.Region,
		APIKey:          r.String("AWS_BEARER_TOKEN_BEDROCK", "") != "",
		WebIdentityFile: r.String("AWS_WEB_IDENTITY_TOKEN_FILE", ""),
		RoleARN:         r.String("AWS_ROLE_ARN", ""),
		SessionName:     r.String("AWS_ROLE_SESSION_NAME", ""),
	}
	return s
}

// loadGuards reads the browser-facing policies, each with a safe default.
func loadGuards(r *config.Reader, s *Settings) {
	if s.API.AgentCore {
		// The runtime's contract only: its authorizer needs a user for
		// every flow.
		s.API.AutonomousNeedsUser = true
		if s.API.InvocationURL != "" {
			r.Problem("AGENTCORE_INVOCATION_URL", "is the chat UI's setting, for the llm-agent that relays turns to AgentCore Runtime; with AGENTCORE_RUNTIME=true this llm-agent is the one on the runtime")
		}
		return
	}
	loopback := IsLoopbackAddr(s.ListenAddr)
	s.API.PublicOrigins = loadOrigins(r, "PUBLIC_ORIGIN")
	if len(s.API.PublicOrigins) == 0 && !loopback {
		r.Problem("PUBLIC_ORIGIN", "set the origin browsers use to reach llm-agent (for example https://agent.example.com): listening on %s, "+
			"it answers only that Host and takes turns only from that Origin (loopback listeners need none)", s.ListenAddr)
	}
	s.API.AllowedHosts = allowedHosts(s.API.PublicOrigins, loopback)
	// Open to anyone who can reach the port only when that is this machine.
	s.API.AutonomousNeedsUser = r.Bool("AUTONOMOUS_NEEDS_SIGN_IN", !loopback)
	if s.API.InvocationURL != "" {
		// Relayed turns carry the user's token to the runtime, whose
		// authorizer needs one for every flow.
		s.API.AutonomousNeedsUser = true
		checkInvocationURL(r, s.API.InvocationURL)
	}
	s.API.WebSocketLimits = WebSocketLimits{
		Total:     r.Int("WS_MAX_CONNECTIONS", 256, 1, 100000),
		PerClient: r.Int("WS_MAX_PER_CLIENT", 8, 1, 10000),
		Idle:      r.Duration("WS_IDLE_TIMEOUT", 5*time.Minute),
	}
	if s.API.WebSocketLimits.Idle < time.Second {
		r.Problem("WS_IDLE_TIMEOUT", "must be at least 1s")
	}
}

// Build wires the identity provider, the Bedrock client (from the AWS SDK's
// default chain), the agent and the API. Nothing listens until Serve.
func Build(ctx context.Context, s Settings, d command.Deps) (*Server, error) {
	httpClient, log := d.HTTPClient, d.Log()
	// MSAL and the sidecar client: token requests are client spans.
	provider, err := identity.New(s.Identity, telemetry.Client(httpClient, httpclient.Timeout, d.Tracer))
	if err != nil {
		return nil, err
	}
	keysClient := httpClient
	if keysClient == nil {
		keysClient = &http.Client{Timeout: 10 * time.Second}
	}
	base := s.API.AuthorityHost + "/" + s.API.TenantID
	policy := jwtauth.Policy{TenantID: s.API.TenantID, Audiences: []string{s.API.BlueprintID, "api://" + s.API.BlueprintID},
		Versions: []int{1, 2}, RequiredScope: "access_as_user", DelegatedOnly: true, Leeway: time.Minute, CacheFor: 5 * time.Minute, Now: d.Now}
	if s.API.SPAClientID != "" {
		policy.AllowedCallers = []string{s.API.SPAClientID}
	}
	if s.API.AgentCore {
		// As the runtime's authorizer does with the tenant's v2 discovery
		// document: the v2 issuer only.
		policy.Versions = []int{2}
	}
	userKeys := jwtauth.NewKeySet(telemetry.Client(keysClient, 0, d.Tracer), base+"/discovery/v2.0/keys", base+"/discovery/keys")
	userKeys.Now = d.Now
	users, err := jwtauth.New(policy, userKeys)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(s.API.Region))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	br := bedrockruntime.NewFromConfig(awsCfg, func(o *bedrockruntime.Options) {
		o.HTTPClient = sdkbody.Buffered(o.HTTPClient)
		if d.Tracer != nil {
			// The SDK's own spans: each Converse call and its attempts.
			o.TracerProvider = smithyoteltracing.Adapt(d.Tracer)
		}
	})
	info := s.AWS
	if !info.APIKey {
		info.Credentials = awsCfg.Credentials
	}
	apiClient := &http.Client{Timeout: 30 * time.Second}
	if httpClient != nil {
		apiClient = httpClient
	}
	// The Weather API, the MCP server and the sidecar's DownstreamApi get
	// traceparent.
	apiClient = telemetry.Client(apiClient, 0, d.Tracer)
	if s.Identity.UserTokenSource == identity.SourceAgentCoreVault {
		// The data plane's endpoint, like Bedrock's, comes from the SDK's
		// own settings (AWS_ENDPOINT_URL_BEDROCK_AGENTCORE), and its calls
		// are signed with the runtime role's credentials.
		vault := bedrockagentcore.NewFromConfig(awsCfg, func(o *bedrockagentcore.Options) {
			o.HTTPClient = sdkbody.Buffered(o.HTTPClient)
			if d.Tracer != nil {
				o.TracerProvider = smithyoteltracing.Adapt(d.Tracer)
			}
		})
		s.Agent.Vault = identity.NewVault(vault, s.Identity.Vault.Provider, s.Identity.Vault.Scopes)
	}
	if s.API.MCPServerURL != "" {
		// Nothing dials out here: the tool list needs a user's token.
		s.Agent.MCP = mcptool.New(s.API.MCPServerURL, apiClient)
	}
	if d.Tracer != nil {
		s.Agent.Tracer = telemetry.Tracer(d.Tracer)
	}
	meter := telemetry.Meter(d.Meter)
	if meter != nil {
		s.Agent.Acquisitions, _ = meter.Int64Counter("agentid.token.acquisitions", metric.WithUnit("{token}"),
			metric.WithDescription("Token acquisitions by kind (TR, TU, TAU, TV), provider, result (issued, refused; consent for the vault's authorization URL) and cache (hit, miss, unknown)"))
	}
	a := agent.New(s.Agent, provider, br, info, apiClient, log)
	now := d.Now
	if now == nil {
		now = time.Now
	}
	warnAboutLifecycle(log, s.API.ModelID, s.API.Region, now())
	checks := statusChecks(s, provider, a, awsCfg, info, apiClient, now)
	api := New(s.API, a, provider, users, checks, log)
	api.settings = s
	if s.API.InvocationURL != "" {
		// The relay's turns take as long as the model does: its own
		// deadline (relayTimeout) bounds them, not the client's.
		relay := http.Client{}
		if httpClient != nil {
			relay = *httpClient
			relay.Timeout = 0
		}
		api.relayClient = telemetry.Client(&relay, 0, d.Tracer)
	}
	api.tracer = telemetry.Tracer(d.Tracer)
	if meter != nil {
		api.turns, _ = meter.Float64Histogram("agentid.turn.duration", metric.WithUnit("s"),
			metric.WithDescription("Chat turn latency by mode, flow and outcome (answered, consent, failed)"))
	}
	return api, nil
}

// warnAboutLifecycle says at start when deploy/models records the model as
// past its end of life, or Legacy, in the Region: every Bedrock turn would
// fail, and the log says so before the first user meets it.
func warnAboutLifecycle(log *slog.Logger, model, region string, now time.Time) {
	switch st := models.Lifecycle(model, region, now); st.State {
	case models.EndOfLife:
		log.Warn("every Bedrock turn will fail: "+agent.EndOfLife(model, region, st), "source", st.Source)
	case models.Legacy:
		args := []any{"model", model, "region", region, "source", st.Source}
		if !st.EOL.IsZero() {
			args = append(args, "end_of_life", st.EOL.Format(time.DateOnly))
		}
		log.Warn("BEDROCK_MODEL_ID is Legacy on Bedrock, which refuses it to accounts that have not used it lately: move to an active model, such as "+models.DefaultID, args...)
	}
}

// statusChecks are /api/status's dependency checks: the identity
// provider, the Weather API's /health, and whether the agent can call
// Bedrock now.
func statusChecks(s Settings, provider identity.Provider, a *agent.Agent, awsCfg aws.Config, info agent.AWSInfo, apiClient *http.Client, now func() time.Time) map[string]Check {
	return map[string]Check{
		"identity": func(ctx context.Context) (map[string]any, error) {
			return map[string]any{"provider": provider.Name()}, provider.Check(ctx)
		},
		"weather_api": func(ctx context.Context) (map[string]any, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.API.WeatherAPIURL+"/health", nil)
			resp, err := apiClient.Do(req)
			if err != nil {
				return nil, fmt.Errorf("no answer from %s", s.API.WeatherAPIURL)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("%s/health answered %s", s.API.WeatherAPIURL, resp.Status)
			}
			return nil, nil
		},
		"bedrock": func(ctx context.Context) (map[string]any, error) {
			return bedrockCheck(ctx, s, a, awsCfg, info, now())
		},
	}
}

// bedrockCheck says whether the agent can call Bedrock now, without a
// model call of its own (which costs money and would run on every poll):
// the model's lifecycle in deploy/models, the credentials the SDK resolves
// (for web identity, an AssumeRoleWithWebIdentity that STS must honour),
// and the outcome and age of the agent's last Bedrock call, which carries
// what only Bedrock can say (a refused permission, a retired model).
func bedrockCheck(ctx context.Context, s Settings, a *agent.Agent, awsCfg aws.Config, info agent.AWSInfo, now time.Time) (map[string]any, error) {
	detail := map[string]any{"model": s.API.ModelID, "region": s.API.Region}
	st := models.Lifecycle(s.API.ModelID, s.API.Region, now)
	detail["lifecycle"] = string(st.State)
	if st.State == models.EndOfLife {
		return detail, errors.New(agent.EndOfLife(s.API.ModelID, s.API.Region, st))
	}
	if info.APIKey {
		detail["credential_source"] = "Bedrock API key (AWS_BEARER_TOKEN_BEDROCK)"
	} else {
		creds, err := awsCfg.Credentials.Retrieve(ctx)
		if err != nil {
			return detail, errors.New("no AWS credentials resolved: " + err.Error())
		}
		detail["credential_source"] = creds.Source
		if info.RoleARN != "" {
			detail["role_arn"] = info.RoleARN
		}
	}
	call, ok := a.LastBedrockCall()
	if !ok {
		detail["last_call"] = "none yet"
		return detail, nil
	}
	age := now.Sub(call.At).Round(time.Second)
	detail["last_call"] = age.String() + " ago"
	if call.Err != nil {
		return detail, fmt.Errorf("the last Bedrock call, %s ago, failed: %v", age, call.Err)
	}
	detail["last_call_outcome"] = "answered"
	return detail, nil
}
