package identity

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"
)

// expiring is a JWT whose exp is at.
func expiring(n int, at time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(fmt.Appendf(nil, `{"n":%d,"exp":%d}`, n, at.Unix())) + ".sig"
}

// Cards of expired tokens are dropped by the sweep, with no request: an
// idle process frees them. Live ones, and tokens without exp, stay.
func TestCardsOfExpiredTokensAreDropped(t *testing.T) {
	var c DecodedTokens
	c.Decode("TU", expiring(1, time.Now().Add(-time.Second)))
	c.Decode("TU", expiring(2, time.Now().Add(time.Hour)))
	c.Decode("TR", fakeJWT(3))
	c.sweepExpired()
	if n := c.len(); n != 2 {
		t.Errorf("%d cards after the sweep, want 2", n)
	}
	c.mu.Lock()
	armed := c.sweep != nil
	c.sweep.Stop()
	c.mu.Unlock()
	if !armed {
		t.Error("the sweep is not armed while cards are kept")
	}
}
