// Package logging builds the slog logger every binary uses, from LOG_LEVEL
// (debug, info, warn, error) and LOG_FORMAT (text, json).
package logging

import (
	"io"
	"log/slog"

	"github.com/crosscloud-agentid/agentid/internal/config"
)

// New reads LOG_LEVEL and LOG_FORMAT through r and returns a logger on w.
// Problems are recorded on r like any other setting.
func New(r *config.Reader, w io.Writer) *slog.Logger {
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	level := levels[r.OneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")]
	opts := &slog.HandlerOptions{Level: level}
	if r.OneOf("LOG_FORMAT", "text", "text", "json") == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
