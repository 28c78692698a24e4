// Package cloudsimtest starts a cloudsim on loopback for tests: random ports,
// a temporary state folder, the shipped tenant file, stopped at cleanup.
package cloudsimtest

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// Start runs a cloudsim for the test. Options left zero get test defaults;
// edit adjusts them (nil for none).
func Start(t testing.TB, edit func(*cloudsim.Options)) *cloudsim.Sim {
	t.Helper()
	dir, err := tenant.Parse("tenant.jsonc", local.TenantFile)
	if err != nil {
		t.Fatalf("shipped tenant file: %v", err)
	}
	o := cloudsim.Options{
		Addr:         "127.0.0.1:0",
		IdentityAddr: "127.0.0.1:0",
		Dir:          t.TempDir(),
		Tenant:       dir,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if edit != nil {
		edit(&o)
	}
	sim, err := cloudsim.Start(o)
	if err != nil {
		t.Fatalf("start cloudsim: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sim.Close(ctx); err != nil {
			t.Errorf("stop cloudsim: %v", err)
		}
	})
	return sim
}

// Client returns an HTTP client that trusts only cloudsim's dev CA.
func Client(sim *cloudsim.Sim) *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CA.Pool(), MinVersion: tls.VersionTLS12}},
	}
}

// SetEnv points this test's process environment at sim, as sourcing
// cloudsim.env would (MSAL's managed identity client reads it from there).
func SetEnv(t *testing.T, sim *cloudsim.Sim) {
	t.Helper()
	for k, v := range sim.Env() {
		t.Setenv(k, v)
	}
}
