// Package correlation is the ID a chat turn carries from the browser
// through llm-agent to the Weather API, so one turn can be followed across
// their logs and traces: the turn's W3C trace ID, or a caller's
// X-Correlation-ID when no traceparent came. Every component accepts the
// same IDs, and keeps the turn's in the request's context, where the
// logging handler finds it.
package correlation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
)

// Header is the header that carries the ID.
const Header = "X-Correlation-ID"

// FromRequest is the caller's ID when it looks like one: 8 to 64
// characters of hex digits and dashes (a UUID, say), lowercased. Anything
// else is refused, so a log line never holds what a caller chose to write.
func FromRequest(r *http.Request) (string, bool) {
	id := r.Header.Get(Header)
	if len(id) < 8 || len(id) > 64 || strings.Trim(id, "0123456789abcdefABCDEF-") != "" {
		return "", false
	}
	return strings.ToLower(id), true
}

// NewTraceID is a random W3C trace ID: 32 lowercase hex digits.
func NewTraceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type idKey struct{}

// WithID is ctx carrying the turn's ID.
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey{}, id)
}

// FromContext is the ID WithID put in ctx, or "".
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}
