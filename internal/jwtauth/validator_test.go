package jwtauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

type fixture struct {
	sim    *cloudsim.Sim
	env    map[string]string
	http   *http.Client
	tokens *cloudsimtest.Tokens
}

func newFixture(t testing.TB) *fixture {
	sim := cloudsimtest.Start(t, nil)
	tokens := cloudsimtest.NewTokens(sim)
	return &fixture{sim: sim, env: tokens.Env, http: tokens.HTTP, tokens: tokens}
}

func (f *fixture) appToken(t *testing.T) string {
	return f.tokens.App(t, "api://"+f.env["WEATHER_API_APP_ID"])
}

func (f *fixture) oboToken(t *testing.T) string {
	return f.tokens.OBO(t, "api://"+f.env["WEATHER_API_APP_ID"]+"/Weather.Read")
}

func (f *fixture) agentUserToken(t *testing.T) string {
	return f.tokens.AgentUser(t, "api://"+f.env["WEATHER_API_APP_ID"])
}

func (f *fixture) keySet() *jwtauth.KeySet {
	base := f.sim.URL + "/" + f.env["TENANT_ID"]
	return jwtauth.NewKeySet(f.http, base+"/discovery/v2.0/keys", base+"/discovery/keys")
}

func (f *fixture) policy() jwtauth.Policy {
	w := f.env["WEATHER_API_APP_ID"]
	return jwtauth.Policy{
		TenantID: f.env["TENANT_ID"], Audiences: []string{w, "api://" + w}, Versions: []int{1, 2},
		AllowedCallers: []string{f.env["AGENT_CLIENT_ID"]}, RequiredRole: "Weather.Read", RequiredScope: "Weather.Read",
		Leeway: time.Minute,
	}
}

func (f *fixture) target() jwtauthtest.Target {
	return jwtauthtest.Target{TenantID: f.env["TENANT_ID"], Audience: f.env["WEATHER_API_APP_ID"], Caller: f.env["AGENT_CLIENT_ID"],
		Forbidden: f.env["CLIENT_SPA_APP_ID"], Role: "Weather.Read", Keys: f.sim.Keys}
}

func (f *fixture) goodClaims() map[string]any { return f.target().GoodClaims() }

func TestValidatorAcceptsEveryCloudsimFlow(t *testing.T) {
	f := newFixture(t)
	v, err := jwtauth.New(f.policy(), f.keySet())
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := f.sim.Keys.Sign(jwtauthtest.Edit(f.goodClaims(), map[string]any{"iss": jwtauth.IssuerV1(f.env["TENANT_ID"]), "ver": "1.0",
		"aud": "api://" + f.env["WEATHER_API_APP_ID"], "azp": nil, "appid": f.env["AGENT_CLIENT_ID"]}), true)
	cases := []struct {
		name, token, flow, version string
		user                       bool
	}{
		{"app-only v2 (TR)", f.appToken(t), "app", "2.0", false},
		{"app-only v1", v1, "app", "1.0", false},
		{"delegated (TU)", f.oboToken(t), "delegated", "2.0", true},
		{"agent user (TAU)", f.agentUserToken(t), "agent_user", "2.0", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			caller, e := v.Validate(t.Context(), c.token)
			if e != nil {
				t.Fatal(e)
			}
			if caller.Flow != c.flow || caller.TokenVersion != c.version || caller.AppID != f.env["AGENT_CLIENT_ID"] || !caller.AgentIdentity || (caller.UserOID != "") != c.user {
				t.Fatalf("caller = %+v", caller)
			}
		})
	}
}

func TestValidatorRefusesAttacks(t *testing.T) {
	f := newFixture(t)
	p := f.policy()
	v, err := jwtauth.New(p, f.keySet())
	if err != nil {
		t.Fatal(err)
	}
	cases, valid := f.target().Attacks(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			_, e := v.Validate(t.Context(), c.Token)
			if e == nil {
				t.Fatal("accepted")
			}
			if e.Status != c.Status || e.Code != c.Code || !strings.HasPrefix(e.WWWAuthenticate(), `Bearer error="`+c.Code+`"`) {
				t.Fatalf("got %d %s (%s), want %d %s", e.Status, e.Code, e.Description, c.Status, c.Code)
			}
			if leaked := leakcheck.Find(e.WWWAuthenticate(), c.Token, valid); len(leaked) > 0 {
				t.Fatalf("the refusal repeats the token: %v", leaked)
			}
		})
	}
	if _, e := v.Validate(t.Context(), valid); e != nil {
		t.Fatalf("the unmodified token was refused: %v", e)
	}
}

