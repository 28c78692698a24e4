package weatherapi

import "go.opentelemetry.io/otel/metric"

// QueryValue exposes queryValue to the external tests.
var QueryValue = queryValue

// CountRequests turns the request counter on, as Handler does with a meter.
func CountRequests(s *Server, m metric.Meter) {
	s.requests, _ = m.Int64Counter("agentid.weather_api.requests")
}
