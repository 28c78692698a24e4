// Package e2e runs the whole product for tests as cmd/demo does, through
// internal/stack, with a test's cloudsim options and every component's
// log kept for the leak scans.
package e2e

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/logging"
	"github.com/crosscloud-agentid/agentid/internal/stack"
)

// Stack is a running product.
type Stack struct {
	*stack.Stack
	Sim *cloudsim.Sim
	// Env is cloudsim.env (with what only scripts get: the demo user's
	// name and password) overlaid with the components' settings.
	Env  map[string]string
	Logs *leakcheck.Log
	t    testing.TB
}

// Start runs the stack without llm-agent; Agent starts one.
func Start(t testing.TB) *Stack {
	t.Helper()
	return StartWith(t, nil)
}

// StartWith is Start with an edit of cloudsim's options (its tenant file,
// say) before it starts.
func StartWith(t testing.TB, edit func(*cloudsim.Options)) *Stack {
	t.Helper()
	return StartObserved(t, edit, nil, nil)
}

// StartObserved is StartWith with the components tracing to tp and
// measuring to mp.
func StartObserved(t testing.TB, edit func(*cloudsim.Options), tp trace.TracerProvider, mp metric.MeterProvider) *Stack {
	t.Helper()
	return start(t, stack.Options{Tracer: tp, Meter: mp}, edit)
}

// StartWithSettings is StartWith with settings laid over every
// component's, the SDKs' process environment included (AWS_ROLE_ARN of a
// role a script has yet to create, say).
func StartWithSettings(t testing.TB, edit func(*cloudsim.Options), settings map[string]string) *Stack {
	t.Helper()
	return start(t, stack.Options{Settings: settings}, edit)
}

// StartPrepared runs prepare (a setup script, say) against cloudsim before
// the components start, with no sidecar, and lays the settings it returns
// over every component's.
func StartPrepared(t testing.TB, edit func(*cloudsim.Options), prepare func(*cloudsim.Sim) (map[string]string, error)) *Stack {
	t.Helper()
	return start(t, stack.Options{Prepare: prepare, NoSidecar: true}, edit)
}

func start(t testing.TB, o stack.Options, edit func(*cloudsim.Options)) *Stack {
	t.Helper()
	logs := &leakcheck.Log{}
	st, err := stack.Start(t.Context(), stack.Options{
		Tracer:    o.Tracer,
		Meter:     o.Meter,
		Settings:  o.Settings,
		Prepare:   o.Prepare,
		NoSidecar: o.NoSidecar,
		Cloudsim:  cloudsimtest.Options(t, edit),
		Logger: func(name string) *slog.Logger {
			return slog.New(logging.Correlated(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))).With("component", name)
		},
	})
	if err != nil {
		// The components' logs say why; the stack is gone with them.
		t.Fatalf("start the stack: %v\ncomponent logs:\n%s", err, lastLines(logs.String(), 40))
	}
	t.Cleanup(func() {
		cloudsimtest.CloseClients(st.Sim)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.Close(ctx); err != nil {
			t.Errorf("stop the stack: %v", err)
		}
	})
	env := st.Sim.Env()
	maps.Copy(env, st.Settings)
	return &Stack{Stack: st, Sim: st.Sim, Env: env, Logs: logs, t: t}
}

// Agent starts llm-agent with the stack's settings plus overrides
// (IDENTITY_PROVIDER=msal, say) and returns its URL.
func (s *Stack) Agent(overrides map[string]string) string {
	url, _ := s.AgentServer(overrides)
	return url
}

// AgentServer is Agent, also returning the API, to close its sockets.
func (s *Stack) AgentServer(overrides map[string]string) (string, *chatapi.Server) {
	return s.AgentOn(nil, overrides)
}

// AgentOn serves llm-agent on ln (nil: a new loopback port), for a
// browser test that registered that origin as an SPA redirect URI.
func (s *Stack) AgentOn(ln net.Listener, overrides map[string]string) (string, *chatapi.Server) {
	s.t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			s.t.Fatal(err)
		}
	}
	url, api, err := s.Stack.Agent(ln, overrides)
	if err != nil {
		s.t.Fatal(err)
	}
	return url, api
}

// lastLines is the end of a log, enough to say why a start failed.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
