package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// The test binary doubles as weather-api, so these tests run main() in a
// child process with its own environment, as a container would.
func TestMain(m *testing.M) {
	if os.Getenv("WEATHER_API_TEST_AS_BINARY") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func command(ctx context.Context, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = []string{"WEATHER_API_TEST_AS_BINARY=1", "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

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
	cmd := command(ctx, env)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// One reader owns the pipe: it keeps every line and reports the
	// listening address; logs is read only after it is done.
	var logs bytes.Buffer
	addr, done := make(chan string, 1), make(chan struct{})
	go func() {
		defer close(done)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			logs.WriteString(lines.Text() + "\n")
			if m := listening.FindStringSubmatch(lines.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	var base string
	select {
	case base = <-addr:
	case <-done:
		cmd.Wait()
		t.Fatalf("weather-api did not start:\n%s", logs.String())
	}

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

	probe := command(ctx, map[string]string{"LISTEN_ADDR": strings.TrimPrefix(base, "http://")}, "-healthcheck")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Errorf("-healthcheck against a running server: %v %s", err, out)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	<-done
	if err := cmd.Wait(); err != nil {
		t.Errorf("weather-api did not stop cleanly on SIGTERM: %v\n%s", err, logs.String())
	}
	if leaks := leakcheck.Find(logs.String(), token); len(leaks) > 0 {
		t.Errorf("the log holds a token: %v", leaks)
	}
	for _, want := range []string{"allowed_callers=" + env["AGENT_CLIENT_ID"], "weather_provider=offline"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the start line lacks %s:\n%s", want, logs.String())
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
		out, err := command(ctx, c.env, c.args...).CombinedOutput()
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() == 0 {
			t.Errorf("%s: err = %v, want a non-zero exit", c.name, err)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%s: output %q lacks %q", c.name, out, c.want)
		}
	}
}
