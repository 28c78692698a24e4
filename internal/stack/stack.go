// Package stack starts the whole product in one process on loopback:
// cloudsim (Entra, the managed identity endpoint, STS, Bedrock, the auth
// sidecar, the MCP server), then weather-api, token-refresher and
// llm-agent, each through its package's Build and Serve, the code its
// binary runs. cmd/demo and the end-to-end and browser tests start it the
// same way.
//
// The components read their settings from the stack alone. The SDKs they
// use (the AWS SDK's credential chain and endpoints, MSAL Go's managed
// identity source) read the process environment instead: the stack writes
// those variables, from one list, when it starts, and puts back what it
// found when it closes. No other code in the product writes them.
package stack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/refresher"
	"github.com/crosscloud-agentid/agentid/internal/telemetry"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// Options configure a stack.
type Options struct {
	// Cloudsim are cloudsim's options (state folder, addresses, tenant
	// file); the stack adds the Weather API's URL, the sidecar's address
	// when none is given, and its logger.
	Cloudsim cloudsim.Options
	// Settings are laid over the stack's own for every component
	// (WEATHER_PROVIDER=open-meteo, say).
	Settings map[string]string
	// AgentAddr is llm-agent's listener ("": none is started; Agent
	// starts one), with AgentSettings laid over Settings.
	AgentAddr     string
	AgentSettings map[string]string
	// Logger returns a component's logger (nil: discard).
	Logger func(component string) *slog.Logger
	// Tracer and Meter are the components' OpenTelemetry providers (nil:
	// none). OTLP, when set instead, is an OTLP/HTTP collector's base URL
	// that each component exports to under its own service name.
	Tracer trace.TracerProvider
	Meter  metric.MeterProvider
	OTLP   string
	// Prepare runs once cloudsim serves and before any component starts,
	// and returns settings laid over Settings: what a setup script it runs
	// against cloudsim wrote, say.
	Prepare func(*cloudsim.Sim) (map[string]string, error)
	// NoSidecar starts cloudsim without its auth sidecar, for a tenant
	// with no blueprint yet; the components then need IDENTITY_PROVIDER=msal.
	NoSidecar bool
}

// Stack is a running product.
type Stack struct {
	Sim        *cloudsim.Sim
	Settings   map[string]string // what every component reads, without a secret
	WeatherURL string
	AgentURL   string // "" when Options.AgentAddr was
	TokenFile  string // chain B's web identity token, kept by token-refresher

	opts     Options
	deps     func(component string) (command.Deps, error)
	flush    []*telemetry.Telemetry // what Close flushes, with OTLP
	http     *http.Transport
	ctx      context.Context
	cancel   context.CancelFunc
	stopWx   context.CancelFunc
	wg       sync.WaitGroup
	failed   chan error
	restore  func()
	closeOne sync.Once
}

// running is held while a stack runs: the process has one environment
// for the SDKs to read, so it holds one stack at a time.
var running sync.Mutex

// Start runs cloudsim, weather-api and token-refresher, waits for the
// first web identity token, then starts llm-agent when AgentAddr is set
// and waits for it to answer. Close stops it all.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if !running.TryLock() {
		return nil, errors.New("a stack is already running in this process: the SDKs read one process environment, so it can hold one at a time")
	}
	if o.Logger == nil {
		o.Logger = func(string) *slog.Logger { return slog.New(slog.DiscardHandler) }
	}
	// llm-agent's port is taken first, so a busy one fails before
	// anything starts; the Weather API's next, since cloudsim's sidecar
	// needs its URL.
	var agentLn net.Listener
	if o.AgentAddr != "" {
		ln, err := httpserver.Listen("the chat UI (llm-agent)", "-addr", o.AgentAddr)
		if err != nil {
			running.Unlock()
			return nil, err
		}
		agentLn = ln
	}
	weatherLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeAll(agentLn)
		running.Unlock()
		return nil, err
	}
	weatherURL := httpserver.ListenerURL("http", weatherLn)
	co := o.Cloudsim
	co.WeatherAPIURL = weatherURL
	co.Logger = o.Logger("cloudsim")
	if co.SidecarAddr == "" && !o.NoSidecar {
		co.SidecarAddr = "127.0.0.1:0"
	}
	sim, err := cloudsim.Start(co)
	if err != nil {
		closeAll(agentLn, weatherLn)
		running.Unlock()
		return nil, err
	}
	if o.Prepare != nil {
		prepared, err := o.Prepare(sim)
		if err != nil {
			closeAll(agentLn, weatherLn)
			sim.Close(context.Background())
			running.Unlock()
			return nil, fmt.Errorf("preparing the stack: %w", err)
		}
		o.Settings = maps.Clone(o.Settings)
		if o.Settings == nil {
			o.Settings = map[string]string{}
		}
		maps.Copy(o.Settings, prepared)
	}
	s := &Stack{Sim: sim, WeatherURL: weatherURL, TokenFile: filepath.Join(sim.Dir, "aws-web-identity-token"), opts: o, failed: make(chan error, 1)}
	s.Settings = componentSettings(sim, weatherURL, s.TokenFile, o.Settings)
	s.restore = setProcessEnv(processEnv(s.Settings, sim.Dir))
	s.http = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CA.Pool(), MinVersion: tls.VersionTLS12}}
	client := &http.Client{Timeout: 30 * time.Second, Transport: s.http}
	s.deps = func(component string) (command.Deps, error) {
		// The components keep cloudsim's time, so a test that moves it
		// moves the token checks with it.
		d := command.Deps{HTTPClient: client, Logger: o.Logger(component), Now: o.Cloudsim.Now, Tracer: o.Tracer, Meter: o.Meter}
		if o.OTLP == "" {
			return d, nil
		}
		tel, err := telemetry.ToEndpoint(ctx, component, o.OTLP)
		if err != nil {
			return d, err
		}
		telemetry.LogErrors(o.Logger("telemetry"))
		s.flush = append(s.flush, tel)
		d.Tracer, d.Meter = tel.Tracer, tel.Meter
		return d, nil
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Go(func() {
		select {
		case err := <-sim.Done():
			s.fail(fmt.Errorf("cloudsim stopped: %w", err))
		case <-s.ctx.Done():
		}
	})
	if err := s.start(ctx, weatherLn, agentLn); err != nil {
		closeAll(agentLn)
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(stop)
		return nil, err
	}
	return s, nil
}

