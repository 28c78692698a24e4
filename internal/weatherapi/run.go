package weatherapi

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/logging"
	"github.com/crosscloud-agentid/agentid/internal/weather"
)

// Run is the weather-api binary: flags, settings, key set, provider and
// server, until ctx ends. cmd/weather-api and the demo both call it.
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
	log := logging.New(settings, stderr)
	cfg := LoadSettings(settings)
	if err := settings.Err(); err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}

	keys := jwtauth.NewKeySet(&http.Client{Timeout: 10 * time.Second}, cfg.KeyURLs()...)
	validator, err := jwtauth.New(cfg.Policy(), keys)
	if err != nil {
		return err
	}
	var provider weather.Provider = weather.NewOpenMeteo(nil)
	if cfg.Provider == "offline" {
		provider = &weather.Offline{}
	}
	if getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		// A Lambda behind API Gateway: its JWT authorizer verified the
		// signature, so no key is fetched here; the policy still applies.
		log.Info("weather-api running as a Lambda behind API Gateway's JWT authorizer",
			"tenant", cfg.TenantID, "audiences", strings.Join(cfg.Audiences, ","), "weather_provider", cfg.Provider)
		lambda.StartWithOptions(LambdaHandler(NewGatewayServer(validator, provider, log)), lambda.WithContext(ctx))
		return nil
	}
	if cfg.ValidateSignature {
		fetchCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := keys.Refresh(fetchCtx); err != nil {
			// Not fatal: the key set retries on the first token, and a
			// container may start before its network is ready.
			log.Warn("the tenant's signing keys could not be fetched yet; tokens are refused until they can be", "error", err)
		}
		cancel()
	} else {
		log.Warn("VALIDATE_TOKEN_SIGNATURE=false: token signatures are NOT verified, so anyone can forge a token this API accepts; never run this way outside a local debugging session")
	}

	ln, err := httpserver.Listen("weather-api", "LISTEN_ADDR", cfg.ListenAddr)
	if err != nil {
		return err
	}
	srv := httpserver.New(NewServer(validator, provider, log, !cfg.ValidateSignature), log)
	callers := strings.Join(cfg.AllowedCallers, ",")
	if callers == "" {
		callers = "* (any app in the tenant)"
	}
	log.Info("weather-api listening on "+httpserver.ListenerURL("http", ln),
		"tenant", cfg.TenantID, "audiences", strings.Join(cfg.Audiences, ","), "allowed_callers", callers,
		"required_role", cfg.RequiredRole, "required_scope", cfg.RequiredScope, "token_versions", fmt.Sprint(cfg.Versions),
		"require_agent_identity", cfg.RequireAgentIdentity, "weather_provider", cfg.Provider)
	return httpserver.Serve(ctx, srv, ln)
}
