package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	dptypes "github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// Issue 42: the setup of AgentCore Identity's token vault with Entra as
// the provider, run for real: entra-setup.sh --vault makes the vault's
// app registration and a secret, aws-agentcore.sh vault (which it runs)
// puts the secret into a new OAuth2 credential provider with the AWS CLI,
// allows the chat UI's return URL on the workload identity and gives the
// runtime role the vault's rights, and entra-setup.sh adds the provider's
// callback URL to the app's redirect URIs. Then the vault hands a token
// for the Weather API from what they made, through cloudsim's Entra
// consent and session binding, to the runtime role's own credentials.

const (
	vaultProvider  = "entra-weather-api"           // aws-agentcore.sh's default, llm-agent's too
	vaultWorkload  = "agentid_agent-workload-9f2c" // standing in for the runtime's, which AgentCore names
	vaultReturnURL = "http://localhost:3001/consent.html"
	otherReturnURL = "https://other.example/consent.html" // already allowed on the workload identity
)

// loggingCLIDir is awsCLIDir with the command lines of aws and jq
// recorded in the returned file, so a test can look for a secret there.
func loggingCLIDir(t *testing.T) (string, string) {
	t.Helper()
	dir := awsCLIDir(t)
	argv := filepath.Join(t.TempDir(), "argv")
	real, _ := os.ReadFile(filepath.Join(dir, "aws"))
	os.WriteFile(filepath.Join(dir, "aws"), []byte(strings.Replace(string(real), "exec ", "printf 'aws %s\\n' \"$*\" >>\""+argv+"\"\nexec ", 1)), 0o755)
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "jq"), []byte("#!/bin/sh\nprintf 'jq %s\\n' \"$*\" >>\""+argv+"\"\nexec "+jq+" \"$@\"\n"), 0o755)
	return dir, argv
}

// vaultClients are AgentCore's SDK clients against cloudsim, as
// AWS_ENDPOINT_URL_BEDROCK_AGENTCORE(_CONTROL) point them, signed with
// creds.
func vaultClients(sim *cloudsim.Sim, creds aws.CredentialsProvider) (*bedrockagentcorecontrol.Client, *bedrockagentcore.Client) {
	env := sim.Env()
	cfg := aws.Config{Region: env["AWS_REGION"], Credentials: creds, HTTPClient: cloudsimtest.Client(sim), RetryMaxAttempts: 1}
	return bedrockagentcorecontrol.NewFromConfig(cfg, func(o *bedrockagentcorecontrol.Options) {
			o.BaseEndpoint = aws.String(env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL"])
		}), bedrockagentcore.NewFromConfig(cfg, func(o *bedrockagentcore.Options) {
			o.BaseEndpoint = aws.String(env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"])
		})
}

// roleCredentials are the role's temporary credentials, assumed with the
// STS app's token (chain B) as llm-agent's AWS SDK would.
func roleCredentials(t *testing.T, sim *cloudsim.Sim, env map[string]string, roleARN string) aws.CredentialsProvider {
	t.Helper()
	tokens := cloudsimtest.NewTokens(sim)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {env["STS_APP_ID"]},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "scope": {env["STS_APP_URI"] + "/.default"}}
	// The STS app's federated credential replicates first (the tenant's
	// 2 s delay).
	app := sim.Live.Load().App(env["STS_APP_ID"])
	for deadline := time.Now().Add(15 * time.Second); len(sim.Live.ForTokens().FederatedCredentials(app)) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the STS app's federated credential did not replicate within 15 s")
		}
	}
	form.Set("client_assertion", tokens.ManagedIdentity(t))
	webToken := tokens.Get(t, form)
	simEnv := sim.Env()
	client := awssts.NewFromConfig(aws.Config{Region: simEnv["AWS_REGION"], HTTPClient: cloudsimtest.Client(sim), Credentials: aws.AnonymousCredentials{}},
		func(o *awssts.Options) { o.BaseEndpoint = aws.String(simEnv["AWS_ENDPOINT_URL_STS"]) })
	out, err := client.AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(roleARN),
		RoleSessionName: aws.String("vault-rehearsal"), WebIdentityToken: aws.String(webToken)})
	if err != nil {
		t.Fatalf("assuming %s: %v", roleARN, err)
	}
	c := out.Credentials
	return credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
}

