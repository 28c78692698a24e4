// Package otlptest is an OTLP/HTTP receiver for tests: it decodes each
// export of traces or metrics with the OTLP protobuf types, as a collector
// would, and hands it over.
package otlptest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Receiver is a running receiver: OTEL_EXPORTER_OTLP_ENDPOINT is URL.
type Receiver struct {
	URL     string
	Spans   <-chan *tracepb.ResourceSpans
	Metrics <-chan *metricspb.ResourceMetrics
}

// Start runs a receiver until the test ends. An export that is not
// http/protobuf fails the test.
func Start(t testing.TB) *Receiver {
	spans, metrics := make(chan *tracepb.ResourceSpans, 256), make(chan *metricspb.ResourceMetrics, 256)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP export to %s as %q", r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "bad export", http.StatusUnsupportedMediaType)
			return
		}
		var answer proto.Message
		switch r.URL.Path {
		case "/v1/traces":
			var req coltracepb.ExportTraceServiceRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Errorf("trace export: %v", err)
			}
			for _, rs := range req.ResourceSpans {
				select {
				case spans <- rs:
				default:
				}
			}
			answer = &coltracepb.ExportTraceServiceResponse{}
		case "/v1/metrics":
			var req colmetricspb.ExportMetricsServiceRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Errorf("metric export: %v", err)
			}
			for _, rm := range req.ResourceMetrics {
				select {
				case metrics <- rm:
				default:
				}
			}
			answer = &colmetricspb.ExportMetricsServiceResponse{}
		default:
			http.NotFound(w, r)
			return
		}
		out, _ := proto.Marshal(answer)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return &Receiver{URL: srv.URL, Spans: spans, Metrics: metrics}
}

// Sums are a counter's cumulative counts by their attributes, joined
// "k=v,k=v" in the order exported (by key).
func Sums(rm *metricspb.ResourceMetrics, name string) map[string]int64 {
	out := map[string]int64{}
	for _, m := range metricsNamed(rm, name) {
		if m.GetSum() == nil {
			continue
		}
		for _, dp := range m.GetSum().DataPoints {
			var labels []string
			for _, a := range dp.Attributes {
				labels = append(labels, a.Key+"="+a.GetValue().GetStringValue())
			}
			out[strings.Join(labels, ",")] = dp.GetAsInt()
		}
	}
	return out
}

// ServiceName is a resource's service.name.
func ServiceName(r *resourcepb.Resource) string {
	for _, a := range r.GetAttributes() {
		if a.Key == "service.name" {
			return a.GetValue().GetStringValue()
		}
	}
	return ""
}

// Labels are every data point's attributes in rm, "name k=v,k=v" a line,
// for a leak scan.
func Labels(rm *metricspb.ResourceMetrics) string {
	var b strings.Builder
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var points [][]*commonpb.KeyValue
			for _, dp := range m.GetSum().GetDataPoints() {
				points = append(points, dp.Attributes)
			}
			for _, dp := range m.GetGauge().GetDataPoints() {
				points = append(points, dp.Attributes)
			}
			for _, dp := range m.GetHistogram().GetDataPoints() {
				points = append(points, dp.Attributes)
			}
			for _, attrs := range points {
				b.WriteString(m.Name)
				for _, a := range attrs {
					b.WriteString(" " + a.Key + "=" + a.GetValue().GetStringValue())
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

// HistogramCount is how many values a histogram holds, over its points.
func HistogramCount(rm *metricspb.ResourceMetrics, name string) uint64 {
	var n uint64
	for _, m := range metricsNamed(rm, name) {
		for _, dp := range m.GetHistogram().GetDataPoints() {
			n += dp.Count
		}
	}
	return n
}

// Gauge is a gauge's last value, and whether rm has one.
func Gauge(rm *metricspb.ResourceMetrics, name string) (float64, bool) {
	for _, m := range metricsNamed(rm, name) {
		if g := m.GetGauge(); g != nil && len(g.DataPoints) > 0 {
			return g.DataPoints[len(g.DataPoints)-1].GetAsDouble(), true
		}
	}
	return 0, false
}

func metricsNamed(rm *metricspb.ResourceMetrics, name string) []*metricspb.Metric {
	var out []*metricspb.Metric
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				out = append(out, m)
			}
		}
	}
	return out
}
