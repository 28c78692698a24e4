// Command soak is llm-agent's memory under a bounded load of many distinct
// user tokens, on loopback: cloudsim, weather-api and token-refresher run
// in one child process (internal/stack, as the demo runs them), llm-agent
// (MSAL in process, so its on-behalf-of cache is in the measured process)
// and the load in another, so the figures are llm-agent's and not
// cloudsim's. It reports RSS and the heap after GC before the load, at its
// peak, and after idling until the on-behalf-of tokens expire, and fails
// when the heap after idle is not within -margin-mib of the baseline.
//
//	go run ./bench/soak                      # bench/soak.sh runs it
//	go run ./bench/soak -turns 2000 -users 500
//
// Every loop is bounded: -turns turns, at most -load-for; idle at most
// -idle-for. cloudsim's tokens live -lifetime (MSAL treats a token as
// expired 5 minutes before it does, so -lifetime must exceed 5 minutes for
// any token to be reused).
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/stack"
)

// demoUser signs in for the load; soakPassword carries their password
// from the serving child to the agent's.
const (
	demoUser     = "alice@contoso.example"
	soakPassword = "SOAK_DEMO_PASSWORD"
)

type options struct {
	role        string
	turns       int
	users       int
	workers     int
	lifetime    time.Duration
	loadFor     time.Duration
	idleFor     time.Duration
	marginMiB   float64
	sampleEvery time.Duration
	heapProfile string
}

func main() {
	var o options
	flag.StringVar(&o.role, "role", "launch", "launch (both children), serve (cloudsim and the Weather API) or agent (llm-agent and the load)")
	flag.IntVar(&o.turns, "turns", 5000, "turns in all")
	flag.IntVar(&o.users, "users", 2000, "distinct user tokens (each an on-behalf-of cache partition)")
	flag.IntVar(&o.workers, "workers", 8, "concurrent turns")
	flag.DurationVar(&o.lifetime, "lifetime", 5*time.Minute+30*time.Second, "cloudsim's token lifetime")
	flag.DurationVar(&o.loadFor, "load-for", 4*time.Minute, "longest the load may run")
	flag.DurationVar(&o.idleFor, "idle-for", 8*time.Minute, "longest to idle waiting for the heap to come back")
	flag.Float64Var(&o.marginMiB, "margin-mib", 3, "the heap after idle must be within this many MiB of the baseline")
	flag.DurationVar(&o.sampleEvery, "sample-every", 15*time.Second, "how often the idle heap is measured")
	flag.StringVar(&o.heapProfile, "heap-profile", "", "write the heap profile after idle to this file (go tool pprof)")
	flag.Parse()
	var err error
	switch o.role {
	case "launch":
		err = launch(o)
	case "serve":
		err = serve(o)
	case "agent":
		err = agent(o)
	default:
		err = fmt.Errorf("-role %q: launch, serve or agent", o.role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// launch runs serve, reads its settings, then runs agent with them.
func launch(o options) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := func(role string) []string {
		return []string{"-role", role, "-turns", strconv.Itoa(o.turns), "-users", strconv.Itoa(o.users), "-workers", strconv.Itoa(o.workers),
			"-lifetime", o.lifetime.String(), "-load-for", o.loadFor.String(), "-idle-for", o.idleFor.String(),
			"-margin-mib", strconv.FormatFloat(o.marginMiB, 'f', -1, 64), "-sample-every", o.sampleEvery.String(), "-heap-profile", o.heapProfile}
	}
	srv := exec.Command(self, args("serve")...)
	srv.Stderr = os.Stderr
	in, err := srv.StdinPipe() // closing it stops the child
	if err != nil {
		return err
	}
	out, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { in.Close(); srv.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("the serving child gave no settings: %w", err)
	}
	var settings map[string]string
	if err := json.Unmarshal([]byte(line), &settings); err != nil {
		return err
	}
	ag := exec.Command(self, args("agent")...)
	ag.Stdout, ag.Stderr = os.Stdout, os.Stderr
	ag.Stdin = strings.NewReader(line)
	// The SDKs' own environment, as internal/stack gives it to the
	// components it runs in its process.
	ag.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"AWS_CONFIG_FILE=" + filepath.Join(os.TempDir(), "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(os.TempDir(), "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true"}
	for _, k := range []string{"SSL_CERT_FILE", "AWS_CA_BUNDLE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AWS_REGION", "AWS_ROLE_ARN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"} {
		if settings[k] != "" {
			ag.Env = append(ag.Env, k+"="+settings[k])
		}
	}
	return ag.Run()
}

// serve runs cloudsim, weather-api and token-refresher, prints their
// settings as one JSON line, and stops when stdin closes.
func serve(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "agentid-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	t, err := tenant.Parse("deploy/local/tenant.jsonc", local.TenantFile)
	if err != nil {
		return err
	}
	st, err := stack.Start(ctx, stack.Options{
		Cloudsim:  cloudsim.Options{Addr: "127.0.0.1:0", IdentityAddr: "127.0.0.1:0", Dir: dir, Tenant: t, TokenLifetime: o.lifetime},
		NoSidecar: true,
		Settings:  map[string]string{"IDENTITY_PROVIDER": "msal"},
	})
	if err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st.Close(c)
	}()
	settings := maps.Clone(st.Settings)
	// The load signs in as the tenant file's demo user, by the password
	// grant, as the tests do.
	alice := st.Sim.Tenant.UserByUPN(demoUser)
	if alice == nil {
		return fmt.Errorf("no %s in the tenant file", demoUser)
	}
	settings[soakPassword] = alice.Password
	line, _ := json.Marshal(settings)
	fmt.Println(string(line))
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	case err := <-st.Failed():
		return err
	}
	return nil
}

// memory is one measurement, after GC.
type memory struct {
	heap, rss uint64 // bytes
}

func measure() memory {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heap: ms.HeapAlloc, rss: rss()}
}

