package jwtauth_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

type fixture struct {
	sim  *cloudsim.Sim
	env  map[string]string
	http *http.Client
}

func newFixture(t testing.TB) *fixture {
	sim := cloudsimtest.Start(t, nil)
	return &fixture{sim: sim, env: sim.Env(), http: cloudsimtest.Client(sim)}
}

// token posts a raw Agent ID request to cloudsim and returns the access token.
func (f *fixture) token(t *testing.T, form url.Values) string {
	t.Helper()
	resp, err := f.http.PostForm(f.sim.URL+"/"+f.env["TENANT_ID"]+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	at, _ := body["access_token"].(string)
	if at == "" {
		t.Fatalf("token request refused: %v", body)
	}
	return at
}

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

func (f *fixture) t1(t *testing.T) string {
	return f.token(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {f.env["BLUEPRINT_APP_ID"]},
		"client_secret": {f.env["BLUEPRINT_CLIENT_SECRET"]}, "scope": {"api://AzureADTokenExchange/.default"}, "fmi_path": {f.env["AGENT_CLIENT_ID"]}})
}

func (f *fixture) appToken(t *testing.T) string {
	return f.token(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {f.env["AGENT_CLIENT_ID"]},
		"client_assertion_type": {jwtBearer}, "client_assertion": {f.t1(t)}, "scope": {"api://" + f.env["WEATHER_API_APP_ID"] + "/.default"}})
}

func (f *fixture) oboToken(t *testing.T) string {
	tc := f.token(t, url.Values{"grant_type": {"password"}, "client_id": {f.env["CLIENT_SPA_APP_ID"]}, "username": {f.env["CLOUDSIM_DEMO_USERNAME"]},
		"password": {f.env["CLOUDSIM_DEMO_PASSWORD"]}, "scope": {"api://" + f.env["BLUEPRINT_APP_ID"] + "/access_as_user"}})
	return f.token(t, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {f.env["AGENT_CLIENT_ID"]},
		"client_assertion_type": {jwtBearer}, "client_assertion": {f.t1(t)}, "assertion": {tc}, "requested_token_use": {"on_behalf_of"},
		"scope": {"api://" + f.env["WEATHER_API_APP_ID"] + "/Weather.Read"}})
}

func (f *fixture) agentUserToken(t *testing.T) string {
	t1 := f.t1(t)
	t2 := f.token(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {f.env["AGENT_CLIENT_ID"]},
		"client_assertion_type": {jwtBearer}, "client_assertion": {t1}, "scope": {"api://AzureADTokenExchange/.default"}})
	return f.token(t, url.Values{"grant_type": {"user_fic"}, "client_id": {f.env["AGENT_CLIENT_ID"]}, "client_assertion_type": {jwtBearer},
		"client_assertion": {t1}, "user_federated_identity_credential": {t2}, "username": {f.env["AGENT_USER_UPN"]},
		"scope": {"api://" + f.env["WEATHER_API_APP_ID"] + "/.default"}})
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

// claims a valid v2 app token for the Weather API would carry; attacks
// start from it and change one thing.
func (f *fixture) goodClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": jwtauth.IssuerV2(f.env["TENANT_ID"]), "aud": f.env["WEATHER_API_APP_ID"], "tid": f.env["TENANT_ID"], "ver": "2.0",
		"azp": f.env["AGENT_CLIENT_ID"], "oid": f.env["AGENT_CLIENT_ID"], "idtyp": "app", "roles": []string{"Weather.Read"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "xms_act_fct": "3 9 11",
	}
}

