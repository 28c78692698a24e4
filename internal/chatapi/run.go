package chatapi

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/logging"
)

// Run is the llm-agent binary: settings, Build and the server, until ctx
// ends. cmd/llm-agent and the demo both call it.
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
	api, err := Build(ctx, s, nil, log)
	if err != nil {
		return err
	}
	addrName, addr := "LISTEN_ADDR", s.ListenAddr
	if s.API.AgentCore {
		addrName, addr = "AGENTCORE_ADDR", s.AgentCoreAddr
	}
	ln, err := httpserver.Listen("llm-agent", addrName, addr)
	if err != nil {
		return err
	}
	log.Info("llm-agent listening on "+httpserver.ListenerURL("http", ln), "identity_provider", s.Identity.Provider, "agent", s.Identity.AgentID,
		"weather_api", s.API.WeatherAPIURL, "model", s.API.ModelID, "region", s.API.Region, "agentcore_runtime", s.API.AgentCore)
	srv := httpserver.New(api, log)
	srv.RegisterOnShutdown(api.CloseSockets)
	return httpserver.Serve(ctx, srv, ln)
}