// rss is the process's resident set, from /proc (0 where there is none).
func rss() uint64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// agent builds llm-agent as its binary does (MSAL in process), loads it
// and measures.
func agent(o options) error {
	var settings map[string]string
	if err := json.NewDecoder(os.Stdin).Decode(&settings); err != nil {
		return fmt.Errorf("settings on stdin: %w", err)
	}
	pem, err := os.ReadFile(settings["SSL_CERT_FILE"])
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("SSL_CERT_FILE holds no certificate")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	env := maps.Clone(settings)
	maps.Copy(env, map[string]string{"LISTEN_ADDR": ln.Addr().String(), "IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity",
		"BLUEPRINT_CLIENT_SECRET": "", "MCP_SERVER_URL": "off", "LOG_LEVEL": "warn"})
	r := config.New(func(k string) string { return env[k] })
	s := chatapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		return err
	}
	api, err := chatapi.Build(context.Background(), s, command.Deps{HTTPClient: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go api.Serve(ctx, ln)
	base := "http://" + ln.Addr().String()
	tokenURL := settings["AZURE_AUTHORITY_HOST"] + "/" + settings["TENANT_ID"] + "/oauth2/v2.0/token"
	signIn := func() (string, error) {
		resp, err := client.PostForm(tokenURL, url.Values{"grant_type": {"password"}, "client_id": {settings["CLIENT_SPA_APP_ID"]},
			"username": {demoUser}, "password": {settings[soakPassword]},
			"scope": {"api://" + settings["BLUEPRINT_APP_ID"] + "/access_as_user"}})
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		if body.AccessToken == "" {
			return "", fmt.Errorf("sign-in refused: %s", resp.Status)
		}
		return body.AccessToken, nil
	}
	turnClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.workers}}
	turn := func(flow, token string) error {
		body := `{"message":"What's the weather in Oslo?","llm_mode":"direct","token_flow":"` + flow + `"}`
		req, _ := http.NewRequest("POST", base+"/api/chat", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := turnClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(raw), "Oslo") {
			return fmt.Errorf("turn: %d %.200s", resp.StatusCode, raw)
		}
		return nil
	}

	// Warm up (every flow once), then the baseline.
	first, err := signIn()
	if err != nil {
		return err
	}
	for _, flow := range []string{"autonomous", "obo", "agent_user"} {
		if err := turn(flow, first); err != nil {
			return err
		}
	}
	before := measure()
	fmt.Printf("baseline: heap %s, RSS %s\n", mib(before.heap), mib(before.rss))

	// The load: o.turns turns over o.users distinct user tokens (each a
	// new on-behalf-of partition), one in ten autonomous and one in ten
	// as the agent user, o.workers at a time, at most o.loadFor.
	tokens := make([]string, o.users)
	var mu sync.Mutex
	tokenFor := func(i int) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if tokens[i] == "" {
			t, err := signIn()
			if err != nil {
				return "", err
			}
			tokens[i] = t
		}
		return tokens[i], nil
	}
	var next, failed atomic.Int64
	var peakRSS atomic.Uint64
	deadline := time.Now().Add(o.loadFor)
	start := time.Now()
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= o.turns || time.Now().After(deadline) {
					return
				}
				flow := "obo"
				switch i % 10 {
				case 3:
					flow = "autonomous"
				case 7:
					flow = "agent_user"
				}
				tok, err := tokenFor(i % o.users)
				if err == nil {
					err = turn(flow, tok)
				}
				if err != nil {
					if failed.Add(1) <= 3 {
						fmt.Fprintln(os.Stderr, "soak:", err)
					}
				}
				if i%500 == 0 {
					if r := rss(); r > peakRSS.Load() {
						peakRSS.Store(r)
					}
				}
			}
		})
	}
	wg.Wait()
	done := min(int(next.Load()), o.turns)
	elapsed := time.Since(start)
	peak := measure()
	if peak.rss > peakRSS.Load() {
		peakRSS.Store(peak.rss)
	}
	fmt.Printf("load: %d turns (%d failed) over %d user tokens in %s (%.0f turns/s)\n", done, failed.Load(), o.users, elapsed.Round(time.Second), float64(done)/elapsed.Seconds())
	fmt.Printf("peak: heap after GC %s, RSS %s (highest seen during the load %s)\n", mib(peak.heap), mib(peak.rss), mib(peakRSS.Load()))
	tokens = nil
	turnClient.CloseIdleConnections()

	// Idle until the heap is back within the margin, at most o.idleFor.
	limit := before.heap + uint64(o.marginMiB*(1<<20))
	idleStart := time.Now()
	after := measure()
	for after.heap > limit && time.Since(idleStart) < o.idleFor {
		time.Sleep(o.sampleEvery)
		after = measure()
		fmt.Printf("  idle %s: heap %s, RSS %s\n", time.Since(idleStart).Round(time.Second), mib(after.heap), mib(after.rss))
	}
	fmt.Printf("after idle (%s): heap after GC %s, RSS %s; baseline heap %s, limit %s (+%g MiB)\n",
		time.Since(idleStart).Round(time.Second), mib(after.heap), mib(after.rss), mib(before.heap), mib(limit), o.marginMiB)
	fmt.Printf("| %s | %s | %s | %s | %s | %s | %d turns, %d users |\n", mib(before.rss), mib(before.heap), mib(peakRSS.Load()), mib(peak.heap),
		mib(after.rss), mib(after.heap), done, o.users)
	if o.heapProfile != "" {
		f, err := os.Create(o.heapProfile)
		if err != nil {
			return err
		}
		err = pprof.WriteHeapProfile(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	if failed.Load() > 0 {
		return fmt.Errorf("%d turns failed", failed.Load())
	}
	if after.heap > limit {
		return fmt.Errorf("the heap after idle, %s, is over %s", mib(after.heap), mib(limit))
	}
	return nil
}
