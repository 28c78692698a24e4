package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sidecar"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/logging"
)

// runSidecar is `cloudsim sidecar`: only the auth sidecar stand-in,
// configured from the same environment names as Microsoft's image, so a
// compose file can swap one for the other.
func runSidecar(ctx context.Context, args []string, environ []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("cloudsim sidecar", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen `address` (default: from ASPNETCORE_URLS or ASPNETCORE_HTTP_PORTS, else 127.0.0.1:5000)")
	healthcheck := fs.Bool("healthcheck", false, "probe GET /healthz on the listen address and exit 0 if it answers 200 (for container healthchecks)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		*addr = aspnetAddr(environ)
	}
	if *healthcheck {
		return httpserver.Probe(ctx, *addr, "/healthz")
	}
	cfg, err := sidecar.ConfigFromEnv(environ)
	if err != nil {
		return fmt.Errorf("sidecar settings:\n%w", err)
	}
	settings := config.New(func(k string) string {
		for _, kv := range environ {
			if name, value, _ := strings.Cut(kv, "="); name == k {
				return value
			}
		}
		return ""
	})
	logger := logging.New(settings, stderr)
	if err := settings.Err(); err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	log := logger.With("service", "sidecar")
	side, err := sidecar.New(cfg, nil, log)
	if err != nil {
		return err
	}
	ln, err := httpserver.Listen("auth sidecar", "-addr", *addr)
	if err != nil {
		return err
	}
	log.Info("auth sidecar ready on "+httpserver.Listening("http", ln.Addr().String(), ""), "tenant", cfg.TenantID, "blueprint", cfg.ClientID, "apis", len(cfg.APIs))
	srv := httpserver.New(side, log)
	return httpserver.Serve(ctx, srv, ln)
}

// aspnetAddr reads the listen address the way the .NET image does:
// ASPNETCORE_URLS (http://+:5000), else ASPNETCORE_HTTP_PORTS.
func aspnetAddr(environ []string) string {
	for _, e := range environ {
		k, v, _ := strings.Cut(e, "=")
		switch k {
		case "ASPNETCORE_URLS":
			first, _, _ := strings.Cut(v, ";")
			if u, err := url.Parse(strings.Replace(strings.Replace(first, "+", "0.0.0.0", 1), "*", "0.0.0.0", 1)); err == nil && u.Host != "" {
				return u.Host
			}
		case "ASPNETCORE_HTTP_PORTS":
			first, _, _ := strings.Cut(v, ";")
			return ":" + first
		}
	}
	return "127.0.0.1:5000"
}
