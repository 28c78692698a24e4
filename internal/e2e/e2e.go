// Package e2e starts the whole product on loopback for tests: cloudsim
// (Entra, managed identity, STS, Bedrock, auth sidecar), the Weather API,
// the token refresher's first write, and llm-agent's API, each built by the
// same code as its binary and wired only through the standard settings and
// overrides cloudsim.env carries.
package e2e

import (
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/refresher"
	"github.com/crosscloud-agentid/agentid/internal/weather"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// Stack is a running product.
type Stack struct {
	Sim        *cloudsim.Sim
	Env        map[string]string // cloudsim.env plus the stack's URLs
	WeatherURL string
	Logs       *leakcheck.Log
	t          testing.TB
	weather    *httptest.Server
}

// Start runs cloudsim, the Weather API and the refresher's first write.
// The test package's TestMain must be cloudsimtest.Main: MSAL Go caches
// managed identity tokens process-wide, so its stacks must all sign with
// the same keys.
func Start(t testing.TB) *Stack {
	t.Helper()
	return StartWith(t, nil)
}

// StartWith is Start with an edit of cloudsim's options (its tenant file,
// say) before it starts.
func StartWith(t testing.TB, edit func(*cloudsim.Options)) *Stack {
	t.Helper()
	logs := &leakcheck.Log{}
	log := func(name string) *slog.Logger {
		return slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", name)
	}
	weatherSrv := httptest.NewUnstartedServer(nil)
	weatherURL := "http://" + weatherSrv.Listener.Addr().String()
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		o.SidecarAddr = "127.0.0.1:0"
		o.WeatherAPIURL = weatherURL
		o.Logger = log("cloudsim")
		if edit != nil {
			edit(o)
		}
	})
	env := sim.Env()
	env["AZURE_AUTHORITY_HOST"] = sim.URL
	env["WEATHER_API_URL"] = weatherURL
	env["WEATHER_PROVIDER"] = "offline"
	// llm-agent is served on a loopback port: its Host allowlist is the
	// loopback names, and anonymous autonomous turns stay open.
	env["LISTEN_ADDR"] = "127.0.0.1:0"
	env["AWS_WEB_IDENTITY_TOKEN_FILE"] = filepath.Join(t.TempDir(), "azure-token", "token")
	env["AWS_ROLE_SESSION_NAME"] = env["AGENT_CLIENT_ID"]
	s := &Stack{Sim: sim, Env: env, WeatherURL: weatherURL, Logs: logs, t: t, weather: weatherSrv}

	// The Weather API, as cmd/weather-api wires it.
	r := s.reader(nil)
	wcfg := weatherapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	v, err := jwtauth.New(wcfg.Policy(), jwtauth.NewKeySet(cloudsimtest.Client(sim), wcfg.KeyURLs()...))
	if err != nil {
		t.Fatal(err)
	}
	weatherSrv.Config.Handler = weatherapi.NewServer(v, &weather.Offline{}, log("weather-api"), false)
	weatherSrv.Start()
	t.Cleanup(weatherSrv.Close)

	// The refresher's first write (chain B), as token-refresher -once does.
	cloudsimtest.SetEnv(t, sim)
	rs := refresher.LoadSettings(s.reader(nil))
	src, err := refresher.NewMSALSource(rs, cloudsimtest.Client(sim))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresher.New(refresher.Config{Expect: rs.Expect(), File: rs.TokenFile}, src, log("token-refresher")).Attempt(t.Context()); err != nil {
		t.Fatalf("token-refresher: %v", err)
	}

	// The AWS SDK in llm-agent reads the process environment, as in a
	// container: web identity only, every other credential source hidden.
	hide := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ROLE_ARN": env["AWS_ROLE_ARN"], "AWS_WEB_IDENTITY_TOKEN_FILE": env["AWS_WEB_IDENTITY_TOKEN_FILE"],
		"AWS_ROLE_SESSION_NAME": env["AWS_ROLE_SESSION_NAME"], "AWS_REGION": env["AWS_REGION"],
		"AWS_ENDPOINT_URL_STS": env["AWS_ENDPOINT_URL_STS"], "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"],
		"AWS_CA_BUNDLE": env["AWS_CA_BUNDLE"], "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_BEARER_TOKEN_BEDROCK": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(hide, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(hide, "credentials"), "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	return s
}

func (s *Stack) reader(overrides map[string]string) *config.Reader {
	return config.New(func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		return s.Env[k]
	})
}

// Agent starts llm-agent's API with the stack's settings plus overrides
// (IDENTITY_PROVIDER=msal, say) and returns its URL.
func (s *Stack) Agent(overrides map[string]string) string {
	url, _ := s.AgentServer(overrides)
	return url
}

// StopWeather stops the Weather API, as if its container died.
func (s *Stack) StopWeather() { s.weather.Close() }

// AgentServer is Agent, also returning the API, to close its sockets.
func (s *Stack) AgentServer(overrides map[string]string) (string, *chatapi.Server) {
	return s.AgentOn(nil, overrides)
}

// AgentOn serves llm-agent on ln (nil: a new loopback port), for a
// browser test that registered that origin as an SPA redirect URI.
func (s *Stack) AgentOn(ln net.Listener, overrides map[string]string) (string, *chatapi.Server) {
	s.t.Helper()
	r := s.reader(overrides)
	settings := chatapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		s.t.Fatal(err)
	}
	api, err := chatapi.Build(s.t.Context(), settings, cloudsimtest.Client(s.Sim),
		slog.New(slog.NewTextHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "llm-agent"))
	if err != nil {
		s.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api)
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	s.t.Cleanup(srv.Close)
	return srv.URL, api
}
