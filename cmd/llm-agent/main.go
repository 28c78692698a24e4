// Command llm-agent is the AI agent: it answers chat turns with Claude on
// Bedrock (or without a model, in Direct mode), calling the Weather API
// with its Entra agent identity: autonomously, on behalf of the signed-in
// user, or as its agent user. See the README's llm-agent section.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "llm-agent:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("llm-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	healthcheck := fs.Bool("healthcheck", false, "probe GET /health on LISTEN_ADDR and exit 0 if it answers 200")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r := config.New(getenv)
	if *healthcheck {
		return httpserver.Probe(ctx, r.String("LISTEN_ADDR", ":3000"), "/health")
	}
	log := logging.New(r, stderr)
	s := chatapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	api, err := chatapi.Build(ctx, s, nil, log)
	if err != nil {
		return err
	}
	ln, err := httpserver.Listen("llm-agent", "LISTEN_ADDR", s.ListenAddr)
	if err != nil {
		return err
	}
	log.Info("llm-agent listening on "+httpserver.ListenerURL("http", ln), "identity_provider", s.Identity.Provider, "agent", s.Identity.AgentID,
		"weather_api", s.API.WeatherAPIURL, "model", s.API.ModelID, "region", s.API.Region)
	srv := httpserver.New(api, log)
	srv.RegisterOnShutdown(api.CloseSockets)
	return httpserver.Serve(ctx, srv, ln)
}
