package weatherapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/weather"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

type fixture struct {
	sim    *cloudsim.Sim
	tokens *cloudsimtest.Tokens
	env    map[string]string
	keys   *jwtauth.KeySet
	url    string
	logs   *leakcheck.Log
}

// start runs the Weather API as the binary wires it, against a cloudsim,
// with the offline provider and the settings in extra.
func start(t *testing.T, extra map[string]string) *fixture {
	t.Helper()
	sim := cloudsimtest.Start(t, nil)
	f := &fixture{sim: sim, tokens: cloudsimtest.NewTokens(sim), env: sim.Env(), logs: &leakcheck.Log{}}
	f.env["AZURE_AUTHORITY_HOST"] = sim.URL
	f.env["WEATHER_PROVIDER"] = "offline"
	for k, v := range extra {
		f.env[k] = v
	}
	settings := config.New(func(k string) string { return f.env[k] })
	cfg := weatherapi.LoadSettings(settings)
	if err := settings.Err(); err != nil {
		t.Fatal(err)
	}
	f.keys = jwtauth.NewKeySet(f.tokens.HTTP, cfg.KeyURLs()...)
	v, err := jwtauth.New(cfg.Policy(), f.keys)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(weatherapi.NewServer(v, &weather.Offline{}, log, !cfg.ValidateSignature))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fixture) weatherResource() string { return "api://" + f.env["WEATHER_API_APP_ID"] }

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *fixture) do(t *testing.T, method, path, authorization string) answer {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if method != http.MethodHead {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
	}
	return a
}

func TestEveryFlowGetsWeather(t *testing.T) {
	f := start(t, nil)
	res := f.weatherResource()
	v1Token, err := f.sim.Keys.Sign(jwtauthtest.Edit(targetOf(f).GoodClaims(), map[string]any{
		"iss": jwtauth.IssuerV1(f.env["TENANT_ID"]), "ver": "1.0", "aud": res, "azp": nil, "appid": f.env["AGENT_CLIENT_ID"],
		"xms_par_app_azp": f.env["BLUEPRINT_APP_ID"]}), true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token, flow, version, user string
	}{
		{"app-only v2 (TR)", f.tokens.App(t, res), "app", "2.0", ""},
		{"app-only v1", v1Token, "app", "1.0", ""},
		{"delegated (TU)", f.tokens.OBO(t, res+"/Weather.Read"), "delegated", "2.0", f.env["CLOUDSIM_DEMO_USERNAME"]},
		{"agent user (TAU)", f.tokens.AgentUser(t, res), "agent_user", "2.0", f.env["AGENT_USER_UPN"]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := f.do(t, "GET", "/weather?city=Paris", "Bearer "+c.token)
			if a.status != 200 {
				t.Fatalf("status %d: %s", a.status, a.raw)
			}
			for k, want := range map[string]any{
				"city": "Paris", "country": "France", "temperature_unit": "F", "wind_unit": "mph", "humidity_unit": "%",
				"data_source": weather.OfflineDataSource, "agent_app_id": f.env["AGENT_CLIENT_ID"], "is_agent_identity": true,
			} {
				if a.body[k] != want {
					t.Errorf("%s = %v, want %v", k, a.body[k], want)
				}
			}
			if !strings.Contains(a.body["validated_by"].(string), "signature") {
				t.Errorf("validated_by = %v", a.body["validated_by"])
			}
			caller, _ := a.body["caller"].(map[string]any)
			if caller["flow"] != c.flow || caller["token_version"] != c.version || caller["app_id"] != f.env["AGENT_CLIENT_ID"] ||
				caller["agent_identity"] != true || caller["parent_blueprint"] != f.env["BLUEPRINT_APP_ID"] || caller["uti"] == nil {
				t.Errorf("caller = %v", caller)
			}
			if c.user != "" && (caller["user"] != c.user || caller["user_oid"] == nil) {
				t.Errorf("caller user = %v (%v), want %s", caller["user"], caller["user_oid"], c.user)
			}
			if c.user == "" && caller["user_oid"] != nil {
				t.Errorf("an app-only caller has a user: %v", caller)
			}
			if a.header.Get("Cache-Control") != "no-store" {
				t.Error("a per-caller answer is cacheable")
			}

			fc := f.do(t, "GET", "/weather/forecast?city=Tokyo", "Bearer "+c.token)
			days, _ := fc.body["forecast"].([]any)
			if fc.status != 200 || len(days) != 5 || fc.body["city"] != "Tokyo" || fc.body["caller"] == nil {
				t.Fatalf("forecast: %d %s", fc.status, fc.raw)
			}
		})
	}
}

