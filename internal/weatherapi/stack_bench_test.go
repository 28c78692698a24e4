package weatherapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/telemetry/otlptest"
	"github.com/crosscloud-agentid/agentid/internal/weather"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// stack is the weather-api binary's handler as Run wires it (logging,
// settings, telemetry from OTEL_*, the validator with its cache, the
// offline provider) against a cloudsim, with a valid agent token for it.
type stack struct {
	handler http.Handler
	token   string
	env     map[string]string
	tokens  *cloudsimtest.Tokens
}

func newStack(tb testing.TB, extra map[string]string, logs io.Writer) *stack {
	tb.Helper()
	sim := cloudsimtest.Start(tb, nil)
	tokens := cloudsimtest.NewTokens(sim)
	env := sim.Env()
	env["AZURE_AUTHORITY_HOST"] = sim.URL
	env["WEATHER_PROVIDER"] = "offline"
	for k, v := range extra {
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }
	h, tel, err := weatherapi.Stack(tb.Context(), getenv, logs, tokens.HTTP)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tel.Flush(slog.New(slog.DiscardHandler)) })
	s := &stack{handler: h, token: tokens.App(tb, "api://"+env["WEATHER_API_APP_ID"]), env: env, tokens: tokens}
	if rec := s.serve(s.request(nil)); rec.Code != http.StatusOK {
		tb.Fatalf("the stack answered %d: %s", rec.Code, rec.Body)
	}
	return s
}

// request is GET /weather?city=Seattle with the stack's token and the
// headers in extra.
func (s *stack) request(extra map[string]string) *http.Request {
	req := httptest.NewRequest("GET", "/weather?city=Seattle", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	return req
}

func (s *stack) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

// A chat turn's IDs, as llm-agent sends them.
var (
	withCorrelation = map[string]string{"X-Correlation-ID": "4bf92f3577b34da6a3ce929d0e0e4736"}
	withTraceparent = map[string]string{"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
)

// BenchmarkServeHTTPStack is one GET /weather through the whole handler
// stack as the weather-api binary builds it, with a valid token (the
// validation cache's hit, the default): telemetry off (no OTLP endpoint)
// and on (traces and metrics to an OTLP/HTTP receiver), each without and
// with the caller's correlation ID or traceparent. BenchmarkHandler is
// the handler alone; jwtauth's BenchmarkValidate/cached the token check.
func BenchmarkServeHTTPStack(b *testing.B) {
	off := newStack(b, nil, io.Discard)
	on := newStack(b, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": otlptest.Start(b).URL}, io.Discard)
	for _, bc := range []struct {
		name    string
		stack   *stack
		headers map[string]string
	}{
		{"telemetry=off", off, nil},
		{"telemetry=off/correlation-id", off, withCorrelation},
		{"telemetry=on", on, nil},
		{"telemetry=on/traceparent", on, withTraceparent},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := bc.stack.request(bc.headers)
			b.ReportAllocs()
			for b.Loop() {
				bc.stack.handler.ServeHTTP(&discard{h: http.Header{}}, req)
			}
		})
	}
}

// sameCaller answers every request with one Caller, allocating nothing,
// so a handler behind it allocates only what the handler itself does.
type sameCaller struct{ c *jwtauth.Caller }

func (s sameCaller) Authenticate(*http.Request) (*jwtauth.Caller, *jwtauth.Error) { return s.c, nil }

// With telemetry off and logging at its default level, the stack costs
// nothing beyond its parts: a request allocates no more than the handler
// alone plus the token check (a validation cache hit), with or without
// the caller's correlation ID. Allocations, not durations, so the test
// holds on any machine.
func TestStackAllocatesOnlyHandlerAndTokenCheck(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates, and drops sync.Pool entries at random")
	}
	s := newStack(t, nil, io.Discard)

	// The token check alone: the validator the binary builds, cache warm.
	settings := config.New(func(k string) string { return s.env[k] })
	cfg := weatherapi.LoadSettings(settings)
	keys := jwtauth.NewKeySet(s.tokens.HTTP, cfg.KeyURLs()...)
	validator, err := jwtauth.New(cfg.Policy(), keys)
	if err != nil {
		t.Fatal(err)
	}
	caller, refusal := validator.Authenticate(s.request(nil))
	if refusal != nil {
		t.Fatal(refusal)
	}
	handler := weatherapi.NewServer(sameCaller{caller}, &weather.Offline{}, slog.New(slog.DiscardHandler), false)

	const runs = 500
	var plain float64 // the handler's allocations for a request without a turn ID
	for _, headers := range []map[string]string{nil, withCorrelation} {
		req := s.request(headers)
		check := testing.AllocsPerRun(runs, func() { validator.Authenticate(req) })
		alone := testing.AllocsPerRun(runs, func() { handler.ServeHTTP(&discard{h: http.Header{}}, req) })
		whole := testing.AllocsPerRun(runs, func() { s.handler.ServeHTTP(&discard{h: http.Header{}}, req) })
		t.Logf("headers %v: stack %.0f allocations, handler %.0f + token check %.0f", headers, whole, alone, check)
		if whole > alone+check {
			t.Errorf("headers %v: the stack with telemetry off allocates %.0f times a request, over the handler's %.0f and the token check's %.0f: something around them costs per request",
				headers, whole, alone, check)
		}
		if headers == nil {
			plain = alone
		} else if alone > plain {
			t.Errorf("the caller's X-Correlation-ID costs %.0f allocations a request that logs nothing", alone-plain)
		}
	}
}

// The turn's ID is worked out only when a line is logged, and every line
// of a request still carries it: the caller's X-Correlation-ID with
// telemetry off, the trace ID of the span continuing its traceparent with
// telemetry on, on a refusal (info) and an authorized request (debug).
func TestLogLinesCarryTheTurn(t *testing.T) {
	const turn = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tc := range []struct {
		name    string
		env     map[string]string
		headers map[string]string
	}{
		{"telemetry off", map[string]string{"LOG_LEVEL": "debug"}, withCorrelation},
		{"telemetry on", map[string]string{"LOG_LEVEL": "debug", "OTEL_EXPORTER_OTLP_ENDPOINT": otlptest.Start(t).URL}, withTraceparent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &leakcheck.Log{}
			s := newStack(t, tc.env, logs)
			if rec := s.serve(s.request(tc.headers)); rec.Code != http.StatusOK {
				t.Fatalf("authorized: %d", rec.Code)
			}
			refused := s.request(tc.headers)
			refused.Header.Del("Authorization")
			if rec := s.serve(refused); rec.Code != http.StatusUnauthorized {
				t.Fatalf("no token: %d", rec.Code)
			}
			for _, msg := range []string{"msg=authorized", "msg=refused"} {
				found := false
				for line := range strings.Lines(logs.String()) {
					found = found || strings.Contains(line, msg) && strings.Contains(line, "correlation_id="+turn)
				}
				if !found {
					t.Errorf("no %s line with correlation_id=%s:\n%s", msg, turn, logs)
				}
			}
		})
	}
}
