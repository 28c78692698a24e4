package weatherapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/telemetry"
	"github.com/crosscloud-agentid/agentid/internal/weather"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// benchCaller stands in for a validated token, so the benchmark measures
// the handler alone (the validation path has jwtauth's own benchmark).
type benchCaller struct{}

func (benchCaller) Authenticate(*http.Request) (*jwtauth.Caller, *jwtauth.Error) {
	return &jwtauth.Caller{AppID: "5b4418ec-1653-479f-96f7-3f28255917c7", TokenVersion: "2.0", Flow: "app", AgentIdentity: true,
		ParentBlueprint: "6a7f0937-6749-4a53-b866-c424b6e0824d", Roles: []string{"Weather.Read"}, TokenID: "Vj3Lr8f2RkqgM0Ya1bCdEw"}, nil
}

// discard is a ResponseWriter that keeps nothing, so the figures are the
// handler's own.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func BenchmarkHandler(b *testing.B) {
	srv := weatherapi.NewServer(benchCaller{}, &weather.Offline{}, slog.New(slog.DiscardHandler), false)
	for name, path := range map[string]string{"current": "/weather?city=Seattle", "forecast": "/weather/forecast?city=Paris"} {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest("GET", path, nil)
			b.ReportAllocs()
			for b.Loop() {
				w := &discard{h: http.Header{}}
				srv.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkHandlerTelemetry is BenchmarkHandler's current weather with
// telemetry on: a server span per request at the default sampler (parent
// based, always on) to an exporter that drops it, or the request counter.
// BenchmarkHandler is the cost with telemetry off.
func BenchmarkHandlerTelemetry(b *testing.B) {
	traced := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { traced.Shutdown(context.Background()) })
	measured := weatherapi.NewServer(benchCaller{}, &weather.Offline{}, slog.New(slog.DiscardHandler), false)
	weatherapi.CountRequests(measured, sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())).Meter("bench"))
	for name, h := range map[string]http.Handler{
		"traced":   telemetry.Handler(weatherapi.NewServer(benchCaller{}, &weather.Offline{}, slog.New(slog.DiscardHandler), false), "weather-api", traced),
		"measured": measured,
	} {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/weather?city=Seattle", nil)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(&discard{h: http.Header{}}, req)
			}
		})
	}
}

// queryValue must read the city exactly as url.Values would, and refuse
// the queries url.ParseQuery calls malformed.
func TestQueryValueMatchesURLValues(t *testing.T) {
	for _, raw := range []string{"", "city=Oslo", "city=", "city", "x=1&city=S%C3%A3o+Paulo&city=Rome", "city=%zz&city=Lima",
		"city=Oslo;x", "city=Oslo%3Bx", "ci%74y=Paris", "a=1&&city=Tokyo&", "city=%2B1", "City=Oslo", "x=%zz"} {
		q, parseErr := url.ParseQuery(raw)
		got, ok, err := weatherapi.QueryValue(raw, "city")
		if (err != nil) != (parseErr != nil) {
			t.Errorf("%q: error %v, url.ParseQuery's %v", raw, err, parseErr)
			continue
		}
		if err == nil && (ok != q.Has("city") || got != q.Get("city")) {
			t.Errorf("%q: got %q %v, url.Values gives %q %v", raw, got, ok, q.Get("city"), q.Has("city"))
		}
	}
}
