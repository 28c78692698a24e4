package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/identity"
)

// benchProviders are llm-agent's two ways to get Agent ID tokens.
var benchProviders = map[string]map[string]string{
	"sidecar": {"IDENTITY_PROVIDER": "sidecar"},
	"msal":    {"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""},
}

// BenchmarkTurn is llm-agent's own cost per turn: autonomous weather turns
// with cloudsim's deterministic model (no model latency) and every token
// cached after the first turn, at 1, 8 and 32 concurrent users, Direct and
// Bedrock, sidecar and MSAL, through POST /api/chat and the websocket.
// Beside ns/op it reports turns/s, the p50 and p99 latency of a turn, and
// identity-%: the share of a turn's mean latency that the identity step
// alone takes (measured on the same provider, tokens cached).
//
//	go test -run '^$' -bench BenchmarkTurn -benchtime 200x ./internal/e2e/
//
// bench/agent.sh runs four of the cases.
func BenchmarkTurn(b *testing.B) {
	s := e2e.Start(b)
	for _, provider := range []string{"sidecar", "msal"} {
		url := s.Agent(benchProviders[provider])
		identityStep := identityCost(b, s, benchProviders[provider])
		for _, mode := range []string{"direct", "bedrock"} {
			for _, transport := range []string{"post", "ws"} {
				for _, users := range []int{1, 8, 32} {
					b.Run(fmt.Sprintf("%s/%s/%s/users=%d", provider, mode, transport, users), func(b *testing.B) {
						turn := newTurner(b, url, mode, transport)
						turn(0) // the first turn fills the caches
						latencies := runConcurrently(b, users, turn)
						var sum time.Duration
						for _, l := range latencies {
							sum += l
						}
						mean := sum / time.Duration(len(latencies))
						b.ReportMetric(100*float64(identityStep)/float64(mean), "identity-%")
					})
				}
			}
		}
	}
}

// BenchmarkTurnTelemetry is one user's autonomous Direct turns over POST
// with telemetry on in every component: spans at the default sampler to an
// exporter that drops them, and the metrics. BenchmarkTurn is the cost
// with telemetry off.
func BenchmarkTurnTelemetry(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { tp.Shutdown(context.Background()); mp.Shutdown(context.Background()) })
	s := e2e.StartObserved(b, nil, tp, mp)
	for _, provider := range []string{"sidecar", "msal"} {
		url := s.Agent(benchProviders[provider])
		b.Run(provider+"/direct/post/users=1", func(b *testing.B) {
			turn := newTurner(b, url, "direct", "post")
			turn(0)
			runConcurrently(b, 1, turn)
		})
	}
}

// runConcurrently runs b.N turns spread over users workers and reports
// turns/s and the p50 and p99 latency; it returns every turn's latency.
func runConcurrently(b *testing.B, users int, turn func(worker int)) []time.Duration {
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				turn(w)
				latencies[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "turns/s")
	b.ReportMetric(float64(sorted[len(sorted)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(sorted[len(sorted)*99/100].Microseconds())/1000, "p99-ms")
	return latencies
}

// newTurner returns a function that runs one turn for a worker: a POST,
// or a message on that worker's own websocket.
func newTurner(b *testing.B, url, mode, transport string) func(worker int) {
	msg := map[string]string{"message": "What's the weather in Lisbon?", "llm_mode": mode, "token_flow": "autonomous"}
	body, _ := json.Marshal(msg)
	if transport == "post" {
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		b.Cleanup(client.CloseIdleConnections)
		return func(int) {
			resp, err := client.Post(url+"/api/chat", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(raw), "Lisbon") {
				b.Errorf("turn: %d %.200s", resp.StatusCode, raw)
			}
		}
	}
	var mu sync.Mutex
	conns := map[int]*websocket.Conn{}
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return func(worker int) {
		mu.Lock()
		c := conns[worker]
		if c == nil {
			h := http.Header{"Origin": {url}}
			var err error
			if c, _, err = websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/api/chat/ws", h); err != nil {
				mu.Unlock()
				b.Error(err)
				return
			}
			conns[worker] = c
		}
		mu.Unlock()
		if err := c.WriteJSON(msg); err != nil {
			b.Error(err)
			return
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			var m wsMsg
			if err := c.ReadJSON(&m); err != nil {
				b.Error(err)
				return
			}
			if m.Type == "error" || (m.Type == "final" && !strings.Contains(m.Resp, "Lisbon")) {
				b.Errorf("turn: %+v", m)
			}
			if m.Type == "final" || m.Type == "error" {
				return
			}
		}
	}
}

// identityCost is the mean time of the identity step alone, tokens
// cached: the provider's AuthorizationHeader for the Weather API as the
// agent itself, on a provider built from the same settings.
func identityCost(b *testing.B, s *e2e.Stack, overrides map[string]string) time.Duration {
	r := config.New(func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		return s.Env[k]
	})
	settings := identity.LoadSettings(r)
	if err := r.Err(); err != nil {
		b.Fatal(err)
	}
	p, err := identity.New(settings, cloudsimtest.Client(s.Sim))
	if err != nil {
		b.Fatal(err)
	}
	req := identity.Request{Flow: identity.Autonomous}
	if _, err := p.AuthorizationHeader(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	const calls = 200
	start := time.Now()
	for range calls {
		if _, err := p.AuthorizationHeader(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / calls
}