func targetOf(f *fixture) jwtauthtest.Target {
	return jwtauthtest.Target{TenantID: f.env["TENANT_ID"], Audience: f.env["WEATHER_API_APP_ID"], Caller: f.env["AGENT_CLIENT_ID"],
		Forbidden: f.env["CLIENT_SPA_APP_ID"], Role: "Weather.Read", Keys: f.sim.Keys}
}

func TestAttacksAreRefused(t *testing.T) {
	f := start(t, nil)
	attacks, valid := targetOf(f).Attacks(t)
	attacks = append(attacks,
		jwtauthtest.Attack{Name: "no Authorization header", Status: 401, Code: jwtauth.CodeMissingToken},
		jwtauthtest.Attack{Name: "a v2 token for another API in the tenant", Token: f.tokens.App(t, "api://"+f.env["STS_APP_ID"]), Status: 401, Code: "invalid_token"},
		jwtauthtest.Attack{Name: "the user's own token (Tc) replayed", Token: f.tokens.User(t), Status: 401, Code: "invalid_token"},
	)
	for _, c := range attacks {
		t.Run(c.Name, func(t *testing.T) {
			auth := ""
			if c.Token != "" {
				auth = "Bearer " + c.Token
			}
			for _, path := range []string{"/weather?city=Seattle", "/weather/forecast"} {
				a := f.do(t, "GET", path, auth)
				if a.status != c.Status {
					t.Fatalf("%s: status %d, want %d: %s", path, a.status, c.Status, a.raw)
				}
				want := `Bearer error="` + c.Code + `", error_description="`
				if c.Code == jwtauth.CodeMissingToken {
					want = "Bearer" // RFC 6750 §3.1: no error when no token was offered
				}
				if h := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, want) {
					t.Errorf("%s: WWW-Authenticate %q, want %q", path, h, want)
				}
				if a.body["error"] != c.Code || a.body["message"] == "" || len(a.body) != 2 {
					t.Errorf("%s: body %s, want {error: %s, message}", path, a.raw, c.Code)
				}
				if leaks := leakcheck.Find(a.raw+a.header.Get("WWW-Authenticate"), c.Token, valid); len(leaks) > 0 {
					t.Errorf("the refusal repeats the token: %v", leaks)
				}
			}
		})
	}
	if leaks := leakcheck.Find(f.logs.String(), valid); len(leaks) > 0 {
		t.Errorf("the log holds a token: %v", leaks)
	}
	if !strings.Contains(f.logs.String(), "reason=") {
		t.Error("refusals are not logged with their reason")
	}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	f := start(t, nil)
	tok := f.tokens.App(t, f.weatherResource())
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		if a := f.do(t, "GET", "/weather", scheme+" "+tok); a.status != 200 || a.body["city"] != weatherapi.DefaultCity {
			t.Errorf("%s: %d %s", scheme, a.status, a.raw)
		}
	}
	if a := f.do(t, "GET", "/weather", "Basic "+tok); a.status != 401 || a.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("Basic: %d %q", a.status, a.header.Get("WWW-Authenticate"))
	}
}

