package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
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

// vaultBrowser is the browser's leg from the vault's authorization URL,
// with an http.Client: AgentCore's authorize, Entra's sign-in as upn and
// its consent page (accepted), the provider's callback, then the chat
// UI's return URL, whose session_id it returns. Entra must be asked with
// the provider's callback as the redirect URI.
func vaultBrowser(t *testing.T, sim *cloudsim.Sim, authorizationURL, callback, upn string) string {
	t.Helper()
	c := cloudsimtest.Client(sim)
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	entra := redirect(t, c, http.MethodGet, authorizationURL, nil)
	form := query(t, entra)
	if form.Get("redirect_uri") != callback {
		t.Errorf("AgentCore sent the browser to Entra with redirect_uri %q, want the provider's callback %s", form.Get("redirect_uri"), callback)
	}
	form.Set("login", upn)
	back := redirectOrPage(t, c, entra, form)
	if m := consentRequestID.FindStringSubmatch(back); m != nil { // the consent page: accept
		form.Del("login")
		form.Set("consent_request", m[1])
		form.Set("decision", "accept")
		back = redirect(t, c, http.MethodPost, entra, form)
	}
	if !strings.HasPrefix(back, callback+"?") {
		t.Fatalf("Entra sent the browser to %q, not the provider's callback", back)
	}
	ret := redirect(t, c, http.MethodGet, back, nil)
	if !strings.HasPrefix(ret, vaultReturnURL+"?") {
		t.Fatalf("the callback sent the browser to %q, not the return URL %s", ret, vaultReturnURL)
	}
	return query(t, ret).Get("session_id")
}

