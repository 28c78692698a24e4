// Package telemetry is the binaries' OpenTelemetry tracing: a tracer
// provider configured only by the standard OTEL_* variables, an HTTP
// client and handler that carry W3C trace context, and nothing at all
// when no OTLP endpoint is set.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

var noopTracer = noop.NewTracerProvider().Tracer("")

// Tracing is a binary's tracer provider and what flushes it.
type Tracing struct {
	// Provider is nil when tracing is off: no endpoint, or
	// OTEL_SDK_DISABLED=true.
	Provider trace.TracerProvider
	shutdown func(context.Context) error
}

// Flush exports the spans still buffered, within 5 seconds, and stops the
// exporter: what a binary does as it stops.
func (t *Tracing) Flush(log *slog.Logger) {
	if t.shutdown == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.shutdown(ctx); err != nil {
		log.Warn("could not export the last spans", "error", err)
	}
}

// FromEnv sets up tracing for service from the standard variables:
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT turn it
// on (the exporter reads them, and the OTLP headers and timeouts, itself);
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the resource;
// OTEL_TRACES_SAMPLER and OTEL_BSP_* are read by the SDK. The Go SDK does
// not implement OTEL_SDK_DISABLED, so this does. Only http/protobuf is
// exported: both platforms' collectors take it.
func FromEnv(ctx context.Context, service string, getenv func(string) string) (*Tracing, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") ||
		getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return &Tracing{}, nil
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := getenv(k); p != "" {
			if p != "http/protobuf" {
				return nil, fmt.Errorf("%s=%s: only http/protobuf is supported", k, p)
			}
			break
		}
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(service)), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, shutdown: tp.Shutdown}, nil
}

// Propagator is W3C trace context: traceparent and tracestate.
var Propagator = propagation.TraceContext{}

// Continue is ctx continuing the caller's W3C traceparent, when it is a
// valid one; as a remote parent it decides sampling only through the
// standard parent-based sampler.
func Continue(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return Propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Tracer is tp's tracer for this project's spans, or a no-op one when tp
// is nil.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return noopTracer
	}
	return tp.Tracer("github.com/crosscloud-agentid/agentid")
}

// Handler wraps h in a server span per request that continues the
// caller's traceparent; it records the path, never the query. Without
// tracing it is h.
func Handler(h http.Handler, name string, tp trace.TracerProvider) http.Handler {
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, name, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(Propagator))
}

// Client returns c (nil: a new client with timeout) with a client span
// per request and traceparent sent along. otelhttp records the whole URL,
// so the query is taken off the request it sees and put back before it is
// sent: a query may carry what must not reach telemetry. Without tracing
// it is c, nil included (the library's own default).
func Client(c *http.Client, timeout time.Duration, tp trace.TracerProvider) *http.Client {
	if tp == nil {
		return c
	}
	if c == nil {
		c = &http.Client{Timeout: timeout}
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out := *c
	traced := otelhttp.NewTransport(restoreQuery{base}, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(Propagator))
	out.Transport = hideQuery{traced}
	return &out
}

type queryKey struct{}

// hideQuery hands the traced transport the request without its query,
// keeping the query in the context for restoreQuery.
type hideQuery struct{ next http.RoundTripper }

func (h hideQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.RawQuery == "" {
		return h.next.RoundTrip(r)
	}
	r = r.Clone(context.WithValue(r.Context(), queryKey{}, r.URL.RawQuery))
	r.URL.RawQuery = ""
	return h.next.RoundTrip(r)
}

// restoreQuery puts the query back on the request that goes out.
type restoreQuery struct{ next http.RoundTripper }

func (q restoreQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	if raw, ok := r.Context().Value(queryKey{}).(string); ok {
		r = r.Clone(r.Context())
		r.URL.RawQuery = raw
	}
	return q.next.RoundTrip(r)
}
