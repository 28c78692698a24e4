package identity_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// The agent user's token is asked of Entra once per token through either
// provider: MSAL in process through AcquireTokenSilent, and the sidecar
// stand-in as Microsoft's sidecar does.
func TestAgentUserTokenCachedForEachProvider(t *testing.T) {
	f := newFixture(t, nil)
	for name, p := range f.providers(t) {
		t.Run(name, func(t *testing.T) {
			stats := f.sim.Entra.Stats()
			before := stats.Get("entra.token.grant.user_fic")
			var first string
			for i := range 10 {
				res, err := p.AuthorizationHeader(t.Context(), identity.Request{Flow: identity.AgentUser})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = res.Header.Reveal()
				} else if res.Header.Reveal() != first {
					t.Errorf("TAU %d is a new token", i+1)
				}
				if res.Facts.CacheHit != nil && *res.Facts.CacheHit != (i > 0) {
					t.Errorf("TAU %d: cache hit %t", i+1, *res.Facts.CacheHit)
				}
			}
			// The sidecar stand-in is shared by the providers: the first
			// to ask filled its cache.
			if n := stats.Get("entra.token.grant.user_fic") - before; n > 1 {
				t.Errorf("10 agent user acquisitions made %d user_fic requests, want at most 1", n)
			}
		})
	}
}

// Concurrent requests for the same token (flow, target, user) share one
// call to the sidecar: four callers each for TR, alice's TU, bob's TU and
// TAU make four sidecar calls.
func TestSidecarClientSharesConcurrentRequests(t *testing.T) {
	f := newFixture(t, nil)
	target, _ := url.Parse(f.sim.SidecarURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	seen := map[string]int{}
	release := make(chan struct{})
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		mu.Lock()
		seen[r.URL.Path+fmt.Sprintf(" %x", sum[:4])]++
		mu.Unlock()
		<-release
		proxy.ServeHTTP(w, r)
	}))
	defer gate.Close()
	p := f.provider(t, map[string]string{"IDENTITY_PROVIDER": "sidecar", "SIDECAR_URL": gate.URL})
	alice := f.userToken(t)
	bob := secret.New(f.tokens.UserNamed(t, "bob@contoso.example", "bob-local-demo-password"))
	reqs := []identity.Request{{Flow: identity.Autonomous}, {Flow: identity.OnBehalfOf, UserToken: alice}, {Flow: identity.OnBehalfOf, UserToken: bob}, {Flow: identity.AgentUser}}
	var wg sync.WaitGroup
	for range 4 {
		for _, req := range reqs {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if _, err := p.AuthorizationHeader(ctx, req); err != nil {
					t.Error(err)
				}
			})
		}
	}
	for i := 0; ; i++ {
		if calls, waiting := identity.SidecarFlight(p); calls == 4 && waiting == 12 {
			break
		}
		if i == 1000 {
			t.Fatal("the 16 requests did not line up behind 4 calls within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if len(seen) != 4 {
		t.Errorf("sidecar calls %v, want one for each of the 4 tokens", seen)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s: %d calls", k, n)
		}
	}
}