func TestBadRequests(t *testing.T) {
	f := start(t, nil)
	auth := "Bearer " + f.tokens.App(t, f.weatherResource())
	cases := []struct {
		method, path, auth string
		status             int
		code               string
	}{
		{"GET", "/weather?city=", auth, 400, "bad_city"},
		{"GET", "/weather?city=" + strings.Repeat("x", 101), auth, 400, "bad_city"},
		{"GET", "/weather?city=Sea%0Attle", auth, 400, "bad_city"},
		{"GET", "/weather?city=%ff", auth, 400, "bad_city"},
		{"GET", "/weather/forecast?city=%00", auth, 400, "bad_city"},
		// Malformed queries are refused, never answered as Seattle.
		{"GET", "/weather?city=%zz", auth, 400, "bad_query"},
		{"GET", "/weather?city=Oslo;x", auth, 400, "bad_query"},
		{"GET", "/weather/forecast?x=%zz&city=Oslo", auth, 400, "bad_query"},
		{"GET", "/weather?city=Atlantis", auth, 404, "city_not_found"},
		{"GET", "/weather/forecast?city=Atlantis", auth, 404, "city_not_found"},
		{"POST", "/weather", auth, 405, "method_not_allowed"},
		{"DELETE", "/weather/forecast", "", 405, "method_not_allowed"},
		{"PUT", "/health", "", 405, "method_not_allowed"},
		{"GET", "/nope", "", 404, "not_found"},
		// A bad city from an unauthenticated caller is a 401: nothing is
		// looked at before the token.
		{"GET", "/weather?city=", "", 401, "missing_token"},
	}
	for _, c := range cases {
		a := f.do(t, c.method, c.path, c.auth)
		if a.status != c.status || a.body["error"] != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, a.status, a.raw, c.status, c.code)
		}
		if c.status == 405 && a.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", c.method, c.path, a.header.Get("Allow"))
		}
	}
}

func TestHealthNeedsNoToken(t *testing.T) {
	f := start(t, nil)
	for _, p := range []string{"/health", "/healthz"} {
		if a := f.do(t, "GET", p, ""); a.status != 200 || a.body["status"] != "healthy" {
			t.Errorf("%s: %d %s", p, a.status, a.raw)
		}
	}
	if a := f.do(t, "HEAD", "/health", ""); a.status != 200 || a.raw != "" {
		t.Errorf("HEAD /health: %d %q", a.status, a.raw)
	}
}

func TestNewKeyIsAcceptedWithoutRestart(t *testing.T) {
	f := start(t, nil)
	f.keys.Cooldown = time.Nanosecond // the rate limit is jwtauth's test; this one is about rotation
	res := f.weatherResource()
	if a := f.do(t, "GET", "/weather", "Bearer "+f.tokens.App(t, res)); a.status != 200 {
		t.Fatalf("before rotation: %d", a.status)
	}
	resp, err := f.tokens.HTTP.Post(f.sim.URL+"/_cloudsim/keys/rotate", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("rotate: %v %v", err, resp)
	}
	resp.Body.Close()
	if a := f.do(t, "GET", "/weather", "Bearer "+f.tokens.App(t, res)); a.status != 200 {
		t.Fatalf("a token with the new kid: %d %s", a.status, a.raw)
	}
}

func TestPolicySettings(t *testing.T) {
	t.Run("REQUIRE_AGENT_IDENTITY", func(t *testing.T) {
		f := start(t, map[string]string{"REQUIRE_AGENT_IDENTITY": "true"})
		tg := targetOf(f)
		plain := tg.Sign(t, jwtauthtest.Edit(tg.GoodClaims(), map[string]any{"xms_act_fct": nil}))
		if a := f.do(t, "GET", "/weather", "Bearer "+plain); a.status != 403 {
			t.Errorf("a non-agent app: %d", a.status)
		}
		if a := f.do(t, "GET", "/weather", "Bearer "+f.tokens.App(t, f.weatherResource())); a.status != 200 {
			t.Errorf("the agent identity: %d %s", a.status, a.raw)
		}
	})
	t.Run("ACCEPTED_TOKEN_VERSIONS=1", func(t *testing.T) {
		f := start(t, map[string]string{"ACCEPTED_TOKEN_VERSIONS": "1"})
		if a := f.do(t, "GET", "/weather", "Bearer "+f.tokens.App(t, f.weatherResource())); a.status != 401 {
			t.Errorf("a v2 token: %d", a.status)
		}
	})
	t.Run("ALLOWED_CALLER_APP_IDS", func(t *testing.T) {
		f := start(t, map[string]string{"ALLOWED_CALLER_APP_IDS": "00000000-0000-0000-0000-0000000000f0"})
		if a := f.do(t, "GET", "/weather", "Bearer "+f.tokens.App(t, f.weatherResource())); a.status != 403 {
			t.Errorf("the agent, not on the list: %d", a.status)
		}
	})
}

