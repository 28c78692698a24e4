package identity

import (
	"crypto/sha256"
	"sync"
)

// maxCards bounds the decoded cards a provider keeps.
const maxCards = 1024

// CardCache remembers the cards of tokens already decoded. A cached token
// comes back from MSAL or the sidecar on every turn, and decoding its
// header and claims again was the identity step's largest cost. Cards are
// keyed by the token's SHA-256, so no token is held here, and are shared
// read-only: nothing changes a card's maps after decoding.
type CardCache struct {
	mu    sync.Mutex
	cards map[cardKey]Card
}

type cardKey struct {
	name string
	sum  [sha256.Size]byte
}

// Decode is DecodeCard, remembered.
func (c *CardCache) Decode(name, token string) (Card, error) {
	key := cardKey{name, sha256.Sum256([]byte(token))}
	c.mu.Lock()
	card, ok := c.cards[key]
	c.mu.Unlock()
	if ok {
		return card, nil
	}
	card, err := DecodeCard(name, token)
	if err != nil {
		return Card{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cards == nil {
		c.cards = map[cardKey]Card{}
	}
	if len(c.cards) >= maxCards {
		// Tokens expire within hours; any entry may go.
		for k := range c.cards {
			delete(c.cards, k)
			break
		}
	}
	c.cards[key] = card
	return card, nil
}