func TestBearerHeaderParsing(t *testing.T) {
	const missing, invalid = jwtauth.CodeMissingToken, jwtauth.CodeInvalidToken
	cases := []struct {
		header, code string // code "" when the token is extracted
	}{
		{"Bearer abc", ""}, {"bearer abc", ""}, {"BEARER   abc ", ""},
		{"", missing}, {"   ", missing}, {"Bearer", missing}, {"Bearer ", missing}, {"Basic abc", missing}, {"Bearerabc", missing},
		{"Bearer a b", invalid}, {"Bearer a\tb", invalid}, {"Bearer " + strings.Repeat("a", jwtauth.MaxTokenBytes+1), invalid},
	}
	for _, c := range cases {
		_, e := jwtauth.BearerToken(c.header)
		if c.code == "" {
			if e != nil {
				t.Errorf("%.20q: refused: %v", c.header, e)
			}
			continue
		}
		if e == nil || e.Code != c.code || e.Status != 401 {
			t.Errorf("%.20q: %v, want 401 %s", c.header, e, c.code)
			continue
		}
		// RFC 6750 §3.1: no error code when no credentials were offered.
		if want := c.code == missing; (e.WWWAuthenticate() == "Bearer") != want {
			t.Errorf("%.20q: WWW-Authenticate %q", c.header, e.WWWAuthenticate())
		}
	}
}

func TestAgentIdentityRequirement(t *testing.T) {
	f := newFixture(t)
	p := f.policy()
	p.RequireAgentIdentity = true
	v, _ := jwtauth.New(p, f.keySet())
	plain, _ := f.sim.Keys.Sign(jwtauthtest.Edit(f.goodClaims(), map[string]any{"xms_act_fct": nil}), false)
	if _, e := v.Validate(t.Context(), plain); e == nil || e.Status != 403 {
		t.Fatalf("a non-agent caller passed REQUIRE_AGENT_IDENTITY: %v", e)
	}
	if _, e := v.Validate(t.Context(), f.appToken(t)); e != nil {
		t.Fatalf("the agent identity's TR was refused: %v", e)
	}
}

// A key set in front of a counting JWKS server: rotation, forged-kid
// floods and an outage.
func TestKeySetRotationRateLimitAndOutage(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	fetches, down := 0, false
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetches++
		isDown := down
		mu.Unlock()
		if isDown {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		doc, _ := f.sim.Keys.JWKS("")
		w.Write(doc)
	}))
	defer jwks.Close()
	now := time.Now()
	var clock sync.Mutex
	ks := jwtauth.NewKeySet(jwks.Client(), jwks.URL)
	ks.Now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	advance := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	v, _ := jwtauth.New(f.policy(), ks)
	count := func() int { mu.Lock(); defer mu.Unlock(); return fetches }

	if _, e := v.Validate(t.Context(), f.appToken(t)); e != nil {
		t.Fatal(e)
	}
	if count() != 1 {
		t.Fatalf("first validation made %d fetches, want 1", count())
	}

	foreign, _ := rsa.GenerateKey(rand.Reader, 2048)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kid := f.sim.Keys.ActiveID()
			if i%2 == 0 {
				kid = "random-" + string(rune('a'+i%26)) + time.Now().String()
			}
			tok, _ := signing.SignWith(foreign, kid, f.goodClaims(), false)
			if _, e := v.Validate(t.Context(), tok); e == nil {
				t.Error("forged token accepted")
			}
		}()
	}
	wg.Wait()
	if got := count(); got > 2 {
		t.Fatalf("200 forged tokens caused %d fetches, want at most 1 more than the initial one", got-1)
	}

	// Rotation: after the cooldown, a token with the new kid is accepted
	// without a restart.
	if _, err := f.sim.Keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	advance(31 * time.Second)
	if _, e := v.Validate(t.Context(), f.appToken(t)); e != nil {
		t.Fatalf("token with the rotated key: %v", e)
	}

	// Outage: the keys already held keep working.
	mu.Lock()
	down = true
	mu.Unlock()
	advance(time.Hour)
	for range 3 {
		if _, e := v.Validate(t.Context(), f.appToken(t)); e != nil {
			t.Fatalf("validation stopped during an IdP outage: %v", e)
		}
	}
}

