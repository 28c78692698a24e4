package telemetry_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/crosscloud-agentid/agentid/internal/telemetry"
)

func TestFromEnv(t *testing.T) {
	const at = "http://127.0.0.1:4318"
	cases := []struct {
		name            string
		env             map[string]string
		traces, metrics bool
		wantErr         string
	}{
		{"no endpoint", nil, false, false, ""},
		{"an endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": at}, true, true, ""},
		{"a traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": at + "/v1/traces"}, true, false, ""},
		{"a metrics endpoint", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": at + "/v1/metrics"}, false, true, ""},
		{"disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": at, "OTEL_SDK_DISABLED": "TRUE"}, false, false, ""},
		// As Container Apps' managed agent injects them.
		{"gRPC", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel.service.k8se-apps:4317/", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, true, ""},
		{"JSON", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": at, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, false,
			"OTEL_EXPORTER_OTLP_PROTOCOL=http/json: only http/protobuf and grpc"},
		{"a signal's protocol first", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": at, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"}, false, false, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tel, err := telemetry.FromEnv(t.Context(), "test", func(k string) string { return c.env[k] })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tel.Tracer != nil) != c.traces || (tel.Meter != nil) != c.metrics {
				t.Errorf("traces %v, metrics %v; want %v, %v", tel.Tracer != nil, tel.Meter != nil, c.traces, c.metrics)
			}
		})
	}
}

// The traced client sends the query and traceparent, and its span holds
// the URL without the query.
func TestClientKeepsTheQueryOutOfSpans(t *testing.T) {
	var gotQuery, gotParent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery, gotParent = r.URL.RawQuery, r.Header.Get("traceparent")
	}))
	defer srv.Close()
	exported := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exported))
	c := telemetry.Client(nil, 0, tp)
	resp, err := c.Get(srv.URL + "/weather?city=Oslo&access_token=planted")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if gotQuery != "city=Oslo&access_token=planted" || !strings.HasPrefix(gotParent, "00-") {
		t.Errorf("the server got query %q and traceparent %q", gotQuery, gotParent)
	}
	spans := exported.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	for _, a := range spans[0].Attributes {
		if strings.Contains(a.Value.String(), "planted") || strings.Contains(a.Value.String(), "city=") {
			t.Errorf("%s=%s holds the query", a.Key, a.Value.String())
		}
	}
	if untraced := telemetry.Client(nil, 0, nil); untraced != nil {
		t.Error("without tracing the client is not the library's default")
	}
}

// traceCollector is an OTLP/gRPC trace service that keeps the spans'
// names.
type traceCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	names chan string
}

func (c *traceCollector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				c.names <- sp.Name
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// With the variables Container Apps' managed agent injects (an endpoint
// and OTEL_EXPORTER_OTLP_PROTOCOL=grpc), spans go out over OTLP/gRPC.
func TestGRPCAsContainerAppsInjectsIt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	collector := &traceCollector{names: make(chan string, 8)}
	coltracepb.RegisterTraceServiceServer(srv, collector)
	go srv.Serve(ln)
	defer srv.Stop()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String()+"/")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "")
	tel, err := telemetry.FromEnv(t.Context(), "test", os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	_, span := telemetry.Tracer(tel.Tracer).Start(t.Context(), "over gRPC")
	span.End()
	tel.Flush(slog.New(slog.DiscardHandler))
	select {
	case name := <-collector.names:
		if name != "over gRPC" {
			t.Errorf("the collector got %q", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no span reached the gRPC collector")
	}
}

// The SDK's own errors go to the binary's logger, in its format, not to
// the standard logger.
func TestLogErrors(t *testing.T) {
	var buf strings.Builder
	telemetry.LogErrors(slog.New(slog.NewJSONHandler(&buf, nil)))
	otel.Handle(errors.New("traces export: connection refused"))
	if !strings.Contains(buf.String(), `"msg":"telemetry could not be exported","error":"traces export: connection refused"`) {
		t.Errorf("logged %q", buf.String())
	}
}

// Continue takes a public caller's trace ID and nothing else: a root span
// in that trace, sampled by this process's sampler whatever the flags said.
func TestContinueTakesTheTraceIDOnly(t *testing.T) {
	exported := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exported), sdktrace.WithIDGenerator(telemetry.NewIDGenerator()))
	defer tp.Shutdown(context.Background())
	ctx, id := telemetry.Continue(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	_, span := tp.Tracer("t").Start(ctx, "turn")
	span.End()
	got := exported.GetSpans()
	if id.String() != "4bf92f3577b34da6a3ce929d0e0e4736" || len(got) != 1 || got[0].SpanContext.TraceID() != id || got[0].Parent.IsValid() {
		t.Errorf("id %s, spans %+v: want one sampled root span in the caller's trace", id, got)
	}
	for _, bad := range []string{"", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "nonsense", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"} {
		if _, id := telemetry.Continue(context.Background(), bad); id.IsValid() {
			t.Errorf("Continue(%q) took trace ID %s", bad, id)
		}
	}
	// Without a caller's trace ID, a root span gets a fresh one.
	_, a := tp.Tracer("t").Start(context.Background(), "a")
	_, b := tp.Tracer("t").Start(context.Background(), "b")
	if a.SpanContext().TraceID() == b.SpanContext().TraceID() || !a.SpanContext().TraceID().IsValid() {
		t.Error("root spans share or lack a trace ID")
	}
}
