package command

import (
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Deps are what a binary's Build takes from whoever starts it rather than
// from its settings. The binaries' own Run leaves HTTPClient and Now zero
// (the platform's defaults); the local stack passes a client that trusts
// cloudsim's CA.
type Deps struct {
	// HTTPClient reaches Entra, the managed identity endpoint and the
	// APIs the binary calls (nil: each library's default).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock tokens are checked against (nil: time.Now).
	Now func() time.Time
	// Tracer and Meter are the OpenTelemetry providers (nil: none).
	Tracer trace.TracerProvider
	Meter  metric.MeterProvider
}

// Log is d.Logger, or one that discards when none was given.
func (d Deps) Log() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}
