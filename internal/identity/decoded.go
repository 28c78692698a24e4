package identity

import (
	"crypto/sha256"
	"sync"
)

// maxDecoded bounds the decoded tokens a provider keeps.
const maxDecoded = 1024

// DecodedTokens remembers tokens already decoded. A cached token comes
// back from MSAL or the sidecar on every turn, and decoding its header and
// claims again was the identity step's largest cost. Entries are keyed by
// the token's SHA-256, so no token is held here, and are shared read-only:
// nothing changes their maps after decoding.
type DecodedTokens struct {
	mu    sync.Mutex
	byKey map[decodedKey]DecodedToken
}

type decodedKey struct {
	name string
	sum  [sha256.Size]byte
}

// Decode is DecodeToken, remembered.
func (c *DecodedTokens) Decode(name, token string) (DecodedToken, error) {
	key := decodedKey{name, sha256.Sum256([]byte(token))}
	c.mu.Lock()
	d, ok := c.byKey[key]
	c.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := DecodeToken(name, token)
	if err != nil {
		return DecodedToken{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[decodedKey]DecodedToken{}
	}
	if len(c.byKey) >= maxDecoded {
		// Tokens expire within hours; any entry may go.
		for k := range c.byKey {
			delete(c.byKey, k)
			break
		}
	}
	c.byKey[key] = d
	return d, nil
}
