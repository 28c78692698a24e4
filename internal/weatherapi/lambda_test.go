package weatherapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/weather"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// lambdaOf is the same configuration as f's HTTP server, run as the Lambda
// behind API Gateway, with the gateway's JWT authorizer in front.
func lambdaOf(t *testing.T, f *fixture) (func(events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse, jwtauthtest.Gateway) {
	settings := config.New(func(k string) string { return f.env[k] })
	cfg := weatherapi.LoadSettings(settings)
	v, err := jwtauth.New(cfg.Policy(), f.keys)
	if err != nil {
		t.Fatal(err)
	}
	h := weatherapi.LambdaHandler(weatherapi.NewGatewayServer(v, &weather.Offline{}, slog.New(slog.DiscardHandler)))
	gw := jwtauthtest.Gateway{Issuer: jwtauth.IssuerV2(f.env["TENANT_ID"]), Audiences: cfg.Audiences, Keys: f.keys}
	return func(e events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
		out, err := h(t.Context(), e)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}, gw
}

func gatewayEvent(method, path, query, body string, claims map[string]string) events.APIGatewayV2HTTPRequest {
	e := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: path, RawQueryString: query, Body: body,
		Headers: map[string]string{"content-type": "application/json"}}
	e.RequestContext.Stage = "$default"
	e.RequestContext.DomainName = "abc123.execute-api.us-east-1.amazonaws.com"
	e.RequestContext.HTTP.Method = method
	e.RequestContext.HTTP.Path = path
	if claims != nil {
		e.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}
	}
	return e
}

// comparable drops what differs by design between the two modes.
func comparable(t *testing.T, raw string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("not JSON: %q", raw)
	}
	delete(m, "validated_by")
	return m
}

// The Lambda behind the gateway's authorizer gives the HTTP server's
// answers and refusals, for every flow and every policy failure the
// gateway's own checks let through.
func TestLambdaAnswersAsTheHTTPServer(t *testing.T) {
	f := start(t, nil)
	handle, gw := lambdaOf(t, f)
	res := f.weatherResource()
	tg := targetOf(f)
	tr, tu, tau := f.tokens.App(t, res), f.tokens.OBO(t, res+"/Weather.Read"), f.tokens.AgentUser(t, res)
	cases := []struct {
		name, method, path, query, body, token string
		status                                 int
	}{
		{"TR weather", "GET", "/weather", "city=Paris", "", tr, 200},
		{"TU weather", "GET", "/weather", "city=Paris", "", tu, 200},
		{"TAU forecast", "GET", "/weather/forecast", "city=Oslo", "", tau, 200},
		{"TU echo", "POST", "/echo", "", `{"message":"hello"}`, tu, 200},
		{"TR echo, no body", "POST", "/echo", "", "", tr, 200},
		{"echo with bad JSON", "POST", "/echo", "", `{"message":`, tr, 400},
		{"bad city", "GET", "/weather", "city=", "", tr, 400},
		{"unknown path", "GET", "/nowhere", "", "", tr, 404},
		{"wrong method", "DELETE", "/weather", "", "", tr, 405},
		{"disallowed caller", "GET", "/weather", "", "", tg.Sign(t, jwtauthtest.Edit(tg.GoodClaims(), map[string]any{"azp": tg.Forbidden})), 403},
		{"app token without the role", "GET", "/weather", "", "", tg.Sign(t, jwtauthtest.Edit(tg.GoodClaims(), map[string]any{"roles": nil})), 403},
		{"delegated token without the scope", "GET", "/weather", "", "", tg.Sign(t, jwtauthtest.Edit(tg.GoodClaims(), map[string]any{"idtyp": "user", "scp": "User.Read"})), 403},
		{"other tenant in tid", "GET", "/weather", "", "", tg.Sign(t, jwtauthtest.Edit(tg.GoodClaims(), map[string]any{"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"})), 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			claims, _, status, err := gw.Authorize(t.Context(), "Bearer "+c.token)
			if status != 200 {
				t.Fatalf("the gateway refused (%d): %v", status, err)
			}
			req, _ := http.NewRequest(c.method, f.url+c.path+"?"+c.query, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+c.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			out := handle(gatewayEvent(c.method, c.path, c.query, c.body, claims))
			if resp.StatusCode != c.status || out.StatusCode != c.status {
				t.Fatalf("HTTP %d %s\nLambda %d %s\nwant %d", resp.StatusCode, raw, out.StatusCode, out.Body, c.status)
			}
			if got, want := comparable(t, out.Body), comparable(t, string(raw)); !reflect.DeepEqual(got, want) {
				t.Errorf("answers differ:\nLambda %v\nHTTP   %v", got, want)
			}
			if out.Headers["Content-Type"] != "application/json" || out.Headers["Cache-Control"] != "no-store" {
				t.Errorf("headers %v", out.Headers)
			}
			if w := resp.Header.Get("WWW-Authenticate"); w != out.Headers["Www-Authenticate"] {
				t.Errorf("WWW-Authenticate: HTTP %q, Lambda %q", w, out.Headers["Www-Authenticate"])
			}
		})
	}
}

