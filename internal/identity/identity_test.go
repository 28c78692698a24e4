package identity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sidecar"
	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/secret"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

type fixture struct {
	sim     *cloudsim.Sim
	env     map[string]string
	tokens  *cloudsimtest.Tokens
	weather string // the Weather API's URL, validating against sim
}

// newFixture starts a cloudsim with its sidecar, and a Weather API behind
// it for the DownstreamApi routes.
func newFixture(t *testing.T, edit func(*cloudsim.Options)) *fixture {
	t.Helper()
	f := &fixture{}
	// The Weather API's URL must be known before the sidecar starts.
	weatherSrv := httptest.NewUnstartedServer(nil)
	f.weather = "http://" + weatherSrv.Listener.Addr().String()
	f.sim = cloudsimtest.Start(t, func(o *cloudsim.Options) {
		o.SidecarAddr = "127.0.0.1:0"
		o.WeatherAPIURL = f.weather
		if edit != nil {
			edit(o)
		}
	})
	cloudsimtest.SetEnv(t, f.sim)
	f.tokens = cloudsimtest.NewTokens(f.sim)
	f.env = f.tokens.Env
	// The Weather API as weather-api builds it from cloudsim.env.
	r := config.New(func(k string) string {
		if k == "WEATHER_PROVIDER" {
			return "offline"
		}
		return f.env[k]
	})
	ws := weatherapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	svc, err := weatherapi.Build(ws, command.Deps{HTTPClient: f.tokens.HTTP})
	if err != nil {
		t.Fatal(err)
	}
	weatherSrv.Config.Handler = svc.Handler()
	weatherSrv.Start()
	t.Cleanup(weatherSrv.Close)
	return f
}

