package weatherapi

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"go.opentelemetry.io/otel/metric"

	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/logging"
	"github.com/crosscloud-agentid/agentid/internal/telemetry"
	"github.com/crosscloud-agentid/agentid/internal/weather"
)

// Run is the weather-api binary: flags, LoadSettings, Build and Serve (or
// the Lambda handler), until ctx ends.
func Run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("weather-api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	healthcheck := fs.Bool("healthcheck", false, "probe GET /health on LISTEN_ADDR and exit 0 if it answers 200 (for container healthchecks)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	settings := config.New(getenv)
	if *healthcheck {
		return httpserver.Probe(ctx, settings.String("LISTEN_ADDR", ":8080"), "/health")
	}
	svc, tel, err := setup(ctx, settings, getenv, stderr, command.Deps{})
	if err != nil {
		return err
	}
	defer tel.Flush(svc.deps.Log())
	if getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		return svc.ServeLambda(ctx)
	}
	return svc.Serve(ctx, nil)
}

// setup is Run's wiring, for the benchmark of the stack as the binary
// builds it: the logger (LOG_LEVEL, LOG_FORMAT), the settings, telemetry
// (OTEL_*) and the Service, on d (whose Logger, Tracer and Meter it sets).
func setup(ctx context.Context, settings *config.Reader, getenv func(string) string, stderr io.Writer, d command.Deps) (*Service, *telemetry.Telemetry, error) {
	log := logging.New(settings, stderr)
	s := LoadSettings(settings)
	if err := settings.Err(); err != nil {
		return nil, nil, fmt.Errorf("settings:\n%w", err)
	}
	tel, err := telemetry.FromEnv(ctx, "weather-api", getenv)
	if err != nil {
		return nil, nil, err
	}
	telemetry.LogErrors(log)
	d.Logger, d.Tracer, d.Meter = log, tel.Tracer, tel.Meter
	svc, err := Build(s, d)
	if err != nil {
		tel.Flush(log)
		return nil, nil, err
	}
	return svc, tel, nil
}

// Service is a built Weather API: its settings, token policy, key set and
// weather provider.
type Service struct {
	settings  Settings
	keys      *jwtauth.KeySet
	validator *jwtauth.Validator
	provider  weather.Provider
	deps      command.Deps
}

// Build wires the key set, the token validator and the weather provider.
// Nothing is fetched until Serve.
func Build(s Settings, d command.Deps) (*Service, error) {
	client := d.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	keys := jwtauth.NewKeySet(telemetry.Client(client, 0, d.Tracer), s.KeyURLs()...)
	keys.Now = d.Now
	policy := s.Policy()
	policy.Now = d.Now
	validator, err := jwtauth.New(policy, keys)
	if err != nil {
		return nil, err
	}
	// The forecast service is on the internet, never behind cloudsim: it
	// keeps the platform's client.
	var provider weather.Provider = weather.NewOpenMeteo(nil)
	if s.Provider == "offline" {
		provider = &weather.Offline{}
	}
	return &Service{settings: s, keys: keys, validator: validator, provider: provider, deps: d}, nil
}

// Handler is the API, with a server span per request when tracing is on,
// for a caller that serves it itself.
func (svc *Service) Handler() http.Handler {
	srv := NewServer(svc.settings.Guard(svc.validator), svc.provider, svc.deps.Log(), !svc.settings.ValidateSignature)
	if m := telemetry.Meter(svc.deps.Meter); m != nil {
		srv.requests, _ = m.Int64Counter("agentid.weather_api.requests", metric.WithUnit("{request}"),
			metric.WithDescription("Requests by verdict (authorized, refused) and refusal reason (the error code)"))
	}
	return telemetry.Handler(srv, "weather-api", svc.deps.Tracer)
}

// Serve fetches the tenant's keys and serves on ln (nil: a new listener on
// LISTEN_ADDR) until ctx ends.
func (svc *Service) Serve(ctx context.Context, ln net.Listener) error {
	s, log := svc.settings, svc.deps.Log()
	if s.ValidateSignature {
		fetchCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := svc.keys.Refresh(fetchCtx); err != nil {
			// Not fatal: the key set retries on the first token, and a
			// container may start before its network is ready.
			log.Warn("the tenant's signing keys could not be fetched yet; tokens are refused until they can be", "error", err)
		}
		cancel()
	} else {
		log.Warn("VALIDATE_TOKEN_SIGNATURE=false: token signatures are NOT verified, so anyone can forge a token this API accepts; never run this way outside a local debugging session")
	}
	if ln == nil {
		var err error
		if ln, err = httpserver.Listen("weather-api", "LISTEN_ADDR", s.ListenAddr); err != nil {
			return err
		}
	}
	callers := strings.Join(s.AllowedCallers, ",")
	if callers == "" {
		callers = "* (any app in the tenant)"
	}
	log.Info("weather-api listening on "+httpserver.Listening("http", ln.Addr().String(), ""),
		"tenant", s.TenantID, "audiences", strings.Join(s.Audiences, ","), "allowed_callers", callers, "allowed_delegated_callers", strings.Join(s.DelegatedCallers, ","),
		"required_role", s.RequiredRole, "required_scope", s.RequiredScope, "token_versions", fmt.Sprint(s.Versions),
		"require_agent_identity", s.RequireAgentIdentity, "weather_provider", s.Provider)
	return httpserver.Serve(ctx, httpserver.New(svc.Handler(), log), ln)
}

// GatewayServer is the server ServeLambda runs: the policy, and Guard,
// on the claims API Gateway's JWT authorizer passed on.
func (svc *Service) GatewayServer() *Server {
	return newServer(svc.settings.Guard(gatewayAuth{svc.validator}), svc.provider, svc.deps.Log(), false, gatewayValidatedBy)
}

// ServeLambda answers API Gateway's events as a Lambda until ctx ends. Its
// JWT authorizer verified the signature, so no key is fetched here; the
// policy still applies.
func (svc *Service) ServeLambda(ctx context.Context) error {
	s, log := svc.settings, svc.deps.Log()
	log.Info("weather-api running as a Lambda behind API Gateway's JWT authorizer",
		"tenant", s.TenantID, "audiences", strings.Join(s.Audiences, ","), "weather_provider", s.Provider)
	lambda.StartWithOptions(LambdaHandler(svc.GatewayServer()), lambda.WithContext(ctx))
	return nil
}
