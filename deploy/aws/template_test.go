// Package aws_test checks the CloudFormation template's structure: it
// parses, every !Ref, !Sub and !GetAtt names a declared parameter,
// resource or pseudo parameter, every parameter is used, the resources the
// AWS deploy page (docs/deploy-aws.md) names are there, the security rules hold, and each binary's own
// settings code accepts the environment the template gives it.
package aws_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/crosscloud-agentid/agentid/deploy/models"
	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsfront"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// template is the parsed file: its top-level sections as nodes.
type template struct {
	params    map[string]*yaml.Node
	resources map[string]*yaml.Node // logical ID -> the resource's mapping
}

func load(t *testing.T) template {
	t.Helper()
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("template.yaml does not parse: %v", err)
	}
	tpl := template{params: map[string]*yaml.Node{}, resources: map[string]*yaml.Node{}}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		section := root.Content[i+1]
		for j := 0; section.Kind == yaml.MappingNode && j+1 < len(section.Content); j += 2 {
			switch root.Content[i].Value {
			case "Parameters":
				tpl.params[section.Content[j].Value] = section.Content[j+1]
			case "Resources":
				tpl.resources[section.Content[j].Value] = section.Content[j+1]
			}
		}
	}
	return tpl
}

// get walks a mapping node along keys.
func get(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

func (tpl template) ofType(typ string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for id, r := range tpl.resources {
		if get(r, "Type").Value == typ {
			out[id] = r
		}
	}
	return out
}

var pseudo = []string{"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix", "AWS::StackId", "AWS::NoValue"}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

// references lists every name the template refers to, with its kind.
func references(n *yaml.Node, visit func(tag, name string)) {
	switch n.Tag {
	case "!Ref":
		visit("!Ref", n.Value)
	case "!GetAtt":
		visit("!GetAtt", n.Value)
	case "!Sub":
		for _, m := range subVar.FindAllStringSubmatch(n.Value, -1) {
			visit("!Sub", m[1])
		}
	}
	for _, c := range n.Content {
		references(c, visit)
	}
}

func TestReferencesResolve(t *testing.T) {
	tpl := load(t)
	used := map[string]bool{}
	count := 0
	for id, r := range tpl.resources {
		references(r, func(tag, name string) {
			count++
			target, attr, hasAttr := strings.Cut(name, ".")
			used[target] = true
			_, isParam := tpl.params[target]
			_, isResource := tpl.resources[target]
			switch {
			case tag == "!GetAtt" && (!isResource || !hasAttr):
				t.Errorf("%s: !GetAtt %s: no such resource attribute", id, name)
			case hasAttr && !isResource:
				t.Errorf("%s: %s ${%s}: %s is not a resource", id, tag, name, target)
			case !hasAttr && !isParam && !isResource && !slices.Contains(pseudo, name):
				t.Errorf("%s: %s %s names nothing declared", id, tag, name)
			}
			_ = attr
		})
	}
	if count < 20 {
		t.Fatalf("only %d references found: the walk is broken", count)
	}
	for p := range tpl.params {
		if !used[p] {
			t.Errorf("parameter %s is never used", p)
		}
	}
}

// The rules docs/deploy-aws.md promises.
func TestDeploymentRules(t *testing.T) {
	tpl := load(t)
	fn := tpl.resources["WeatherFunction"]
	if v := get(fn, "Properties", "Runtime"); v == nil || v.Value != "provided.al2023" {
		t.Errorf("the Lambda runtime must be provided.al2023")
	}
	if a := get(fn, "Properties", "Architectures"); a == nil || len(a.Content) != 1 || a.Content[0].Value != "arm64" {
		t.Errorf("the Lambda must be arm64")
	}
	auth := get(tpl.resources["WeatherAuthorizer"], "Properties")
	if get(auth, "AuthorizerType").Value != "JWT" || get(auth, "JwtConfiguration", "Issuer").Value != "https://login.microsoftonline.com/${TenantId}/v2.0" ||
		get(auth, "JwtConfiguration", "Audience").Content[0].Value != "WeatherApiAppId" {
		t.Errorf("the authorizer must accept v2 tokens of the tenant for the Weather API's app ID")
	}
	routes := tpl.ofType("AWS::ApiGatewayV2::Route")
	var keys []string
	for id, r := range routes {
		key := get(r, "Properties", "RouteKey").Value
		keys = append(keys, key)
		authType := get(r, "Properties", "AuthorizationType").Value
		if (key == "GET /health") != (authType == "NONE") {
			t.Errorf("%s (%s): authorization %s; only GET /health may be open", id, key, authType)
		}
		if authType == "JWT" && get(r, "Properties", "AuthorizerId").Value != "WeatherAuthorizer" {
			t.Errorf("%s: not behind WeatherAuthorizer", id)
		}
	}
	slices.Sort(keys)
	if want := []string{"GET /health", "GET /weather", "GET /weather/forecast", "POST /echo"}; !slices.Equal(keys, want) {
		t.Errorf("routes %v, want %v", keys, want)
	}

	rt := get(tpl.resources["AgentRuntime"], "Properties")
	jwt := get(rt, "AuthorizerConfiguration", "CustomJWTAuthorizer")
	if get(jwt, "DiscoveryUrl").Value != "https://login.microsoftonline.com/${TenantId}/v2.0/.well-known/openid-configuration" {
		t.Errorf("the runtime's authorizer must use the tenant's v2 discovery document")
	}
	if a := get(rt, "RequestHeaderConfiguration", "RequestHeaderAllowlist"); a == nil || a.Content[0].Value != "Authorization" {
		t.Errorf("Authorization must be in the runtime's request header allowlist")
	}
	// No browser calls the runtime: the page's llm-agent relays, so there
	// is no page origin to configure and no CORS to serve.
	if env := get(rt, "EnvironmentVariables"); get(env, "UI_ORIGIN") != nil || tpl.params["UiOrigin"] != nil {
		t.Errorf("the runtime serves no CORS: UiOrigin and UI_ORIGIN are gone")
	}
	policy, _ := yaml.Marshal(get(tpl.resources["AgentRuntimeRole"], "Properties", "Policies"))
	// The token vault's calls too (internal/cloudsim/awsfront's
	// TestAgentRuntimeRolePolicies checks each resource).
	for _, want := range []string{"sts:GetWebIdentityToken", "api://AzureADTokenExchange", "bedrock:InvokeModel",
		"bedrock-agentcore:GetResourceOauth2Token", "bedrock-agentcore:CompleteResourceTokenAuth", "secretsmanager:GetSecretValue"} {
		if !strings.Contains(string(policy), want) {
			t.Errorf("the runtime role's policy lacks %s", want)
		}
	}
}

func TestNoSecret(t *testing.T) {
	tpl := load(t)
	secretish := regexp.MustCompile(`(?i)secret|password|apikey|api_key|bearer|access_key`)
	for name, p := range tpl.params {
		if secretish.MatchString(name) || get(p, "NoEcho") != nil {
			t.Errorf("parameter %s looks like a secret", name)
		}
	}
	for id, r := range tpl.resources {
		for _, vars := range []*yaml.Node{get(r, "Properties", "Environment", "Variables"), get(r, "Properties", "EnvironmentVariables")} {
			for i := 0; vars != nil && i < len(vars.Content); i += 2 {
				if k := vars.Content[i].Value; secretish.MatchString(k) {
					t.Errorf("%s gets %s", id, k)
				}
			}
		}
	}
}

// env renders a resource's environment with example parameter values.
func env(t *testing.T, vars *yaml.Node) map[string]string {
	example := map[string]string{
		"TenantId": "ca77995a-3696-41ae-a339-cf02b3e89b12", "BlueprintAppId": "6a7f0937-6749-4a53-b866-c424b6e0824d",
		"AgentClientId": "5b4418ec-1653-479f-96f7-3f28255917c7", "ClientSpaAppId": "5e4b9291-798c-43f9-a8b2-d712c6e87186",
		"WeatherApiAppId": "b8302fea-6762-4183-a16c-69b510285c49", "AgentUserUpn": "", "BedrockModelId": models.DefaultID,
		"AWS::Region": "us-east-1", "AWS::URLSuffix": "amazonaws.com", "WeatherApi": "abc123",
	}
	out := map[string]string{}
	for i := 0; i+1 < len(vars.Content); i += 2 {
		v := vars.Content[i+1]
		switch v.Tag {
		case "!Ref":
			out[vars.Content[i].Value] = example[v.Value]
		case "!Sub":
			out[vars.Content[i].Value] = subVar.ReplaceAllStringFunc(v.Value, func(m string) string { return example[m[2:len(m)-1]] })
		default:
			out[vars.Content[i].Value] = v.Value
		}
	}
	if len(out) < 4 {
		t.Fatalf("environment %v", out)
	}
	return out
}

// Each binary's own settings code accepts what the template gives it.
func TestEverySettingIsThere(t *testing.T) {
	tpl := load(t)
	lambda := env(t, get(tpl.resources["WeatherFunction"], "Properties", "Environment", "Variables"))
	r := config.New(func(k string) string { return lambda[k] })
	weatherapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		t.Errorf("WeatherFunction: %v", err)
	}
	agent := env(t, get(tpl.resources["AgentRuntime"], "Properties", "EnvironmentVariables"))
	r = config.New(func(k string) string { return agent[k] })
	s := chatapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		t.Errorf("AgentRuntime: %v", err)
	}
	if !s.API.AgentCore || s.Identity.Provider != "msal" || s.Identity.MSAL.Credential.Kind != "aws-web-identity" {
		t.Errorf("the runtime must run the AgentCore contract with msal and aws-web-identity: %+v", s.Identity)
	}
}

