package refresher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/refresher"
)

type fixture struct {
	sim      *cloudsim.Sim
	settings refresher.Settings
	logs     *leakcheck.Log
	file     string
}

// newFixture starts a cloudsim (edit adjusts it), points MSAL's managed
// identity source at it, and reads the refresher's settings from its env.
func newFixture(t *testing.T, edit func(*cloudsim.Options), overrides map[string]string) *fixture {
	t.Helper()
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		if edit != nil {
			edit(o)
		}
	})
	cloudsimtest.SetEnv(t, sim) // MSAL reads IDENTITY_ENDPOINT and IDENTITY_HEADER from the process
	env := sim.Env()
	file := filepath.Join(t.TempDir(), "azure-token", "token")
	env["AWS_WEB_IDENTITY_TOKEN_FILE"] = file
	for k, v := range overrides {
		env[k] = v
	}
	r := config.New(func(k string) string { return env[k] })
	s := refresher.LoadSettings(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return &fixture{sim: sim, settings: s, logs: &leakcheck.Log{}, file: file}
}

func (f *fixture) refresher(t *testing.T, cfg refresher.Config) *refresher.Refresher {
	t.Helper()
	src, err := refresher.NewMSALSource(f.settings, cloudsimtest.Client(f.sim))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Expect, cfg.File = f.settings.Expect(), f.settings.TokenFile
	if cfg.FileMode == 0 {
		cfg.FileMode = f.settings.FileMode
	}
	return refresher.New(cfg, src, slog.New(slog.NewTextHandler(f.logs, nil)))
}

func TestOnceWritesAV1TokenForTheSTSApp(t *testing.T) {
	f := newFixture(t, nil, nil)
	r := f.refresher(t, refresher.Config{})
	claims, err := r.Attempt(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresher.Check(string(data), f.settings.Expect(), time.Now()); err != nil {
		t.Fatalf("the file holds a token AWS would refuse: %v", err)
	}
	if claims.Iss != "https://sts.windows.net/"+f.settings.TenantID+"/" || claims.Aud != f.settings.STSAppURI || claims.AppID != f.settings.STSAppID {
		t.Errorf("claims = %+v", claims)
	}
	info, _ := os.Stat(f.file)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 0600", info.Mode().Perm())
	}
	if leaks := leakcheck.Find(f.logs.String(), string(data)); len(leaks) > 0 {
		t.Errorf("the log holds the token: %v", leaks)
	}
}

func TestFileModeForASharedGroup(t *testing.T) {
	f := newFixture(t, nil, map[string]string{"TOKEN_FILE_MODE": "0640"})
	if _, err := f.refresher(t, refresher.Config{}).Attempt(t.Context()); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(f.file); info.Mode().Perm() != 0o640 {
		t.Errorf("mode %o, want 0640", info.Mode().Perm())
	}
}

// Misconfigurations fail at once, permanently, with one line naming the
// setting to fix, and write nothing.
func TestMisconfigurationIsOneClearLine(t *testing.T) {
	otherTenant := "72f988bf-86f1-41af-91ab-2d7cd011db47"
	cases := []struct {
		name      string
		edit      func(*cloudsim.Options)
		overrides map[string]string
		want      []string
	}{
		{"wrong tenant", nil, map[string]string{"TENANT_ID": otherTenant}, []string{"AADSTS90002", "check TENANT_ID"}},
		{"unknown STS app", nil, map[string]string{"STS_APP_ID": "00000000-0000-0000-0000-0000000000aa", "STS_APP_URI": ""}, []string{"AADSTS700016", "check STS_APP_ID"}},
		{"STS app issuing v2 tokens", func(o *cloudsim.Options) {
			o.Tenant.AppFor(tenant.PartSTS).AccessTokenVersion = 2
		}, nil, []string{"the STS app issues v2 tokens", "set requestedAccessTokenVersion=1"}},
		{"STS_APP_URI of another app", nil, map[string]string{"STS_APP_URI": "api://b8302fea-6762-4183-a16c-69b510285c49"}, []string{"the token is for b8302fea-6762-4183-a16c-69b510285c49, not for STS_APP_URI"}},
		{"STS_APP_URI no app has", nil, map[string]string{"STS_APP_URI": "api://aws-sts"}, []string{"AADSTS500011", "check STS_APP_URI"}},
		{"federated credential trusting another identity", func(o *cloudsim.Options) {
			o.Tenant.AppFor(tenant.PartSTS).FederatedCredentials[0].Subject = "00000000-0000-0000-0000-0000000000bb"
		}, nil, []string{"AADSTS700213", "subject"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.edit, c.overrides)
			_, err := f.refresher(t, refresher.Config{}).RunOnce(t.Context())
			if err == nil {
				t.Fatal("a token was written")
			}
			if fail := refresher.Classify(err); !fail.Permanent {
				t.Errorf("classified transient: %v", err)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if _, err := os.Stat(f.file); !os.IsNotExist(err) {
				t.Error("a refused token was written")
			}
		})
	}
}