// jwtClaims reads a JWT's payload, unverified.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.40q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &claims)
	}
	if err != nil {
		t.Fatalf("the JWT's payload: %v", err)
	}
	return claims
}

// vaultFlow is what llm-agent on the runtime and the chat UI's page do
// together, with the SDK and an http.Client for the browser: the runtime
// mints the workload access token from the user's token (admin, standing
// in for AgentCore Runtime), the role asks the vault, the browser follows
// the authorization URL through cloudsim's Entra sign-in and consent back
// to the return URL, the role binds the session with the same user token,
// and asks again. It returns the vault's token and whether the browser
// leg was needed.
type vaultFlow struct {
	sim            *cloudsim.Sim
	runtime, agent *bedrockagentcore.Client
	scope          string
	callback       string
}

// ask is the agent's first GetResourceOauth2Token for the user's token,
// with the workload access token the runtime minted from it.
func (f vaultFlow) ask(t *testing.T, tc string, force bool) (*bedrockagentcore.GetResourceOauth2TokenInput, *bedrockagentcore.GetResourceOauth2TokenOutput, error) {
	t.Helper()
	ctx := context.Background()
	wat, err := f.runtime.GetWorkloadAccessTokenForJWT(ctx, &bedrockagentcore.GetWorkloadAccessTokenForJWTInput{
		WorkloadName: aws.String(vaultWorkload), UserToken: aws.String(tc)})
	if err != nil {
		t.Fatalf("GetWorkloadAccessTokenForJWT: %v", err)
	}
	in := &bedrockagentcore.GetResourceOauth2TokenInput{WorkloadIdentityToken: wat.WorkloadAccessToken, ResourceCredentialProviderName: aws.String(vaultProvider),
		Scopes: []string{f.scope}, Oauth2Flow: dptypes.Oauth2FlowTypeUserFederation, ResourceOauth2ReturnUrl: aws.String(vaultReturnURL),
		ForceAuthentication: aws.Bool(force)}
	out, err := f.agent.GetResourceOauth2Token(ctx, in)
	return in, out, err
}

func (f vaultFlow) token(t *testing.T, tc, upn string, force bool) (string, bool) {
	t.Helper()
	ctx := context.Background()
	in, first, err := f.ask(t, tc, force)
	if err != nil {
		t.Fatalf("GetResourceOauth2Token: %v", err)
	}
	if first.AccessToken != nil {
		return *first.AccessToken, false
	}
	if first.AuthorizationUrl == nil || first.SessionUri == nil {
		t.Fatalf("GetResourceOauth2Token gave neither a token nor an authorization URL: %+v", first)
	}

	// The browser: AgentCore's authorize, Entra's sign-in and consent, the
	// provider's callback, then the chat UI's return URL.
	c := cloudsimtest.Client(f.sim)
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	entra := redirect(t, c, http.MethodGet, *first.AuthorizationUrl, nil)
	q := query(t, entra)
	if q.Get("redirect_uri") != f.callback {
		t.Errorf("AgentCore sent the browser to Entra with redirect_uri %q, want the provider's callback %s", q.Get("redirect_uri"), f.callback)
	}
	form := q
	form.Set("login", upn)
	back := redirectOrPage(t, c, entra, form)
	if m := consentRequestID.FindStringSubmatch(back); m != nil { // the consent page: accept
		form.Del("login")
		form.Set("consent_request", m[1])
		form.Set("decision", "accept")
		back = redirect(t, c, http.MethodPost, entra, form)
	}
	if !strings.HasPrefix(back, f.callback+"?") {
		t.Fatalf("Entra sent the browser to %q, not the provider's callback", back)
	}
	ret := redirect(t, c, http.MethodGet, back, nil)
	if !strings.HasPrefix(ret, vaultReturnURL+"?") || query(t, ret).Get("session_id") != *first.SessionUri {
		t.Fatalf("the callback sent the browser to %q, want %s?session_id=%s", ret, vaultReturnURL, *first.SessionUri)
	}

	// The app's page calls back: session binding with the same user token.
	if _, err := f.agent.CompleteResourceTokenAuth(ctx, &bedrockagentcore.CompleteResourceTokenAuthInput{SessionUri: first.SessionUri,
		UserIdentifier: &dptypes.UserIdentifierMemberUserToken{Value: tc}}); err != nil {
		t.Fatalf("CompleteResourceTokenAuth: %v", err)
	}
	in.SessionUri, in.ForceAuthentication = first.SessionUri, nil
	second, err := f.agent.GetResourceOauth2Token(ctx, in)
	if err != nil || second.AccessToken == nil {
		t.Fatalf("GetResourceOauth2Token after consent: %+v %v", second, err)
	}
	return *second.AccessToken, true
}

