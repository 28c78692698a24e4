package main

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/binarytest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/telemetry/otlptest"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// The test binary doubles as llm-agent: these tests run main() in a child
// process with its own environment, as a container would.
func TestMain(m *testing.M) { binarytest.Main(m, main) }

var listening = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// weatherAPI serves the Weather API against sim in this process, built as
// its binary builds it.
func weatherAPI(t *testing.T, sim *cloudsim.Sim) string {
	env := sim.Env()
	env["WEATHER_PROVIDER"] = "offline"
	r := config.New(func(k string) string { return env[k] })
	settings := weatherapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	svc, err := weatherapi.Build(settings, command.Deps{HTTPClient: cloudsimtest.Client(sim)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// The binary, with MSAL in process and OTEL_EXPORTER_OTLP_ENDPOINT set,
// exports its metrics over OTLP/HTTP as it stops: two on-behalf-of turns
// count one TU issued on a cache miss and one from the cache, and two
// answered turns; no label holds the user's token.
func TestBinaryExportsTurnMetrics(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	rcv := otlptest.Start(t)
	env := sim.Env()
	maps.Copy(env, map[string]string{
		"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": "",
		"LISTEN_ADDR": "127.0.0.1:0", "WEATHER_API_URL": weatherAPI(t, sim), "MCP_SERVER_URL": "off",
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL, "OTEL_METRIC_EXPORT_INTERVAL": "60000",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	proc := binarytest.Start(t, binarytest.Command(ctx, env))
	base := proc.WaitFor(t, listening, 20*time.Second)[1]

	tc := cloudsimtest.NewTokens(sim).User(t)
	for range 2 {
		req, _ := http.NewRequest("POST", base+"/api/chat", strings.NewReader(`{"message":"What's the weather in Lima?","token_flow":"obo"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("turn: %d\n%s", resp.StatusCode, proc.Output())
		}
	}
	// The periodic reader exports at the interval; SIGTERM's flush exports
	// what has been counted, at once.
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("llm-agent did not stop cleanly: %v\n%s", err, proc.Output())
	}
	var acquisitions map[string]int64
	var turns uint64
	var labels strings.Builder
	for done := false; !done; {
		select {
		case rm := <-rcv.Metrics:
			if c := otlptest.Sums(rm, "agentid.token.acquisitions"); len(c) > 0 {
				acquisitions = c
			}
			if n := otlptest.HistogramCount(rm, "agentid.turn.duration"); n > 0 {
				turns = n
			}
			labels.WriteString(otlptest.Labels(rm))
		case <-time.After(500 * time.Millisecond):
			done = true // the binary has exited: all it flushed is here
		}
	}
	want := map[string]int64{"cache=miss,kind=TU,provider=msal,result=issued": 1, "cache=hit,kind=TU,provider=msal,result=issued": 1}
	if !maps.Equal(acquisitions, want) {
		t.Errorf("agentid.token.acquisitions %v, want %v", acquisitions, want)
	}
	if turns != 2 {
		t.Errorf("agentid.turn.duration holds %d turns, want 2", turns)
	}
	if !strings.Contains(labels.String(), "agentid.turn.duration flow=obo mode=direct outcome=answered") {
		t.Fatalf("the scan does not read every label:\n%s", labels.String())
	}
	if leaks := leakcheck.Find(labels.String()+proc.Output(), tc); len(leaks) > 0 {
		t.Errorf("the user's token in the labels or the log: %v", leaks)
	}
}
