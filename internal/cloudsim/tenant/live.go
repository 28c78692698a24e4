package tenant

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Live is the tenant as it changes while cloudsim runs: the tenant file's
// directory, then every change cloudsim's Microsoft Graph makes. Each
// change publishes a new Directory, so a reader holds one consistent,
// unchanging snapshot for as long as it needs it. Changes last until
// cloudsim stops.
type Live struct {
	cur   atomic.Pointer[Directory]
	mu    sync.Mutex // one change at a time
	now   func() time.Time
	delay time.Duration
}

// NewLive starts from d. For delay after an application, agent identity
// or federated credential is created, the token endpoint does not know it
// (ForTokens), as a real tenant's replicas lag its Graph writes; 0 turns
// that off.
func NewLive(d *Directory, now func() time.Time, delay time.Duration) *Live {
	if now == nil {
		now = time.Now
	}
	l := &Live{now: now, delay: delay}
	l.cur.Store(d)
	return l
}

// Load is the directory as Microsoft Graph sees it: every object.
func (l *Live) Load() *Directory { return l.cur.Load() }

// ForTokens is the directory as the token endpoint sees it: without the
// applications, agent identities and federated credentials created less
// than the replication delay ago.
func (l *Live) ForTokens() *Directory {
	d := l.cur.Load()
	if l.delay <= 0 {
		return d
	}
	view := *d
	view.hideAfter = l.now().Add(-l.delay)
	return &view
}

// Now is the clock changes are stamped with.
func (l *Live) Now() time.Time { return l.now() }

// Update applies edit to a copy of the directory and publishes it, or
// publishes nothing when edit fails. edit may append to the copy's lists
// and replace their elements, but must not change an element in place:
// the Edit methods give it a copy to change.
func (l *Live) Update(edit func(next *Directory) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.cur.Load()
	next := *cur
	next.Applications = slices.Clone(cur.Applications)
	next.AgentIdentities = slices.Clone(cur.AgentIdentities)
	next.Users = slices.Clone(cur.Users)
	next.AgentUsers = slices.Clone(cur.AgentUsers)
	next.Consents = slices.Clone(cur.Consents)
	if err := edit(&next); err != nil {
		return err
	}
	next.index()
	l.cur.Store(&next)
	return nil
}

// hidden reports whether an object created at t is still unknown to the
// token endpoint.
func (d *Directory) hidden(t time.Time) bool {
	return !d.hideAfter.IsZero() && t.After(d.hideAfter)
}

// EditApp replaces the application with this appId by a copy, for an
// Update to change, and returns the copy (nil when there is none).
func (d *Directory) EditApp(appID string) *Application {
	for i, a := range d.Applications {
		if a.AppID == appID {
			c := *a
			c.IdentifierURIs = slices.Clone(a.IdentifierURIs)
			c.Scopes = slices.Clone(a.Scopes)
			c.AdminConsentScopes = slices.Clone(a.AdminConsentScopes)
			c.AppRoles = slices.Clone(a.AppRoles)
			c.Secrets = slices.Clone(a.Secrets)
			c.SecretEnds = maps.Clone(a.SecretEnds)
			c.SecretStarts = maps.Clone(a.SecretStarts)
			c.Owners = slices.Clone(a.Owners)
			c.AppRoleIDs = maps.Clone(a.AppRoleIDs)
			c.ScopeIDs = maps.Clone(a.ScopeIDs)
			c.FederatedCredentials = slices.Clone(a.FederatedCredentials)
			c.SPARedirectURIs = slices.Clone(a.SPARedirectURIs)
			c.WebRedirectURIs = slices.Clone(a.WebRedirectURIs)
			d.Applications[i] = &c
			return &c
		}
	}
	return nil
}