func TestLambdaEventHandling(t *testing.T) {
	f := start(t, nil)
	handle, gw := lambdaOf(t, f)
	tu := f.tokens.OBO(t, f.weatherResource()+"/Weather.Read")
	claims, _, _, err := gw.Authorize(t.Context(), tu)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("echo shows the user's claims, not the token", func(t *testing.T) {
		body := base64.StdEncoding.EncodeToString([]byte(`{"message":"who am I?"}`))
		e := gatewayEvent("POST", "/echo", "", body, claims)
		e.IsBase64Encoded = true
		out := handle(e)
		var a struct {
			Echo, Message string
			Claims        map[string]string
			Caller        jwtauth.Caller
		}
		json.Unmarshal([]byte(out.Body), &a)
		if out.StatusCode != 200 || a.Message != "who am I?" || a.Claims["oid"] != claims["oid"] || a.Caller.UserOID != claims["oid"] ||
			!strings.Contains(a.Echo, "oid: "+claims["oid"]) || !strings.HasPrefix(a.Echo, "Hi, this is what I see for you:") {
			t.Fatalf("%d %s", out.StatusCode, out.Body)
		}
		if strings.Contains(out.Body, tu) || strings.Contains(out.Body, strings.Split(tu, ".")[2]) {
			t.Fatal("the echo repeats the token")
		}
	})
	t.Run("a named stage's prefix is dropped", func(t *testing.T) {
		e := gatewayEvent("GET", "/prod/weather", "city=Rome", "", claims)
		e.RequestContext.Stage = "prod"
		if out := handle(e); out.StatusCode != 200 || !strings.Contains(out.Body, "Rome") {
			t.Fatalf("%d %s", out.StatusCode, out.Body)
		}
	})
	t.Run("a route without the authorizer is refused", func(t *testing.T) {
		out := handle(gatewayEvent("GET", "/weather", "", "", nil))
		if out.StatusCode != 401 || !strings.Contains(out.Body, "attach the JWT authorizer") {
			t.Fatalf("%d %s", out.StatusCode, out.Body)
		}
	})
	t.Run("health needs no token", func(t *testing.T) {
		if out := handle(gatewayEvent("GET", "/health", "", "", nil)); out.StatusCode != 200 {
			t.Fatalf("%d %s", out.StatusCode, out.Body)
		}
	})
	t.Run("a body that is not base64 is a 400", func(t *testing.T) {
		e := gatewayEvent("POST", "/echo", "", "%%%", claims)
		e.IsBase64Encoded = true
		if out := handle(e); out.StatusCode != 400 {
			t.Fatalf("%d %s", out.StatusCode, out.Body)
		}
	})
	t.Run("an oversized echo body is a 413", func(t *testing.T) {
		out := handle(gatewayEvent("POST", "/echo", "", `{"message":"`+string(bytes.Repeat([]byte("a"), weatherapi.MaxEchoBytes))+`"}`, claims))
		if out.StatusCode != 413 {
			t.Fatalf("%d %.200s", out.StatusCode, out.Body)
		}
	})
}
