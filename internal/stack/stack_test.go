package stack_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/stack"
	"github.com/crosscloud-agentid/agentid/internal/telemetry/otlptest"
)

// While a stack runs, the SDKs see only what it wrote: cloudsim's
// endpoints and the web identity role, and none of the credential sources
// a shell may hold. Close puts the shell's values back, and one process
// holds one stack at a time.
func TestStackOwnsTheProcessEnvironmentWhileItRuns(t *testing.T) {
	shell := map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIASTRAYSTRAYSTRAY1", "AWS_PROFILE": "nowhere", "AWS_REGION": "eu-west-1",
		"IDENTITY_SERVER_THUMBPRINT": "0123", "MSI_ENDPOINT": "http://127.0.0.1:1/msi", "AWS_ENDPOINT_URL": "https://127.0.0.1:1",
	}
	for k, v := range shell {
		t.Setenv(k, v)
	}
	os.Unsetenv("IDENTITY_ENDPOINT") // t.Setenv above restores what the test found
	st, err := stack.Start(t.Context(), stack.Options{Cloudsim: cloudsimtest.Options(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	for k := range shell {
		if k == "AWS_REGION" {
			continue
		}
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s=%q is still set while the stack runs", k, v)
		}
	}
	for k, want := range map[string]string{"AWS_REGION": st.Settings["AWS_REGION"], "IDENTITY_ENDPOINT": st.Sim.IdentityEndpoint,
		"AWS_WEB_IDENTITY_TOKEN_FILE": st.TokenFile, "AWS_CA_BUNDLE": st.Settings["AWS_CA_BUNDLE"],
		"AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": st.Settings["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"]} {
		if got := os.Getenv(k); got != want || want == "" {
			t.Errorf("%s=%q while the stack runs, want %q", k, got, want)
		}
	}
	if _, err := os.Stat(st.TokenFile); err != nil {
		t.Errorf("Start returned before token-refresher wrote its first token: %v", err)
	}
	if _, err := stack.Start(t.Context(), stack.Options{Cloudsim: cloudsimtest.Options(t, nil)}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a second stack in the process: %v, want it refused", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for k, want := range shell {
		if got := os.Getenv(k); got != want {
			t.Errorf("after Close %s=%q, want the shell's %q", k, got, want)
		}
	}
	if v, ok := os.LookupEnv("IDENTITY_ENDPOINT"); ok {
		t.Errorf("after Close IDENTITY_ENDPOINT=%q, want it unset as before", v)
	}
	// The process holds a stack again once the first closed.
	again, err := stack.Start(t.Context(), stack.Options{Cloudsim: cloudsimtest.Options(t, nil)})
	if err != nil {
		t.Fatalf("a stack after Close: %v", err)
	}
	if err := again.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// A busy chat UI port is named by its flag, and the failed start leaves
// the process free to start a stack.
func TestStackReportsABusyAgentPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = stack.Start(t.Context(), stack.Options{Cloudsim: cloudsimtest.Options(t, nil), AgentAddr: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "-addr") {
		t.Fatalf("a busy agent port: %v, want an error naming -addr", err)
	}
	st, err := stack.Start(t.Context(), stack.Options{Cloudsim: cloudsimtest.Options(t, nil)})
	if err != nil {
		t.Fatalf("a stack after a failed start: %v", err)
	}
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// When the first token never comes, the error says why: token-refresher's
// last failure, as its log does.
func TestStackSaysWhyTheFirstTokenNeverCame(t *testing.T) {
	_, err := stack.Start(t.Context(), stack.Options{Cloudsim: cloudsimtest.Options(t, func(o *cloudsim.Options) {
		o.Tenant.AppFor(tenant.PartSTS).FederatedCredentials = nil // the STS app trusts no managed identity
	})})
	if err == nil || !strings.Contains(err.Error(), "was not ready within 30s; its last attempt: AADSTS700211") {
		t.Fatalf("err = %v, want the refresher's AADSTS700211", err)
	}
}

// With OTLP set, each component exports its traces and metrics to the
// collector under its own service name; Close flushes them.
func TestStackExportsToOTLP(t *testing.T) {
	rcv := otlptest.Start(t)
	st, err := stack.Start(t.Context(), stack.Options{Cloudsim: cloudsimtest.Options(t, nil), AgentAddr: "127.0.0.1:0", OTLP: rcv.URL})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(st.AgentURL+"/api/chat", "application/json", strings.NewReader(`{"message":"What's the weather in Quito?"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	services := map[string]bool{}
	requests := map[string]int64{}
	for done := false; !done; {
		select {
		case rs := <-rcv.Spans:
			services[otlptest.ServiceName(rs.GetResource())] = true
		case rm := <-rcv.Metrics:
			if c := otlptest.Sums(rm, "agentid.weather_api.requests"); len(c) > 0 {
				requests = c
			}
		default:
			done = true // Close flushed everything before it returned
		}
	}
	for _, want := range []string{"llm-agent", "weather-api", "token-refresher"} {
		if !services[want] {
			t.Errorf("no spans from %s; services %v", want, services)
		}
	}
	if requests["reason=,verdict=authorized"] != 1 {
		t.Errorf("agentid.weather_api.requests %v, want one authorized", requests)
	}
}
