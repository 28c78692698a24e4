// Command cloudsim serves local, faithful stand-ins for the cloud endpoints
// the product uses (Entra ID, the managed identity endpoint, AWS STS,
// Bedrock, the auth sidecar, the MCP server), so the whole product runs and
// is tested offline; "cloudsim sidecar" runs the sidecar stand-in alone.
// See docs/cloudsim.md.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/logging"
)

// version is stamped by the image builds (-ldflags -X main.version=…).
var version = "dev"

func main() {
	command.Main("cloudsim", version, func(ctx context.Context, args []string) error {
		if len(args) > 0 && args[0] == "sidecar" {
			return runSidecar(ctx, args[1:], os.Environ(), os.Stderr)
		}
		return run(ctx, args, os.Getenv, os.Stderr)
	})
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("cloudsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "HTTPS `address` for the Entra endpoints")
	identityAddr := fs.String("identity-addr", "127.0.0.1:42356", "plain-HTTP `address` for the managed identity endpoint (IDENTITY_ENDPOINT)")
	dir := fs.String("dir", ".cloudsim", "state `folder`: dev CA, signing keys, cloudsim.env")
	trustDir := fs.String("trust-dir", "", "`folder` to publish the dev CA's certificate and bundle in, without any key, for other containers to mount (empty: none)")
	tenantPath := fs.String("tenant", "", "tenant `file` (default: the built-in copy of deploy/local/tenant.jsonc)")
	fresh := fs.Bool("fresh-tenant", false, "start from a new tenant with people and roles but no agent (the built-in deploy/local/fresh-tenant.jsonc), to rehearse scripts/entra-setup.sh")
	replication := fs.Duration("replication-delay", 0, "how long a Graph-created application, agent identity or federated credential stays unknown to the token endpoint, as on a real tenant (0: none)")
	sans := fs.String("san", "", "extra comma-separated `names` for the TLS certificate (e.g. a compose service name)")
	lifetime := fs.Duration("token-lifetime", 0, "access token `lifetime` (0: a random 60 to 90 minutes, as Entra)")
	sidecarAddr := fs.String("sidecar-addr", "127.0.0.1:5000", "`address` of the auth sidecar stand-in (empty: none); it answers loopback callers only")
	weatherURL := fs.String("weather-api-url", "http://127.0.0.1:8080", "base `URL` of the Weather API, for the sidecar's DownstreamApi routes")
	identityHeader := fs.String("identity-header", "", "the IDENTITY_HEADER value to require (default: a random one kept in the state folder); for compose, where other containers get it from their environment")
	healthcheck := fs.Bool("healthcheck", false, "probe https://<-addr>/healthz with the state folder's CA and exit 0 if it answers (for container healthchecks)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *healthcheck {
		return probe(ctx, *addr, *dir)
	}
	settings := config.New(getenv)
	log := logging.New(settings, stderr)
	if err := settings.Err(); err != nil {
		return fmt.Errorf("settings:\n%w", err)
	}

	var dirTenant *tenant.Directory
	var err error
	switch {
	case *fresh && *tenantPath != "":
		return errors.New("-fresh-tenant and -tenant name two tenant files: give one")
	case *fresh:
		dirTenant, err = tenant.Parse("deploy/local/fresh-tenant.jsonc", local.FreshTenantFile)
		// The sidecar serves the agent's blueprint, which a new tenant
		// does not have yet.
		*sidecarAddr = ""
	case *tenantPath == "":
		dirTenant, err = tenant.Parse("deploy/local/tenant.jsonc", local.TenantFile)
	default:
		dirTenant, err = tenant.Load(*tenantPath)
	}
	if err != nil {
		return fmt.Errorf("tenant file: %w", err)
	}
	var names []string
	for _, n := range strings.Split(*sans, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	sim, err := cloudsim.Start(cloudsim.Options{
		Addr:             *addr,
		IdentityAddr:     *identityAddr,
		Dir:              *dir,
		Tenant:           dirTenant,
		SANs:             names,
		ExtraRoots:       getenv("SSL_CERT_FILE"),
		TrustDir:         *trustDir,
		TokenLifetime:    *lifetime,
		SidecarAddr:      *sidecarAddr,
		IdentityHeader:   *identityHeader,
		WeatherAPIURL:    *weatherURL,
		ReplicationDelay: *replication,
		Logger:           log,
	})
	if err != nil {
		return err
	}
	log.Info("cloudsim ready on "+httpserver.Listening("https", sim.Addr, ""), "identity_endpoint", sim.IdentityEndpoint, "sidecar", sim.SidecarURL, "env_file", sim.Dir+"/"+cloudsim.EnvFile, "tenant", dirTenant.Tenant.ID)
	select {
	case <-ctx.Done():
	case err := <-sim.Done():
		return fmt.Errorf("listener stopped: %w", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log.Info("cloudsim stopping")
	return sim.Close(shutdown)
}

// probe is -healthcheck: GET /healthz over TLS, trusting the state
// folder's CA (distroless images have no curl).
func probe(ctx context.Context, addr, dir string) error {
	base, err := httpserver.LocalURL("https", addr)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s", resp.Status)
	}
	return nil
}