func TestUnverifiedSignaturesAreLoud(t *testing.T) {
	f := start(t, map[string]string{"VALIDATE_TOKEN_SIGNATURE": "false"})
	tg := targetOf(f)
	attacks, _ := tg.Attacks(t)
	var forged, expired string
	for _, a := range attacks {
		switch a.Name {
		case "known kid, forged signature":
			forged = a.Token
		case "expired":
			expired = a.Token
		}
	}
	a := f.do(t, "GET", "/weather", "Bearer "+forged)
	if a.status != 200 || !strings.Contains(a.body["validated_by"].(string), "WITHOUT signature verification") {
		t.Fatalf("forged token with signatures off: %d %s", a.status, a.raw)
	}
	if n := strings.Count(f.logs.String(), "NOT being verified"); n != 1 {
		t.Errorf("%d warnings for one request, want 1", n)
	}
	if a := f.do(t, "GET", "/weather", "Bearer "+expired); a.status != 401 {
		t.Errorf("an expired token with signatures off: %d", a.status)
	}
}

type failingProvider struct{ err error }

func (p failingProvider) Current(context.Context, string) (*weather.Current, error) {
	return nil, p.err
}
func (p failingProvider) Forecast(context.Context, string) (*weather.Forecast, error) {
	return nil, p.err
}

type anyCaller struct{}

func (anyCaller) Authenticate(*http.Request) (*jwtauth.Caller, *jwtauth.Error) {
	return &jwtauth.Caller{AppID: "app", Flow: "app"}, nil
}

func TestUpstreamFailures(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{&weather.UpstreamError{Service: "Open-Meteo forecast", Err: errors.New("HTTP 503")}, 502, "upstream_error"},
		{errors.New("a bug"), 500, "internal_error"},
	}
	for _, c := range cases {
		srv := httptest.NewServer(weatherapi.NewServer(anyCaller{}, failingProvider{c.err}, slog.New(slog.DiscardHandler), false))
		resp, err := http.Get(srv.URL + "/weather?city=Seattle")
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != c.status || body["error"] != c.code {
			t.Errorf("%v: %d %v, want %d %s", c.err, resp.StatusCode, body, c.status, c.code)
		}
		if c.status == 500 && strings.Contains(body["message"], "a bug") {
			t.Errorf("an internal error reached the client: %v", body)
		}
	}
}

