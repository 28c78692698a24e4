// Command demo runs the whole product offline on loopback, with one
// command: go run ./cmd/demo. See the README's quick start.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/crosscloud-agentid/agentid/internal/demo"
)

func main() {
	o := demo.Options{Stdout: os.Stdout, Stderr: os.Stderr}
	flag.StringVar(&o.Addr, "addr", "127.0.0.1:3001", "`address` of the chat UI")
	flag.StringVar(&o.CloudsimAddr, "cloudsim-addr", "127.0.0.1:8443", "`address` of cloudsim's HTTPS endpoints (the sign-in popup goes there)")
	flag.StringVar(&o.Identity, "identity", "sidecar", "the agent's identity provider: sidecar or msal")
	flag.StringVar(&o.Dir, "dir", ".demo", "state `folder`: cloudsim's CA and keys, cloudsim.env, the web identity file")
	flag.StringVar(&o.Weather, "weather", "offline", "weather provider: offline or open-meteo")
	// The standard variable names the collector too, as for the binaries.
	flag.StringVar(&o.OTLP, "otlp", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTLP/HTTP collector `URL` (for example http://localhost:4318) for every component's traces and metrics (default $OTEL_EXPORTER_OTLP_ENDPOINT; none: no telemetry)")
	flag.Parse()
	if o.Identity != "sidecar" && o.Identity != "msal" {
		fmt.Fprintln(os.Stderr, "demo: -identity must be sidecar or msal")
		os.Exit(2)
	}
	if o.Weather != "offline" && o.Weather != "open-meteo" {
		fmt.Fprintln(os.Stderr, "demo: -weather must be offline or open-meteo")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
