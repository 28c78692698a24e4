package jwtauth_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
)

// countingKeys counts signature checks.
type countingKeys struct {
	inner *jwtauth.KeySet
	mu    sync.Mutex
	n     int
}

func (c *countingKeys) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.inner.VerifySignature(ctx, token)
}

func (c *countingKeys) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func TestValidationCache(t *testing.T) {
	f := newFixture(t)
	keys := &countingKeys{inner: f.keySet()}
	now := time.Now()
	p := f.policy()
	p.CacheFor = 5 * time.Minute
	p.Now = func() time.Time { return now }
	v, err := jwtauth.New(p, keys)
	if err != nil {
		t.Fatal(err)
	}
	tg := f.target()
	claims := jwtauthtest.Edit(tg.GoodClaims(), map[string]any{"exp": now.Add(10 * time.Minute).Unix()})
	tok := tg.Sign(t, claims)

	first, e := v.Validate(t.Context(), tok)
	if e != nil {
		t.Fatal(e)
	}
	first.Roles[0] = "changed by the caller" // a caller's edits must not reach the cache
	first.AppID = "changed"
	for range 3 {
		again, e := v.Validate(t.Context(), tok)
		if e != nil || again.AppID != f.env["AGENT_CLIENT_ID"] || again.Roles[0] != "Weather.Read" {
			t.Fatalf("cached validation: %+v, %v", again, e)
		}
	}
	if n := keys.count(); n != 1 {
		t.Errorf("%d signature checks for one token presented 4 times, want 1", n)
	}

	// Another token, or the same claims with another signature, is no hit.
	parts := strings.Split(tok, ".")
	if _, e := v.Validate(t.Context(), parts[0]+"."+parts[1]+"."+strings.Repeat("A", len(parts[2]))); e == nil {
		t.Fatal("a token with a bad signature was accepted")
	}
	// Refusals are not cached: each presentation is verified again.
	attacks, _ := tg.Attacks(t)
	var forged string
	for _, a := range attacks {
		if a.Name == "known kid, forged signature" {
			forged = a.Token
		}
	}
	before := keys.count()
	for range 2 {
		if _, e := v.Validate(t.Context(), forged); e == nil {
			t.Fatal("a forged token was accepted")
		}
	}
	if n := keys.count() - before; n != 2 {
		t.Errorf("%d signature checks for a forged token presented twice, want 2", n)
	}

	// The cache stops vouching after CacheFor: the token is verified again.
	now = now.Add(5*time.Minute + time.Second)
	before = keys.count()
	if _, e := v.Validate(t.Context(), tok); e != nil {
		t.Fatal(e)
	}
	if keys.count() != before+1 {
		t.Error("a cache entry outlived CacheFor")
	}
	// A cached token still expires on time.
	now = now.Add(5*time.Minute + p.Leeway)
	if _, e := v.Validate(t.Context(), tok); e == nil || !strings.Contains(e.Description, "expired") {
		t.Fatalf("an expired cached token: %v", e)
	}
}

// A cache hit, the path every request of a busy caller takes, allocates
// only the caller's copy (the Caller and its roles): not the token, which
// is hashed where it lies.
func TestCacheHitAllocatesOnlyTheCaller(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates, and drops sync.Pool entries at random")
	}
	f := newFixture(t)
	p := f.policy()
	p.CacheFor = 5 * time.Minute
	v, err := jwtauth.New(p, f.keySet())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/weather", nil)
	req.Header.Set("Authorization", "Bearer "+f.appToken(t))
	if _, e := v.Authenticate(req); e != nil {
		t.Fatal(e)
	}
	if n := testing.AllocsPerRun(200, func() { v.Authenticate(req) }); n > 2 {
		t.Errorf("a cache hit allocates %.0f times, want at most 2 (the Caller and its roles)", n)
	}
}