// start starts the components in order, each once what it needs is ready.
func (s *Stack) start(ctx context.Context, weatherLn, agentLn net.Listener) error {
	if err := s.startWeather(weatherLn); err != nil {
		return err
	}
	refresh, err := s.startRefresher()
	if err != nil {
		return err
	}
	// llm-agent needs chain B's first token before its first Bedrock call.
	if err := s.waitFor(ctx, 30*time.Second, "token-refresher's first web identity token", func() bool {
		_, err := os.Stat(s.TokenFile)
		return err == nil
	}); err != nil {
		if last := refresh.Status().LastError; last != "" {
			return fmt.Errorf("%w; its last attempt: %s", err, last)
		}
		return err
	}
	if agentLn == nil {
		return nil
	}
	if s.AgentURL, _, err = s.Agent(agentLn, s.opts.AgentSettings); err != nil {
		return err
	}
	return s.waitFor(ctx, 30*time.Second, "the chat UI", func() bool { return answers(s.AgentURL + "/health") })
}

// componentSettings are every component's settings: cloudsim.env without
// what only scripts get (the blueprint's secret, the demo user's
// password), the stack's URLs, then the caller's.
func componentSettings(sim *cloudsim.Sim, weatherURL, tokenFile string, extra map[string]string) map[string]string {
	env := sim.Env()
	for _, scriptsOnly := range []string{"BLUEPRINT_CLIENT_SECRET", "CLOUDSIM_DEMO_USERNAME", "CLOUDSIM_DEMO_PASSWORD"} {
		delete(env, scriptsOnly)
	}
	maps.Copy(env, map[string]string{
		"WEATHER_API_URL":             weatherURL,
		"WEATHER_PROVIDER":            "offline",
		"AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
		"AWS_ROLE_SESSION_NAME":       env["AGENT_CLIENT_ID"],
		// Secretless: the blueprint proves itself with the managed identity.
		"BLUEPRINT_CREDENTIAL": "managed-identity",
		"HEALTH_ADDR":          "127.0.0.1:0",
	})
	maps.Copy(env, extra)
	return env
}

// processEnv is the one list of variables the SDKs read from the process
// rather than from a component's settings: cloudsim's CA (for the AWS
// SDK, which trusts only AWS_CA_BUNDLE when it is set), MSAL Go's managed
// identity endpoint, and the AWS SDK's region, endpoints and web identity
// role. Every other credential source the SDKs would try first or
// instead is removed: static and profile keys, a Bedrock API key, the
// user's AWS files, instance metadata, and the managed identity variables
// of other hosts, which MSAL Go's source detection prefers (Service
// Fabric's thumbprint, Cloud Shell's MSI_ENDPOINT). An empty value means
// unset.
func processEnv(settings map[string]string, dir string) map[string]string {
	env := map[string]string{
		"AWS_CONFIG_FILE":             filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
	for _, k := range []string{"SSL_CERT_FILE", "AWS_CA_BUNDLE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AWS_REGION", "AWS_ROLE_ARN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"} {
		env[k] = settings[k]
	}
	if settings["AWS_ROLE_ARN"] == "" {
		// No role (a tenant file without an AWS account): no web identity
		// chain, which the SDK refuses to configure half way.
		env["AWS_WEB_IDENTITY_TOKEN_FILE"], env["AWS_ROLE_SESSION_NAME"] = "", ""
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"} {
		env[k] = ""
	}
	return env
}

// setProcessEnv writes env into the process environment and returns what
// puts back the values it replaced.
func setProcessEnv(env map[string]string) (restore func()) {
	before := map[string]*string{}
	for k, v := range env {
		if old, ok := os.LookupEnv(k); ok {
			before[k] = &old
		} else {
			before[k] = nil
		}
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
	}
	return func() {
		for k, old := range before {
			if old == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *old)
			}
		}
	}
}

