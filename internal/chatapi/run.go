package chatapi

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/logging"
	"github.com/crosscloud-agentid/agentid/internal/telemetry"
)

// Run is the llm-agent binary: flags, LoadSettings, Build and Serve, until
// ctx ends.
func Run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("llm-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	healthcheck := fs.Bool("healthcheck", false, "probe GET /health on LISTEN_ADDR and exit 0 if it answers 200")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r := config.New(getenv)
	if *healthcheck {
		addr := r.String("LISTEN_ADDR", ":3000")
		if r.Bool("AGENTCORE_RUNTIME", false) {
			addr = r.String("AGENTCORE_ADDR", "0.0.0.0:8080")
		}
		return httpserver.Probe(ctx, addr, "/health")
	}
	log := logging.New(r, stderr)
	s := LoadSettings(r)
	if err := r.Err(); err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	tel, err := telemetry.FromEnv(ctx, "llm-agent", getenv)
	if err != nil {
		return err
	}
	defer tel.Flush(log)
	telemetry.LogErrors(log)
	api, err := Build(ctx, s, command.Deps{Logger: log, Tracer: tel.Tracer, Meter: tel.Meter})
	if err != nil {
		return err
	}
	return api.Serve(ctx, nil)
}

// Serve serves the API on ln (nil: a new listener on LISTEN_ADDR, or
// AGENTCORE_ADDR in AgentCore mode) until ctx ends (SIGTERM), then drains:
// HTTP requests in flight and websocket turns in flight finish, each within
// WebSocketDrain, and the sockets close with 1001 once their turn has
// sent its final message.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	st := s.settings
	if ln == nil {
		name, addr := "LISTEN_ADDR", st.ListenAddr
		if st.API.AgentCore {
			name, addr = "AGENTCORE_ADDR", st.AgentCoreAddr
		}
		var err error
		if ln, err = httpserver.Listen("llm-agent", name, addr); err != nil {
			return err
		}
	}
	s.log.Info("llm-agent listening on "+httpserver.Listening("http", ln.Addr().String(), ""), "identity_provider", st.Identity.Provider, "agent", st.Identity.AgentID,
		"weather_api", st.API.WeatherAPIURL, "model", st.API.ModelID, "region", st.API.Region, "agentcore_runtime", st.API.AgentCore)
	srv := httpserver.New(s, s.log)
	// Shutdown closes the listener and waits for HTTP requests; the
	// websockets drain beside it, from the same moment.
	srv.RegisterOnShutdown(s.ws.drain)
	err := httpserver.Serve(ctx, srv, ln)
	s.DrainSockets(WebSocketDrain)
	return err
}
