// Package logging builds the slog logger every binary uses, from LOG_LEVEL
// (debug, info, warn, error) and LOG_FORMAT (text, json), with the chat
// turn's correlation ID on every line logged with its context.
package logging

import (
	"context"
	"io"
	"log/slog"

	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/correlation"
)

// New reads LOG_LEVEL and LOG_FORMAT through r and returns a logger on w.
// Problems are recorded on r like any other setting.
func New(r *config.Reader, w io.Writer) *slog.Logger {
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	level := levels[r.OneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")]
	opts := &slog.HandlerOptions{Level: level}
	if r.OneOf("LOG_FORMAT", "text", "text", "json") == "json" {
		return slog.New(Correlated(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(Correlated(slog.NewTextHandler(w, opts)))
}

// Correlated adds correlation_id, the turn's ID from the record's context,
// to every record h handles: code logs with its context (InfoContext and
// the like) and never passes the ID by hand.
func Correlated(h slog.Handler) slog.Handler { return correlated{h} }

type correlated struct{ slog.Handler }

func (c correlated) Handle(ctx context.Context, r slog.Record) error {
	if id := correlation.FromContext(ctx); id != "" {
		r.AddAttrs(slog.String("correlation_id", id))
	}
	return c.Handler.Handle(ctx, r)
}

func (c correlated) WithAttrs(attrs []slog.Attr) slog.Handler {
	return correlated{c.Handler.WithAttrs(attrs)}
}

func (c correlated) WithGroup(name string) slog.Handler { return correlated{c.Handler.WithGroup(name)} }