// At least 100 real refreshes, with tokens living 2 seconds, while a reader
// polls the file: it never sees it missing, partial or unparsable.
func TestManyRefreshesNeverExposeAPartialFile(t *testing.T) {
	f := newFixture(t, func(o *cloudsim.Options) { o.TokenLifetime = 2 * time.Second }, nil)
	r := f.refresher(t, refresher.Config{Fraction: 0.02, MinDelay: 5 * time.Millisecond})
	if _, err := r.Attempt(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	var reads, bad atomic.Int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for ctx.Err() == nil {
			data, err := os.ReadFile(f.file)
			reads.Add(1)
			if err != nil || len(data) == 0 {
				bad.Add(1)
				continue
			}
			if _, err := refresher.Check(string(data), f.settings.Expect(), time.Unix(0, 0)); err != nil {
				bad.Add(1)
			}
		}
	}()

	stats := f.sim.Entra.Stats()
	start := stats.Get("entra.token")
	for stats.Get("entra.token")-start < 100 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	refreshes := stats.Get("entra.token") - start
	cancel()
	<-readerDone
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if refreshes < 100 {
		t.Fatalf("%d refreshes within a minute, want at least 100", refreshes)
	}
	if bad.Load() > 0 {
		t.Errorf("%d of %d reads saw a missing, partial or unparsable file", bad.Load(), reads.Load())
	}
	t.Logf("%d refreshes, %d reads", refreshes, reads.Load())
	entries, _ := os.ReadDir(filepath.Dir(f.file))
	if len(entries) != 1 {
		t.Errorf("the folder holds %d files, want only the token (temporary files left behind?)", len(entries))
	}
}