// A cold key set hit by many valid tokens at once: one fetch, every token
// accepted (callers wait for the fetch in flight instead of being refused).
func TestColdKeySetUnderConcurrentLoad(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	fetches := 0
	release := make(chan struct{})
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetches++
		mu.Unlock()
		<-release // hold the first fetch until every caller is waiting
		doc, _ := f.sim.Keys.JWKS("")
		w.Write(doc)
	}))
	defer jwks.Close()
	v, _ := jwtauth.New(f.policy(), jwtauth.NewKeySet(jwks.Client(), jwks.URL))
	tok, _ := f.sim.Keys.Sign(f.goodClaims(), false)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, e := v.Validate(context.Background(), tok); e != nil {
				errs <- e
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the callers pile up behind the fetch
	close(release)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("refused during the first fetch: %v", e)
	}
	if fetches != 1 {
		t.Errorf("%d fetches, want 1", fetches)
	}
}

// A user-token API (DelegatedOnly) refuses every app-only token, with or
// without idtyp, even one audienced to it from a client of the tenant,
// and "delegated" is decided by scp alone.
func TestDelegatedOnlyRefusesAppOnlyTokens(t *testing.T) {
	f := newFixture(t)
	p := f.policy()
	p.DelegatedOnly, p.RequiredRole = true, ""
	v, err := jwtauth.New(p, f.keySet())
	if err != nil {
		t.Fatal(err)
	}
	app := jwtauthtest.Edit(f.goodClaims(), map[string]any{"scp": nil, "roles": nil})
	sign := func(changes map[string]any) string {
		tok, err := f.sim.Keys.Sign(jwtauthtest.Edit(app, changes), true)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for name, tok := range map[string]string{
		"idtyp=app, no scp":                sign(map[string]any{"idtyp": "app"}),
		"no idtyp, no scp, oid is its sub": sign(map[string]any{"idtyp": nil, "oid": "00000000-0000-0000-0000-000000000001", "sub": "00000000-0000-0000-0000-000000000001"}),
		"cloudsim's app-only TR":           f.appToken(t),
		"app-only with a role and oid":     sign(map[string]any{"roles": []string{"Weather.Read"}, "oid": "00000000-0000-0000-0000-000000000001"}),
	} {
		if _, e := v.Validate(t.Context(), tok); e == nil || e.Status != http.StatusForbidden || !strings.Contains(e.Description, "app-only") {
			t.Errorf("%s: %v, want 403 naming an app-only token", name, e)
		}
	}
	// A user's markers without scp: neither kind of token, refused as such.
	for name, tok := range map[string]string{
		"no idtyp, no scp, a user's oid": sign(map[string]any{"idtyp": nil, "oid": "5ee2f5f4-1b8c-4bd4-9b43-2f0a7d3c1a11", "sub": "pairwise"}),
		"idtyp=user, no scp":             sign(map[string]any{"idtyp": "user"}),
	} {
		if _, e := v.Validate(t.Context(), tok); e == nil || e.Status != http.StatusUnauthorized || !strings.Contains(e.Description, "neither an app-only nor a delegated token") {
			t.Errorf("%s: %v, want 401: neither an app-only nor a delegated token", name, e)
		}
	}
	if caller, e := v.Validate(t.Context(), f.oboToken(t)); e != nil || caller.Flow != "delegated" {
		t.Errorf("a delegated token: %+v %v", caller, e)
	}
}