func TestConfig(t *testing.T) {
	const tenantID, api, agent = "ca77995a-3696-41ae-a339-cf02b3e89b12", "b8302fea-6762-4183-a16c-69b510285c49", "5b4418ec-1653-479f-96f7-3f28255917c7"
	base := map[string]string{"TENANT_ID": tenantID, "WEATHER_API_APP_ID": api, "AGENT_CLIENT_ID": agent}
	with := func(changes map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range changes {
			out[k] = v
		}
		return out
	}
	cases := []struct {
		name    string
		env     map[string]string
		check   func(weatherapi.Settings) bool
		wantErr string
	}{
		{"defaults", base, func(c weatherapi.Settings) bool {
			return c.ListenAddr == ":8080" && c.AuthorityHost == "https://login.microsoftonline.com" &&
				strings.Join(c.Audiences, " ") == api+" api://"+api && strings.Join(c.AllowedCallers, "") == agent &&
				c.RequiredRole == "Weather.Read" && c.RequiredScope == "Weather.Read" && len(c.Versions) == 2 &&
				c.ValidateSignature && !c.RequireAgentIdentity && c.Provider == "open-meteo" && c.CacheFor == 5*time.Minute &&
				strings.Join(c.KeyURLs(), " ") == "https://login.microsoftonline.com/"+tenantID+"/discovery/keys https://login.microsoftonline.com/"+tenantID+"/discovery/v2.0/keys"
		}, ""},
		{"AGENT_APP_ID alias", map[string]string{"TENANT_ID": tenantID, "WEATHER_API_APP_ID": api, "AGENT_APP_ID": agent},
			func(c weatherapi.Settings) bool { return strings.Join(c.AllowedCallers, "") == agent }, ""},
		{"any caller", with(map[string]string{"ALLOWED_CALLER_APP_IDS": "*"}), func(c weatherapi.Settings) bool { return c.AllowedCallers == nil }, ""},
		{"no role", with(map[string]string{"REQUIRED_ROLE": "none"}), func(c weatherapi.Settings) bool { return c.RequiredRole == "" }, ""},
		{"v2 only", with(map[string]string{"ACCEPTED_TOKEN_VERSIONS": "2", "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us/"}),
			func(c weatherapi.Settings) bool {
				return strings.Join(c.KeyURLs(), " ") == "https://login.microsoftonline.us/"+tenantID+"/discovery/v2.0/keys"
			}, ""},
		{"audiences override", with(map[string]string{"ACCEPTED_AUDIENCES": "api://weather, " + api}),
			func(c weatherapi.Settings) bool { return strings.Join(c.Audiences, " ") == "api://weather "+api }, ""},
		{"missing tenant", with(map[string]string{"TENANT_ID": ""}), nil, "TENANT_ID: is required"},
		{"tenant not a GUID", with(map[string]string{"TENANT_ID": "contoso.onmicrosoft.com"}), nil, "TENANT_ID: \"contoso.onmicrosoft.com\" is not a GUID"},
		{"no caller", map[string]string{"TENANT_ID": tenantID, "WEATHER_API_APP_ID": api}, nil, "ALLOWED_CALLER_APP_IDS: is required"},
		{"caller not a GUID", with(map[string]string{"ALLOWED_CALLER_APP_IDS": "my-agent"}), nil, `ALLOWED_CALLER_APP_IDS: "my-agent" is not an app ID`},
		{"plain http authority", with(map[string]string{"AZURE_AUTHORITY_HOST": "http://127.0.0.1:8443"}), nil, "AZURE_AUTHORITY_HOST: \"http://127.0.0.1:8443\" must use https"},
		{"version 3", with(map[string]string{"ACCEPTED_TOKEN_VERSIONS": "2,3"}), nil, `ACCEPTED_TOKEN_VERSIONS: "3" is not 1 or 2`},
		{"two roles", with(map[string]string{"REQUIRED_ROLE": "Weather.Read Weather.Write"}), nil, "REQUIRED_ROLE: \"Weather.Read Weather.Write\" must be one role"},
		{"nothing required of anyone", with(map[string]string{"REQUIRED_ROLE": "none", "REQUIRED_SCOPE": "none", "ALLOWED_CALLER_APP_IDS": "*"}), nil, "any token for this API would pass"},
		{"bad provider", with(map[string]string{"WEATHER_PROVIDER": "random"}), nil, `WEATHER_PROVIDER: "random" is not one of open-meteo, offline`},
		{"bad switch", with(map[string]string{"VALIDATE_TOKEN_SIGNATURE": "nope"}), nil, `VALIDATE_TOKEN_SIGNATURE: "nope" is not true or false`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := config.New(func(k string) string { return c.env[k] })
			cfg := weatherapi.LoadSettings(r)
			err := r.Err()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Errorf("config = %+v", cfg)
			}
		})
	}
}