// The token endpoint answers 503 for a while: the refresher backs off, the
// old token stays in place, and it recovers before that token expires.
func TestOutageBackoffAndRecovery(t *testing.T) {
	f := newFixture(t, func(o *cloudsim.Options) { o.TokenLifetime = 8 * time.Second }, nil)
	r := f.refresher(t, refresher.Config{Fraction: 0.1, MinDelay: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	first, err := r.Attempt(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(f.file)
	f.sim.Entra.FailTokenRequests(3 * time.Second)
	outageEnds := time.Now().Add(3 * time.Second)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	for time.Now().Before(outageEnds.Add(-500 * time.Millisecond)) {
		if now, _ := os.ReadFile(f.file); !bytes.Equal(now, before) {
			t.Fatal("the file changed during the outage")
		}
		if !r.Status().Healthy {
			t.Fatal("unhealthy while the old token is still valid")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for ctx.Err() == nil {
		if now, _ := os.ReadFile(f.file); !bytes.Equal(now, before) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	recovered := time.Now()
	cancel()
	<-done
	if ctx.Err() != nil && recovered.After(first.Exp) {
		t.Fatalf("recovered at %s, after the old token expired at %s", recovered, first.Exp)
	}
	logs := f.logs.String()
	for _, want := range []string{"token refresh failed; retrying", "AADSTS90033", "token refresh recovered"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "token refresh failed; retrying"); n > 20 {
		t.Errorf("%d retries in 3 seconds: no backoff", n)
	}
}

// Right after setup the STS app's federated credential has not reached
// every replica, and Entra refuses the managed identity's token as if it
// did not exist: a permanent error. The refresher logs it once and
// retries soon, so it writes a token soon after the credential arrives
// rather than a PermanentBackoff later.
func TestNewFederatedCredentialIsWaitedFor(t *testing.T) {
	const delay = 2 * time.Second
	f := newFixture(t, func(o *cloudsim.Options) {
		o.ReplicationDelay = delay
		sts := o.Tenant.AppFor(tenant.PartSTS)
		for i := range sts.FederatedCredentials {
			sts.FederatedCredentials[i].CreatedAt = time.Now() // just added through Graph
		}
	}, nil)
	r := f.refresher(t, refresher.Config{MinDelay: 100 * time.Millisecond, PermanentBackoff: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for ctx.Err() == nil && !r.Status().Healthy {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	logs := f.logs.String()
	if !r.Status().Healthy {
		t.Fatalf("no token within 20 s of a credential that replicated in %s:\n%s", delay, logs)
	}
	if n := strings.Count(logs, "token refresh failed: AADSTS700211"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs, "token refresh recovered") {
		t.Errorf("no recovery logged:\n%s", logs)
	}
}

func TestHealth(t *testing.T) {
	f := newFixture(t, nil, nil)
	now := time.Now()
	var clock sync.Mutex
	r := f.refresher(t, refresher.Config{Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }})
	srv := httptest.NewServer(r.HealthHandler())
	defer srv.Close()
	get := func() (int, refresher.Status) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s refresher.Status
		json.NewDecoder(resp.Body).Decode(&s)
		return resp.StatusCode, s
	}
	if code, s := get(); code != 503 || s.LastSuccess != nil {
		t.Errorf("before any token: %d %+v", code, s)
	}
	claims, err := r.Attempt(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if code, s := get(); code != 200 || s.ExpiresAt == nil || !s.ExpiresAt.Equal(claims.Exp) || s.LastError != "" {
		t.Errorf("after a token: %d %+v", code, s)
	}
	f.sim.Entra.FailTokenRequests(time.Minute)
	if _, err := r.Attempt(t.Context()); err == nil {
		t.Fatal("a refresh succeeded during an outage")
	}
	if code, s := get(); code != 200 || !strings.Contains(s.LastError, "AADSTS90033") {
		t.Errorf("a failed refresh with a valid token in place: %d %+v", code, s)
	}
	clock.Lock()
	now = claims.Exp.Add(time.Second)
	clock.Unlock()
	if code, _ := get(); code != 503 {
		t.Errorf("with the token expired: %d", code)
	}
}

func TestSettings(t *testing.T) {
	base := map[string]string{"TENANT_ID": "ca77995a-3696-41ae-a339-cf02b3e89b12", "STS_APP_ID": "241e239b-367f-411d-9291-4ad052b57982"}
	with := func(k, v string) map[string]string {
		out := map[string]string{k: v}
		for bk, bv := range base {
			if bk != k {
				out[bk] = bv
			}
		}
		return out
	}
	load := func(env map[string]string) (refresher.Settings, error) {
		r := config.NewLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		s := refresher.LoadSettings(r)
		return s, r.Err()
	}
	s, err := load(base)
	if err != nil {
		t.Fatal(err)
	}
	if s.STSAppURI != "api://241e239b-367f-411d-9291-4ad052b57982" || s.TokenFile != refresher.DefaultTokenFile || s.FileMode != 0o600 ||
		s.HealthAddr != ":8081" || s.AuthorityHost != "https://login.microsoftonline.com" || s.ManagedIdentityClientID != "" {
		t.Errorf("defaults: %+v", s)
	}
	if s, _ := load(with("HEALTH_ADDR", "")); s.HealthAddr != "" {
		t.Errorf("HEALTH_ADDR= did not turn the endpoint off: %q", s.HealthAddr)
	}
	for _, c := range []struct{ k, v, want string }{
		{"TENANT_ID", "", "TENANT_ID: is required"},
		{"STS_APP_ID", "sts", `STS_APP_ID: "sts" is not a GUID`},
		{"TOKEN_FILE_MODE", "0666", "lets others write"},
		{"TOKEN_FILE_MODE", "0700", "lets others write or execute"},
		{"TOKEN_FILE_MODE", "rw", "not an octal file mode"},
		{"TOKEN_FILE_MODE", "0040", "does not let the owner read"},
		{"MANAGED_IDENTITY_CLIENT_ID", "id-agent-host", "is not a client ID"},
		{"AZURE_AUTHORITY_HOST", "http://127.0.0.1:8443", "must use https"},
	} {
		if _, err := load(with(c.k, c.v)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: %v, want %q", c.k, c.v, err, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	want := refresher.Expect{TenantID: "ca77995a-3696-41ae-a339-cf02b3e89b12", STSAppID: "241e239b-367f-411d-9291-4ad052b57982", STSAppURI: "api://241e239b-367f-411d-9291-4ad052b57982"}
	now := time.Now()
	good := map[string]any{"iss": "https://sts.windows.net/" + want.TenantID + "/", "aud": want.STSAppURI, "ver": "1.0", "exp": now.Add(time.Hour).Unix()}
	token := func(changes map[string]any) string {
		return jwtauthtest.B64(map[string]string{"alg": "RS256"}) + "." + jwtauthtest.B64(jwtauthtest.Edit(good, changes)) + ".c2ln"
	}
	cases := []struct {
		token, want string
	}{
		{token(nil), ""},
		{token(map[string]any{"iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"}), "is not the v1 issuer of TENANT_ID"},
		{token(map[string]any{"iss": "https://login.microsoftonline.com/" + want.TenantID + "/v2.0", "ver": "2.0", "aud": want.STSAppID}), "set requestedAccessTokenVersion=1"},
		{token(map[string]any{"aud": "api://other"}), "not for STS_APP_URI"},
		{token(map[string]any{"exp": now.Add(-time.Second).Unix()}), "expired"},
		{token(map[string]any{"exp": nil}), "no exp"},
		{"a.b", "not a JWT"},
		{"a.!!!.c", "unreadable payload"},
	}
	for _, c := range cases {
		_, err := refresher.Check(c.token, want, now)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Check(%.40s…) = %v, want %q", c.token, err, c.want)
		}
		if err != nil && !refresher.Classify(err).Permanent {
			t.Errorf("a check failure is not permanent: %v", err)
		}
	}
}
