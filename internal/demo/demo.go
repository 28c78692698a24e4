// Package demo runs the whole product on loopback with one command: the
// stack (cloudsim, weather-api, token-refresher and llm-agent) with the
// chat UI on -addr and the sign-in pages on -cloudsim-addr, no secret and
// no AWS key handed to any component, and each component's log lines
// prefixed with its name.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/logging"
	"github.com/crosscloud-agentid/agentid/internal/stack"
)

// Options are the demo's flags.
type Options struct {
	Addr         string // the chat UI
	CloudsimAddr string // cloudsim's HTTPS endpoints: the authority the browser signs in at
	Identity     string // sidecar or msal
	Dir          string // state: cloudsim's CA and keys, cloudsim.env, the web identity file
	Weather      string // offline or open-meteo
	OTLP         string // an OTLP/HTTP collector's base URL, or ""
	Stdout       io.Writer
	Stderr       io.Writer
}

// fromShell are the only settings the demo takes from the user's shell.
// Every other one comes from the demo alone: after the README's own
// "set -a; . .cloudsim/cloudsim.env", a shell holds
// BLUEPRINT_CLIENT_SECRET, TENANT_ID and more, which must not reach the
// demo's components.
var fromShell = []string{"LOG_LEVEL", "LOG_FORMAT"}

// Run starts the stack, prints "ready: <url>" when the chat UI answers,
// and stops it when ctx ends or a component fails.
func Run(ctx context.Context, o Options) error {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("-dir: %w", err)
	}
	uiURL, err := httpserver.LocalURL("http", o.Addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	dirTenant, err := tenant.Parse("deploy/local/tenant.jsonc", local.TenantFile)
	if err != nil {
		return err
	}
	if err := registerUI(dirTenant, uiURL); err != nil {
		return err
	}
	logs, err := loggers(o.Stderr)
	if err != nil {
		return err
	}
	st, err := stack.Start(ctx, stack.Options{
		Cloudsim: cloudsim.Options{Addr: o.CloudsimAddr, AddrSetting: "-cloudsim-addr", IdentityAddr: "127.0.0.1:0", Dir: dir, Tenant: dirTenant,
			ExtraRoots: os.Getenv("SSL_CERT_FILE")},
		Settings:      map[string]string{"WEATHER_PROVIDER": o.Weather},
		AgentAddr:     o.Addr,
		AgentSettings: map[string]string{"IDENTITY_PROVIDER": o.Identity},
		Logger:        logs.For,
		OTLP:          o.OTLP,
	})
	if err != nil {
		return err
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Close(stop)
	}()
	fmt.Fprintf(o.Stdout, "ready: %s\n", st.AgentURL)
	say := logs.out.For("demo")
	if o.OTLP != "" {
		fmt.Fprintf(say, "Traces and metrics go to %s (OTLP/HTTP), one service per component.\n", o.OTLP)
	}
	fmt.Fprintf(say, "Sign-in opens %s in a popup. Trust the local CA once (%s; see the README's \"Trust the local CA\") or accept the certificate warning in the popup.\n",
		st.Sim.URL, filepath.Join(dir, "ca.pem"))
	select {
	case <-ctx.Done():
		fmt.Fprintln(say, "stopping")
		return nil
	case err := <-st.Failed():
		return err
	}
}

// registerUI makes the chat UI's origin a redirect URI of the SPA app,
// and its consent.html one of the blueprint, as an admin registers a
// deployment's: the tenant file has ports 3000 and 3001.
func registerUI(d *tenant.Directory, uiURL string) error {
	spa, blueprint := d.AppFor(tenant.PartSPA), d.AppFor(tenant.PartBlueprint)
	if spa == nil || blueprint == nil {
		return errors.New(`the tenant file needs applications with "part": "spa" and "part": "blueprint", where the chat UI's redirect URIs go`)
	}
	if !slices.Contains(spa.SPARedirectURIs, uiURL) {
		spa.SPARedirectURIs = append(spa.SPARedirectURIs, uiURL)
	}
	if !slices.Contains(blueprint.WebRedirectURIs, uiURL+"/consent.html") {
		blueprint.WebRedirectURIs = append(blueprint.WebRedirectURIs, uiURL+"/consent.html")
	}
	return nil
}

// componentLogs gives each component a logger over LOG_LEVEL and
// LOG_FORMAT from the shell, writing lines prefixed with its name.
type componentLogs struct {
	out      *prefixer
	settings *config.Reader
}

func loggers(stderr io.Writer) (*componentLogs, error) {
	r := config.New(func(k string) string {
		if slices.Contains(fromShell, k) {
			return os.Getenv(k)
		}
		return ""
	})
	l := &componentLogs{out: &prefixer{w: stderr}, settings: r}
	logging.New(r, io.Discard)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("settings:\n%w", err)
	}
	return l, nil
}

// For returns a component's logger.
func (l *componentLogs) For(component string) *slog.Logger {
	return logging.New(l.settings, l.out.For(component))
}

// prefixer writes each component's lines with its name in front, whole
// lines at a time, so components' logs never interleave mid-line.
type prefixer struct {
	mu sync.Mutex
	w  io.Writer
}

// For returns the writer for one component.
func (p *prefixer) For(name string) io.Writer {
	return &lineWriter{p: p, prefix: fmt.Sprintf("%-15s | ", name)}
}

type lineWriter struct {
	p      *prefixer
	prefix string
	buf    []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.p.mu.Lock()
		_, err := io.WriteString(l.p.w, l.prefix+strings.TrimRight(string(l.buf[:i]), "\r")+"\n")
		l.p.mu.Unlock()
		l.buf = l.buf[i+1:]
		if err != nil {
			return len(b), err
		}
	}
}
