package identity

import (
	"crypto/sha256"
	"maps"
	"sync"
	"time"
)

// maxDecoded bounds the decoded tokens a provider keeps.
const maxDecoded = 1024

// decodedSweepEvery is how often cards of expired tokens are dropped while
// any are kept, so an idle process frees them without a request.
const decodedSweepEvery = time.Minute

// DecodedTokens remembers tokens already decoded. A cached token comes
// back from MSAL or the sidecar on every turn, and decoding its header and
// claims again was the identity step's largest cost. Entries are keyed by
// the token's SHA-256, so no token is held here, and are shared read-only:
// nothing changes their maps after decoding. A card is kept until its
// token expires (then nobody presents it again), at most maxDecoded.
type DecodedTokens struct {
	mu    sync.Mutex
	byKey map[decodedKey]decodedEntry
	sweep *time.Timer
}

type decodedKey struct {
	name string
	sum  [sha256.Size]byte
}

type decodedEntry struct {
	card DecodedToken
	exp  time.Time // zero: the token has no exp; kept until evicted
}

// Decode is DecodeToken, remembered.
func (c *DecodedTokens) Decode(name, token string) (DecodedToken, error) {
	key := decodedKey{name, sha256.Sum256([]byte(token))}
	c.mu.Lock()
	e, ok := c.byKey[key]
	c.mu.Unlock()
	if ok {
		return e.card, nil
	}
	d, err := DecodeToken(name, token)
	if err != nil {
		return DecodedToken{}, err
	}
	e = decodedEntry{card: d}
	if exp, ok := d.Claims["exp"].(float64); ok && exp > 0 {
		e.exp = time.Unix(int64(exp), 0)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[decodedKey]decodedEntry{}
	}
	if len(c.byKey) >= maxDecoded {
		c.dropExpired(time.Now())
		// Still full: any entry may go.
		for k := range c.byKey {
			if len(c.byKey) < maxDecoded {
				break
			}
			delete(c.byKey, k)
		}
	}
	c.byKey[key] = e
	if c.sweep == nil {
		c.sweep = time.AfterFunc(decodedSweepEvery, c.sweepExpired)
	}
	return d, nil
}

func (c *DecodedTokens) dropExpired(now time.Time) {
	for k, e := range c.byKey {
		if !e.exp.IsZero() && !now.Before(e.exp) {
			delete(c.byKey, k)
		}
	}
	if len(c.byKey) < maxDecoded/4 {
		// A Go map keeps its buckets when emptied: copy what is left
		// into one sized for it.
		c.byKey = maps.Clone(c.byKey)
	}
}

func (c *DecodedTokens) sweepExpired() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpired(time.Now())
	if len(c.byKey) > 0 {
		c.sweep.Reset(decodedSweepEvery)
		return
	}
	c.sweep = nil
}

// len is how many cards are kept.
func (c *DecodedTokens) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey)
}
