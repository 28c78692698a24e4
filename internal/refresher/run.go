package refresher

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"go.opentelemetry.io/otel/metric"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpclient"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/logging"
	"github.com/crosscloud-agentid/agentid/internal/telemetry"
)

// Run is the token-refresher binary: -healthcheck, or LoadSettings and
// Build, then -once's one write or Serve's refresh loop, until ctx ends.
func Run(ctx context.Context, args []string, lookup func(string) (string, bool), stderr io.Writer) error {
	fs := flag.NewFlagSet("token-refresher", flag.ContinueOnError)
	fs.SetOutput(stderr)
	once := fs.Bool("once", false, "write one token and exit (0 on success), for init containers and scripts")
	healthcheck := fs.Bool("healthcheck", false, "probe GET /healthz on HEALTH_ADDR and exit 0 if the file holds a valid token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	settings := config.NewLookup(lookup)
	if *healthcheck {
		addr := settings.StringOrOff("HEALTH_ADDR", ":8081")
		if addr == "" {
			return errors.New("HEALTH_ADDR is empty, so there is no health endpoint to probe")
		}
		return httpserver.Probe(ctx, addr, "/healthz")
	}
	log := logging.New(settings, stderr)
	s := LoadSettings(settings)
	if err := settings.Err(); err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}
	tel, err := telemetry.FromEnv(ctx, "token-refresher", func(k string) string { v, _ := lookup(k); return v })
	if err != nil {
		return err
	}
	defer tel.Flush(log)
	telemetry.LogErrors(log)
	svc, err := Build(s, command.Deps{Logger: log, Tracer: tel.Tracer, Meter: tel.Meter})
	if err != nil {
		return err
	}
	if *once {
		return svc.Once(ctx)
	}
	return svc.Serve(ctx, nil)
}

// Service is a built token-refresher: its settings and its Refresher over
// MSAL Go.
type Service struct {
	*Refresher
	settings Settings
}

// Build wires MSAL Go's managed identity and confidential clients into a
// Refresher. Nothing is requested until Once or Serve.
func Build(s Settings, d command.Deps) (*Service, error) {
	// The managed identity endpoint and Entra: client spans.
	src, err := NewMSALSource(s, telemetry.Client(d.HTTPClient, httpclient.Timeout, d.Tracer))
	if err != nil {
		return nil, err
	}
	var tracer oteltrace.Tracer
	if d.Tracer != nil {
		tracer = telemetry.Tracer(d.Tracer)
	}
	cfg := Config{Expect: s.Expect(), File: s.TokenFile, FileMode: s.FileMode, Now: d.Now, Tracer: tracer}
	meter := telemetry.Meter(d.Meter)
	if meter != nil {
		cfg.Refreshes, _ = meter.Int64Counter("agentid.refresher.refreshes", metric.WithUnit("{attempt}"),
			metric.WithDescription("Refresh attempts by outcome (written, transient, permanent)"))
	}
	r := New(cfg, src, d.Log())
	if meter != nil {
		if err := r.Observe(meter); err != nil {
			return nil, err
		}
	}
	return &Service{Refresher: r, settings: s}, nil
}

// Once writes one token, retrying transient failures for up to a minute:
// what -once runs in an init container.
func (svc *Service) Once(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	claims, err := svc.RunOnce(ctx)
	if err != nil {
		return err
	}
	svc.log.Info("wrote web identity token", append([]any{"file", svc.settings.TokenFile}, claims.LogArgs()...)...)
	return nil
}

// Serve runs the refresh loop, and the health endpoint on health (nil: a
// new listener on HEALTH_ADDR, none when it is off), until ctx ends.
func (svc *Service) Serve(ctx context.Context, health net.Listener) error {
	s, log := svc.settings, svc.log
	log.Info("token-refresher starting", "file", s.TokenFile, "tenant", s.TenantID, "sts_app", s.STSAppID, "scope", s.STSAppURI+"/.default", "health_addr", s.HealthAddr)
	if health == nil && s.HealthAddr != "" {
		var err error
		if health, err = httpserver.Listen("token-refresher health", "HEALTH_ADDR", s.HealthAddr); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	if health != nil {
		log.Info("health endpoint on " + httpserver.Listening("http", health.Addr().String(), "/healthz"))
		go func() { errc <- httpserver.Serve(ctx, httpserver.New(svc.HealthHandler(), log), health) }()
	} else {
		errc <- nil
	}
	runErr := svc.Run(ctx)
	if err := <-errc; err != nil {
		return err
	}
	log.Info("token-refresher stopped")
	return runErr
}
