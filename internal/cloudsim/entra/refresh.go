package entra

import (
	"sync"
	"time"
)

// refreshLifetime bounds cloudsim's in-memory refresh tokens. Entra's last
// 90 days; cloudsim forgets them on restart anyway.
// An SPA's chain is capped at 24 hours from its sign-in, as Entra does.
const (
	refreshLifetime    = 24 * time.Hour
	spaRefreshLifetime = 24 * time.Hour
	maxRefresh         = 10000
)

// refreshGrant is what a refresh token stands for: a user (or agent user)
// and the client it was issued to.
type refreshGrant struct {
	clientID  string
	userOID   string
	agentUser bool
	issued    time.Time
	spaChain  time.Time // zero unless issued to an SPA redirect URI's sign-in
	// scope is the scope parameter the grant was issued for (one
	// resource's scopes and the OpenID ones): what a refresh without a
	// scope asks for again.
	scope string
}

// refreshStore keeps refresh tokens in memory. They are opaque random
// strings, like Entra's, and bound to the client that received them.
type refreshStore struct {
	mu     sync.Mutex
	grants map[string]refreshGrant
}

func newRefreshStore() *refreshStore {
	return &refreshStore{grants: map[string]refreshGrant{}}
}

func (rs *refreshStore) issue(g refreshGrant, now time.Time) string {
	token := "1.A" + randomB64(96)
	g.issued = now
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.grants) >= maxRefresh {
		// Full: drop expired grants, then any, until there is room.
		for k, v := range rs.grants {
			if now.Sub(v.issued) > refreshLifetime {
				delete(rs.grants, k)
			}
		}
		for k := range rs.grants {
			if len(rs.grants) < maxRefresh {
				break
			}
			delete(rs.grants, k)
		}
	}
	rs.grants[token] = g
	return token
}

func (rs *refreshStore) lookup(token string) (refreshGrant, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	g, ok := rs.grants[token]
	return g, ok
}