// reader reads a component's settings: the stack's, then overrides.
func (s *Stack) reader(overrides map[string]string) *config.Reader {
	return config.New(func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		return s.Settings[k]
	})
}

// run serves a component until the stack stops, reporting its failure.
func (s *Stack) run(ctx context.Context, name string, serve func(context.Context) error) {
	s.wg.Go(func() {
		if err := serve(ctx); err != nil && ctx.Err() == nil {
			s.fail(fmt.Errorf("%s: %w", name, err))
		}
	})
}

// fail reports a failure on Failed, unless one already waits there.
func (s *Stack) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

func (s *Stack) startWeather(ln net.Listener) error {
	r := s.reader(map[string]string{"LISTEN_ADDR": ln.Addr().String()})
	settings := weatherapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		ln.Close()
		return fmt.Errorf("weather-api settings:\n%w", err)
	}
	deps, err := s.deps("weather-api")
	if err != nil {
		ln.Close()
		return err
	}
	svc, err := weatherapi.Build(settings, deps)
	if err != nil {
		ln.Close()
		return fmt.Errorf("weather-api: %w", err)
	}
	ctx, stop := context.WithCancel(s.ctx)
	s.stopWx = stop
	s.run(ctx, "weather-api", func(ctx context.Context) error { return svc.Serve(ctx, ln) })
	return nil
}

// startRefresher starts token-refresher and returns it, for its status.
func (s *Stack) startRefresher() (*refresher.Service, error) {
	r := s.reader(nil)
	settings := refresher.LoadSettings(r)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("token-refresher settings:\n%w", err)
	}
	deps, err := s.deps("token-refresher")
	if err != nil {
		return nil, err
	}
	svc, err := refresher.Build(settings, deps)
	if err != nil {
		return nil, fmt.Errorf("token-refresher: %w", err)
	}
	s.run(s.ctx, "token-refresher", func(ctx context.Context) error { return svc.Serve(ctx, nil) })
	return svc, nil
}

// Agent builds llm-agent with the stack's settings and overrides
// (IDENTITY_PROVIDER=msal, say) and serves it on ln until the stack
// stops. It returns its URL, and the API to close its websockets.
func (s *Stack) Agent(ln net.Listener, overrides map[string]string) (string, *chatapi.Server, error) {
	own := map[string]string{"LISTEN_ADDR": ln.Addr().String()}
	maps.Copy(own, overrides)
	r := s.reader(own)
	settings := chatapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		ln.Close()
		return "", nil, fmt.Errorf("llm-agent settings:\n%w", err)
	}
	deps, err := s.deps("llm-agent")
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	api, err := chatapi.Build(s.ctx, settings, deps)
	if err != nil {
		ln.Close()
		return "", nil, fmt.Errorf("llm-agent: %w", err)
	}
	s.run(s.ctx, "llm-agent", func(ctx context.Context) error { return api.Serve(ctx, ln) })
	return httpserver.ListenerURL("http", ln), api, nil
}

// StopWeather stops the Weather API, as if its container died.
func (s *Stack) StopWeather() { s.stopWx() }

// Failed reports the first component, or cloudsim listener, that stopped
// on its own.
func (s *Stack) Failed() <-chan error { return s.failed }

// Close stops the components, then cloudsim (waiting up to ctx for
// requests in flight), and puts back the process environment the stack
// found.
func (s *Stack) Close(ctx context.Context) error {
	var err error
	s.closeOne.Do(func() {
		s.cancel()
		s.wg.Wait()
		for _, tel := range s.flush {
			tel.Flush(s.opts.Logger("telemetry"))
		}
		s.http.CloseIdleConnections()
		err = s.Sim.Close(ctx)
		s.restore()
		running.Unlock()
	})
	return err
}

// waitFor polls ready until it holds, a component fails, or the time is up.
func (s *Stack) waitFor(ctx context.Context, limit time.Duration, what string, ready func() bool) error {
	deadline := time.Now().Add(limit)
	for !ready() {
		select {
		case err := <-s.failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New(what + " was not ready within " + limit.String())
		}
	}
	return nil
}

// closeAll closes the listeners that were opened.
func closeAll(lns ...net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}

func answers(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
