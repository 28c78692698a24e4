package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/smithy-go"

	"github.com/crosscloud-agentid/agentid/internal/binarytest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/telemetry/otlptest"
)

// The test binary doubles as token-refresher: these tests run main() in a
// child process with its own environment, as a container would.
func TestMain(m *testing.M) { binarytest.Main(m, main) }

// refresherEnv is what a container running the refresher against sim gets.
func refresherEnv(t *testing.T, sim *cloudsim.Sim) map[string]string {
	env := sim.Env()
	env["AWS_WEB_IDENTITY_TOKEN_FILE"] = filepath.Join(t.TempDir(), "azure-token", "token")
	env["HEALTH_ADDR"] = "127.0.0.1:0"
	return env
}

// awsEnv points this process's AWS SDK at sim the standard way, and hides
// every other credential source the default chain would try first.
func awsEnv(t *testing.T, env map[string]string) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ROLE_ARN":                env["AWS_ROLE_ARN"],
		"AWS_WEB_IDENTITY_TOKEN_FILE": env["AWS_WEB_IDENTITY_TOKEN_FILE"],
		"AWS_ROLE_SESSION_NAME":       "weather-agent",
		"AWS_ENDPOINT_URL_STS":        env["AWS_ENDPOINT_URL_STS"],
		"AWS_REGION":                  env["AWS_REGION"],
		"AWS_CA_BUNDLE":               env["AWS_CA_BUNDLE"],
		"AWS_MAX_ATTEMPTS":            "1",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

func retrieve(t *testing.T) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	return creds.Source, err
}

// Chain B end to end: -once writes a v1 token, then the AWS SDK's own
// default credential chain turns it into credentials at cloudsim STS.
func TestOnceThenTheAWSDefaultChain(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	env := refresherEnv(t, sim)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := binarytest.Command(ctx, env, "-once").CombinedOutput()
	if err != nil {
		t.Fatalf("-once: %v\n%s", err, out)
	}
	token, err := os.ReadFile(env["AWS_WEB_IDENTITY_TOKEN_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	if leaks := leakcheck.Find(string(out), string(token)); len(leaks) > 0 {
		t.Errorf("-once printed the token: %v", leaks)
	}
	for _, claim := range []string{"iss=https://sts.windows.net/", "aud=" + env["STS_APP_URI"], "appid=" + env["STS_APP_ID"], "exp="} {
		if !strings.Contains(string(out), claim) {
			t.Errorf("the log lacks %s:\n%s", claim, out)
		}
	}

	awsEnv(t, env)
	source, err := retrieve(t)
	if err != nil {
		t.Fatalf("the AWS SDK's default chain: %v", err)
	}
	if source != stscreds.WebIdentityProviderName {
		t.Errorf("credentials came from %q, want %q", source, stscreds.WebIdentityProviderName)
	}
	if n := sim.Entra.Stats().Get("sts.AssumeRoleWithWebIdentity"); n != 1 {
		t.Errorf("%d AssumeRoleWithWebIdentity calls, want 1", n)
	}
}

// The pitfall the intermediary app exists for, and a forged token: each
// written to the file, each refused by STS through the SDK.
func TestSTSRefusesWhatTheRefresherWouldNotWrite(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	tokens := cloudsimtest.NewTokens(sim)
	env := refresherEnv(t, sim)
	awsEnv(t, env)
	v1 := tokens.STSApp(t)
	foreign, _ := rsa.GenerateKey(rand.Reader, 2048)
	resigned, _ := signing.SignWith(foreign, "never-published", jwtauthtest.Claims(t, v1), true)

	cases := []struct{ name, token, want string }{
		{"the raw managed identity token", tokens.ManagedIdentity(t), "Incorrect token audience"},
		{"a v1 token re-signed by a key cloudsim never published", resigned, "verification key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := env["AWS_WEB_IDENTITY_TOKEN_FILE"]
			os.MkdirAll(filepath.Dir(file), 0o755)
			if err := os.WriteFile(file, []byte(c.token), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := retrieve(t)
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "InvalidIdentityToken" || !strings.Contains(api.ErrorMessage(), c.want) {
				t.Fatalf("err = %v, want InvalidIdentityToken %q", err, c.want)
			}
		})
	}
}

var (
	healthLine = regexp.MustCompile(`health endpoint on (http://[0-9.:]+)/healthz`)
	wroteToken = regexp.MustCompile(`wrote web identity token`)
)

func TestServiceHealthcheckAndSIGTERM(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	env := refresherEnv(t, sim)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	proc := binarytest.Start(t, binarytest.Command(ctx, env))
	base := proc.WaitFor(t, healthLine, 30*time.Second)[1]
	proc.WaitFor(t, wroteToken, 30*time.Second)
	probe := binarytest.Command(ctx, map[string]string{"HEALTH_ADDR": strings.TrimPrefix(base, "http://")}, "-healthcheck")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Errorf("-healthcheck with a token in place: %v %s", err, out)
	}
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, proc.Output())
	}
	if !strings.Contains(proc.Output(), "token-refresher stopped") {
		t.Errorf("no clean stop:\n%s", proc.Output())
	}
}

func TestRefusesToStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no settings", nil, []string{"-once"}, "TENANT_ID: is required"},
		{"healthcheck with the endpoint off", map[string]string{"HEALTH_ADDR": ""}, []string{"-healthcheck"}, "HEALTH_ADDR is empty"},
		{"healthcheck with nothing listening", map[string]string{"HEALTH_ADDR": "127.0.0.1:1"}, []string{"-healthcheck"}, "healthcheck:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { binarytest.Refuses(t, ctx, c.env, c.args, c.want) })
	}
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, -once exports, as it exits, its
// refresh span, the attempt counted by outcome and the written token's
// time to expiry.
func TestOnceExportsTelemetry(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	rcv := otlptest.Start(t)
	env := refresherEnv(t, sim)
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = rcv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := binarytest.Command(ctx, env, "-once").CombinedOutput(); err != nil {
		t.Fatalf("-once: %v\n%s", err, out)
	}
	var spans []string
	var counts map[string]int64
	var expiresIn float64
	for done := false; !done; {
		select {
		case rs := <-rcv.Spans:
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					spans = append(spans, sp.Name)
				}
			}
		case rm := <-rcv.Metrics:
			if c := otlptest.Sums(rm, "agentid.refresher.refreshes"); len(c) > 0 {
				counts = c
			}
			if v, ok := otlptest.Gauge(rm, "agentid.refresher.token.expires_in"); ok {
				expiresIn = v
			}
		case <-time.After(500 * time.Millisecond):
			done = true // the binary has exited: all it flushed is here
		}
	}
	if !slices.Contains(spans, "refresh web identity token") {
		t.Errorf("exported spans %v lack the refresh", spans)
	}
	if !maps.Equal(counts, map[string]int64{"outcome=written": 1}) {
		t.Errorf("agentid.refresher.refreshes %v, want one written", counts)
	}
	if expiresIn < 55*60 || expiresIn > 90*60 {
		t.Errorf("agentid.refresher.token.expires_in %.0f s, want the token's lifetime (60 to 90 minutes)", expiresIn)
	}
}
