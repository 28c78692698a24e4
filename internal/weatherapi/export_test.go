package weatherapi

import (
	"context"
	"io"
	"net/http"

	"go.opentelemetry.io/otel/metric"

	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/telemetry"
)

// QueryValue exposes queryValue to the external tests.
var QueryValue = queryValue

// CountRequests turns the request counter on, as Handler does with a meter.
func CountRequests(s *Server, m metric.Meter) {
	s.requests, _ = m.Int64Counter("agentid.weather_api.requests")
}

// Stack is the handler the weather-api binary serves, wired by Run's own
// setup from getenv, with the tenant's keys fetched through client (a
// cloudsim's), and its telemetry to flush.
func Stack(ctx context.Context, getenv func(string) string, stderr io.Writer, client *http.Client) (http.Handler, *telemetry.Telemetry, error) {
	svc, tel, err := setup(ctx, config.New(getenv), getenv, stderr, command.Deps{HTTPClient: client})
	if err != nil {
		return nil, nil, err
	}
	if err := svc.keys.Refresh(ctx); err != nil {
		return nil, nil, err
	}
	return svc.Handler(), tel, nil
}
