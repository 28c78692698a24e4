package entra

import (
	"crypto/subtle"
	"sync"
	"time"
)

// refreshLifetime bounds cloudsim's in-memory refresh tokens. Entra's last
// 90 days; cloudsim forgets them on restart anyway.
const (
	refreshLifetime = 24 * time.Hour
	maxRefresh      = 10000
)

// refreshGrant is what a refresh token stands for: a user (or agent user)
// and the client it was issued to.
type refreshGrant struct {
	token     string
	clientID  string
	userOID   string
	agentUser bool
	issued    time.Time
}

// refreshStore keeps refresh tokens in memory. They are opaque random
// strings, like Entra's, and bound to the client that received them.
type refreshStore struct {
	mu     sync.Mutex
	grants map[string]*refreshGrant
}

func newRefreshStore() *refreshStore {
	return &refreshStore{grants: map[string]*refreshGrant{}}
}

func (rs *refreshStore) issue(g refreshGrant, now time.Time) string {
	g.token = "1.A" + randomB64(96)
	g.issued = now
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.grants) >= maxRefresh {
		for k, v := range rs.grants {
			if now.Sub(v.issued) > refreshLifetime || len(rs.grants) >= maxRefresh {
				delete(rs.grants, k)
			}
		}
	}
	rs.grants[g.token] = &g
	return g.token
}

func (rs *refreshStore) lookup(token string) *refreshGrant {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	g := rs.grants[token]
	if g == nil || subtle.ConstantTimeCompare([]byte(g.token), []byte(token)) != 1 {
		return nil
	}
	return g
}
