package telemetry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

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
		{"gRPC", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": at, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, false, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: only http/protobuf"},
		{"gRPC metrics", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": at, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"}, false, false,
			"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=grpc: only http/protobuf"},
		{"a signal's protocol first", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": at, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"}, true, true, ""},
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
