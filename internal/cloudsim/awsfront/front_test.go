package awsfront_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/agentid"
	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/agentcoreid"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsfront"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsiam"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/weather"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

const runtimeARN = awsfront.LocalRuntimeARN

// templateFile is the repository's template, edited by replacing each
// old with its new (none: as it is).
func templateFile(t *testing.T, edits ...string) []byte {
	t.Helper()
	src, err := os.ReadFile("../../../deploy/aws/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("the template has no %q to edit", edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	return []byte(s)
}

// container records what the runtime front let through.
type container struct {
	mu      sync.Mutex
	headers http.Header
	method  string
}

func (c *container) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.headers = r.Header.Clone()
	c.method = r.Method
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"success","response":"ok"}`)
}

func (c *container) last() http.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.headers
	c.headers = nil
	return h
}

func runtimeFront(t *testing.T, sim *cloudsim.Sim, src []byte) (string, *container) {
	box := &container{}
	target, _ := frontBefore(t, sim, src, box, nil)
	return target, box
}

// frontBefore is the runtime front src describes before backend, with the
// runtime's workload identity in id (nil: none); it returns the
// invocation URL and the runtime.
func frontBefore(t *testing.T, sim *cloudsim.Sim, src []byte, backend http.Handler, id awsfront.WorkloadIdentities) (string, *awsfront.Runtime) {
	t.Helper()
	tpl, err := awsfront.Load(src, awsfront.LocalStack(sim.Env()))
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(backend)
	t.Cleanup(server.Close)
	u, _ := url.Parse(server.URL)
	rt, err := awsfront.RuntimeFrom(tpl, "AgentRuntime", awsfront.KeySetFunc(sim.Keys.Verify), u)
	if err != nil {
		t.Fatal(err)
	}
	if id != nil {
		if err := rt.UseIdentity(id); err != nil {
			t.Fatal(err)
		}
	}
	front := httptest.NewServer(rt)
	t.Cleanup(front.Close)
	return front.URL + "/runtimes/" + url.PathEscape(runtimeARN) + "/invocations", rt
}

func invoke(t *testing.T, target, authorization string, extra map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", target, strings.NewReader(`{"prompt":"weather in Oslo"}`))
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	return send(t, req)
}

// send makes one request and returns what came back.
func send(t *testing.T, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// The AgentCore Runtime front, built from the template: the chat UI's
// users pass; tokens of another client, without a token, or by SigV4 do
// not; only the runtime's own and the allowlisted headers reach the
// container.
func TestAgentCoreTemplateFront(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	env := sim.Env()
	tokens := cloudsimtest.NewTokens(sim)
	tc := tokens.User(t) // from the SPA: azp is the SPA's app ID
	other, err := sim.Keys.Sign(jwtauthtest.Edit(jwtauthtest.Claims(t, tc), map[string]any{"azp": env["AGENT_CLIENT_ID"]}), true)
	if err != nil {
		t.Fatal(err)
	}
	target, box := runtimeFront(t, sim, templateFile(t))
	cases := []struct {
		name, target, authorization string
		status                      int
		message                     string
	}{
		{"the SPA user's token", target, "Bearer " + tc, 200, ""},
		{"a token from another client of the tenant", target, "Bearer " + other, 403, "Claim 'azp' value mismatch"},
		{"no token", target, "", 401, "Missing bearer token"},
		{"SigV4", target, "AWS4-HMAC-SHA256 Credential=AKIA/20261130/us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=host, Signature=00", 403,
			"Authorization method mismatch"},
		{"the default endpoint by name", target + "?qualifier=DEFAULT", "Bearer " + tc, 200, ""},
		{"another endpoint", target + "?qualifier=v2", "Bearer " + tc, 404, "No endpoint v2"},
		{"another runtime", strings.Replace(target, "weather_agent-XYZ", "other-ABC", 1), "Bearer " + tc, 404, "No agent runtime"},
	}
	// What a browser and its proxies would add: restricted headers (the
	// guide's list), an unlisted one, and the allowlisted stream signal.
	browserish := map[string]string{"X-Forwarded-For": "10.9.9.9", "X-Internal-Admin": "1", "Origin": "https://chat.example.com",
		"Accept": "text/event-stream", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization",
		"Cookie": "a=b", "X-Amz-Date": "20261206T000000Z", "X-Amzn-Trace-Id": "Root=1-x", chatapi.StreamHeader: "true"}
	for _, c := range cases {
		status, _, body := invoke(t, c.target, c.authorization, browserish)
		got := box.last()
		if status != c.status || !strings.Contains(body, c.message) || (status == 200) != (got != nil) {
			t.Errorf("%s: %d %s (reached the container: %v), want %d %q", c.name, status, body, got != nil, c.status, c.message)
		}
		if got == nil {
			continue
		}
		// Only the runtime's session ID and the allowlisted headers; Go's
		// server keeps Content-Length, which is the body's framing.
		var names []string
		for k := range got {
			if k != "Content-Length" {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		want := []string{"Authorization", "X-Amzn-Bedrock-Agentcore-Runtime-Custom-Stream", "X-Amzn-Bedrock-Agentcore-Runtime-Session-Id"}
		if !slices.Equal(names, want) || len(got.Get("X-Amzn-Bedrock-Agentcore-Runtime-Session-Id")) < 33 {
			t.Errorf("%s: the container got headers %v, want only %v", c.name, got, want)
		}
	}
}

// A browser's CORS preflight is the front's to answer, not the
// container's (Origin and the Access-Control-Request-* pair never reach
// it): cloudsim answers without any CORS grant, since how the real
// endpoint answers one is undocumented.
func TestAgentCoreFrontAnswersPreflights(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	target, box := runtimeFront(t, sim, templateFile(t))
	req, _ := http.NewRequest("OPTIONS", target+"?qualifier=DEFAULT", nil)
	req.Header.Set("Origin", "https://chat.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	status, h, body := send(t, req)
	if status != 403 || h.Get("X-Amzn-Errortype") != "AccessDeniedException" || !strings.Contains(body, "undocumented") {
		t.Errorf("preflight: %d %v %s", status, h, body)
	}
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("the preflight's answer grants CORS: %s: %s", k, h.Get(k))
		}
	}
	if got := box.last(); got != nil {
		t.Errorf("the preflight reached the container: %v", got)
	}
}

// A template whose allowlist names what AWS refuses to propagate does not
// load: a restricted header, x-amz-*, or an x-amzn-* one but the Custom-
// prefix.
func TestAgentCoreTemplateFrontRefusesRestrictedHeaders(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	for _, name := range []string{"Accept", "Origin", "access-control-request-headers", "Content-Type", "X-Amz-Security-Token", "X-Amzn-Trace-Id",
		"X-Amzn-Bedrock-AgentCore-Runtime-Custom-"} {
		src := templateFile(t, "RequestHeaderAllowlist: [Authorization, ", "RequestHeaderAllowlist: [Authorization, "+name+", ")
		tpl, err := awsfront.Load(src, awsfront.LocalStack(sim.Env()))
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse("http://127.0.0.1:1")
		if _, err := awsfront.RuntimeFrom(tpl, "AgentRuntime", awsfront.KeySetFunc(sim.Keys.Verify), u); err == nil || !strings.Contains(err.Error(), "cannot be allowlisted") {
			t.Errorf("%s in the allowlist: %v", name, err)
		}
	}
	// The guide takes any other header, and the Custom- names.
	for _, name := range []string{"X-Api-Key", "X-Amzn-Bedrock-AgentCore-Runtime-Custom-UserId"} {
		if why := awsfront.Restricted(name); why != "" {
			t.Errorf("%s: %s", name, why)
		}
	}
}

// The template is what decides: AllowedClients with Entra's SPA refuses
// every user (so that bug cannot return), and an edited audience, claim
// rule or header allowlist changes what passes.
func TestAgentCoreTemplateFrontFollowsTheTemplate(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	tc := cloudsimtest.NewTokens(sim).User(t)
	rule := `          CustomClaims:
            - InboundTokenClaimName: azp
              InboundTokenClaimValueType: STRING
              AuthorizingClaimMatchValue:
                ClaimMatchOperator: EQUALS
                ClaimMatchValue:
                  MatchValueString: !Ref ClientSpaAppId`
	cases := []struct {
		name    string
		edits   []string
		status  int
		message string
		noAuth  bool // Authorization does not reach the container
	}{
		{"AllowedClients pinning the SPA", []string{rule, "          AllowedClients: [!Ref ClientSpaAppId]"}, 403, "Claim 'client_id' value mismatch", false},
		{"another audience", []string{`AllowedAudience: [!Ref BlueprintAppId, !Sub "api://${BlueprintAppId}"]`, `AllowedAudience: [!Ref WeatherApiAppId]`}, 403, "Claim 'aud'", false},
		{"a rule for another client", []string{"MatchValueString: !Ref ClientSpaAppId", "MatchValueString: !Ref AgentClientId"}, 403, "Claim 'azp'", false},
		{"allowed scopes (Entra puts them in scp, not scope)", []string{"          CustomClaims:", "          AllowedScopes: [access_as_user]\n          CustomClaims:"}, 403, "Claim 'scope'", false},
		{"Authorization not allowlisted", []string{"RequestHeaderAllowlist: [Authorization, ", "RequestHeaderAllowlist: ["}, 200, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target, box := runtimeFront(t, sim, templateFile(t, c.edits...))
			status, _, body := invoke(t, target, "Bearer "+tc, nil)
			if status != c.status || !strings.Contains(body, c.message) {
				t.Fatalf("%d %s, want %d %q", status, body, c.status, c.message)
			}
			if got := box.last(); got != nil && (got.Get("Authorization") == "") != c.noAuth {
				t.Errorf("Authorization reached the container: %v, want %v", got.Get("Authorization") != "", !c.noAuth)
			}
		})
	}
}

// apiFront is API Gateway's HTTP API from the template, before weather-api
// as the Lambda, configured as the template configures the function.
func apiFront(t *testing.T, sim *cloudsim.Sim, src []byte) string {
	t.Helper()
	env := sim.Env()
	env["ACCEPTED_TOKEN_VERSIONS"] = "2"
	r := config.New(func(k string) string { return env[k] })
	cfg := weatherapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	base := sim.URL + "/" + env["TENANT_ID"]
	v, err := jwtauth.New(cfg.Policy(), jwtauth.NewKeySet(cloudsimtest.Client(sim), base+"/discovery/v2.0/keys"))
	if err != nil {
		t.Fatal(err)
	}
	lambda := weatherapi.LambdaHandler(weatherapi.NewGatewayServer(v, &weather.Offline{}, slog.New(slog.DiscardHandler)))
	tpl, err := awsfront.Load(src, awsfront.LocalStack(env))
	if err != nil {
		t.Fatal(err)
	}
	api, err := awsfront.HTTPAPIFrom(tpl, awsfront.KeySetFunc(sim.Keys.Verify), lambda)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv.URL
}

// The Lambda path through API Gateway's authorizer as the template builds
// it, with API Gateway's refusals.
func TestAPIGatewayTemplateFront(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	env := sim.Env()
	tokens := cloudsimtest.NewTokens(sim)
	tr := tokens.App(t, "api://"+env["WEATHER_API_APP_ID"])
	spa := tokens.User(t) // a token for the blueprint, not the Weather API
	get := func(base, path, token string) (int, http.Header, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return send(t, req)
	}
	base := apiFront(t, sim, templateFile(t))
	cases := []struct {
		name, path, token string
		status            int
		body, challenge   string
	}{
		{"health, open", "/health", "", 200, "healthy", ""},
		{"no token", "/weather?city=Oslo", "", 401, `{"message":"Unauthorized"}`, `error="invalid_token"`},
		{"the agent's token (TR)", "/weather?city=Oslo", tr, 200, `"city":"Oslo"`, ""},
		{"a token for another API", "/weather?city=Oslo", spa, 401, `{"message":"Unauthorized"}`, "the token does not have a valid audience"},
		{"no such route", "/weather/hourly", tr, 404, `{"message":"Not Found"}`, ""},
	}
	for _, c := range cases {
		status, h, body := get(base, c.path, c.token)
		if status != c.status || !strings.Contains(body, c.body) || !strings.Contains(h.Get("Www-Authenticate"), c.challenge) {
			t.Errorf("%s: %d %s %q, want %d %s %s", c.name, status, body, h.Get("Www-Authenticate"), c.status, c.body, c.challenge)
		}
	}
	// A route scope the agent's app-only token lacks: 403, from the
	// gateway, before the Lambda.
	scoped := apiFront(t, sim, templateFile(t, "      RouteKey: GET /weather\n      AuthorizationType: JWT",
		"      RouteKey: GET /weather\n      AuthorizationType: JWT\n      AuthorizationScopes: [Weather.Write]"))
	if status, h, body := get(scoped, "/weather?city=Oslo", tr); status != 403 || body != "{\"message\":\"Forbidden\"}\n" ||
		!strings.Contains(h.Get("Www-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("a missing route scope: %d %s %v", status, body, h)
	}
	var answer map[string]any
	_, _, body := get(base, "/weather?city=Oslo", tr)
	json.Unmarshal([]byte(body), &answer)
	if v, _ := answer["validated_by"].(string); !strings.Contains(v, "API Gateway JWT authorizer") {
		t.Errorf("the Lambda did not answer as the gateway's function: %v", answer["validated_by"])
	}
}

// The template's AgentRuntimeRole, parameters resolved, read by cloudsim's
// IAM as CloudFormation would hand it over: its trust policy and inline
// policy parse, and the policy allows what llm-agent asks for on AgentCore
// (internal/agentid: GetWebIdentityToken for api://AzureADTokenExchange,
// 300 s, RS256; Converse through the inference profile) and nothing wider.
func TestAgentRuntimeRolePolicies(t *testing.T) {
	src, err := os.ReadFile("../../../deploy/aws/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stack := awsfront.LocalStack(map[string]string{"TENANT_ID": "t", "BLUEPRINT_APP_ID": "b", "AGENT_CLIENT_ID": "a", "CLIENT_SPA_APP_ID": "s", "WEATHER_API_APP_ID": "w"})
	const model = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
	stack.Params["BedrockModelId"] = model
	tpl, err := awsfront.Load(src, stack)
	if err != nil {
		t.Fatal(err)
	}
	trust, ok, err := tpl.Property("AgentRuntimeRole", "AssumeRolePolicyDocument")
	if !ok || err != nil {
		t.Fatalf("trust policy: %v %v", ok, err)
	}
	if _, err := awsiam.Parse(asJSON(t, trust), awsiam.Trust); err != nil {
		t.Errorf("trust policy: %v", err)
	}
	docs, err := tpl.InlinePolicies("AgentRuntimeRole")
	if err != nil {
		t.Fatal(err)
	}
	var policies []*awsiam.Policy
	for name, doc := range docs {
		parsed, err := awsiam.Parse(doc, awsiam.Identity)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		policies = append(policies, parsed)
	}
	_, base, _ := strings.Cut(model, ".")
	token := func(duration string, audiences ...string) awsiam.Request {
		return awsiam.Request{Action: "sts:GetWebIdentityToken", Resource: "*", Context: map[string][]string{
			"sts:IdentityTokenAudience": audiences, "sts:DurationSeconds": {duration}, "sts:SigningAlgorithm": {"RS256"}}}
	}
	converse := func(resource string) awsiam.Request {
		return awsiam.Request{Action: "bedrock:InvokeModel", Resource: resource}
	}
	for _, c := range []struct {
		name    string
		request awsiam.Request
		want    bool
	}{
		{"llm-agent's outbound token", token("300", agentid.TokenExchangeResource), true},
		{"a longer token", token("900", agentid.TokenExchangeResource), false},
		{"a token for another audience", token("300", "https://example.test"), false},
		{"Converse on the inference profile", converse("arn:aws:bedrock:us-east-1:111122223333:inference-profile/" + model), true},
		{"Converse on its foundation model", converse("arn:aws:bedrock:us-east-1::foundation-model/" + base), true},
		{"Converse on another account's profile", converse("arn:aws:bedrock:us-east-1:999999999999:inference-profile/" + model), false},
		{"IAM", awsiam.Request{Action: "iam:CreateRole", Resource: "*"}, false},
	} {
		if got := awsiam.Permitted(c.request, policies, nil); got != c.want {
			t.Errorf("%s: permitted = %v, want %v", c.name, got, c.want)
		}
	}
	// The token vault: exactly what cloudsim's AgentCore Identity asks of
	// llm-agent's GetResourceOauth2Token and CompleteResourceTokenAuth, on
	// the ARNs it uses, for the runtime's own workload identity and the
	// template's provider.
	vault := agentcoreid.New(agentcoreid.Options{Region: "us-east-1", Account: "111122223333"})
	own := vault.WorkloadIdentityARN(agentcoreid.RuntimeWorkloadName(runtimeARN))
	provider := vault.ProviderARN("entra-weather-api")
	secret := "arn:aws:secretsmanager:us-east-1:111122223333:secret:bedrock-agentcore-identity!default/oauth2/entra-weather-api-AbCdEf"
	call := func(action, resource string) awsiam.Request {
		return awsiam.Request{Action: "bedrock-agentcore:" + action, Resource: resource}
	}
	for _, c := range []struct {
		name    string
		request awsiam.Request
		want    bool
	}{
		{"the vaulted token: the token vault", call("GetResourceOauth2Token", vault.TokenVaultARN()), true},
		{"the vaulted token: the provider", call("GetResourceOauth2Token", provider), true},
		{"the vaulted token: the directory", call("GetResourceOauth2Token", vault.DirectoryARN()), true},
		{"the vaulted token: the runtime's workload identity", call("GetResourceOauth2Token", own), true},
		{"session binding: the directory", call("CompleteResourceTokenAuth", vault.DirectoryARN()), true},
		{"session binding: the runtime's workload identity", call("CompleteResourceTokenAuth", own), true},
		{"the provider's secret", awsiam.Request{Action: "secretsmanager:GetSecretValue", Resource: secret}, true},
		{"another provider's token", call("GetResourceOauth2Token", vault.ProviderARN("entra-other")), false},
		{"another provider's secret, its name starting alike",
			awsiam.Request{Action: "secretsmanager:GetSecretValue", Resource: strings.Replace(secret, "entra-weather-api-", "entra-weather-api-x-", 1)}, false},
		{"another workload identity's token", call("GetResourceOauth2Token", vault.WorkloadIdentityARN("other_agent-ABC")), false},
		{"minting workload access tokens", call("GetWorkloadAccessTokenForJWT", own), false},
		{"changing providers", call("UpdateOauth2CredentialProvider", provider), false},
		{"changing the return URLs", call("UpdateWorkloadIdentity", own), false},
	} {
		if got := awsiam.Permitted(c.request, policies, nil); got != c.want {
			t.Errorf("%s: permitted = %v, want %v", c.name, got, c.want)
		}
	}
}

// A role's inline policies come as IAM would receive them, or not at all.
func TestInlinePolicies(t *testing.T) {
	for _, c := range []struct{ name, policies, want string }{
		{"one", "[{PolicyName: p, PolicyDocument: {Version: '2012-10-17', Statement: [{Effect: Allow, Action: 's3:*', Resource: !Sub 'arn:${AWS::Partition}:s3:::b'}]}}]",
			`map[p:{"Statement":[{"Action":"s3:*","Effect":"Allow","Resource":"arn:aws:s3:::b"}],"Version":"2012-10-17"}]`},
		{"none", "[]", "R has no inline policies"},
		{"no name", "[{PolicyDocument: {Version: '2012-10-17'}}]", "R.Policies[0] needs a PolicyName and a PolicyDocument"},
		{"no document", "[{PolicyName: p}]", "R.Policies[0] needs a PolicyName and a PolicyDocument"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tpl, err := awsfront.Load([]byte("Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      Policies: "+c.policies+"\n"), awsfront.LocalStack(nil))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.InlinePolicies("R")
			if err != nil {
				if err.Error() != c.want {
					t.Errorf("err = %v, want %s", err, c.want)
				}
				return
			}
			if fmt.Sprint(got) != c.want {
				t.Errorf("got %v, want %s", got, c.want)
			}
		})
	}
}

// templateRolePolicies are AgentRuntimeRole's inline policies in
// deploy/aws/template.yaml, by name.
func templateRolePolicies(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile("../../../deploy/aws/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := awsfront.Load(src, awsfront.LocalStack(nil))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := tpl.InlinePolicies("AgentRuntimeRole")
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// The demo tenant's role proves the blueprint with the statement the
// template gives AgentRuntimeRole, so the demo refuses what AgentCore
// would: the tenant file's copy must not drift from the template.
func TestTenantFileProvesTheBlueprintAsTheTemplate(t *testing.T) {
	docs := templateRolePolicies(t)
	var want map[string]any
	for _, doc := range docs {
		var policy struct{ Statement []map[string]any }
		json.Unmarshal([]byte(doc), &policy)
		for _, st := range policy.Statement {
			if st["Action"] == "sts:GetWebIdentityToken" {
				delete(st, "Sid")
				want = st
			}
		}
	}
	dir, err := tenant.Parse("tenant.jsonc", local.TenantFile)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	for _, r := range dir.AWS.Roles {
		var doc struct{ Statement []map[string]any }
		json.Unmarshal(r.Policies["prove-the-blueprint"], &doc)
		for _, st := range doc.Statement {
			got = st
		}
	}
	// Printed, as IAM reads 300 and "300" alike (the template's resolved
	// values are strings).
	if want == nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the tenant file's prove-the-blueprint statement\n%v\nis not the template's\n%v", got, want)
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The demo tenant's role gets the token vault's statements as the
// template gives them to AgentRuntimeRole, so the local vault refuses
// what AgentCore would.
func TestTenantFileGrantsTheVaultAsTheTemplate(t *testing.T) {
	docs := templateRolePolicies(t)
	var want []map[string]any
	for _, doc := range docs {
		var policy struct{ Statement []map[string]any }
		json.Unmarshal([]byte(doc), &policy)
		for _, st := range policy.Statement {
			if sid, _ := st["Sid"].(string); strings.HasPrefix(sid, "TokenVault") {
				delete(st, "Sid")
				want = append(want, st)
			}
		}
	}
	dir, err := tenant.Parse("tenant.jsonc", local.TenantFile)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for _, r := range dir.AWS.Roles {
		var doc struct{ Statement []map[string]any }
		json.Unmarshal(r.Policies["agentcore-vault"], &doc)
		got = append(got, doc.Statement...)
	}
	if len(want) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the tenant file's agentcore-vault statements\n%v\nare not the template's\n%v", got, want)
	}
}