// Every resource the AWS deploy page's table names is in the template.
func TestTheDeployPagesResourcesExist(t *testing.T) {
	tpl := load(t)
	raw, err := os.ReadFile("../../docs/deploy-aws.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Za-z]+)` \\| `(AWS::[A-Za-z0-9:]+)` \\|")
	rows := row.FindAllStringSubmatch(string(raw), -1)
	if len(rows) < 8 {
		t.Fatalf("docs/deploy-aws.md's resource table has %d rows", len(rows))
	}
	for _, m := range rows {
		r, ok := tpl.resources[m[1]]
		if !ok {
			t.Errorf("docs/deploy-aws.md names %s, which the template lacks", m[1])
		} else if typ := get(r, "Type").Value; typ != m[2] {
			t.Errorf("%s is %s, docs/deploy-aws.md says %s", m[1], typ, m[2])
		}
	}
}

// The runtime's authorizer pins the chat UI's users by a custom claim rule
// on azp. AllowedClients is checked against client_id, which Entra tokens
// never carry, so it would refuse every user (AgentCore developer guide,
// "Configure inbound JWT authorizer").
func TestRuntimeAuthorizerPinsTheSPAByAzp(t *testing.T) {
	jwt := get(load(t).resources["AgentRuntime"], "Properties", "AuthorizerConfiguration", "CustomJWTAuthorizer")
	if a := get(jwt, "AllowedClients"); a != nil {
		raw, _ := yaml.Marshal(a)
		t.Errorf("AllowedClients %s: AgentCore compares it with client_id, which Entra tokens lack; every user would be refused", raw)
	}
	claims := get(jwt, "CustomClaims")
	if claims == nil || len(claims.Content) != 1 {
		t.Fatal("no custom claim rule pins the SPA")
	}
	rule := claims.Content[0]
	if get(rule, "InboundTokenClaimName").Value != "azp" || get(rule, "InboundTokenClaimValueType").Value != "STRING" ||
		get(rule, "AuthorizingClaimMatchValue", "ClaimMatchOperator").Value != "EQUALS" {
		t.Errorf("the rule must be azp EQUALS a string")
	}
	if v := get(rule, "AuthorizingClaimMatchValue", "ClaimMatchValue", "MatchValueString"); v == nil || v.Tag != "!Ref" || v.Value != "ClientSpaAppId" {
		t.Errorf("the rule must match the ClientSpaAppId parameter")
	}
}

