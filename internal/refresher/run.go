package refresher

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/logging"
)

// Run is the token-refresher binary: -once, -healthcheck or the refresh
// loop with its health endpoint, until ctx ends. cmd/token-refresher and the
// demo both call it.
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
	src, err := NewMSALSource(s, nil)
	if err != nil {
		return err
	}
	r := New(Config{Expect: s.Expect(), File: s.TokenFile, FileMode: s.FileMode}, src, log)

	if *once {
		onceCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		claims, err := r.RunOnce(onceCtx)
		if err != nil {
			return err
		}
		log.Info("wrote web identity token", append([]any{"file", s.TokenFile}, claims.LogArgs()...)...)
		return nil
	}

	log.Info("token-refresher starting", "file", s.TokenFile, "tenant", s.TenantID, "sts_app", s.STSAppID, "scope", s.STSAppURI+"/.default", "health_addr", s.HealthAddr)
	errc := make(chan error, 1)
	if s.HealthAddr != "" {
		ln, err := httpserver.Listen("token-refresher health", "HEALTH_ADDR", s.HealthAddr)
		if err != nil {
			return err
		}
		log.Info("health endpoint on " + httpserver.ListenerURL("http", ln) + "/healthz")
		go func() { errc <- httpserver.Serve(ctx, httpserver.New(r.HealthHandler(), log), ln) }()
	} else {
		errc <- nil
	}
	runErr := r.Run(ctx)
	if err := <-errc; err != nil {
		return err
	}
	log.Info("token-refresher stopped")
	return runErr
}