// provider builds a provider from settings, as llm-agent will.
func (f *fixture) provider(t *testing.T, overrides map[string]string) identity.Provider {
	t.Helper()
	env := map[string]string{}
	for k, v := range f.env {
		env[k] = v
	}
	for k, v := range overrides {
		env[k] = v
	}
	r := config.New(func(k string) string { return env[k] })
	s := identity.LoadSettings(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	p, err := identity.New(s, cloudsimtest.Client(f.sim))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) providers(t *testing.T) map[string]identity.Provider {
	return map[string]identity.Provider{
		"sidecar":              f.provider(t, map[string]string{"IDENTITY_PROVIDER": "sidecar"}),
		"msal, secret":         f.provider(t, map[string]string{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "secret"}),
		"msal, no secret (MI)": f.provider(t, map[string]string{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity", "BLUEPRINT_CLIENT_SECRET": ""}),
	}
}

func (f *fixture) userToken(t *testing.T) secret.Value { return secret.New(f.tokens.User(t)) }

func TestEveryFlowFromEveryProvider(t *testing.T) {
	f := newFixture(t, nil)
	weatherID, agent := f.env["WEATHER_API_APP_ID"], f.env["AGENT_CLIENT_ID"]
	alice := f.sim.Tenant.UserByUPN(f.env["CLOUDSIM_DEMO_USERNAME"]).ObjectID
	agentUser := f.sim.Tenant.AgentUser(f.env["AGENT_USER_UPN"]).ObjectID
	tc := f.userToken(t)
	for name, p := range f.providers(t) {
		t.Run(name, func(t *testing.T) {
			if err := p.Check(t.Context()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			cases := []struct {
				flow  identity.Flow
				check func(c map[string]any) bool
				chain string
			}{
				{identity.Autonomous, func(c map[string]any) bool { return fmt.Sprint(c["roles"]) == "[Weather.Read]" && c["idtyp"] == "app" }, "T1"},
				{identity.OnBehalfOf, func(c map[string]any) bool { return c["oid"] == alice && c["scp"] == "Weather.Read" }, "T1"},
				{identity.AgentUser, func(c map[string]any) bool { return c["oid"] == agentUser }, "T1 T2"},
			}
			for _, c := range cases {
				res, err := p.AuthorizationHeader(t.Context(), identity.Request{Flow: c.flow, UserToken: tc})
				if err != nil {
					t.Fatalf("%s: %v", c.flow, err)
				}
				card := res.Token
				if card.Name != c.flow.TokenName() || card.Claims["aud"] != weatherID || card.Client() != agent || !c.check(card.Claims) {
					t.Errorf("%s: card %s %v", c.flow, card.Name, card.Claims)
				}
				if _, hasSig := card.Header["sig"]; hasSig || !strings.HasPrefix(res.Header.Reveal(), "Bearer ey") {
					t.Errorf("%s: header %v", c.flow, card.Header)
				}
				var chain []string
				for _, c := range res.Chain {
					chain = append(chain, c.Name)
				}
				want := c.chain
				if p.Name() == "sidecar" {
					want = "" // the sidecar holds T1 and T2; the agent never sees them
				}
				if strings.Join(chain, " ") != want {
					t.Errorf("%s: chain %v, want %q", c.flow, chain, want)
				}
				if res.Facts.Provider != p.Name() || res.Facts.Flow != c.flow {
					t.Errorf("%s: facts %+v", c.flow, res.Facts)
				}
				if leaks := leakcheck.Find(fmt.Sprintf("%v %+v", res, res), res.Header.Reveal()); len(leaks) > 0 {
					t.Errorf("%s: printing the result shows the token: %v", c.flow, leaks)
				}
			}
		})
	}
}

func TestAutonomousCacheForEachProvider(t *testing.T) {
	f := newFixture(t, nil)
	for name, p := range f.providers(t) {
		t.Run(name, func(t *testing.T) {
			stats := f.sim.Entra.Stats()
			before := stats.Get("entra.token")
			for range 20 {
				if _, err := p.AuthorizationHeader(t.Context(), identity.Request{Flow: identity.Autonomous}); err != nil {
					t.Fatal(err)
				}
			}
			if n := stats.Get("entra.token") - before; n > 2 {
				t.Errorf("20 autonomous acquisitions made %d token requests, want at most 2", n)
			}
		})
	}
}

func TestOBOIsolationForEachProvider(t *testing.T) {
	f := newFixture(t, nil)
	users := map[string]string{"alice@contoso.example": "alice-local-demo-password", "bob@contoso.example": "bob-local-demo-password"}
	type user struct {
		oid string
		tc  secret.Value
	}
	var list []user
	for upn, pw := range users {
		list = append(list, user{f.sim.Tenant.UserByUPN(upn).ObjectID, secret.New(f.tokens.UserNamed(t, upn, pw))})
	}
	for name, p := range f.providers(t) {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 50)
			for i := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					u := list[i%2]
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					res, err := p.AuthorizationHeader(ctx, identity.Request{Flow: identity.OnBehalfOf, UserToken: u.tc})
					if err != nil {
						errs <- err
					} else if oid := res.Token.Claims["oid"]; oid != u.oid {
						errs <- fmt.Errorf("user %s got a TU for %v", u.oid, oid)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestDownstreamAPIMode(t *testing.T) {
	f := newFixture(t, nil)
	p := f.provider(t, map[string]string{"IDENTITY_PROVIDER": "sidecar", "SIDECAR_MODE": "downstream-api"}).(*identity.SidecarProvider)
	tc := f.userToken(t)
	for flow, want := range map[identity.Flow]string{identity.Autonomous: "app", identity.OnBehalfOf: "delegated", identity.AgentUser: "agent_user"} {
		resp, facts, err := p.CallDownstream(t.Context(), identity.Request{Flow: flow, UserToken: tc}, "GET", "weather?city=Oslo")
		if err != nil {
			t.Fatalf("%s: %v", flow, err)
		}
		var body struct {
			City   string         `json:"city"`
			Caller jwtauth.Caller `json:"caller"`
		}
		if resp.StatusCode != 200 || resp.Content == nil || json.Unmarshal([]byte(*resp.Content), &body) != nil {
			t.Fatalf("%s: %+v", flow, resp)
		}
		if body.City != "Oslo" || body.Caller.Flow != want || body.Caller.AppID != f.env["AGENT_CLIENT_ID"] || facts.API == "" {
			t.Errorf("%s: %+v %+v", flow, body, facts)
		}
		if !strings.HasPrefix(resp.Headers["Content-Type"][0], "application/json") {
			t.Errorf("%s: headers %v", flow, resp.Headers)
		}
	}
}

// fakeSidecar answers every request with status and body.
func fakeSidecar(t *testing.T, status int, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status != 200 {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSidecarFailuresNameTheFix(t *testing.T) {
	f := newFixture(t, nil)
	tg := jwtauthtest.Target{TenantID: f.env["TENANT_ID"], Audience: f.env["WEATHER_API_APP_ID"], Caller: f.env["BLUEPRINT_APP_ID"], Role: "Weather.Read", Keys: f.sim.Keys}
	blueprintToken := tg.Sign(t, tg.GoodClaims())
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	// A sidecar with 1.1.x's default overrides: AgentIdentity is ignored on
	// the unauthenticated routes.
	cfg, err := f.sim.SidecarConfig(f.weather)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Overrides = sidecar.DefaultOverrides
	strict, err := sidecar.New(cfg, cloudsimtest.Client(f.sim), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	strictSrv := httptest.NewServer(strict)
	defer strictSrv.Close()

	tc := f.userToken(t)
	cases := []struct {
		name      string
		overrides map[string]string
		req       identity.Request
		want      []string
	}{
		{"unknown API entry", map[string]string{"SIDECAR_APP_API": "weather-ap"}, identity.Request{Flow: identity.Autonomous},
			[]string{"400", "No scopes found for the API 'weather-ap'", "DownstreamApis__weather-ap__BaseUrl", "SIDECAR_APP_API"}},
		{"a bad user token", nil, identity.Request{Flow: identity.OnBehalfOf, UserToken: secret.New("not-a-token")},
			[]string{"refused the user's token (401)"}},
		{"no user token for OBO", nil, identity.Request{Flow: identity.OnBehalfOf}, []string{"needs the signed-in user's token"}},
		{"no agent user", map[string]string{"AGENT_USER_UPN": ""}, identity.Request{Flow: identity.AgentUser}, []string{"AGENT_USER_UPN"}},
		{"overrides not allowed: Entra refuses the blueprint's own token", map[string]string{"SIDECAR_URL": strictSrv.URL}, identity.Request{Flow: identity.Autonomous},
			[]string{"AADSTS82001", "Sidecar__AllowOverrides__GetAuthorizationHeaderUnauthenticated=true"}},
		{"a sidecar that answered with the blueprint's own token", map[string]string{"SIDECAR_URL": fakeSidecar(t, 200, `{"authorizationHeader":"Bearer `+blueprintToken+`"}`)},
			identity.Request{Flow: identity.Autonomous}, []string{"not the agent identity", "Sidecar__AllowOverrides__GetAuthorizationHeaderUnauthenticated=true"}},
		{"403 for a non-loopback caller", map[string]string{"SIDECAR_URL": fakeSidecar(t, 403, "")}, identity.Request{Flow: identity.Autonomous},
			[]string{"(403)", "loopback callers only", "network namespace"}},
		{"404: SIDECAR_URL with a path", map[string]string{"SIDECAR_URL": f.sim.SidecarURL + "/sidecar"}, identity.Request{Flow: identity.Autonomous},
			[]string{"(404)", "no path"}},
		{"500", map[string]string{"SIDECAR_URL": fakeSidecar(t, 500, `{"status":500,"detail":"An unexpected error occurred."}`)}, identity.Request{Flow: identity.Autonomous},
			[]string{"(500: An unexpected error occurred.)", "its log"}},
		{"connection refused", map[string]string{"SIDECAR_URL": closed.URL}, identity.Request{Flow: identity.Autonomous},
			[]string{"refused the connection", "network namespace"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			overrides := map[string]string{"IDENTITY_PROVIDER": "sidecar"}
			for k, v := range c.overrides {
				overrides[k] = v
			}
			_, err := f.provider(t, overrides).AuthorizationHeader(t.Context(), c.req)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if leaks := leakcheck.Find(err.Error(), tc.Reveal(), blueprintToken); len(leaks) > 0 {
				t.Errorf("the error holds a token: %v", leaks)
			}
		})
	}
}

// Entra's refusal reaches the agent with its code and the fix, from both
// providers.
func TestConsentMissing(t *testing.T) {
	f := newFixture(t, func(o *cloudsim.Options) {
		for _, c := range o.Tenant.Consents {
			if c.Client == "5b4418ec-1653-479f-96f7-3f28255917c7" {
				c.Scopes = nil
			}
		}
	})
	tc := f.userToken(t)
	for name, p := range f.providers(t) {
		_, err := p.AuthorizationHeader(t.Context(), identity.Request{Flow: identity.OnBehalfOf, UserToken: tc})
		var e *identity.Error
		if !asError(err, &e) || e.Code != 65001 || !strings.Contains(e.Message, "grant admin consent") {
			t.Errorf("%s: %v (code %d)", name, err, codeOf(e))
		}
	}
}

func asError(err error, e **identity.Error) bool {
	ie, ok := err.(*identity.Error)
	*e = ie
	return ok
}

func codeOf(e *identity.Error) int {
	if e == nil {
		return 0
	}
	return e.Code
}

func TestSettings(t *testing.T) {
	base := map[string]string{"AGENT_CLIENT_ID": "5b4418ec-1653-479f-96f7-3f28255917c7", "SIDECAR_URL": "http://localhost:5000"}
	msal := map[string]string{"IDENTITY_PROVIDER": "msal", "AGENT_CLIENT_ID": "5b4418ec-1653-479f-96f7-3f28255917c7", "TENANT_ID": "ca77995a-3696-41ae-a339-cf02b3e89b12",
		"BLUEPRINT_APP_ID": "6a7f0937-6749-4a53-b866-c424b6e0824d", "WEATHER_API_APP_ID": "b8302fea-6762-4183-a16c-69b510285c49"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for mk, mv := range m {
			if mk != k {
				out[mk] = mv
			}
		}
		return out
	}
	load := func(env map[string]string) (identity.Settings, error) {
		r := config.New(func(k string) string { return env[k] })
		s := identity.LoadSettings(r)
		return s, r.Err()
	}
	s, err := load(base)
	if err != nil || s.Provider != "sidecar" || s.AppAPI != "weather-app" || s.DelegatedAPI != "weather" || s.SidecarMode != "authorization-header" {
		t.Errorf("sidecar defaults: %+v %v", s, err)
	}
	if s.MCPAPI != "mcp" || strings.Join(s.MCPScopes, " ") != "e8c77dc2-69b3-43f4-bc51-3213c9d915b4/MCP.User.Read.All" {
		t.Errorf("MCP defaults: %q %v", s.MCPAPI, s.MCPScopes)
	}
	s, _ = load(with(base, "MCP_SCOPES", "MCP.User.Read.All, https://mcp.svc.cloud.microsoft/MCP.GroupMember.Read.All"))
	if strings.Join(s.MCPScopes, " ") != "e8c77dc2-69b3-43f4-bc51-3213c9d915b4/MCP.User.Read.All https://mcp.svc.cloud.microsoft/MCP.GroupMember.Read.All" {
		t.Errorf("MCP_SCOPES: %v", s.MCPScopes)
	}
	s, err = load(msal)
	if err != nil || s.MSAL.Credential.Kind != "managed-identity" || s.UserScopes[0] != "api://b8302fea-6762-4183-a16c-69b510285c49/Weather.Read" ||
		s.AppScopes[0] != "api://b8302fea-6762-4183-a16c-69b510285c49/.default" {
		t.Errorf("msal defaults: %+v %v", s, err)
	}
	s, _ = load(with(with(msal, "BLUEPRINT_CREDENTIAL", "secret"), "BLUEPRINT_CLIENT_SECRET", "s3cret-value"))
	if s.MSAL.Credential.Secret.Reveal() != "s3cret-value" || strings.Contains(fmt.Sprintf("%+v", s), "s3cret-value") {
		t.Errorf("the secret is not held, or printed: %+v", s)
	}
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{with(base, "SIDECAR_URL", ""), "SIDECAR_URL: is required with IDENTITY_PROVIDER=sidecar"},
		{with(base, "AGENT_CLIENT_ID", ""), "AGENT_CLIENT_ID: is required"},
		{with(base, "IDENTITY_PROVIDER", "sdk"), `IDENTITY_PROVIDER: "sdk" is not one of sidecar, msal`},
		{with(base, "SIDECAR_MODE", "proxy"), "SIDECAR_MODE"},
		{with(msal, "BLUEPRINT_CREDENTIAL", "secret"), "BLUEPRINT_CLIENT_SECRET: is required with BLUEPRINT_CREDENTIAL=secret"},
		{with(msal, "BLUEPRINT_CLIENT_SECRET", "leftover"), "BLUEPRINT_CLIENT_SECRET: is set but BLUEPRINT_CREDENTIAL=managed-identity does not use it"},
		{with(msal, "BLUEPRINT_CREDENTIAL", "certificate"), "BLUEPRINT_CERT_PATH: is required"},
		{with(with(msal, "BLUEPRINT_CREDENTIAL", "certificate"), "BLUEPRINT_CERT_PATH", "/nonexistent.pem"), "BLUEPRINT_CERT_PATH: BLUEPRINT_CERT_PATH: open /nonexistent.pem"},
		{with(msal, "TENANT_ID", ""), "TENANT_ID: is required"},
		{with(msal, "WEATHER_API_APP_ID", ""), "WEATHER_API_APP_ID: is required"},
		{with(msal, "AZURE_AUTHORITY_HOST", "http://login"), "must use https"},
		{with(base, "MCP_SCOPES", "e8c77dc2-69b3-43f4-bc51-3213c9d915b4/.default"), "MCP_SCOPES: \"e8c77dc2-69b3-43f4-bc51-3213c9d915b4/.default\": name the delegated scopes"},
		{with(base, "MCP_APP_ID", "mcp"), "MCP_APP_ID: \"mcp\" is not an app ID"},
	} {
		if _, err := load(c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.env, err, c.want)
		}
	}
}

// Tokens for the MCP server: delegated only, audienced to its app, for the
// signed-in user (OBO) or the agent user; without consent, AADSTS65001 with
// the MCP hint, from both providers.
func TestMCPServerTokens(t *testing.T) {
	mcpApp := "e8c77dc2-69b3-43f4-bc51-3213c9d915b4"
	f := newFixture(t, cloudsimtest.WithMCPConsent())
	alice := f.sim.Tenant.UserByUPN(f.env["CLOUDSIM_DEMO_USERNAME"]).ObjectID
	agentUser := f.sim.Tenant.AgentUser(f.env["AGENT_USER_UPN"]).ObjectID
	tc := f.userToken(t)
	for name, p := range f.providers(t) {
		t.Run(name, func(t *testing.T) {
			for flow, oid := range map[identity.Flow]string{identity.OnBehalfOf: alice, identity.AgentUser: agentUser} {
				res, err := p.AuthorizationHeader(t.Context(), identity.Request{Flow: flow, UserToken: tc, Target: identity.MCPServer})
				if err != nil {
					t.Fatalf("%s: %v", flow, err)
				}
				c := res.Token.Claims
				if c["aud"] != mcpApp || c["oid"] != oid || c["scp"] != "MCP.User.Read.All" || res.Token.Client() != f.env["AGENT_CLIENT_ID"] || res.Facts.Target != identity.MCPServer {
					t.Errorf("%s: %v %+v", flow, c, res.Facts)
				}
			}
			before := f.sim.Entra.Stats().Get("entra.token")
			_, err := p.AuthorizationHeader(t.Context(), identity.Request{Flow: identity.Autonomous, Target: identity.MCPServer})
			if err == nil || !strings.Contains(err.Error(), "delegated tokens only") {
				t.Errorf("autonomous: %v", err)
			}
			if after := f.sim.Entra.Stats().Get("entra.token"); after != before {
				t.Errorf("autonomous asked Entra anyway (%d requests)", after-before)
			}
		})
	}

	without := newFixture(t, nil)
	tc = without.userToken(t)
	for name, p := range without.providers(t) {
		_, err := p.AuthorizationHeader(t.Context(), identity.Request{Flow: identity.OnBehalfOf, UserToken: tc, Target: identity.MCPServer})
		var e *identity.Error
		if !asError(err, &e) || e.Code != 65001 || !strings.Contains(e.Message, "MCP_SCOPES") {
			t.Errorf("%s, no consent: %v (code %d)", name, err, codeOf(e))
		}
	}
}
