package weatherapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
	"github.com/crosscloud-agentid/agentid/internal/weather"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

const (
	dTenant = "11111111-1111-1111-1111-111111111111"
	dAPI    = "22222222-2222-2222-2222-222222222222"
	dAgent  = "33333333-3333-3333-3333-333333333333"
	dVault  = "44444444-4444-4444-4444-444444444444" // the token vault's app
	dOther  = "55555555-5555-5555-5555-555555555555" // an app of the tenant nobody listed
	dUser   = "66666666-6666-6666-6666-666666666666"
)

// verifyWith is a signing key set as jwtauth's key set.
type verifyWith struct{ keys *signing.Keys }

func (v verifyWith) VerifySignature(_ context.Context, token string) ([]byte, error) {
	return v.keys.Verify(token)
}

// tokenOf is a v2 token for the API from app: delegated for the user
// (scp), app-only (roles), or an agent user's (xms_sub_fct 13).
func tokenOf(t *testing.T, keys *signing.Keys, app, kind string) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"iss": jwtauth.IssuerV2(dTenant), "aud": dAPI, "tid": dTenant, "ver": "2.0", "azp": app,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "uti": "uti-" + kind + "-" + app[:4]}
	switch kind {
	case "delegated":
		c["scp"], c["oid"], c["sub"], c["idtyp"], c["preferred_username"] = "Weather.Read", dUser, "alice-sub", "user", "alice@contoso.example"
	case "agent_user":
		c["scp"], c["oid"], c["sub"], c["idtyp"], c["xms_sub_fct"] = "Weather.Read", dUser, "au-sub", "user", "13"
	case "app":
		c["roles"], c["oid"], c["sub"], c["idtyp"] = []string{"Weather.Read"}, app, app, "app"
	}
	tok, err := keys.Sign(c, false)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The token vault's app may call on behalf of a user, and the verdict
