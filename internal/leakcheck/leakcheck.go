// Package leakcheck finds credentials in text that should hold none: log
// output, error bodies, trace events. Tests use it to prove that no token
// or secret leaves the process in the clear.
package leakcheck

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
)

// jwtShape matches a compact JWS or JWE whose header is JSON: the form
// every Entra token takes.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

// Find reports every token-shaped string in text, and every secret (a known
// token, its signature, a password) that appears in it, each redacted so a
// failure message does not leak it again. Secrets shorter than 8 characters
// are ignored: they would match by chance.
func Find(text string, secrets ...string) []string {
	var found []string
	for _, m := range jwtShape.FindAllString(text, -1) {
		found = append(found, "token "+redact(m))
	}
	for _, s := range secrets {
		if len(s) < 8 {
			continue
		}
		if strings.Contains(text, s) {
			found = append(found, redact(s))
			continue
		}
		// A token's signature alone is as telling as the whole token.
		if parts := strings.Split(s, "."); len(parts) == 3 && len(parts[2]) >= 16 && strings.Contains(text, parts[2]) {
			found = append(found, "signature of "+redact(s))
		}
	}
	return found
}

// redact shows enough of a secret to recognise it in a failure message.
func redact(s string) string {
	if len(s) <= 12 {
		return "[secret]"
	}
	return s[:6] + "…" + s[len(s)-4:]
}

// Log collects what components write from any goroutine (slog handlers,
// a child process's stderr), for a leak scan once they are done.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
