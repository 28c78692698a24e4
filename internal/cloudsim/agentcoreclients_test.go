package cloudsim_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// These tests drive cloudsim's AgentCore Identity with clients the
// project did not write: boto3 and the AWS CLI v1 from the machine's
// Python, configured only by cloudsim.env's AWS_ENDPOINT_URL_BEDROCK_AGENTCORE
// and AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL, AWS_CA_BUNDLE and the
// admin profile of cloudsim's credentials file. Under CI a missing boto3
// fails them (awsPython).

// agentcorePython is the running agentcore_client.py: one boto3 call per
// line.
type agentcorePython struct {
	t   *testing.T
	in  io.Writer
	out *bufio.Scanner
}

// agentcoreEnv is what the Python clients see: cloudsim's AWS settings,
// the shared credentials file with profile, and a fresh HOME.
func agentcoreEnv(t *testing.T, sim *cloudsim.Sim, profile string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(sim.Dir, cloudsim.AWSCredentialsFile), "AWS_PROFILE=" + profile}
	for k, v := range sim.Env() {
		if strings.HasPrefix(k, "AWS_") || k == "SSL_CERT_FILE" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func startAgentCorePython(t *testing.T, sim *cloudsim.Sim) *agentcorePython {
	in, out := startPython(t, awsPython(t), "agentcore_client.py", agentcoreEnv(t, sim, "cloudsim-admin"))
	return &agentcorePython{t: t, in: in, out: out}
}

// call runs one boto3 call and returns its answer.
func (p *agentcorePython) call(client, method string, params map[string]any) map[string]any {
	p.t.Helper()
	line, _ := json.Marshal(map[string]any{"client": client, "method": method, "params": params})
	if _, err := p.in.Write(append(line, '\n')); err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	if !p.out.Scan() {
		p.t.Fatalf("%s: the boto3 script stopped: %v", method, p.out.Err())
	}
	var res map[string]any
	if err := json.Unmarshal(p.out.Bytes(), &res); err != nil {
		p.t.Fatalf("%s: %s", method, p.out.Bytes())
	}
	return res
}

// ok is a call's result, or fails the test.
func (p *agentcorePython) ok(client, method string, params map[string]any) map[string]any {
	p.t.Helper()
	res := p.call(client, method, params)
	if res["ok"] != true {
		p.t.Fatalf("%s: %v", method, res)
	}
	r, _ := res["result"].(map[string]any)
	return r
}

// refused checks a call's refusal: its code, HTTP status and words.
func (p *agentcorePython) refused(client, method string, params map[string]any, code string, status float64, words string) {
	p.t.Helper()
	res := p.call(client, method, params)
	if res["ok"] != false || res["code"] != code || res["status"] != status || !strings.Contains(res["message"].(string), words) {
		p.t.Errorf("%s: %v, want %s (%v) saying %q", method, res, code, status, words)
	}
}

const (
	control = "bedrock-agentcore-control"
	data    = "bedrock-agentcore"
)

var consentRequest = regexp.MustCompile(`name="consent_request" value="([^"]+)"`)

// consentInBrowser is the user's browser leg from an authorization URL:
// AgentCore's redirect, Entra's sign-in and consent (accepted), the
// callback, and the redirect to the return URL, which it returns.
func consentInBrowser(t *testing.T, sim *cloudsim.Sim, authorizationURL, upn string) *url.URL {
	t.Helper()
	b := cloudsimtest.Client(sim)
	b.Jar, _ = cookiejar.New(nil)
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	step := func(resp *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	resp, _ := step(b.Get(authorizationURL))
	entra := resp.Header.Get("Location")
	form, _ := url.ParseQuery(strings.SplitN(entra, "?", 2)[1])
	form.Set("login", upn)
	resp, page := step(b.PostForm(entra, form))
	if m := consentRequest.FindStringSubmatch(page); m != nil {
		form.Del("login")
		form.Set("consent_request", m[1])
		form.Set("decision", "accept")
		resp, page = step(b.PostForm(entra, form))
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("Entra: %d %s", resp.StatusCode, page)
	}
	resp, page = step(b.Get(resp.Header.Get("Location")))
	back, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	return back
}

// boto3 drives the provider's and the workload identity's lifecycles,
// GetResourceOauth2Token's authorization URL, and the vault's refusals:
// an unknown provider, a return URL the workload identity does not allow,
// and a session completed by another user.
func TestAgentCoreIdentityThroughBoto3(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	py := startAgentCorePython(t, sim)
	env := sim.Env()
	tid := env["TENANT_ID"]
	const back = "http://localhost:3000/consent.html"

	// boto3 found both planes through cloudsim.env's endpoint settings.
	for _, client := range []string{control, data} {
		method := map[string]string{control: "list_workload_identities", data: "get_workload_access_token"}[client]
		params := map[string]any{}
		if client == data {
			params["workloadName"] = "nobody"
		}
		if res := py.call(client, method, params); res["endpoint"] != sim.URL {
			t.Errorf("%s reached %v, not cloudsim", client, res["endpoint"])
		}
	}

	// The provider's lifecycle.
	created := py.ok(control, "create_oauth2_credential_provider", map[string]any{"name": "boto3-entra", "credentialProviderVendor": "MicrosoftOauth2",
		"oauth2ProviderConfigInput": map[string]any{"microsoftOauth2ProviderConfig": map[string]any{"clientId": env["VAULT_APP_ID"],
			"clientSecret": "cloudsim-local-vault-secret-do-not-reuse", "tenantId": tid}}})
	callback, _ := created["callbackUrl"].(string)
	if !strings.HasPrefix(callback, sim.URL+"/identities/oauth2/callback/") || created["credentialProviderArn"] !=
		"arn:aws:bedrock-agentcore:us-east-1:111122223333:token-vault/default/oauth2credentialprovider/boto3-entra" {
		t.Errorf("created %v", created)
	}
	got := py.ok(control, "get_oauth2_credential_provider", map[string]any{"name": "boto3-entra"})
	if got["callbackUrl"] != callback || got["credentialProviderVendor"] != "MicrosoftOauth2" || strings.Contains(toJSON(got), "cloudsim-local-vault-secret") {
		t.Errorf("get %v", got)
	}
	py.ok(control, "update_oauth2_credential_provider", map[string]any{"name": "boto3-entra", "credentialProviderVendor": "MicrosoftOauth2",
		"oauth2ProviderConfigInput": map[string]any{"microsoftOauth2ProviderConfig": map[string]any{"clientId": env["VAULT_APP_ID"], "clientSecret": "new"}}})
	list := py.ok(control, "list_oauth2_credential_providers", map[string]any{"maxResults": 5})
	if !strings.Contains(toJSON(list), `"boto3-entra"`) || !strings.Contains(toJSON(list), `"entra-weather-api"`) {
		t.Errorf("list %v", list)
	}
	py.refused(control, "create_oauth2_credential_provider", map[string]any{"name": "google", "credentialProviderVendor": "GoogleOauth2",
		"oauth2ProviderConfigInput": map[string]any{"googleOauth2ProviderConfig": map[string]any{"clientId": "c", "clientSecret": "s"}}},
		"ValidationException", 400, "only the MicrosoftOauth2")
	py.ok(control, "delete_oauth2_credential_provider", map[string]any{"name": "boto3-entra"})
	py.refused(control, "get_oauth2_credential_provider", map[string]any{"name": "boto3-entra"}, "ResourceNotFoundException", 404, "boto3-entra")

	// The workload identity's lifecycle.
	wi := py.ok(control, "create_workload_identity", map[string]any{"name": "boto3-app", "allowedResourceOauth2ReturnUrls": []string{"https://old.example/x"}})
	if wi["workloadIdentityArn"] != "arn:aws:bedrock-agentcore:us-east-1:111122223333:workload-identity-directory/default/workload-identity/boto3-app" {
		t.Errorf("created %v", wi)
	}
	py.ok(control, "update_workload_identity", map[string]any{"name": "boto3-app", "allowedResourceOauth2ReturnUrls": []string{back}})
	if got := py.ok(control, "get_workload_identity", map[string]any{"name": "boto3-app"}); toJSON(got["allowedResourceOauth2ReturnUrls"]) != `["`+back+`"]` {
		t.Errorf("get %v", got)
	}
	if got := py.ok(control, "list_workload_identities", map[string]any{"maxResults": 20}); !strings.Contains(toJSON(got), `"boto3-app"`) {
		t.Errorf("list %v", got)
	}
	// (boto3 checks lengths itself; patterns are the service's.)
	py.refused(control, "create_workload_identity", map[string]any{"name": "a b c"}, "ValidationException", 400, "regular expression pattern")

	// The vault.
	tokens := cloudsimtest.NewTokens(sim)
	alice := tokens.UserNamed(t, "alice@contoso.example", "alice-local-demo-password")
	bob := tokens.UserNamed(t, "bob@contoso.example", "bob-local-demo-password")
	wat := py.ok(data, "get_workload_access_token_for_jwt", map[string]any{"workloadName": "boto3-app", "userToken": alice})["workloadAccessToken"]
	ask := map[string]any{"workloadIdentityToken": wat, "resourceCredentialProviderName": "entra-weather-api",
		"scopes": []string{"api://" + env["WEATHER_API_APP_ID"] + "/Weather.Read"}, "oauth2Flow": "USER_FEDERATION", "resourceOauth2ReturnUrl": back}
	first := py.ok(data, "get_resource_oauth2_token", ask)
	authURL, _ := first["authorizationUrl"].(string)
	session, _ := first["sessionUri"].(string)
	if !strings.HasPrefix(authURL, sim.URL+"/identities/oauth2/authorize?request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A") ||
		!strings.HasPrefix(session, "urn:ietf:params:oauth:request_uri:") || first["sessionStatus"] != "IN_PROGRESS" {
		t.Fatalf("first answer %v", first)
	}
	py.refused(data, "get_resource_oauth2_token", with(ask, "resourceCredentialProviderName", "nobody"), "ResourceNotFoundException", 404, "nobody")
	py.refused(data, "get_resource_oauth2_token", with(ask, "resourceOauth2ReturnUrl", "https://not-allowed.invalid/x"), "ValidationException", 400,
		"not one of the allowedResourceOauth2ReturnUrls")
	if u := consentInBrowser(t, sim, authURL, "alice@contoso.example"); u.Query().Get("session_id") != session {
		t.Fatalf("back at %s", u)
	}
	py.refused(data, "complete_resource_token_auth", map[string]any{"sessionUri": session, "userIdentifier": map[string]any{"userToken": bob}},
		"AccessDeniedException", 403, "Invalid or expired session")
	py.ok(data, "complete_resource_token_auth", map[string]any{"sessionUri": session, "userIdentifier": map[string]any{"userToken": alice}})
	if done := py.ok(data, "get_resource_oauth2_token", with(ask, "sessionUri", session)); done["accessToken"] == nil {
		t.Errorf("after completion %v", done)
	}
	py.ok(control, "delete_workload_identity", map[string]any{"name": "boto3-app"})
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The AWS CLI v1 drives the same lifecycles with its bedrock-agentcore
// commands, reaching cloudsim through cloudsim.env's endpoint settings
// alone, and reports the vault's refusals.
func TestAgentCoreIdentityThroughTheAWSCLI(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	// The CLI v1 fetches a parameter that looks like an http(s) URL and
	// sends the page instead (cli_follow_urlparam, on by default): off, so
	// the return URLs go as they are and nothing is fetched.
	config := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(config, []byte("[profile cloudsim-admin]\ncli_follow_urlparam = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	aws := awsCLI(t, sim, "cloudsim-admin", "AWS_CONFIG_FILE="+config)
	env := sim.Env()
	const back = "http://localhost:3000/consent.html"
	cfg := `{"microsoftOauth2ProviderConfig":{"clientId":"` + env["VAULT_APP_ID"] + `","clientSecret":"cloudsim-local-vault-secret-do-not-reuse","tenantId":"` + env["TENANT_ID"] + `"}}`
	runCLICases(t, aws, []cliCase{
		{"create a provider", []string{"bedrock-agentcore-control", "create-oauth2-credential-provider", "--name", "cli-entra",
			"--credential-provider-vendor", "MicrosoftOauth2", "--oauth2-provider-config-input", cfg}, 0,
			[]string{`"callbackUrl": "` + sim.URL + `/identities/oauth2/callback/`, `bedrock-agentcore-identity!default/oauth2/cli-entra-`}},
		{"create it again", []string{"bedrock-agentcore-control", "create-oauth2-credential-provider", "--name", "cli-entra",
			"--credential-provider-vendor", "MicrosoftOauth2", "--oauth2-provider-config-input", cfg}, 255, []string{"(ConflictException)"}},
		{"get it", []string{"bedrock-agentcore-control", "get-oauth2-credential-provider", "--name", "cli-entra"}, 0,
			[]string{`"credentialProviderVendor": "MicrosoftOauth2"`, `"discoveryUrl": "` + sim.URL + "/" + env["TENANT_ID"] + `/v2.0/.well-known/openid-configuration"`}},
		{"update it", []string{"bedrock-agentcore-control", "update-oauth2-credential-provider", "--name", "cli-entra",
			"--credential-provider-vendor", "MicrosoftOauth2", "--oauth2-provider-config-input", cfg}, 0, []string{`"status": "READY"`}},
		{"list them", []string{"bedrock-agentcore-control", "list-oauth2-credential-providers", "--query", "credentialProviders[].name", "--output", "text"}, 0,
			[]string{"cli-entra", "entra-weather-api"}},
		{"delete it", []string{"bedrock-agentcore-control", "delete-oauth2-credential-provider", "--name", "cli-entra"}, 0, nil},
		{"it is gone", []string{"bedrock-agentcore-control", "get-oauth2-credential-provider", "--name", "cli-entra"}, 255,
			[]string{"(ResourceNotFoundException)", "Credential provider cli-entra not found"}},
		{"create a workload identity", []string{"bedrock-agentcore-control", "create-workload-identity", "--name", "cli-app"}, 0,
			[]string{`"workloadIdentityArn": "arn:aws:bedrock-agentcore:us-east-1:111122223333:workload-identity-directory/default/workload-identity/cli-app"`}},
		{"allow a return URL", []string{"bedrock-agentcore-control", "update-workload-identity", "--name", "cli-app", "--allowed-resource-oauth2-return-urls", back}, 0,
			[]string{back}},
		{"get it", []string{"bedrock-agentcore-control", "get-workload-identity", "--name", "cli-app"}, 0, []string{back, `"createdTime"`}},
		{"list them", []string{"bedrock-agentcore-control", "list-workload-identities"}, 0, []string{`"cli-app"`}},
		{"a name with a space", []string{"bedrock-agentcore-control", "create-workload-identity", "--name", "a b c"}, 255,
			[]string{"(ValidationException)", "regular expression pattern"}},
		// AgentCore's other operations, on the same endpoint, are refused
		// as not emulated, never silently answered.
		{"a runtime operation", []string{"bedrock-agentcore-control", "get-agent-runtime", "--agent-runtime-id", "weather_agent-XYZ"}, 255,
			[]string{"(UnknownOperationException)", "does not emulate"}},
	})
	tc := cloudsimtest.NewTokens(sim).UserNamed(t, "alice@contoso.example", "alice-local-demo-password")
	out, code := aws("bedrock-agentcore", "get-workload-access-token-for-jwt", "--workload-name", "cli-app", "--user-token", tc,
		"--query", "workloadAccessToken", "--output", "text")
	if code != 0 {
		t.Fatalf("WAT: %s", out)
	}
	wat := strings.TrimSpace(out)
	scope := "api://" + env["WEATHER_API_APP_ID"] + "/Weather.Read"
	runCLICases(t, aws, []cliCase{
		{"the authorization URL", []string{"bedrock-agentcore", "get-resource-oauth2-token", "--workload-identity-token", wat,
			"--resource-credential-provider-name", "entra-weather-api", "--scopes", scope, "--oauth2-flow", "USER_FEDERATION",
			"--resource-oauth2-return-url", back}, 0,
			[]string{`"authorizationUrl": "` + sim.URL + `/identities/oauth2/authorize?request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A`, `"sessionStatus": "IN_PROGRESS"`}},
		{"an unknown provider", []string{"bedrock-agentcore", "get-resource-oauth2-token", "--workload-identity-token", wat,
			"--resource-credential-provider-name", "nobody", "--scopes", scope, "--oauth2-flow", "USER_FEDERATION", "--resource-oauth2-return-url", back}, 255,
			[]string{"(ResourceNotFoundException)"}},
		{"a return URL not allowed", []string{"bedrock-agentcore", "get-resource-oauth2-token", "--workload-identity-token", wat,
			"--resource-credential-provider-name", "entra-weather-api", "--scopes", scope, "--oauth2-flow", "USER_FEDERATION",
			"--resource-oauth2-return-url", "https://not-allowed.invalid/x"}, 255, []string{"(ValidationException)", "allowedResourceOauth2ReturnUrls"}},
		{"no return URL", []string{"bedrock-agentcore", "get-resource-oauth2-token", "--workload-identity-token", wat,
			"--resource-credential-provider-name", "entra-weather-api", "--scopes", scope, "--oauth2-flow", "USER_FEDERATION"}, 255,
			[]string{"(ValidationException)", "You must provide a ResourceOauth2ReturnUrl to proceed with this flow"}},
		{"delete the workload identity", []string{"bedrock-agentcore-control", "delete-workload-identity", "--name", "cli-app"}, 0, nil},
	})
}