// vaultTurnOn is an on-behalf-of Direct turn to llm-agent as on AgentCore
// Runtime: the user's token, and the workload access token the runtime
// mints from it (GetWorkloadAccessTokenForJWT, here as the account's
// administrator standing in for the runtime), binding session when set.
// Anything but 200 fails the test unless refusal is set.
func vaultTurnOn(t *testing.T, url string, runtime *bedrockagentcore.Client, tc, session string, refusal ...bool) (map[string]any, string) {
	t.Helper()
	wat, err := runtime.GetWorkloadAccessTokenForJWT(context.Background(), &bedrockagentcore.GetWorkloadAccessTokenForJWTInput{
		WorkloadName: aws.String(vaultWorkload), UserToken: aws.String(tc)})
	if err != nil {
		t.Fatalf("GetWorkloadAccessTokenForJWT: %v", err)
	}
	body, _ := json.Marshal(map[string]any{"prompt": "What's the weather in Oslo?", "token_flow": "obo", "llm_mode": "direct", "vault_session": session})
	status, _, raw := invoke(t, url, string(body), tc, "WorkloadAccessToken", aws.ToString(wat.WorkloadAccessToken))
	var a map[string]any
	if json.Unmarshal([]byte(raw), &a) != nil || status != http.StatusOK && len(refusal) == 0 {
		t.Fatalf("turn: %d %.600s", status, raw)
	}
	return a, raw
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
// a new tenant and account, after the rest of the setup as the docs order
// it; then llm-agent, as on AgentCore Runtime with the vault as its user
// token source and chain B's role as the runtime role, answers alice from
// what they made; a rerun makes nothing new.
func TestAgentCoreVaultRehearsal(t *testing.T) {
	cli, argv := loggingCLIDir(t)
	var env map[string]string
	var envFile, roleARN, firstRun string
	var awsEnv []string
	var vault func(t *testing.T, args ...string) string
	s := e2e.StartPrepared(t, freshTenant(t), func(sim *cloudsim.Sim) (map[string]string, error) {
		envFile = filepath.Join(t.TempDir(), "agentid.env")
		mustEntraSetup(t, sim, "--env-file", envFile)
		mustEntraSetup(t, sim, "--env-file", envFile, "--federated-credential", sim.Tenant.ManagedIdentity.ObjectID)
		env = readEnv(t, envFile)
		awsEnv = scriptEnv(t, sim, cli)
		// The runtime role: chain B's, which llm-agent here assumes with the
		// token-refresher's file.
		out := runScript(t, awsEnv, "aws-federation.sh", "--tenant-id", env["TENANT_ID"], "--sts-app-uri", env["STS_APP_URI"],
			"--sts-sp-object-id", env["STS_SP_OBJECT_ID"])
		_, roleARN, _ = strings.Cut(strings.TrimSpace(out), "AWS_ROLE_ARN=")
		// The runtime's workload identity, which CreateAgentRuntime makes,
		// already allowing another page. As a JSON list: the AWS CLI v1
		// fetches a parameter that is an http(s) URL (cli_follow_urlparam).
		if out, ok := runAWS(t, awsEnv, cli, "bedrock-agentcore-control", "create-workload-identity", "--name", vaultWorkload,
			"--allowed-resource-oauth2-return-urls", `["`+otherReturnURL+`"]`); !ok {
			return nil, fmt.Errorf("create-workload-identity: %s", out)
		}
		f, _ := os.OpenFile(envFile, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("AWS_REGION=us-east-1\nAGENTCORE_VAULT_RETURN_URL=" + vaultReturnURL + "\nWORKLOAD_IDENTITY_NAME=" + vaultWorkload +
			"\nRUNTIME_ROLE_ARN=" + roleARN + "\n")
		f.Close()
		vault = func(t *testing.T, args ...string) string {
			t.Helper()
			out, ok := entraSetupWith(t, sim, "", awsEnv, "admin@contoso.example", "", append([]string{"--env-file", envFile, "--vault"}, args...)...)
			if !ok {
				t.Fatalf("entra-setup.sh --vault %v:\n%s", args, out)
			}
			return out
		}
		// A dry run looks, and shows what it would make.
		before := graphCreations(sim)
		if out := vault(t, "--dry-run"); !strings.Contains(out, "would call: POST /applications ") ||
			!strings.Contains(out, "would run: aws bedrock-agentcore-control create-oauth2-credential-provider") || graphCreations(sim) != before {
			return nil, fmt.Errorf("dry run (%d created):\n%s", graphCreations(sim)-before, out)
		}
		firstRun = vault(t, "--secret-days", "3")
		env = readEnv(t, envFile)
		settings := map[string]string{"AWS_ROLE_ARN": roleARN}
		for _, k := range []string{"TENANT_ID", "BLUEPRINT_APP_ID", "AGENT_CLIENT_ID", "AGENT_USER_UPN", "CLIENT_SPA_APP_ID", "WEATHER_API_APP_ID",
			"STS_APP_ID", "STS_APP_URI", "VAULT_APP_ID"} {
			settings[k] = env[k]
		}
		return settings, nil
	})
	sim := s.Sim
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

	// What the scripts made.
	app := sim.Live.Load().App(env["VAULT_APP_ID"])
	if app == nil || env["VAULT_SECRET_KEY_ID"] == "" || env["VAULT_SECRET_ENDS"] == "" {
		t.Fatalf("the env file after --vault: %v\n%s", env, firstRun)
	}
	if app.SignInAudience != "AzureADMultipleOrgs" || len(app.Secrets) != 1 {
		t.Fatalf("the vault app: signInAudience %s, %d secrets", app.SignInAudience, len(app.Secrets))
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
	if providers() != 1 || !slices.Contains(app.WebRedirectURIs, callback) {
		t.Errorf("%d providers; the app's redirect URIs %v, the provider's callback %s", providers(), app.WebRedirectURIs, callback)
	}
	wi, err := ctl.GetWorkloadIdentity(ctx, &bedrockagentcorecontrol.GetWorkloadIdentityInput{Name: aws.String(vaultWorkload)})
	if err != nil || !slices.Equal(wi.AllowedResourceOauth2ReturnUrls, []string{otherReturnURL, vaultReturnURL}) {
		t.Errorf("the workload identity's return URLs: %v %v; want the other page's kept and the chat UI's added", wi.AllowedResourceOauth2ReturnUrls, err)
	}
	// The secret went from Graph to the provider through pipes: on no
	// command line, in no file the scripts wrote.
	logged, _ := os.ReadFile(argv)
	written, _ := os.ReadFile(envFile)
	if strings.Contains(string(logged), secret) || strings.Contains(string(written), secret) || strings.Contains(firstRun, secret) {
		t.Error("the vault's client secret is on an aws or jq command line, in the env file or in the output")
	}

	// A real turn: llm-agent as on AgentCore Runtime, the vault as its
	// user token source, its AWS SDK signing as the runtime role. Alice's
	// first on-behalf-of turn ends with the vault's authorization URL; she
	// consents on Entra through the provider's callback; the turn sent
	// again with the session is answered with the vault's token, which the
	// Weather API takes from the vault's app.
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", s.Env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"])
	url := s.Agent(map[string]string{"AGENTCORE_RUNTIME": "true", "IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity",
		"BLUEPRINT_CLIENT_SECRET": "", "USER_TOKEN_SOURCE": "agentcore-vault", "AGENTCORE_VAULT_RETURN_URL": vaultReturnURL})
	tc := cloudsimtest.SPASignIn(t, sim, env["CLIENT_SPA_APP_ID"], "api://"+env["BLUEPRINT_APP_ID"]+"/access_as_user", "alice@contoso.example",
		"http://localhost:3001")
	alice := sim.Tenant.UserByUPN("alice@contoso.example").ObjectID
	first, raw := vaultTurnOn(t, url, runtime, tc, "")
	need, _ := first["consent_required"].(map[string]any)
	link, _ := need["url"].(string)
	if need["source"] != "agentcore-vault" || link == "" {
		t.Fatalf("alice's first turn: %.600s", raw)
	}
	session := vaultBrowser(t, sim, link, callback, "alice@contoso.example")
	if session != need["session_uri"] {
		t.Errorf("the return URL's session_id %q, want the turn's %q", session, need["session_uri"])
	}
	bound, raw := vaultTurnOn(t, url, runtime, tc, session)
	caller := weatherCaller(bound["trace"].([]any))
	if resp, _ := bound["response"].(string); !strings.Contains(resp, "Oslo") || caller["app_id"] != env["VAULT_APP_ID"] || caller["flow"] != "delegated" ||
		caller["user_oid"] != alice {
		t.Fatalf("the turn after consent: caller %v: %.600s", caller, raw)
	}

	// A rerun converges: no app, secret or provider more, nothing changed;
	// and alice's next turn takes the vaulted token, with no Entra request.
	before := graphCreations(sim)
	patches := sim.Entra.Stats().Get("graph.application.update")
	updated := aws.ToTime(p.LastUpdatedTime)
	redirects := slices.Clone(app.WebRedirectURIs)
	out := vault(t, "--secret-days", "3")
	app = sim.Live.Load().App(env["VAULT_APP_ID"])
	p, _ = ctl.GetOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.GetOauth2CredentialProviderInput{Name: aws.String(vaultProvider)})
	wi, _ = ctl.GetWorkloadIdentity(ctx, &bedrockagentcorecontrol.GetWorkloadIdentityInput{Name: aws.String(vaultWorkload)})
	if graphCreations(sim) != before || providers() != 1 || !slices.Equal(app.Secrets, []string{secret}) || !aws.ToTime(p.LastUpdatedTime).Equal(updated) ||
		!slices.Equal(app.WebRedirectURIs, redirects) || len(wi.AllowedResourceOauth2ReturnUrls) != 2 || readEnv(t, envFile)["VAULT_APP_ID"] != env["VAULT_APP_ID"] {
		t.Errorf("the rerun changed something: %d created, %d providers, %d secrets, provider updated %v, redirect URIs %v, return URLs %v\n%s",
			graphCreations(sim)-before, providers(), len(app.Secrets), aws.ToTime(p.LastUpdatedTime), app.WebRedirectURIs, wi.AllowedResourceOauth2ReturnUrls, out)
	}
	if n := sim.Entra.Stats().Get("graph.application.update") - patches; n != 0 {
		t.Errorf("the rerun changed applications %d times\n%s", n, out)
	}
	warmTurn := func(t *testing.T) {
		t.Helper()
		tokens := sim.Entra.Stats().Get("entra.token")
		warm, raw := vaultTurnOn(t, url, runtime, tc, "")
		if caller := weatherCaller(warm["trace"].([]any)); caller["app_id"] != env["VAULT_APP_ID"] || caller["user_oid"] != alice {
			t.Errorf("alice's next turn: caller %v: %.600s", caller, raw)
		}
		if n := sim.Entra.Stats().Get("entra.token") - tokens; n != 0 {
			t.Errorf("alice's next turn made %d Entra token requests, want the vaulted token's none", n)
		}
	}
	warmTurn(t)

	// The runtime role without the script's policy is refused by the
	// vault, and a rerun gives its rights back.
	t.Run("a rerun restores the runtime role's rights", func(t *testing.T) {
		if out, ok := runAWS(t, awsEnv, cli, "iam", "delete-role-policy", "--role-name", roleARN[strings.LastIndex(roleARN, "/")+1:],
			"--policy-name", "agentcore-vault"); !ok {
			t.Fatalf("delete-role-policy: %s", out)
		}
		if _, raw := vaultTurnOn(t, url, runtime, tc, "", true); !strings.Contains(raw, "AccessDeniedException") {
			t.Errorf("the role without the vault policy: %.600s", raw)
		}
		vault(t, "--secret-days", "3")
		warmTurn(t)
	})

	// A rerun that cannot know what the provider holds (the env file lost
	// the secret's ID) makes a new secret, updates the provider with it and
	// removes the old one; bob's consent then has its code exchanged with
	// the new secret.
	t.Run("a rerun that lost the secret's ID rotates it", func(t *testing.T) {
		src, _ := os.ReadFile(envFile)
		var kept []string
		for _, line := range strings.Split(string(src), "\n") {
			if !strings.HasPrefix(line, "VAULT_SECRET_KEY_ID=") {
				kept = append(kept, line)
			}
		}
		os.WriteFile(envFile, []byte(strings.Join(kept, "\n")), 0o600)
		out := vault(t, "--secret-days", "3")
		app := sim.Live.Load().App(env["VAULT_APP_ID"])
		p, _ := ctl.GetOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.GetOauth2CredentialProviderInput{Name: aws.String(vaultProvider)})
		if len(app.Secrets) != 1 || app.Secrets[0] == secret || readEnv(t, envFile)["VAULT_SECRET_KEY_ID"] == "" || providers() != 1 ||
			aws.ToString(p.CallbackUrl) != callback || !aws.ToTime(p.LastUpdatedTime).After(updated) {
			t.Errorf("after the rotation: %d secrets (the old one kept: %v), provider updated %v\n%s", len(app.Secrets), slices.Contains(app.Secrets, secret),
				aws.ToTime(p.LastUpdatedTime), out)
		}
		bob := cloudsimtest.SPASignIn(t, sim, env["CLIENT_SPA_APP_ID"], "api://"+env["BLUEPRINT_APP_ID"]+"/access_as_user", "bob@contoso.example",
			"http://localhost:3001")
		first, raw := vaultTurnOn(t, url, runtime, bob, "")
		need, _ := first["consent_required"].(map[string]any)
		link, _ := need["url"].(string)
		if link == "" {
			t.Fatalf("bob's first turn: %.600s", raw)
		}
		bound, raw := vaultTurnOn(t, url, runtime, bob, vaultBrowser(t, sim, link, callback, "bob@contoso.example"))
		if caller := weatherCaller(bound["trace"].([]any)); caller["app_id"] != env["VAULT_APP_ID"] || caller["user_oid"] != sim.Tenant.UserByUPN("bob@contoso.example").ObjectID {
			t.Errorf("bob's turn after consent, with the new secret: caller %v: %.600s", caller, raw)
		}
	})
}