// invocationURL is the template's AgentInvocationUrl output, resolved by
// cloudsim's template evaluator for a runtime ARN of AWS's form.
func invocationURL(t *testing.T) (any, bool, error) {
	t.Helper()
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stack := awsfront.LocalStack(map[string]string{})
	stack.Attrs = map[string]string{"AgentRuntime.AgentRuntimeArn": "arn:aws:bedrock-agentcore:us-east-1:111122223333:runtime/weather_agent-XYZ"}
	tmpl, err := awsfront.Load(raw, stack)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl.Output("AgentInvocationUrl")
}

// The invocation URL output encodes the runtime's ARN with the intrinsics
// CloudFormation has; resolved by cloudsim's template evaluator on an ARN
// of AWS's form, it must give the URL AgentCore's InvokeAgentRuntime takes.
func TestInvocationURLOutput(t *testing.T) {
	got, ok, err := invocationURL(t)
	if !ok || err != nil {
		t.Fatalf("AgentInvocationUrl output: %v %v", ok, err)
	}
	want := "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A111122223333%3Aruntime%2Fweather_agent-XYZ/invocations?qualifier=DEFAULT"
	if got != want {
		t.Errorf("the output gives\n%s\nwant\n%s", got, want)
	}
}

// The allowlist names what the relay sends and the container reads, the
// user's token and the streaming signal, each a name that both the
// header-allowlist guide (no restricted header, no x-amz-*, no x-amzn-*
// but the Custom- ones) and the API's pattern accept; Accept, which the
// guide restricts, is not how streaming is asked for.
func TestRuntimeHeaderAllowlist(t *testing.T) {
	tpl := load(t)
	list := get(tpl.resources["AgentRuntime"], "Properties", "RequestHeaderConfiguration", "RequestHeaderAllowlist")
	var names []string
	for _, n := range list.Content {
		names = append(names, n.Value)
	}
	if want := []string{"Authorization", chatapi.StreamHeader}; !slices.Equal(names, want) {
		t.Errorf("RequestHeaderAllowlist %v, want %v", names, want)
	}
	// RequestHeaderConfiguration in the AgentCore control plane API reference.
	apiPattern := regexp.MustCompile(`^(Authorization|X-Amzn-Bedrock-AgentCore-Runtime-Custom-[a-zA-Z0-9-]+)$`)
	for _, n := range names {
		if !apiPattern.MatchString(n) || awsfront.Restricted(n) != "" {
			t.Errorf("%s: the API pattern takes it: %v; the guide: %q", n, apiPattern.MatchString(n), awsfront.Restricted(n))
		}
	}
	for _, h := range []string{"Accept", "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers", "Content-Type", "x-amz-date", "X-Amzn-Trace-Id"} {
		if awsfront.Restricted(h) == "" {
			t.Errorf("%s is restricted by the guide", h)
		}
	}
}

