package jwtauth

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// tokenKey reads the token through a fixed buffer: it must be the
// token's SHA-256 whatever its length, buffer boundaries included.
func TestTokenKeyIsSHA256(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 1023, 1024, 1025, 2048, 3000, MaxTokenBytes} {
		token := strings.Repeat("eyJhbGciOiJSUzI1NiJ9.", n/21+1)[:n]
		if got, want := tokenKey(token), sha256.Sum256([]byte(token)); got != want {
			t.Errorf("%d bytes: %x, want %x", n, got, want)
		}
	}
}
