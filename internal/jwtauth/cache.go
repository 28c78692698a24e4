package jwtauth

import (
	"crypto/sha256"
	"hash"
	"sync"
	"time"
)

// maxCachedTokens bounds the validation cache; an agent fleet presents far
// fewer distinct live tokens than this.
const maxCachedTokens = 8192

// sweepEvery is how often put drops the entries that can no longer
// answer (past their token's exp or the cache's own limit), so a validated
// token's claims do not outlive it until the cache fills.
const sweepEvery = time.Minute

// resultCache remembers tokens that passed every check, keyed by their
// SHA-256 so the cache never holds a usable token. Only successes are kept:
// a forged token is verified, and refused, every time it is presented.
type resultCache struct {
	mu      sync.RWMutex
	entries map[[32]byte]cachedResult
	swept   time.Time // the last sweep of dead entries
}

type cachedResult struct {
	caller  *Caller
	exp     time.Time // the token's own exp; checked again on every hit
	nbf     time.Time
	dropsAt time.Time // when the cache stops vouching for it
}

func (c *resultCache) get(key [32]byte) (cachedResult, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.entries[key]
	return r, ok
}

func (c *resultCache) put(key [32]byte, r cachedResult, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[32]byte]cachedResult{}
	}
	if len(c.entries) >= maxCachedTokens || now.Sub(c.swept) >= sweepEvery {
		c.swept = now
		for k, e := range c.entries {
			if !now.Before(e.dropsAt) || !now.Before(e.exp) {
				delete(c.entries, k)
			}
		}
	}
	for k := range c.entries { // still full: drop arbitrary entries (map order)
		if len(c.entries) < maxCachedTokens {
			break
		}
		delete(c.entries, k)
	}
	c.entries[key] = r
}

// tokenKey is the token's SHA-256. sha256.Sum256([]byte(token)) would
// copy the token (a few KiB) to the heap on every request; a pooled
// digest reads it through a fixed buffer instead, allocating nothing.
func tokenKey(token string) [32]byte {
	h := hashers.Get().(*tokenHasher)
	defer hashers.Put(h)
	h.digest.Reset()
	for token != "" {
		n := copy(h.buf[:], token)
		h.digest.Write(h.buf[:n])
		token = token[n:]
	}
	var key [32]byte
	copy(key[:], h.digest.Sum(h.sum[:0]))
	return key
}

type tokenHasher struct {
	digest hash.Hash
	buf    [1024]byte
	sum    [sha256.Size]byte
}

var hashers = sync.Pool{New: func() any { return &tokenHasher{digest: sha256.New()} }}
