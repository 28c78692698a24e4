// Command plain is bench/weather-api.sh's baseline: the Weather API's own
// handler and offline provider behind a plain net/http server, with token
// validation replaced by a fixed caller. The throughput gap between it and
// weather-api is the cost of checking tokens.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/weather"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// fixedCaller answers with the caller a cloudsim TR yields, so both servers
// write answers of the same size.
type fixedCaller struct{}

func (fixedCaller) Authenticate(*http.Request) (*jwtauth.Caller, *jwtauth.Error) {
	return &jwtauth.Caller{
		AppID: "5b4418ec-1653-479f-96f7-3f28255917c7", TokenVersion: "2.0", Flow: "app", AgentIdentity: true,
		ParentBlueprint: "6a7f0937-6749-4a53-b866-c424b6e0824d", Roles: []string{"Weather.Read"}, TokenID: "Vj3Lr8f2RkqgM0Ya1bCdEw",
	}, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := "127.0.0.1:0"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := httpserver.Listen("plain", "the first argument", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plain:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "plain listening on "+httpserver.ListenerURL("http", ln))
	srv := httpserver.New(weatherapi.NewServer(fixedCaller{}, &weather.Offline{}, log, false), log)
	if err := httpserver.Serve(ctx, srv, ln); err != nil {
		fmt.Fprintln(os.Stderr, "plain:", err)
		os.Exit(1)
	}
}