// redirect makes a request that must answer with a redirect, and returns
// where to.
func redirect(t *testing.T, c *http.Client, method, target string, form url.Values) string {
	t.Helper()
	resp, body := do(t, c, method, target, form)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s %s: %d, want a redirect: %.400s", method, strings.SplitN(target, "?", 2)[0], resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// redirectOrPage posts the sign-in: a redirect's target, or the page.
func redirectOrPage(t *testing.T, c *http.Client, target string, form url.Values) string {
	t.Helper()
	resp, body := do(t, c, http.MethodPost, target, form)
	if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
		return resp.Header.Get("Location")
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signing in at %s: %d %.400s", strings.SplitN(target, "?", 2)[0], resp.StatusCode, body)
	}
	return body
}

func do(t *testing.T, c *http.Client, method, target string, form url.Values) (*http.Response, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = c.PostForm(target, form)
	} else {
		resp, err = c.Get(target)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func query(t *testing.T, u string) url.Values {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Query()
}

// TestAgentCoreVaultRehearsal runs the vault's setup with the real
// scripts against cloudsim's Graph, IAM and AgentCore control plane, from
// a new tenant and account (after the rest of the setup, as the docs
// order it), then gets a token from the vault with what they made; a
// rerun makes nothing new.
func TestAgentCoreVaultRehearsal(t *testing.T) {
	cli, argv := loggingCLIDir(t)
	sim := cloudsimtest.Start(t, freshTenant(t))
	envFile := filepath.Join(t.TempDir(), "agentid.env")
	mustEntraSetup(t, sim, "--env-file", envFile)
	mustEntraSetup(t, sim, "--env-file", envFile, "--federated-credential", sim.Tenant.ManagedIdentity.ObjectID)
	env := readEnv(t, envFile)
	awsEnv := scriptEnv(t, sim, cli)
	// The runtime role: chain B's, which the rehearsal can assume.
	out := runScript(t, awsEnv, "aws-federation.sh", "--tenant-id", env["TENANT_ID"], "--sts-app-uri", env["STS_APP_URI"],
		"--sts-sp-object-id", env["STS_SP_OBJECT_ID"])
	_, roleARN, _ := strings.Cut(strings.TrimSpace(out), "AWS_ROLE_ARN=")
	// The runtime's workload identity, which CreateAgentRuntime makes,
	// already allowing another page.
	if out, ok := runAWS(t, awsEnv, cli, "bedrock-agentcore-control", "create-workload-identity", "--name", vaultWorkload,
		// As a JSON list: the AWS CLI v1 fetches a parameter that is an
		// http(s) URL (cli_follow_urlparam).
		"--allowed-resource-oauth2-return-urls", `["`+otherReturnURL+`"]`); !ok {
		t.Fatalf("create-workload-identity: %s", out)
	}
	f, _ := os.OpenFile(envFile, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("AWS_REGION=us-east-1\nAGENTCORE_VAULT_RETURN_URL=" + vaultReturnURL + "\nWORKLOAD_IDENTITY_NAME=" + vaultWorkload +
		"\nRUNTIME_ROLE_ARN=" + roleARN + "\n")
	f.Close()
	vault := func(t *testing.T, args ...string) string {
		t.Helper()
		out, ok := entraSetupWith(t, sim, "", awsEnv, "admin@contoso.example", "", append([]string{"--env-file", envFile, "--vault"}, args...)...)
		if !ok {
			t.Fatalf("entra-setup.sh --vault %v:\n%s", args, out)
		}
		return out
	}
	admin := sim.Tenant.AWS.DevCredentials[0]
	ctl, runtime := vaultClients(sim, credentials.NewStaticCredentialsProvider(admin.AccessKeyID, admin.SecretAccessKey, ""))
	ctx := context.Background()
	providers := func() int {
		list, err := ctl.ListOauth2CredentialProviders(ctx, &bedrockagentcorecontrol.ListOauth2CredentialProvidersInput{})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.CredentialProviders)
	}

	// A dry run looks, and shows what it would make.
	before := graphCreations(sim)
	out = vault(t, "--dry-run")
	if !strings.Contains(out, "would call: POST /applications ") || !strings.Contains(out, "would run: aws bedrock-agentcore-control create-oauth2-credential-provider") ||
		graphCreations(sim) != before || providers() != 0 {
		t.Fatalf("dry run (%d created, %d providers):\n%s", graphCreations(sim)-before, providers(), out)
	}

	out = vault(t, "--secret-days", "3")
	env = readEnv(t, envFile)
	app := sim.Live.Load().App(env["VAULT_APP_ID"])
	if app == nil || env["VAULT_SECRET_KEY_ID"] == "" || env["VAULT_SECRET_ENDS"] == "" {
		t.Fatalf("the env file after --vault: %v\n%s", env, out)
	}
	if app.SignInAudience != "AzureADMultipleOrgs" || len(app.Secrets) != 1 {
		t.Errorf("the vault app: signInAudience %s, %d secrets", app.SignInAudience, len(app.Secrets))
	}
	secret := app.Secrets[0]
	if ends := app.SecretEnds[secret]; time.Until(ends) > 3*24*time.Hour || time.Until(ends) < 3*24*time.Hour-time.Hour {
		t.Errorf("the secret ends %s, want in three days", ends)
	}
	p, err := ctl.GetOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.GetOauth2CredentialProviderInput{Name: aws.String(vaultProvider)})
	if err != nil {
		t.Fatal(err)
	}
	callback := aws.ToString(p.CallbackUrl)
	if !slices.Contains(app.WebRedirectURIs, callback) {
		t.Errorf("the app's redirect URIs %v lack the provider's callback %s", app.WebRedirectURIs, callback)
	}
	wi, err := ctl.GetWorkloadIdentity(ctx, &bedrockagentcorecontrol.GetWorkloadIdentityInput{Name: aws.String(vaultWorkload)})
	if err != nil || !slices.Equal(wi.AllowedResourceOauth2ReturnUrls, []string{otherReturnURL, vaultReturnURL}) {
		t.Errorf("the workload identity's return URLs: %v %v; want the other page's kept and the chat UI's added", wi.AllowedResourceOauth2ReturnUrls, err)
	}
	// The secret went from Graph to the provider through pipes: on no
	// command line, in no file the scripts wrote.
	logged, _ := os.ReadFile(argv)
	written, _ := os.ReadFile(envFile)
	if strings.Contains(string(logged), secret) || strings.Contains(string(written), secret) || strings.Contains(out, secret) {
		t.Error("the vault's client secret is on an aws or jq command line, in the env file or in the output")
	}

	// A token from the vault, with the runtime role's own credentials:
	// alice signs in to the chat UI, consents to the vault's app on Entra,
	// and the vault keeps her token for the Weather API.
	_, agent := vaultClients(sim, roleCredentials(t, sim, env, roleARN))
	flow := vaultFlow{sim: sim, runtime: runtime, agent: agent, scope: "api://" + env["WEATHER_API_APP_ID"] + "/Weather.Read", callback: callback}
	tc := cloudsimtest.SPASignIn(t, sim, env["CLIENT_SPA_APP_ID"], "api://"+env["BLUEPRINT_APP_ID"]+"/access_as_user", "alice@contoso.example",
		"http://localhost:3001")
	tv, browsed := flow.token(t, tc, "alice@contoso.example", false)
	claims := jwtClaims(t, tv)
	if !browsed || claims["azp"] != env["VAULT_APP_ID"] || !strings.Contains(" "+claims["scp"].(string)+" ", " Weather.Read ") ||
		(claims["aud"] != env["WEATHER_API_APP_ID"] && claims["aud"] != "api://"+env["WEATHER_API_APP_ID"]) {
		t.Errorf("the vault's token (browser leg %v): azp %v, aud %v, scp %v", browsed, claims["azp"], claims["aud"], claims["scp"])
	}

	// A rerun converges: no app, secret or provider more, nothing changed.
	before = graphCreations(sim)
	updated := aws.ToTime(p.LastUpdatedTime)
	redirects := slices.Clone(app.WebRedirectURIs)
	out = vault(t, "--secret-days", "3")
	app = sim.Live.Load().App(env["VAULT_APP_ID"])
	p, _ = ctl.GetOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.GetOauth2CredentialProviderInput{Name: aws.String(vaultProvider)})
	wi, _ = ctl.GetWorkloadIdentity(ctx, &bedrockagentcorecontrol.GetWorkloadIdentityInput{Name: aws.String(vaultWorkload)})
	if graphCreations(sim) != before || providers() != 1 || !slices.Equal(app.Secrets, []string{secret}) || !aws.ToTime(p.LastUpdatedTime).Equal(updated) ||
		!slices.Equal(app.WebRedirectURIs, redirects) || len(wi.AllowedResourceOauth2ReturnUrls) != 2 || readEnv(t, envFile)["VAULT_APP_ID"] != env["VAULT_APP_ID"] {
		t.Errorf("the rerun changed something: %d created, %d providers, %d secrets, provider updated %v, redirect URIs %v, return URLs %v\n%s",
			graphCreations(sim)-before, providers(), len(app.Secrets), aws.ToTime(p.LastUpdatedTime), app.WebRedirectURIs, wi.AllowedResourceOauth2ReturnUrls, out)
	}
	// And the vault still holds alice's token: no browser this time.
	if again, browsed := flow.token(t, tc, "alice@contoso.example", false); browsed || again == "" {
		t.Errorf("after the rerun the vault asked alice again (browser leg %v)", browsed)
	}

	// The runtime role without the script's policy is refused by the
	// vault, and a rerun gives its rights back.
	t.Run("a rerun restores the runtime role's rights", func(t *testing.T) {
		if out, ok := runAWS(t, awsEnv, cli, "iam", "delete-role-policy", "--role-name", roleARN[strings.LastIndex(roleARN, "/")+1:],
			"--policy-name", "agentcore-vault"); !ok {
			t.Fatalf("delete-role-policy: %s", out)
		}
		var ae smithy.APIError
		if _, _, err := flow.ask(t, tc, false); !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
			t.Fatalf("the role without the vault policy: %v, want AccessDeniedException", err)
		}
		vault(t, "--secret-days", "3")
		if tv, browsed := flow.token(t, tc, "alice@contoso.example", false); browsed || tv == "" {
			t.Errorf("after the rerun (browser leg %v)", browsed)
		}
	})
}
