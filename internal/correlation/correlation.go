// Package correlation is the X-Correlation-ID a chat turn carries from
// the browser through llm-agent to the Weather API, so one turn can be
// followed across their logs. Every component accepts the same IDs.
package correlation

import (
	"crypto/rand"
	"fmt"
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

// New is a random UUID (version 4).
func New() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
