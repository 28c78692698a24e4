// Package demo runs the whole product on loopback with one command: cloudsim
// (Entra, managed identity, STS, Bedrock, auth sidecar), weather-api,
// token-refresher and llm-agent, each through its binary's own Run, wired
// only through the standard settings and SDK overrides, with no secret and
// no AWS key handed to any component.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/refresher"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// Options are the demo's flags.
type Options struct {
	Addr         string // the chat UI
	CloudsimAddr string // cloudsim's HTTPS endpoints: the authority the browser signs in at
	Identity     string // sidecar or msal
	Dir          string // state: cloudsim's CA and keys, cloudsim.env, the web identity file
	Weather      string // offline or open-meteo
	Stdout       io.Writer
	Stderr       io.Writer
}

// Run starts everything, prints "ready: <url>" when the chat UI answers,
// and stops everything when ctx ends or a component fails.
func Run(ctx context.Context, o Options) error {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("-dir: %w", err)
	}
	out := &prefixer{w: o.Stderr}
	logger := func(name string) *slog.Logger {
		return slog.New(slog.NewTextHandler(out.For(name), nil))
	}

	// The chat UI's origin must be a redirect URI of the SPA app, and its
	// consent.html one of the blueprint; the ports 3000 and 3001 are in the
	// tenant file, another -addr is added here.
	uiURL, err := httpserver.LocalURL("http", o.Addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	dirTenant, err := tenant.Parse("deploy/local/tenant.jsonc", local.TenantFile)
	if err != nil {
		return err
	}
	for _, a := range dirTenant.Applications {
		if a.ExportAs == "CLIENT_SPA_APP_ID" && !slices.Contains(a.SPARedirectURIs, uiURL) {
			a.SPARedirectURIs = append(a.SPARedirectURIs, uiURL)
		}
		// Consent links return to the UI's consent.html.
		if a.ExportAs == "BLUEPRINT_APP_ID" && !slices.Contains(a.WebRedirectURIs, uiURL+"/consent.html") {
			a.WebRedirectURIs = append(a.WebRedirectURIs, uiURL+"/consent.html")
		}
	}
	// Ports the user never types are picked free; the UI and cloudsim have
	// flags, and a busy one is named with its flag.
	if err := portFree("the chat UI (llm-agent)", "-addr", o.Addr); err != nil {
		return err
	}
	weatherAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	weatherURL := "http://" + weatherAddr

	sim, err := cloudsim.Start(cloudsim.Options{
		Addr: o.CloudsimAddr, AddrSetting: "-cloudsim-addr", IdentityAddr: "127.0.0.1:0", SidecarAddr: "127.0.0.1:0",
		WeatherAPIURL: weatherURL, Dir: dir, Tenant: dirTenant, ExtraRoots: os.Getenv("SSL_CERT_FILE"), Logger: logger("cloudsim"),
	})
	if err != nil {
		return err
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sim.Close(stop)
	}()

	env := sim.Env()
	tokenFile := filepath.Join(dir, "aws-web-identity-token")
	// The standard overrides every SDK reads from the process environment:
	// trust cloudsim's CA, find the managed identity endpoint, reach STS and
	// Bedrock at cloudsim, and get AWS credentials by web identity only.
	for k, v := range map[string]string{
		"SSL_CERT_FILE": env["SSL_CERT_FILE"], "AWS_CA_BUNDLE": env["AWS_CA_BUNDLE"],
		"IDENTITY_ENDPOINT": env["IDENTITY_ENDPOINT"], "IDENTITY_HEADER": env["IDENTITY_HEADER"],
		"AWS_REGION": env["AWS_REGION"], "AWS_ROLE_ARN": env["AWS_ROLE_ARN"], "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
		"AWS_ROLE_SESSION_NAME": env["AGENT_CLIENT_ID"], "AWS_ENDPOINT_URL_STS": env["AWS_ENDPOINT_URL_STS"],
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"], "AWS_EC2_METADATA_DISABLED": "true",
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_PROFILE"} {
		os.Unsetenv(k)
	}
	// Secretless: no component gets the blueprint's secret or a demo
	// password; cloudsim.env keeps them for scripts only.
	delete(env, "BLUEPRINT_CLIENT_SECRET")
	delete(env, "CLOUDSIM_DEMO_USERNAME")
	delete(env, "CLOUDSIM_DEMO_PASSWORD")
	env["AWS_WEB_IDENTITY_TOKEN_FILE"] = tokenFile
	env["WEATHER_API_URL"] = weatherURL

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	failed := make(chan error, 3)
	start := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				failed <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	start("weather-api", func(ctx context.Context) error {
		return weatherapi.Run(ctx, nil, with(env, map[string]string{"LISTEN_ADDR": weatherAddr, "WEATHER_PROVIDER": o.Weather}), out.For("weather-api"))
	})
	start("token-refresher", func(ctx context.Context) error {
		e := with(env, map[string]string{"HEALTH_ADDR": "127.0.0.1:0"})
		return refresher.Run(ctx, nil, func(k string) (string, bool) { v := e(k); return v, v != "" }, out.For("token-refresher"))
	})
	// llm-agent needs chain B's first token before its first Bedrock call.
	if err := waitFor(ctx, failed, 20*time.Second, "the web identity token file", func() bool { _, err := os.Stat(tokenFile); return err == nil }); err != nil {
		return err
	}
	agentEnv := map[string]string{"LISTEN_ADDR": o.Addr, "IDENTITY_PROVIDER": o.Identity, "BLUEPRINT_CREDENTIAL": "managed-identity"}
	start("llm-agent", func(ctx context.Context) error {
		return chatapi.Run(ctx, nil, with(env, agentEnv), out.For("llm-agent"))
	})
	if err := waitFor(ctx, failed, 30*time.Second, "the chat UI", func() bool { return answers(uiURL + "/health") }); err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "ready: %s\n", uiURL)
	fmt.Fprintf(out.For("demo"), "Sign-in opens %s in a popup. Trust the local CA once (%s; see the README's \"Trust the local CA\") or accept the certificate warning in the popup.\n",
		sim.URL, filepath.Join(dir, "ca.pem"))

	select {
	case <-ctx.Done():
		fmt.Fprintln(out.For("demo"), "stopping")
		return nil
	case err := <-failed:
		return err
	case err := <-sim.Done():
		return fmt.Errorf("cloudsim stopped: %w", err)
	}
}

// fromShell are the settings the demo does not own, which the user's
// shell may set. Every other one comes from the demo alone: after the
// README's own "set -a; . .cloudsim/cloudsim.env", a shell holds
// BLUEPRINT_CLIENT_SECRET, TENANT_ID and more, which must not reach the
// demo's components.
var fromShell = []string{"LOG_LEVEL", "LOG_FORMAT"}

// with overlays a component's settings on the shared ones; of the
// process's environment it reads fromShell only.
func with(shared, own map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := own[k]; ok {
			return v
		}
		if v, ok := shared[k]; ok {
			return v
		}
		if slices.Contains(fromShell, k) {
			return os.Getenv(k)
		}
		return ""
	}
}

func portFree(what, flag, addr string) error {
	ln, err := httpserver.Listen(what, flag, addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func answers(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitFor polls ready until it holds, a component fails, or the time is up.
func waitFor(ctx context.Context, failed <-chan error, limit time.Duration, what string, ready func() bool) error {
	deadline := time.Now().Add(limit)
	for !ready() {
		select {
		case err := <-failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New(what + " was not ready within " + limit.String())
		}
	}
	return nil
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
