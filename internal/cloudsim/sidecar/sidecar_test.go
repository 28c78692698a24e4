package sidecar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sidecar"
	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
)

type fixture struct {
	sim  *cloudsim.Sim
	env  map[string]string
	tc   string
	logs *bytes.Buffer
}

// server returns a sidecar with the built-in configuration, overrides as
// given, and its log.
func newFixture(t *testing.T) *fixture {
	sim := cloudsimtest.Start(t, nil)
	tokens := cloudsimtest.NewTokens(sim)
	return &fixture{sim: sim, env: tokens.Env, tc: tokens.User(t), logs: &bytes.Buffer{}}
}

func (f *fixture) handler(t *testing.T, overrides sidecar.Overrides) http.Handler {
	cfg, err := f.sim.SidecarConfig("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Overrides = overrides
	s, err := sidecar.New(cfg, cloudsimtest.Client(f.sim), slog.New(slog.NewTextHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// do sends one request from remote, as the listener would see it.
func do(h http.Handler, method, target, remote, bearer string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.Host = "localhost:5000" // SIDECAR_URL is http://localhost:5000
	r.RemoteAddr = remote
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const local = "127.0.0.1:40000"

func TestLoopbackOnly(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, sidecar.DefaultOverrides)
	for _, remote := range []string{"192.0.2.10:5555", "[2001:db8::1]:5555", "10.0.0.4:80"} {
		w := do(h, "GET", "/AuthorizationHeaderUnauthenticated/weather-app", remote, "")
		if w.Code != http.StatusForbidden || w.Body.Len() != 0 {
			t.Errorf("%s: %d %q, want 403 with an empty body", remote, w.Code, w.Body)
		}
	}
	if w := do(h, "GET", "/healthz", "192.0.2.10:5555", ""); w.Code != 200 || w.Body.String() != "Healthy" {
		t.Errorf("/healthz from outside: %d %q", w.Code, w.Body)
	}
	for _, remote := range []string{local, "[::1]:40000"} {
		if w := do(h, "GET", "/healthz", remote, ""); w.Code != 200 {
			t.Errorf("%s: %d", remote, w.Code)
		}
	}
}

// DNS rebinding: a page whose name resolves to 127.0.0.1 reaches the port
// from loopback, but with its own name as Host, which gets no token.
func TestLoopbackHostNamesOnly(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, sidecar.DefaultOverrides)
	for host, refused := range map[string]bool{"rebind.attacker.example:5000": true, "127.0.0.1.nip.io:5000": true,
		"localhost:5000": false, "127.0.0.1:5000": false, "[::1]:5000": false, "LOCALHOST": false} {
		r := httptest.NewRequest("GET", "/AuthorizationHeaderUnauthenticated/weather-app?AgentIdentity="+f.env["AGENT_CLIENT_ID"], nil)
		r.RemoteAddr, r.Host = local, host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Code == 400 && strings.Contains(w.Body.String(), "Invalid Hostname")
		if got != refused || (refused && strings.Contains(w.Body.String(), "Bearer")) {
			t.Errorf("Host %s: %d %.80q, refused %v", host, w.Code, w.Body, refused)
		}
	}
}

func tokenOf(t *testing.T, w *httptest.ResponseRecorder) identity.DecodedToken {
	t.Helper()
	var body struct {
		AuthorizationHeader string `json:"authorizationHeader"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &body) != nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w.Header().Get("Cache-Control") != "no-cache, no-store, must-revalidate" || w.Header().Get("Pragma") != "no-cache" {
		t.Errorf("cache headers: %v", w.Header())
	}
	card, err := identity.DecodeToken("T", strings.TrimPrefix(body.AuthorizationHeader, "Bearer "))
	if err != nil {
		t.Fatalf("%q: %v", body.AuthorizationHeader, err)
	}
	return card
}

func problemOf(t *testing.T, w *httptest.ResponseRecorder) (int, string) {
	t.Helper()
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
		Title  string `json:"title"`
		Type   string `json:"type"`
	}
	if w.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Title == "" || p.Type == "" {
		t.Fatalf("not ProblemDetails: %d %s %v", w.Code, w.Body, w.Header())
	}
	return p.Status, p.Detail
}

func TestOverrideGating(t *testing.T) {
	f := newFixture(t)
	agent, blueprint := f.env["AGENT_CLIENT_ID"], f.env["BLUEPRINT_APP_ID"]
	q := "?AgentIdentity=" + agent

	// 1.1.x defaults: on the unauthenticated route AgentIdentity is ignored
	// (with a warning), so the sidecar asks for the blueprint's own token,
	// which Entra refuses to an agentic blueprint.
	strict := f.handler(t, sidecar.DefaultOverrides)
	w := do(strict, "GET", "/AuthorizationHeaderUnauthenticated/weather-app"+q, local, "")
	if status, detail := problemOf(t, w); status != 401 || !strings.HasPrefix(detail, "AADSTS82001") {
		t.Errorf("AgentIdentity without the override: %d %q", status, detail)
	}
	if !strings.Contains(f.logs.String(), "overrides are not allowed on this route") {
		t.Errorf("no warning in the log:\n%s", f.logs)
	}
	// The authenticated route allows overrides by default: OBO as the agent.
	if c := tokenOf(t, do(strict, "GET", "/AuthorizationHeader/weather"+q, local, f.tc)); c.Client() != agent {
		t.Errorf("OBO client %s, want the agent", c.Client())
	}
	// Without AgentIdentity, OBO is the blueprint's own: Entra refuses it.
	w = do(strict, "GET", "/AuthorizationHeader/weather", local, f.tc)
	if status, detail := problemOf(t, w); status != 401 || !strings.HasPrefix(detail, "AADSTS82002") {
		t.Errorf("blueprint OBO: %d %q (blueprint %s)", status, detail, blueprint)
	}

	open := f.handler(t, sidecar.Overrides{GetAuthorizationHeader: true, GetAuthorizationHeaderUnauthenticated: true})
	if c := tokenOf(t, do(open, "GET", "/AuthorizationHeaderUnauthenticated/weather-app?agentidentity="+agent, local, "")); c.Client() != agent || c.Claims["idtyp"] != "app" {
		t.Errorf("autonomous with the override (lower-case parameter): %v", c.Claims)
	}
	upn := url.QueryEscape(f.env["AGENT_USER_UPN"])
	agentUser := f.sim.Tenant.AgentUser(f.env["AGENT_USER_UPN"]).ObjectID
	if c := tokenOf(t, do(open, "GET", "/AuthorizationHeaderUnauthenticated/weather"+q+"&AgentUsername="+upn, local, "")); c.Claims["oid"] != agentUser {
		t.Errorf("agent user by UPN: %v", c.Claims)
	}
	if c := tokenOf(t, do(open, "GET", "/AuthorizationHeaderUnauthenticated/weather"+q+"&AgentUserId="+agentUser, local, "")); c.Claims["oid"] != agentUser {
		t.Errorf("agent user by object ID: %v", c.Claims)
	}
	// An AgentUserId that is not a GUID falls back to the plain agent
	// identity: on a delegated entry with no user, that is a 401.
	w = do(open, "GET", "/AuthorizationHeaderUnauthenticated/weather"+q+"&AgentUserId=weather-agent", local, "")
	if status, detail := problemOf(t, w); status != 401 || !strings.Contains(detail, "No user token") {
		t.Errorf("non-GUID AgentUserId: %d %q", status, detail)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, sidecar.DefaultOverrides)
	w := do(h, "GET", "/AuthorizationHeaderUnauthenticated/nope", local, "")
	if status, detail := problemOf(t, w); status != 400 || !strings.HasPrefix(detail, "No scopes found for the API 'nope'.") {
		t.Errorf("unknown API: %d %q", status, detail)
	}
	w = do(h, "GET", "/AuthorizationHeader/weather", local, "")
	if w.Code != 401 || w.Body.Len() != 0 || w.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("no inbound token: %d %q %v", w.Code, w.Body, w.Header())
	}
	w = do(h, "GET", "/AuthorizationHeader/weather", local, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
	if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
		t.Errorf("a bad inbound token: %d %v", w.Code, w.Header())
	}
	// A token for another audience (the Weather API's, not the blueprint's).
	other := cloudsimtest.NewTokens(f.sim).App(t, "api://"+f.env["WEATHER_API_APP_ID"])
	if w := do(h, "GET", "/AuthorizationHeader/weather", local, other); w.Code != 401 {
		t.Errorf("a token for another API: %d", w.Code)
	}
	if w := do(h, "POST", "/AuthorizationHeader/weather", local, f.tc); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST to a GET route: %d", w.Code)
	}
	if w := do(h, "GET", "/DownstreamApi/weather", local, f.tc); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET to DownstreamApi (POST only in source): %d", w.Code)
	}
	w = do(h, "GET", "/Validate", local, f.tc)
	var v struct {
		Protocol string         `json:"protocol"`
		Claims   map[string]any `json:"claims"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &v) != nil || v.Protocol != "Bearer" || v.Claims["aud"] != f.env["BLUEPRINT_APP_ID"] {
		t.Errorf("/Validate: %d %s", w.Code, w.Body)
	}
}

// downstreamTo is a sidecar whose Weather API entries call target, with
// the unauthenticated DownstreamApi route open.
func downstreamTo(t *testing.T, f *fixture, target string) *sidecar.Server {
	t.Helper()
	cfg, _ := f.sim.SidecarConfig(target)
	cfg.Overrides = sidecar.Overrides{CallDownstreamAPIUnauthenticated: true}
	s, err := sidecar.New(cfg, cloudsimtest.Client(f.sim), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDownstreamDoesNotFollowRedirects(t *testing.T) {
	f := newFixture(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			t.Error("the redirect was followed")
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer target.Close()
	s := downstreamTo(t, f, target.URL)
	w := do(s, "POST", "/DownstreamApiUnauthenticated/weather-app?AgentIdentity="+f.env["AGENT_CLIENT_ID"]+"&optionsOverride.RelativePath=weather", local, "")
	var out struct {
		StatusCode int `json:"statusCode"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &out) != nil || out.StatusCode != http.StatusFound {
		t.Errorf("%d %s, want the 302 relayed inside a 200", w.Code, w.Body)
	}
}

// A body over Kestrel's limit gets its bare 413 and is not forwarded cut.
func TestDownstreamBodyOverTheLimit(t *testing.T) {
	f := newFixture(t)
	called := false
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	defer target.Close()
	s := downstreamTo(t, f, target.URL)
	r := httptest.NewRequest("POST", "/DownstreamApiUnauthenticated/weather-app?AgentIdentity="+f.env["AGENT_CLIENT_ID"]+"&optionsOverride.RelativePath=weather",
		strings.NewReader(strings.Repeat("x", sidecar.MaxBodyBytes+1)))
	r.Host, r.RemoteAddr = "localhost:5000", local
	r.Header.Set("Content-Type", "text/plain")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge || called {
		t.Fatalf("%d, forwarded: %v; want 413 and nothing forwarded", w.Code, called)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := []string{
		"AzureAd__Instance=https://cloudsim:8443/",
		"AZUREAD__TENANTID=ca77995a-3696-41ae-a339-cf02b3e89b12",
		"AzureAd__ClientId=6a7f0937-6749-4a53-b866-c424b6e0824d",
		"AzureAd__ClientCredentials__0__SourceType=SignedAssertionFromManagedIdentity",
		"AzureAd__ClientCredentials__0__ManagedIdentityClientId=499b7a09-0603-4da0-9ee7-b45cfddbbf34",
		"AzureAd__ClientCredentials__1__SourceType=ClientSecret",
		"AzureAd__ClientCredentials__1__ClientSecret=unused",
		"DownstreamApis__weather-app__BaseUrl=http://weather-api:8080/",
		"DownstreamApis__weather-app__Scopes__1=second",
		"DownstreamApis__weather-app__Scopes__0=api://b8302fea-6762-4183-a16c-69b510285c49/.default",
		"DownstreamApis__weather-app__RequestAppToken=true",
		"DownstreamApis__Weather__BaseUrl=http://weather-api:8080",
		"DownstreamApis__Weather__Scopes=api://b8302fea-6762-4183-a16c-69b510285c49/Weather.Read other",
		"Sidecar__AllowOverrides__GetAuthorizationHeaderUnauthenticated=true",
		"PATH=/usr/bin",
	}
	cfg, err := sidecar.ConfigFromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	app, weather := cfg.APIs["weather-app"], cfg.APIs["weather"]
	if cfg.Instance != "https://cloudsim:8443" || cfg.TenantID != "ca77995a-3696-41ae-a339-cf02b3e89b12" ||
		cfg.Credential.SourceType != "SignedAssertionFromManagedIdentity" || cfg.Credential.ManagedIdentityClientID != "499b7a09-0603-4da0-9ee7-b45cfddbbf34" ||
		app.BaseURL != "http://weather-api:8080" || !app.RequestAppToken || strings.Join(app.Scopes, " ") != "api://b8302fea-6762-4183-a16c-69b510285c49/.default second" ||
		weather.Name != "Weather" || len(weather.Scopes) != 2 || weather.RequestAppToken ||
		!cfg.Overrides.GetAuthorizationHeaderUnauthenticated || !cfg.Overrides.GetAuthorizationHeader || cfg.Overrides.CallDownstreamAPIUnauthenticated {
		t.Errorf("config: %+v", cfg)
	}
	for _, c := range []struct {
		env  []string
		want string
	}{
		{nil, "AzureAd__TenantId and AzureAd__ClientId are required"},
		{[]string{"AzureAd__TenantId=t", "AzureAd__ClientId=c", "AzureAd__ClientCredentials__0__SourceType=KeyVault"}, `SourceType "KeyVault" is not supported`},
		{[]string{"AzureAd__TenantId=t", "AzureAd__ClientId=c"}, "AzureAd__ClientCredentials__0__SourceType is required"},
		{[]string{"AzureAd__TenantId=t", "AzureAd__ClientId=c", "AzureAd__Instance=http://login", "AzureAd__ClientCredentials__0__SourceType=ClientSecret"}, "must be an https URL"},
	} {
		if _, err := sidecar.ConfigFromEnv(c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.env, err, c.want)
		}
	}
}

// What the real sidecar does that a quick emulation would not, from
// Microsoft.Identity.Web's DownstreamApiOptionsMerger, named options and
// ASP.NET Core routing, each driven over raw HTTP.
func TestSidecarRulesFromItsSource(t *testing.T) {
	f := newFixture(t)
	var got *http.Request
	var gotBody string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, gotBody = r.Clone(context.Background()), string(b)
		w.WriteHeader(204)
	}))
	defer target.Close()
	cfg, _ := f.sim.SidecarConfig(target.URL)
	cfg.Overrides = sidecar.Overrides{GetAuthorizationHeaderUnauthenticated: true, CallDownstreamAPIUnauthenticated: true}
	cfg.Scope = "access_as_user"
	h, err := sidecar.New(cfg, cloudsimtest.Client(f.sim), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	agent := "?AgentIdentity=" + f.env["AGENT_CLIENT_ID"]

	// RequestAppToken is copied only when true: false cannot turn the
	// app-token entry into a delegated one.
	w := do(h, "GET", "/AuthorizationHeaderUnauthenticated/weather-app"+agent+"&optionsOverride.RequestAppToken=false", local, "")
	if tok := tokenOf(t, w); w.Code != 200 || tok.Claims["scp"] != nil || tok.Claims["roles"] == nil {
		t.Errorf("RequestAppToken=false override: %d %v, want the app token still", w.Code, tok.Claims)
	}
	// Entries are named options: the exact name only. Routes match in any case.
	if w := do(h, "GET", "/AuthorizationHeaderUnauthenticated/WEATHER-APP"+agent, local, ""); w.Code != 400 {
		t.Errorf("another spelling of the entry's name: %d, want 400 (no such entry)", w.Code)
	}
	if w := do(h, "GET", "/authorizationheaderunauthenticated/weather-app"+agent, local, ""); w.Code != 200 {
		t.Errorf("the route in lower case: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/HEALTHZ", local, ""); w.Code != 200 {
		t.Errorf("/HEALTHZ: %d", w.Code)
	}
	// An unknown entry is empty options the overrides may complete; blank
	// override values are skipped.
	scopes := "&optionsOverride.Scopes=" + url.QueryEscape("api://"+f.env["WEATHER_API_APP_ID"]+"/.default") + "&optionsOverride.RequestAppToken=true"
	if w := do(h, "GET", "/AuthorizationHeaderUnauthenticated/unlisted"+agent+scopes, local, ""); w.Code != 200 {
		t.Errorf("an unknown entry completed by overrides: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/AuthorizationHeaderUnauthenticated/weather-app"+agent+"&optionsOverride.Scopes=", local, ""); w.Code != 200 {
		t.Errorf("a blank Scopes override: %d %s, want the entry's scopes kept", w.Code, w.Body)
	}

	// DownstreamApi: a body goes only with its Content-Type; the extra
	// query and header parameters and the Accept override are applied.
	path := "/DownstreamApiUnauthenticated/weather-app" + agent + "&optionsOverride.RelativePath=weather&optionsOverride.HttpMethod=POST" +
		"&optionsOverride.ExtraQueryParameters.city=Oslo&optionsOverride.ExtraHeaderParameters.X-Trace=abc&optionsOverride.AcceptHeader=application/xml"
	r := httptest.NewRequest("POST", path, strings.NewReader(`{"a":1}`))
	r.Host, r.RemoteAddr = "localhost:5000", local
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 200 || got == nil || gotBody != "" || got.URL.Query().Get("city") != "Oslo" || got.Header.Get("X-Trace") != "abc" ||
		got.Header.Get("Accept") != "application/xml" {
		t.Fatalf("downstream without Content-Type: %d %s; the API got %v body %q", rec.Code, rec.Body, got, gotBody)
	}
	r = httptest.NewRequest("POST", path, strings.NewReader(`{"a":1}`))
	r.Host, r.RemoteAddr = "localhost:5000", local
	r.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if gotBody != `{"a":1}` || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("downstream with Content-Type: body %q, type %q", gotBody, got.Header.Get("Content-Type"))
	}

	// AzureAd__Scopes is checked on /Validate only, with IDW10203.
	noScope, err := f.sim.Keys.Sign(jwtauthtest.Edit(jwtauthtest.Claims(t, f.tc), map[string]any{"scp": "User.Read"}), true)
	if err != nil {
		t.Fatal(err)
	}
	if w := do(h, "GET", "/Validate", local, noScope); w.Code != 403 ||
		w.Body.String() != "IDW10203: The 'scope' or 'scp' claim does not contain scopes 'access_as_user' or was not found. " {
		t.Errorf("/Validate without the scope: %d %q", w.Code, w.Body)
	}
	if w := do(h, "GET", "/Validate", local, f.tc); w.Code != 200 {
		t.Errorf("/Validate with the scope: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/AuthorizationHeader/weather-app"+agent, local, noScope); w.Code == 401 && w.Body.Len() == 0 {
		t.Errorf("a token without AzureAd__Scopes was refused inbound on /AuthorizationHeader")
	}
}
