package jwtauth_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
)

func (f *fixture) gateway(scopes ...string) jwtauthtest.Gateway {
	w := f.env["WEATHER_API_APP_ID"]
	return jwtauthtest.Gateway{Issuer: jwtauth.IssuerV2(f.env["TENANT_ID"]), Audiences: []string{w, "api://" + w}, Scopes: scopes, Keys: f.keySet()}
}

// The API Gateway stand-in accepts what the real authorizer would for the
// Weather API and refuses the rest, so the Lambda tests rest on it.
func TestGatewayStandIn(t *testing.T) {
	f := newFixture(t)
	tg := f.target()
	good := tg.GoodClaims()
	v1 := tg.Sign(t, jwtauthtest.Edit(good, map[string]any{"iss": jwtauth.IssuerV1(f.env["TENANT_ID"]), "ver": "1.0", "aud": "api://" + f.env["WEATHER_API_APP_ID"]}))
	cases := []struct {
		name, token string
		scopes      []string
		status      int
	}{
		{"cloudsim app token (TR)", "Bearer " + f.appToken(t), nil, 200},
		{"cloudsim OBO token (TU), bare", f.oboToken(t), []string{"Weather.Read"}, 200},
		{"cloudsim agent user token", f.agentUserToken(t), nil, 200},
		{"v1 token: issuer differs", v1, nil, 401},
		{"another API's token", tg.Sign(t, jwtauthtest.Edit(good, map[string]any{"aud": f.env["CLIENT_SPA_APP_ID"]})), nil, 401},
		{"no aud, client_id the API", tg.Sign(t, jwtauthtest.Edit(good, map[string]any{"aud": nil, "client_id": f.env["WEATHER_API_APP_ID"]})), nil, 200},
		{"expired", tg.Sign(t, jwtauthtest.Edit(good, map[string]any{"exp": 1})), nil, 401},
		{"iat in the future", tg.Sign(t, jwtauthtest.Edit(good, map[string]any{"iat": 4102444800})), nil, 401},
		{"app token on a scoped route", f.appToken(t), []string{"Weather.Read"}, 403},
		{"HS256", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", nil, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			claims, _, status, err := f.gateway(c.scopes...).Authorize(t.Context(), c.token)
			if status != c.status {
				t.Fatalf("status %d (%v), want %d", status, err, c.status)
			}
			if status == 200 && claims["iss"] == "" {
				t.Fatalf("claims %v", claims)
			}
		})
	}
}

// What the Lambda sees from the gateway is held to the same policy as a
// token the HTTP server verifies itself: the same caller for every flow,
// and the same refusal for every attack the gateway's own checks let by.
func TestAuthorizeClaimsMatchesValidate(t *testing.T) {
	f := newFixture(t)
	v, err := jwtauth.New(f.policy(), f.keySet())
	if err != nil {
		t.Fatal(err)
	}
	stringified := func(token string) map[string]string {
		out := map[string]string{}
		for k, val := range jwtauthtest.Claims(t, token) {
			out[k] = jwtauth.ClaimString(val)
		}
		return out
	}
	for name, token := range map[string]string{"app": f.appToken(t), "obo": f.oboToken(t), "agent user": f.agentUserToken(t)} {
		claims, _, status, err := f.gateway().Authorize(t.Context(), token)
		if status != 200 {
			t.Fatalf("%s: the gateway refused: %v", name, err)
		}
		want, e := v.Validate(t.Context(), token)
		if e != nil {
			t.Fatal(e)
		}
		got, e := v.AuthorizeClaims(claims)
		if e != nil {
			t.Fatalf("%s: %v", name, e)
		}
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		if string(wj) != string(gj) || !reflect.DeepEqual(want.ShownClaims(), got.ShownClaims()) || got.ShownClaims()["iss"] == "" {
			t.Errorf("%s:\nvalidated  %s %v\nfrom claims %s %v", name, wj, want.ShownClaims(), gj, got.ShownClaims())
		}
	}

	attacks, _ := f.target().Attacks(t)
	compared := 0
	for _, a := range attacks {
		if _, err := f.keySet().VerifySignature(t.Context(), a.Token); err != nil {
			continue // a forged token: the gateway's signature check stops it
		}
		compared++
		_, e := v.AuthorizeClaims(stringified(a.Token))
		if e == nil || e.Status != a.Status || e.Code != a.Code {
			t.Errorf("%s: got %v, want %d %s", a.Name, e, a.Status, a.Code)
		}
	}
	if compared < 10 {
		t.Fatalf("only %d claim attacks compared", compared)
	}
	if _, e := v.AuthorizeClaims(nil); e == nil || e.Status != 401 {
		t.Errorf("no claims: %v", e)
	}
	if _, e := v.AuthorizeClaims(map[string]string{"exp": "soon"}); e == nil || e.Status != 401 {
		t.Errorf("a non-numeric exp: %v", e)
	}
}