// names it; its app-only and agent user tokens are refused, and an app
// nobody listed is refused whatever its token, on the HTTP server and on
// the Lambda behind API Gateway alike. Without the setting, the vault's
// tokens are refused like any unlisted app's.
func TestDelegatedCallers(t *testing.T) {
	keys, err := signing.Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"TENANT_ID": dTenant, "WEATHER_API_APP_ID": dAPI, "AGENT_CLIENT_ID": dAgent, "WEATHER_PROVIDER": "offline"}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	type want struct {
		status int
		caller string // the verdict's app_id when answered
		reason string // in the refusal's message
	}
	cases := []struct {
		name string
		env  map[string]string
		app  string
		kind string
		want want
	}{
		{"the vault's delegated token", with(map[string]string{"ALLOWED_DELEGATED_CALLER_APP_IDS": dVault}), dVault, "delegated", want{200, dVault, ""}},
		{"the vault's, named by VAULT_APP_ID", with(map[string]string{"VAULT_APP_ID": dVault}), dVault, "delegated", want{200, dVault, ""}},
		{"the vault's app-only token", with(map[string]string{"ALLOWED_DELEGATED_CALLER_APP_IDS": dVault}), dVault, "app",
			want{403, "", "the calling app " + dVault + " may call on behalf of a signed-in user only (ALLOWED_DELEGATED_CALLER_APP_IDS), and this token is app-only"}},
		{"the vault's agent user token", with(map[string]string{"ALLOWED_DELEGATED_CALLER_APP_IDS": dVault}), dVault, "agent_user",
			want{403, "", "this token is an agent user's"}},
		{"an unlisted app's delegated token", with(map[string]string{"ALLOWED_DELEGATED_CALLER_APP_IDS": dVault}), dOther, "delegated",
			want{403, "", "the calling app " + dOther + " is not allowed"}},
		{"an unlisted app's app-only token", with(map[string]string{"ALLOWED_DELEGATED_CALLER_APP_IDS": dVault}), dOther, "app",
			want{403, "", "the calling app " + dOther + " is not allowed"}},
		{"the agent's app-only token, still", with(map[string]string{"ALLOWED_DELEGATED_CALLER_APP_IDS": dVault}), dAgent, "app", want{200, dAgent, ""}},
		{"the agent's delegated token, still", with(map[string]string{"ALLOWED_DELEGATED_CALLER_APP_IDS": dVault}), dAgent, "delegated", want{200, dAgent, ""}},
		{"the vault's token without the setting", with(nil), dVault, "delegated", want{403, "", "the calling app " + dVault + " is not allowed"}},
		{"an app in both lists keeps its app-only tokens", with(map[string]string{"ALLOWED_CALLER_APP_IDS": dAgent + "," + dVault, "ALLOWED_DELEGATED_CALLER_APP_IDS": dVault}),
			dVault, "app", want{200, dVault, ""}},
		{"a vault token lacking the scope", with(map[string]string{"ALLOWED_DELEGATED_CALLER_APP_IDS": dVault, "REQUIRED_SCOPE": "Weather.Write"}), dVault, "delegated",
			want{403, "", "lacks the scope Weather.Write"}},
		{"REQUIRE_AGENT_IDENTITY refuses the vault", with(map[string]string{"ALLOWED_DELEGATED_CALLER_APP_IDS": dVault, "REQUIRE_AGENT_IDENTITY": "true"}), dVault, "delegated",
			want{403, "", "only agent identities"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := config.New(func(k string) string { return c.env[k] })
			s := weatherapi.LoadSettings(r)
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			tok := tokenOf(t, keys, c.app, c.kind)
			// The HTTP server: the policy, then the guard, as Build wires it.
			v, err := jwtauth.New(s.Policy(), verifyWith{keys})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(weatherapi.NewServer(s.Guard(v), &weather.Offline{}, slog.New(slog.DiscardHandler), false))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+"/weather?city=Oslo", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			check := func(where string, status int, body map[string]any) {
				t.Helper()
				caller, _ := body["caller"].(map[string]any)
				msg, _ := body["message"].(string)
				switch {
				case status != c.want.status:
					t.Errorf("%s: HTTP %d, want %d: %v", where, status, c.want.status, body)
				case c.want.caller != "" && (caller["app_id"] != c.want.caller || body["agent_app_id"] != c.want.caller):
					t.Errorf("%s: the verdict names %v, want %s", where, caller, c.want.caller)
				case c.want.reason != "" && !strings.Contains(msg, c.want.reason):
					t.Errorf("%s: refusal %q, want %q", where, msg, c.want.reason)
				}
				if leaks := leakcheck.Find(msg, tok); len(leaks) > 0 {
					t.Errorf("%s: the refusal repeats the token", where)
				}
			}
			check("HTTP", resp.StatusCode, body)

			// The Lambda behind API Gateway: the claims its authorizer
			// passes on, as strings.
			svc, err := weatherapi.Build(s, command.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			claims := map[string]string{}
			var raw map[string]any
			payload, _ := keys.Verify(tok)
			_ = json.Unmarshal(payload, &raw)
			for k, v := range raw {
				switch v := v.(type) {
				case string:
					claims[k] = v
				case float64:
					claims[k] = jsonText(v)
				default:
					claims[k] = "[" + strings.Join(toStrings(v), " ") + "]"
				}
			}
			out, err := weatherapi.LambdaHandler(svc.GatewayServer())(t.Context(), gatewayEvent("GET", "/weather", "city=Oslo", "", claims))
			if err != nil {
				t.Fatal(err)
			}
			var lbody map[string]any
			_ = json.Unmarshal([]byte(out.Body), &lbody)
			check("Lambda", out.StatusCode, lbody)
		})
	}
}

func TestDelegatedCallersSettings(t *testing.T) {
	cases := []struct {
		name    string
		value   string
		problem string
	}{
		{"one app", dVault, ""},
		{"any app is refused", "*", "ALLOWED_DELEGATED_CALLER_APP_IDS: name the apps"},
		{"not an app ID", "vault", `ALLOWED_DELEGATED_CALLER_APP_IDS: "vault" is not an app ID`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"TENANT_ID": dTenant, "WEATHER_API_APP_ID": dAPI, "AGENT_CLIENT_ID": dAgent, "ALLOWED_DELEGATED_CALLER_APP_IDS": c.value}
			r := config.New(func(k string) string { return env[k] })
			s := weatherapi.LoadSettings(r)
			err := r.Err()
			if c.problem == "" {
				if err != nil || strings.Join(s.DelegatedCallers, ",") != c.value || strings.Join(s.AllowedCallers, ",") != dAgent {
					t.Errorf("settings %+v, %v", s, err)
				}
				// The policy lets both reach the guard; the allowed list
				// itself is unchanged.
				if p := s.Policy(); strings.Join(p.AllowedCallers, ",") != dAgent+","+dVault {
					t.Errorf("policy callers %v", p.AllowedCallers)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.problem) {
				t.Errorf("error %v, want %q", err, c.problem)
			}
		})
	}
}

func jsonText(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}
