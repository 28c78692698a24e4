package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/binarytest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// The test binary doubles as weather-api: these tests run main() in a
// child process with its own environment, as a container would.
func TestMain(m *testing.M) { binarytest.Main(m, main) }

var listening = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

func TestBinaryServesAgainstCloudsim(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	tokens := cloudsimtest.NewTokens(sim)
	env := sim.Env()
	env["AZURE_AUTHORITY_HOST"] = sim.URL
	env["SSL_CERT_FILE"] = sim.CA.BundlePath()
	env["WEATHER_PROVIDER"] = "offline"
	env["LISTEN_ADDR"] = "127.0.0.1:0"

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