// The stack's AgentInvocationUrl is what the chat UI's llm-agent takes as
// AGENTCORE_INVOCATION_URL, and an AgentCore-mode llm-agent refuses it.
func TestInvocationURLIsTheChatUIsSetting(t *testing.T) {
	out, _, _ := invocationURL(t)
	url, _ := out.(string)
	ui := map[string]string{"TENANT_ID": "ca77995a-3696-41ae-a339-cf02b3e89b12", "BLUEPRINT_APP_ID": "6a7f0937-6749-4a53-b866-c424b6e0824d",
		"AGENT_CLIENT_ID": "5b4418ec-1653-479f-96f7-3f28255917c7", "IDENTITY_PROVIDER": "sidecar", "SIDECAR_URL": "http://localhost:5000",
		"PUBLIC_ORIGIN": "https://chat.example.com", "LISTEN_ADDR": ":3000", "AGENTCORE_INVOCATION_URL": url}
	r := config.New(func(k string) string { return ui[k] })
	s := chatapi.LoadSettings(r)
	if err := r.Err(); err != nil || s.API.InvocationURL != url || !s.API.AutonomousNeedsUser {
		t.Errorf("the chat UI with AGENTCORE_INVOCATION_URL=%s: %v (autonomous turns need a user: %v)", url, err, s.API.AutonomousNeedsUser)
	}
	ui["AGENTCORE_RUNTIME"] = "true"
	ui["IDENTITY_PROVIDER"] = "msal"
	r = config.New(func(k string) string { return ui[k] })
	chatapi.LoadSettings(r)
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "AGENTCORE_INVOCATION_URL") {
		t.Errorf("AGENTCORE_INVOCATION_URL on the runtime itself: %v", err)
	}
}