func edit(m map[string]any, changes map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestValidatorAcceptsEveryCloudsimFlow(t *testing.T) {
	f := newFixture(t)
	v, err := jwtauth.New(f.policy(), f.keySet())
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := f.sim.Keys.Sign(edit(f.goodClaims(), map[string]any{"iss": jwtauth.IssuerV1(f.env["TENANT_ID"]), "ver": "1.0",
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
	good := f.goodClaims()
	sign := func(claims map[string]any) string {
		tok, err := f.sim.Keys.Sign(claims, false)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	foreign, _ := rsa.GenerateKey(rand.Reader, 2048)
	kid := f.sim.Keys.ActiveID()
	valid := sign(good)
	parts := strings.Split(valid, ".")
	other := strings.Split(sign(edit(good, map[string]any{"oid": "someone-else"})), ".")
	pubDER, _ := f.sim.Keys.JWKS("") // the published key material, used as an HMAC secret
	hsHeader := b64(map[string]string{"alg": "HS256", "kid": kid, "typ": "JWT"})
	mac := hmac.New(sha256.New, pubDER)
	mac.Write([]byte(hsHeader + "." + parts[1]))
	withHeader := func(h map[string]any) string {
		h["alg"], h["kid"] = "RS256", kid
		return b64(h) + "." + parts[1] + "." + parts[2]
	}
	forgedKnownKid, _ := signing.SignWith(foreign, kid, good, false)
	unknownKid, _ := signing.SignWith(foreign, "not-a-published-kid", good, false)
	tid := f.env["TENANT_ID"]

	cases := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"alg none", b64(map[string]string{"alg": "none"}) + "." + parts[1] + ".", 401, "invalid_token"},
		{"alg NoNe", b64(map[string]string{"alg": "NoNe"}) + "." + parts[1] + ".", 401, "invalid_token"},
		{"HS256 signed with public material", hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), 401, "invalid_token"},
		{"unknown kid", unknownKid, 401, "invalid_token"},
		{"known kid, forged signature", forgedKnownKid, 401, "invalid_token"},
		{"embedded jwk", withHeader(map[string]any{"jwk": map[string]string{"kty": "RSA"}}), 401, "invalid_token"},
		{"jku header", withHeader(map[string]any{"jku": "https://attacker.example/keys"}), 401, "invalid_token"},
		{"x5u header", withHeader(map[string]any{"x5u": "https://attacker.example/cert"}), 401, "invalid_token"},
		{"expired", sign(edit(good, map[string]any{"exp": time.Now().Add(-2 * time.Minute).Unix()})), 401, "invalid_token"},
		{"not yet valid", sign(edit(good, map[string]any{"nbf": time.Now().Add(5 * time.Minute).Unix()})), 401, "invalid_token"},
		{"no exp", sign(edit(good, map[string]any{"exp": nil})), 401, "invalid_token"},
		{"other tenant's issuer", sign(edit(good, map[string]any{"iss": jwtauth.IssuerV2("72f988bf-86f1-41af-91ab-2d7cd011db47")})), 401, "invalid_token"},
		{"v1 issuer on a v2 token", sign(edit(good, map[string]any{"iss": jwtauth.IssuerV1(tid)})), 401, "invalid_token"},
		{"v1 issuer without trailing slash", sign(edit(good, map[string]any{"iss": strings.TrimSuffix(jwtauth.IssuerV1(tid), "/"), "ver": "1.0"})), 401, "invalid_token"},
		{"v2 issuer with trailing slash", sign(edit(good, map[string]any{"iss": jwtauth.IssuerV2(tid) + "/"})), 401, "invalid_token"},
		{"wrong audience", sign(edit(good, map[string]any{"aud": f.env["BLUEPRINT_APP_ID"]})), 401, "invalid_token"},
		{"two audiences", sign(edit(good, map[string]any{"aud": []string{f.env["WEATHER_API_APP_ID"], "other"}})), 401, "invalid_token"},
		{"other tid", sign(edit(good, map[string]any{"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"})), 401, "invalid_token"},
		{"disallowed caller", sign(edit(good, map[string]any{"azp": f.env["CLIENT_SPA_APP_ID"]})), 403, "insufficient_scope"},
		{"app token without the role", sign(edit(good, map[string]any{"roles": nil})), 403, "insufficient_scope"},
		{"delegated token without the scope", sign(edit(good, map[string]any{"idtyp": "user", "scp": "User.Read"})), 403, "insufficient_scope"},
		{"tampered payload", parts[0] + "." + b64(edit(good, map[string]any{"roles": []string{"Weather.Read", "Admin"}})) + "." + parts[2], 401, "invalid_token"},
		{"swapped signature", parts[0] + "." + parts[1] + "." + other[2], 401, "invalid_token"},
		{"oversized header", b64(map[string]string{"alg": "RS256", "kid": kid, "pad": strings.Repeat("A", 4096)}) + "." + parts[1] + "." + parts[2], 401, "invalid_token"},
		{"not a JWT", "abc", 401, "invalid_token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, e := v.Validate(t.Context(), c.token)
			if e == nil {
				t.Fatal("accepted")
			}
			if e.Status != c.status || e.Code != c.code || !strings.HasPrefix(e.WWWAuthenticate(), `Bearer error="`+c.code+`"`) {
				t.Fatalf("got %d %s (%s), want %d %s", e.Status, e.Code, e.Description, c.status, c.code)
			}
			if leaked := leakcheck.Find(e.WWWAuthenticate(), c.token, valid); len(leaked) > 0 {
				t.Fatalf("the refusal repeats the token: %v", leaked)
			}
		})
	}
	if _, e := v.Validate(t.Context(), valid); e != nil {
		t.Fatalf("the unmodified token was refused: %v", e)
	}
}

func TestBearerHeaderParsing(t *testing.T) {
	cases := map[string]bool{
		"Bearer abc": true, "bearer abc": true, "BEARER   abc ": true,
		"": false, "Bearer": false, "Bearer ": false, "Basic abc": false, "Bearer a b": false,
		"Bearer " + strings.Repeat("a", jwtauth.MaxTokenBytes+1): false,
	}
	for h, ok := range cases {
		if _, e := jwtauth.BearerToken(h); (e == nil) != ok {
			t.Errorf("%q: accepted=%v, want %v", h, e == nil, ok)
		}
	}
}

func TestAgentIdentityRequirement(t *testing.T) {
	f := newFixture(t)
	p := f.policy()
	p.RequireAgentIdentity = true
	v, _ := jwtauth.New(p, f.keySet())
	plain, _ := f.sim.Keys.Sign(edit(f.goodClaims(), map[string]any{"xms_act_fct": nil}), false)
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
