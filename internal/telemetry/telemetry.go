// Package telemetry is the binaries' OpenTelemetry traces and metrics:
// providers configured only by the standard OTEL_* variables, an HTTP
// client and handler that carry W3C trace context, the project's meter,
// and nothing at all when no OTLP endpoint is set.
package telemetry

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

var noopTracer = noop.NewTracerProvider().Tracer("")

// Telemetry is a binary's tracer and meter providers and what flushes
// them. Either is nil when it is off.
type Telemetry struct {
	Tracer   trace.TracerProvider
	Meter    metric.MeterProvider
	shutdown []func(context.Context) error
}

// Flush exports what is still buffered, within 5 seconds, and stops the
// exporters: what a binary does as it stops.
func (t *Telemetry) Flush(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, stop := range t.shutdown {
		if err := stop(ctx); err != nil {
			log.Warn("could not export the last telemetry", "error", err)
		}
	}
}

// LogErrors sends the OpenTelemetry SDK's own errors (an export that
// failed, say) to log instead of the standard logger, where they would
// bypass LOG_FORMAT. The SDK has one handler per process: the last call
// wins.
func LogErrors(log *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("telemetry could not be exported", "error", err)
	}))
}

// FromEnv sets up traces and metrics for service from the standard
// variables: OTEL_EXPORTER_OTLP_ENDPOINT turns both on,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and …_METRICS_ENDPOINT one each (the
// exporters read them, and the OTLP headers and timeouts, themselves);
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the resource;
// OTEL_TRACES_SAMPLER, OTEL_BSP_* and OTEL_METRIC_EXPORT_INTERVAL are read
// by the SDK. The Go SDK does not implement OTEL_SDK_DISABLED, so this
// does. The protocol is http/protobuf, the specification's default, or
// grpc, which Container Apps' managed agent needs: it injects
// OTEL_EXPORTER_OTLP_PROTOCOL=grpc and takes nothing else
// (learn.microsoft.com/azure/container-apps/opentelemetry-agents,
// "Environment variables").
func FromEnv(ctx context.Context, service string, getenv func(string) string) (*Telemetry, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return &Telemetry{}, nil
	}
	traces := getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	metrics := getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != ""
	if !traces && !metrics {
		return &Telemetry{}, nil
	}
	tracesProtocol, err := protocol(getenv, "TRACES")
	if err != nil {
		return nil, err
	}
	metricsProtocol, err := protocol(getenv, "METRICS")
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(service)), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	var spans sdktrace.SpanExporter
	if traces {
		if tracesProtocol == "grpc" {
			spans, err = otlptracegrpc.New(ctx)
		} else {
			spans, err = otlptracehttp.New(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("OTLP trace exporter: %w", err)
		}
	}
	var points sdkmetric.Exporter
	if metrics {
		if metricsProtocol == "grpc" {
			points, err = otlpmetricgrpc.New(ctx)
		} else {
			points, err = otlpmetrichttp.New(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("OTLP metric exporter: %w", err)
		}
	}
	return providers(res, spans, points), nil
}

// ToEndpoint sets up traces and metrics for service to the OTLP/HTTP
// collector at base (for example http://localhost:4318), whatever the
// process's OTEL_* variables say: the demo's -otlp, one service name per
// component of one process.
func ToEndpoint(ctx context.Context, service, base string) (*Telemetry, error) {
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(service)), resource.WithTelemetrySDK())
	if err != nil {
		return nil, err
	}
	base = strings.TrimRight(base, "/")
	spans, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(base+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("-otlp: %w", err)
	}
	points, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"))
	if err != nil {
		return nil, fmt.Errorf("-otlp: %w", err)
	}
	return providers(res, spans, points), nil
}

// providers are the tracer and meter providers over the exporters given.
func providers(res *resource.Resource, spans sdktrace.SpanExporter, points sdkmetric.Exporter) *Telemetry {
	t := &Telemetry{}
	if spans != nil {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(spans), sdktrace.WithResource(res), sdktrace.WithIDGenerator(newIDGenerator()))
		t.Tracer, t.shutdown = tp, append(t.shutdown, tp.Shutdown)
	}
	if points != nil {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(points)), sdkmetric.WithResource(res))
		t.Meter, t.shutdown = mp, append(t.shutdown, mp.Shutdown)
	}
	return t
}

// protocol is a signal's OTLP protocol: OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL,
// else OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf. http/json, which
// the Go exporters lack, is refused by name.
func protocol(getenv func(string) string, signal string) (string, error) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		switch p := getenv(k); p {
		case "":
			continue
		case "http/protobuf", "grpc":
			return p, nil
		default:
			return "", fmt.Errorf("%s=%s: only http/protobuf and grpc are supported", k, p)
		}
	}
	return "http/protobuf", nil
}

// Propagator is W3C trace context: traceparent and tracestate.
var Propagator = propagation.TraceContext{}

// Continue takes the trace ID of a public caller's W3C traceparent, and
// nothing else: the span started from the returned context is a root
// whose trace ID is the caller's (so the turn keeps the name the page gave
// it, in every log line and trace backend), and whose sampling this
// process decides with its own sampler. A browser's sampled flag would
// otherwise decide it through the parent-based sampler: 00 to keep its
// turns out of the traces, 01 to force them in where the operator samples
// less. The caller's span is not a parent either: the browser exports
// none. The trace ID is returned too, for the turn's name when tracing is
// off; it is zero when traceparent is missing or malformed.
func Continue(ctx context.Context, traceparent string) (context.Context, trace.TraceID) {
	if traceparent == "" {
		return ctx, trace.TraceID{}
	}
	sc := trace.SpanContextFromContext(Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent}))
	if !sc.IsValid() {
		return ctx, trace.TraceID{}
	}
	return context.WithValue(ctx, traceIDKey{}, sc.TraceID()), sc.TraceID()
}

// traceIDKey carries the trace ID a root span started with the context
// takes (Continue, idGenerator).
type traceIDKey struct{}

// idGenerator gives a root span the trace ID Continue put in its context,
// else a random one, and every span a random span ID, as the SDK's own
// generator does.
type idGenerator struct {
	mu  sync.Mutex
	rnd *rand.Rand
}

// NewIDGenerator is the ID generator every tracer provider of the project
// uses (Continue's trace ID for a root span); tests building their own
// provider pass it with sdktrace.WithIDGenerator.
func NewIDGenerator() sdktrace.IDGenerator { return newIDGenerator() }

func newIDGenerator() *idGenerator {
	return &idGenerator{rnd: rand.New(rand.NewChaCha8(seed()))}
}

func (g *idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if tid, ok := ctx.Value(traceIDKey{}).(trace.TraceID); ok && tid.IsValid() {
		return tid, g.spanID()
	}
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], g.rnd.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], g.rnd.Uint64())
	}
	return tid, g.spanID()
}

func (g *idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.spanID()
}

func (g *idGenerator) spanID() (sid trace.SpanID) {
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], g.rnd.Uint64())
	}
	return sid
}

func seed() (s [32]byte) {
	if _, err := crand.Read(s[:]); err != nil {
		panic("telemetry: no randomness for trace IDs: " + err.Error())
	}
	return s
}

// Tracer is tp's tracer for this project's spans, or a no-op one when tp
// is nil.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return noopTracer
	}
	return tp.Tracer("github.com/crosscloud-agentid/agentid")
}

// Meter is mp's meter for this project's instruments, or nil when metrics
// are off: callers skip recording then, at no cost.
func Meter(mp metric.MeterProvider) metric.Meter {
	if mp == nil {
		return nil
	}
	return mp.Meter("github.com/crosscloud-agentid/agentid")
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
