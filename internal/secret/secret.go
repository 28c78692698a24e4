// Package secret holds values that must never be printed: a client secret,
// an Authorization header value. Every way Go and slog format a value
// (%v, %+v, %#v, %s, JSON, slog) shows "[redacted]"; only Reveal gives the
// value, at the one place it is sent.
package secret

import "log/slog"

// Value is a secret string.
type Value struct{ v string }

// New wraps s.
func New(s string) Value { return Value{v: s} }

// Reveal returns the secret, for the request that needs it.
func (s Value) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Value) IsZero() bool { return s.v == "" }

const redacted = "[redacted]"

func (s Value) String() string               { return redacted }
func (s Value) GoString() string             { return redacted }
func (s Value) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (s Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (s Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }
