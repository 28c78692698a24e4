package main

import (
	"context"
	"encoding/hex"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/crosscloud-agentid/agentid/internal/binarytest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/telemetry/otlptest"
)

// The test binary doubles as weather-api: these tests run main() in a
// child process with its own environment, as a container would.
func TestMain(m *testing.M) { binarytest.Main(m, main) }

var listening = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// weatherEnv is what a container running weather-api against sim gets,
// plus extra.
func weatherEnv(sim *cloudsim.Sim, extra map[string]string) map[string]string {
	env := sim.Env()
	env["AZURE_AUTHORITY_HOST"] = sim.URL
	env["SSL_CERT_FILE"] = sim.CA.BundlePath()
	env["WEATHER_PROVIDER"] = "offline"
	env["LISTEN_ADDR"] = "127.0.0.1:0"
	maps.Copy(env, extra)
	return env
}

func TestBinaryServesAgainstCloudsim(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	tokens := cloudsimtest.NewTokens(sim)
	env := weatherEnv(sim, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	proc := binarytest.Start(t, binarytest.Command(ctx, env))
	base := proc.WaitFor(t, listening, 20*time.Second)[1]

	token := tokens.App(t, "api://"+env["WEATHER_API_APP_ID"])
	req, _ := http.NewRequest("GET", base+"/weather/forecast?city=Lisbon", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"city":"Lisbon"`) {
		t.Fatalf("forecast: %d %s", resp.StatusCode, body)
	}

	probe := binarytest.Command(ctx, map[string]string{"LISTEN_ADDR": strings.TrimPrefix(base, "http://")}, "-healthcheck")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Errorf("-healthcheck against a running server: %v %s", err, out)
	}

	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("weather-api did not stop cleanly on SIGTERM: %v\n%s", err, proc.Output())
	}
	logs := proc.Output()
	if leaks := leakcheck.Find(logs, token); len(leaks) > 0 {
		t.Errorf("the log holds a token: %v", leaks)
	}
	for _, want := range []string{"allowed_callers=" + env["AGENT_CLIENT_ID"], "weather_provider=offline"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the start line lacks %s:\n%s", want, logs)
		}
	}
}

func TestBinaryRefusesToStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no settings", nil, nil, "TENANT_ID: is required"},
		{"healthcheck with nothing listening", map[string]string{"LISTEN_ADDR": "127.0.0.1:1"}, []string{"-healthcheck"}, "healthcheck:"},
		{"unknown flag", nil, []string{"-port=1"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { binarytest.Refuses(t, ctx, c.env, c.args, c.want) })
	}
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, the binary exports over OTLP/HTTP
// a server span per request that continues the caller's traceparent and
// holds the verdict, named by OTEL_SERVICE_NAME, and counts requests by
// verdict and reason: a good token, none, and a forged one.
func TestBinaryExportsTelemetry(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	tokens := cloudsimtest.NewTokens(sim)
	rcv := otlptest.Start(t)
	endpoint, exported, metrics := rcv.URL, rcv.Spans, rcv.Metrics
	env := weatherEnv(sim, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "weather-api-test",
		"OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_METRIC_EXPORT_INTERVAL": "100"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	proc := binarytest.Start(t, binarytest.Command(ctx, env))
	base := proc.WaitFor(t, listening, 20*time.Second)[1]
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	token := tokens.App(t, "api://"+env["WEATHER_API_APP_ID"])
	forged := token[:strings.LastIndex(token, ".")+1] + "Zm9yZ2Vk"
	for _, bearer := range []string{token, "", forged} {
		req, _ := http.NewRequest("GET", base+"/weather?city=Lisbon", nil)
		req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	verdicts := map[string]string{}
	deadline := time.After(10 * time.Second)
	for len(verdicts) < 3 {
		select {
		case rs := <-exported:
			service := otlptest.ServiceName(rs.GetResource())
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					if sp.Kind != tracepb.Span_SPAN_KIND_SERVER {
						continue // the key set's fetches
					}
					if hex.EncodeToString(sp.TraceId) != traceID || hex.EncodeToString(sp.ParentSpanId) != parentID {
						t.Errorf("span %q: trace %x parent %x, want the caller's trace and parent", sp.Name, sp.TraceId, sp.ParentSpanId)
						continue
					}
					if service != "weather-api-test" {
						t.Errorf("service.name %q", service)
					}
					attrs := map[string]string{}
					for _, a := range sp.Attributes {
						attrs[a.Key] = a.GetValue().GetStringValue()
						if strings.Contains(a.GetValue().String(), "city=") {
							t.Errorf("%s holds the query", a.Key)
						}
					}
					verdicts[attrs["agentid.verdict"]+" "+attrs["agentid.refusal.code"]] = attrs["agentid.refusal.code"]
				}
			}
		case <-deadline:
			t.Fatalf("exported verdicts %v, want an authorized and a refused request", verdicts)
		}
	}
	if _, ok := verdicts["refused missing_token"]; !ok || len(verdicts) != 3 {
		t.Errorf("verdicts %v, want authorized, refused missing_token and refused invalid_token", verdicts)
	}

	// The request counter, by verdict and reason: one of each.
	want := map[string]int64{"reason=,verdict=authorized": 1, "reason=missing_token,verdict=refused": 1, "reason=invalid_token,verdict=refused": 1}
	var got map[string]int64
	for !maps.Equal(got, want) {
		select {
		case rm := <-metrics:
			if c := otlptest.Sums(rm, "agentid.weather_api.requests"); len(c) > 0 {
				got = c
			}
		case <-deadline:
			t.Fatalf("agentid.weather_api.requests %v, want %v", got, want)
		}
	}
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("weather-api did not stop cleanly: %v\n%s", err, proc.Output())
	}
}
