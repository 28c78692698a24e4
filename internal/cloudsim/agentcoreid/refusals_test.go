package agentcoreid_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	dptypes "github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol"
	ctltypes "github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol/types"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// A principal that may call every AgentCore operation but read no
// secret: GetResourceOauth2Token needs secretsmanager:GetSecretValue on
// the provider's secret too.
const noSecretKey, noSecretSecret = "AKIACLOUDSIMNOSECRET1", "cloudsim-test-agentcore-only-secret-key"

func withAgentCoreOnlyUser(o *cloudsim.Options) {
	o.Tenant.AWS.DevCredentials = append(o.Tenant.AWS.DevCredentials, tenant.DevCredential{AccessKeyID: noSecretKey, SecretAccessKey: noSecretSecret,
		UserName: "agentcore-only", Policies: map[string]json.RawMessage{"agentcore": json.RawMessage(
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock-agentcore:*","Resource":"*"}]}`)}})
}

// started is a flow up to the return URL: the JWT and WAT that began it
// and its session URI.
type started struct{ jwt, wat, session string }

func (v *vault) startFlow(t *testing.T, upn string) started {
	t.Helper()
	jwt := v.userJWT(t, upn)
	wat := v.wat(t, jwt)
	// Forced, so an earlier flow's vaulted token does not answer.
	out, err := v.ask(wat, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.ForceAuthentication = aws.Bool(true) })
	if err != nil || out.AuthorizationUrl == nil {
		t.Fatalf("start: %+v %v", out, err)
	}
	v.consent(t, v.browser(), aws.ToString(out.AuthorizationUrl), upn)
	return started{jwt: jwt, wat: wat, session: aws.ToString(out.SessionUri)}
}

// TestSessionBindingRefusals: CompleteResourceTokenAuth takes only the
// exact artifact that minted the WAT that started the session, once, in
// time.
func TestSessionBindingRefusals(t *testing.T) {
	v := newVault(t)
	cases := []struct {
		name     string
		complete func(s started) error
	}{
		{"another user's JWT", func(s started) error { return v.complete(v.userJWT(t, "bob@contoso.example"), s.session) }},
		{"the same user's renewed JWT", func(s started) error {
			v.advance(2 * time.Second) // a new iat, so a new token string
			renewed := v.userJWT(t, "alice@contoso.example")
			if renewed == s.jwt {
				t.Fatal("the renewed token is the same string")
			}
			return v.complete(renewed, s.session)
		}},
		{"a user ID for a JWT session", func(s started) error {
			_, err := v.dp.CompleteResourceTokenAuth(ctx, &bedrockagentcore.CompleteResourceTokenAuthInput{SessionUri: aws.String(s.session),
				UserIdentifier: &dptypes.UserIdentifierMemberUserId{Value: "alice"}})
			return err
		}},
		{"an unknown session", func(s started) error {
			return v.complete(s.jwt, "urn:ietf:params:oauth:request_uri:bm90LWEtc2Vzc2lvbg")
		}},
		{"completed twice", func(s started) error {
			if err := v.complete(s.jwt, s.session); err != nil {
				t.Fatal(err)
			}
			return v.complete(s.jwt, s.session)
		}},
		{"after the session expired", func(s started) error {
			v.advance(11 * time.Minute)
			return v.complete(s.jwt, s.session)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, c.complete(v.startFlow(t, "alice@contoso.example")), "AccessDeniedException", "Invalid or expired session")
		})
	}
	// A session not yet back from Entra cannot be completed either.
	jwt := v.userJWT(t, "alice@contoso.example")
	out, err := v.ask(v.wat(t, jwt), func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.ForceAuthentication = aws.Bool(true) })
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, v.complete(jwt, aws.ToString(out.SessionUri)), "AccessDeniedException", "Invalid or expired session")
	// Nor may another user poll it.
	_, err = v.ask(v.wat(t, v.userJWT(t, "bob@contoso.example")), func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.SessionUri = out.SessionUri })
	wantError(t, err, "AccessDeniedException", "Invalid or expired session")
	// Malformed: a userIdentifier with both members, a bad session URI.
	_, err = v.dp.CompleteResourceTokenAuth(ctx, &bedrockagentcore.CompleteResourceTokenAuthInput{SessionUri: aws.String("not-a-urn"),
		UserIdentifier: &dptypes.UserIdentifierMemberUserId{Value: "alice"}})
	wantError(t, err, "ValidationException", "urn:ietf:params:oauth:request_uri")
}

// TestGetResourceOauth2TokenRefusals: each check of the vault's
// GetResourceOauth2Token has its refusal.
func TestGetResourceOauth2TokenRefusals(t *testing.T) {
	v := newVault(t)
	jwt := v.userJWT(t, "alice@contoso.example")
	wat := v.wat(t, jwt)
	_, dev := v.clients(devKey, devSecret, "")
	_, noSecret := v.clients(noSecretKey, noSecretSecret, "")
	anonymous, err := v.dp.GetWorkloadAccessToken(ctx, &bedrockagentcore.GetWorkloadAccessTokenInput{WorkloadName: aws.String(workloadName)})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(client *bedrockagentcore.Client, edit func(*bedrockagentcore.GetResourceOauth2TokenInput)) error {
		in := &bedrockagentcore.GetResourceOauth2TokenInput{WorkloadIdentityToken: aws.String(wat), ResourceCredentialProviderName: aws.String(providerName),
			Scopes: []string{v.scope}, Oauth2Flow: dptypes.Oauth2FlowTypeUserFederation, ResourceOauth2ReturnUrl: aws.String(returnURL)}
		edit(in)
		_, err := client.GetResourceOauth2Token(ctx, in)
		return err
	}
	cases := []struct {
		name       string
		client     *bedrockagentcore.Client
		edit       func(*bedrockagentcore.GetResourceOauth2TokenInput)
		code, text string
	}{
		{"no return URL", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.ResourceOauth2ReturnUrl = nil },
			"ValidationException", "You must provide a ResourceOauth2ReturnUrl to proceed with this flow"},
		{"a return URL the workload identity does not allow", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) {
			in.ResourceOauth2ReturnUrl = aws.String("https://not-allowed.invalid/steal")
		}, "ValidationException", "not one of the allowedResourceOauth2ReturnUrls"},
		{"an unknown provider", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) {
			in.ResourceCredentialProviderName = aws.String("nobody")
		}, "ResourceNotFoundException", "nobody"},
		{"an unknown WAT", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) {
			in.WorkloadIdentityToken = aws.String("wat.forged")
		},
			"AccessDeniedException", "not valid"},
		{"a WAT without a user", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) {
			in.WorkloadIdentityToken = anonymous.WorkloadAccessToken
		},
			"ValidationException", "needs a workload access token for a user"},
		{"on-behalf-of token exchange", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) {
			in.Oauth2Flow = dptypes.Oauth2FlowTypeOnBehalfOfTokenExchange
		}, "ValidationException", "does not emulate the ON_BEHALF_OF_TOKEN_EXCHANGE"},
		{"an unknown flow", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.Oauth2Flow = "IMPLICIT" },
			"ValidationException", "enum value set"},
		{"no scopes", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.Scopes = []string{} },
			"ValidationException", "at least one scope"},
		{"a scope too long", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.Scopes = []string{strings.Repeat("s", 129)} },
			"ValidationException", "scopes.1.member"},
		{"resources for Entra", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) {
			in.Resources = []string{"https://graph.microsoft.com"}
		},
			"ValidationException", "no resources"},
		{"a malformed session URI", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.SessionUri = aws.String("urn:x") },
			"ValidationException", "sessionUri"},
		{"a custom parameter key pattern", v.dp, func(in *bedrockagentcore.GetResourceOauth2TokenInput) {
			in.CustomParameters = map[string]string{"bad key": "v"}
		}, "ValidationException", "customParameters"},
		{"IAM: no bedrock-agentcore:GetResourceOauth2Token", dev, func(*bedrockagentcore.GetResourceOauth2TokenInput) {},
			"AccessDeniedException", "bedrock-agentcore:GetResourceOauth2Token on resource: arn:aws:bedrock-agentcore:us-east-1:111122223333:token-vault/default"},
		{"IAM: no secretsmanager:GetSecretValue on the provider's secret", noSecret, func(*bedrockagentcore.GetResourceOauth2TokenInput) {},
			"AccessDeniedException", "secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:111122223333:secret:bedrock-agentcore-identity!default/oauth2/entra-weather-api-"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantError(t, ask(c.client, c.edit), c.code, c.text) })
	}
}

// TestWorkloadAccessTokenRefusals: what GetWorkloadAccessToken* refuse,
// and a WAT that expired with its JWT.
func TestWorkloadAccessTokenRefusals(t *testing.T) {
	v := newVault(t)
	jwt := v.userJWT(t, "alice@contoso.example")
	parts := strings.Split(jwt, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	foreign, err := v.sim.Keys.Sign(map[string]any{"iss": "https://issuer.example/", "sub": "x", "exp": time.Now().Add(time.Hour).Unix()}, true)
	if err != nil {
		t.Fatal(err)
	}
	iss := "https://login.microsoftonline.com/" + v.sim.Tenant.Tenant.ID + "/v2.0"
	noSub, err := v.sim.Keys.Sign(map[string]any{"iss": iss, "exp": time.Now().Add(time.Hour).Unix()}, true)
	if err != nil {
		t.Fatal(err)
	}
	early, err := v.sim.Keys.Sign(map[string]any{"iss": iss, "sub": "x", "nbf": time.Now().Add(time.Hour).Unix(), "exp": time.Now().Add(2 * time.Hour).Unix()}, true)
	if err != nil {
		t.Fatal(err)
	}
	_, dev := v.clients(devKey, devSecret, "")
	forJWT := func(client *bedrockagentcore.Client, name, token string) error {
		_, err := client.GetWorkloadAccessTokenForJWT(ctx, &bedrockagentcore.GetWorkloadAccessTokenForJWTInput{WorkloadName: aws.String(name), UserToken: aws.String(token)})
		return err
	}
	cases := []struct {
		name       string
		err        func() error
		code, text string
	}{
		{"a forged signature", func() error { return forJWT(v.dp, workloadName, tampered) }, "AccessDeniedException", "signature"},
		{"no sub", func() error { return forJWT(v.dp, workloadName, noSub) }, "AccessDeniedException", "needs iss, sub and exp"},
		{"not valid yet", func() error { return forJWT(v.dp, workloadName, early) }, "AccessDeniedException", "not valid yet"},
		{"an untrusted issuer", func() error { return forJWT(v.dp, workloadName, foreign) }, "AccessDeniedException", "issuer"},
		// UserTokenType's pattern has unescaped dots (BC-DP), which match
		// any character: "a b c" would pass it; "abc" cannot.
		{"not a JWT", func() error { return forJWT(v.dp, workloadName, "abc") }, "ValidationException", "userToken"},
		{"an unknown workload identity", func() error { return forJWT(v.dp, "nobody", jwt) }, "ResourceNotFoundException", "nobody"},
		{"IAM", func() error { return forJWT(dev, workloadName, jwt) }, "AccessDeniedException", "bedrock-agentcore:GetWorkloadAccessTokenForJWT"},
		{"a user ID too long", func() error {
			_, err := v.dp.GetWorkloadAccessTokenForUserId(ctx, &bedrockagentcore.GetWorkloadAccessTokenForUserIdInput{WorkloadName: aws.String(workloadName),
				UserId: aws.String(strings.Repeat("u", 129))})
			return err
		}, "ValidationException", "less than or equal to 128"},
		{"unsigned", func() error {
			resp, err := http.Post(v.sim.URL+"/identities/GetWorkloadAccessToken", "application/json", strings.NewReader(`{}`))
			if err == nil {
				resp.Body.Close()
			}
			return err
		}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.code == "" {
				return // the unsigned case is checked below with cloudsim's CA
			}
			wantError(t, c.err(), c.code, c.text)
		})
	}
	resp, err := v.browser().Post(v.sim.URL+"/identities/GetWorkloadAccessToken", "application/json", strings.NewReader(`{"workloadName":"weather-app-wi"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" || !strings.Contains(string(body), `"__type":"MissingAuthenticationTokenException"`) {
		t.Errorf("unsigned: %d %s %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
	}
	// The WAT lives as long as its JWT.
	wat := v.wat(t, jwt)
	v.advance(3 * time.Hour)
	_, err = v.ask(wat, nil)
	wantError(t, err, "AccessDeniedException", "Token has expired")
	err = forJWT(v.dp, workloadName, jwt)
	wantError(t, err, "AccessDeniedException", "Token has expired")
}

// TestExpiredVaultedTokenRestartsTheFlow: the vault does not refresh; a
// token past its expiry gets a new authorization URL, not an error.
func TestExpiredVaultedTokenRestartsTheFlow(t *testing.T) {
	v := newVault(t)
	s := v.startFlow(t, "alice@contoso.example")
	if err := v.complete(s.jwt, s.session); err != nil {
		t.Fatal(err)
	}
	if out, err := v.ask(s.wat, nil); err != nil || out.AccessToken == nil {
		t.Fatalf("vaulted: %+v %v", out, err)
	}
	v.advance(3 * time.Hour) // past the Entra token's 60–90 minutes
	out, err := v.ask(v.wat(t, v.userJWT(t, "alice@contoso.example")), nil)
	if err != nil || out.AccessToken != nil || out.AuthorizationUrl == nil || out.SessionStatus != dptypes.SessionStatusInProgress {
		t.Fatalf("after expiry: %+v %v", out, err)
	}
}

// TestUserIDFlow: a WAT for a user ID; session binding takes that same
// user ID, and no other.
func TestUserIDFlow(t *testing.T) {
	v := newVault(t)
	mint, err := v.dp.GetWorkloadAccessTokenForUserId(ctx, &bedrockagentcore.GetWorkloadAccessTokenForUserIdInput{WorkloadName: aws.String(workloadName), UserId: aws.String("user-42")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := v.ask(aws.ToString(mint.WorkloadAccessToken), nil)
	if err != nil {
		t.Fatal(err)
	}
	v.consent(t, v.browser(), aws.ToString(out.AuthorizationUrl), "bob@contoso.example")
	completeAs := func(id string) error {
		_, err := v.dp.CompleteResourceTokenAuth(ctx, &bedrockagentcore.CompleteResourceTokenAuthInput{SessionUri: out.SessionUri,
			UserIdentifier: &dptypes.UserIdentifierMemberUserId{Value: id}})
		return err
	}
	wantError(t, completeAs("user-43"), "AccessDeniedException", "Invalid or expired session")
	if err := completeAs("user-42"); err != nil {
		t.Fatal(err)
	}
	got, err := v.ask(aws.ToString(mint.WorkloadAccessToken), nil)
	// The token is for whoever signed in at Entra (bob): a user ID vouches
	// for nobody, which is why the app must check who completes.
	if err != nil || got.AccessToken == nil || claims(t, aws.ToString(got.AccessToken))["oid"] != "adad5aff-90b6-4f0f-af46-55ab879b1369" {
		t.Fatalf("token: %+v %v", got, err)
	}
}

// TestM2M: client credentials with the provider's app and secret.
func TestM2M(t *testing.T) {
	v := newVault(t)
	mint, err := v.dp.GetWorkloadAccessToken(ctx, &bedrockagentcore.GetWorkloadAccessTokenInput{WorkloadName: aws.String(workloadName)})
	if err != nil {
		t.Fatal(err)
	}
	env := v.sim.Env()
	out, err := v.ask(aws.ToString(mint.WorkloadAccessToken), func(in *bedrockagentcore.GetResourceOauth2TokenInput) {
		in.Oauth2Flow, in.ResourceOauth2ReturnUrl, in.Scopes = dptypes.Oauth2FlowTypeM2m, nil, []string{"api://" + env["WEATHER_API_APP_ID"] + "/.default"}
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := claims(t, aws.ToString(out.AccessToken)); c["azp"] != env["VAULT_APP_ID"] || c["aud"] != env["WEATHER_API_APP_ID"] || c["scp"] != nil {
		t.Errorf("M2M token claims %v", c)
	}
	// Entra's refusal comes back: a scope that is not .default.
	_, err = v.ask(aws.ToString(mint.WorkloadAccessToken), func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.Oauth2Flow = dptypes.Oauth2FlowTypeM2m })
	wantError(t, err, "ValidationException", "refused the token request")
}

// TestBrowserLeg: what the authorize and callback endpoints do with
// requests outside the flow, what they send Entra, and Entra's answer to
// a provider whose callback the app did not register.
func TestBrowserLeg(t *testing.T) {
	v := newVault(t)
	b := v.browser()
	jwt := v.userJWT(t, "alice@contoso.example")
	out, err := v.ask(v.wat(t, jwt), func(in *bedrockagentcore.GetResourceOauth2TokenInput) {
		in.CustomParameters = map[string]string{"client_id": "not-the-app", "prompt": "login"}
	})
	if err != nil {
		t.Fatal(err)
	}
	resp := get(t, b, aws.ToString(out.AuthorizationUrl))
	to, _ := url.Parse(resp.Header.Get("Location"))
	q := to.Query()
	env := v.sim.Env()
	got, _ := v.ctl.GetOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.GetOauth2CredentialProviderInput{Name: aws.String(providerName)})
	if q.Get("client_id") != env["VAULT_APP_ID"] || q.Get("redirect_uri") != aws.ToString(got.CallbackUrl) || q.Get("scope") != v.scope ||
		q.Get("response_type") != "code" || q.Get("state") == "" || q.Get("prompt") != "login" {
		t.Errorf("Entra authorize request: %v", q)
	}
	callback := aws.ToString(got.CallbackUrl)
	cases := []struct {
		name, url, body string
	}{
		{"no code and no state", callback, "2 validation errors detected: Value at 'authorizationCode' failed to satisfy constraint: Member must not be null; Value at 'state' failed to satisfy constraint: Member must not be null"},
		{"no state", callback + "?code=abc", "1 validation error detected: Value at 'state' failed to satisfy constraint: Member must not be null"},
		{"an unknown state", callback + "?code=abc&state=forged", "The pending authorization request was not found"},
		{"the right state at another provider's callback", v.sim.URL + "/identities/oauth2/callback/00000000-0000-4000-8000-000000000000?code=abc&state=" + q.Get("state"),
			"The pending authorization request was not found"},
		{"an unknown request_uri", v.sim.URL + "/identities/oauth2/authorize?request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Anope", "no pending session"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := b.Get(c.url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var msg struct{ Message string }
			json.Unmarshal(body, &msg)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg.Message, c.body) {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}
	// A declined consent fails the session; the browser still goes back.
	back := func() *url.URL {
		form := url.Values{}
		for k, vals := range q {
			form[k] = vals
		}
		form.Del("prompt")
		form.Set("login", "bob@contoso.example")
		_, page := post(t, b, to.Scheme+"://"+to.Host+to.Path, form)
		m := consentRequestField.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no consent page: %s", page)
		}
		form.Del("login")
		form.Set("consent_request", m[1])
		form.Set("decision", "cancel")
		resp, _ := post(t, b, to.Scheme+"://"+to.Host+to.Path, form)
		resp = get(t, b, resp.Header.Get("Location"))
		u, _ := url.Parse(resp.Header.Get("Location"))
		return u
	}()
	if back.Query().Get("session_id") != aws.ToString(out.SessionUri) {
		t.Errorf("declined: back to %s", back)
	}
	poll, err := v.ask(v.wat(t, jwt), func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.SessionUri = out.SessionUri })
	if err != nil || poll.SessionStatus != dptypes.SessionStatusFailed || poll.AccessToken != nil {
		t.Errorf("declined poll: %+v %v", poll, err)
	}

	// A provider whose callback URL the app does not list: Entra refuses
	// with AADSTS50011 and sends the browser nowhere.
	if _, err := v.ctl.CreateOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.CreateOauth2CredentialProviderInput{Name: aws.String("unregistered"),
		CredentialProviderVendor:  ctltypes.CredentialProviderVendorTypeMicrosoftOauth2,
		Oauth2ProviderConfigInput: microsoft(env["VAULT_APP_ID"], "cloudsim-local-vault-secret-do-not-reuse", v.sim.Tenant.Tenant.ID)}); err != nil {
		t.Fatal(err)
	}
	out, err = v.ask(v.wat(t, jwt), func(in *bedrockagentcore.GetResourceOauth2TokenInput) {
		in.ResourceCredentialProviderName = aws.String("unregistered")
	})
	if err != nil {
		t.Fatal(err)
	}
	resp = get(t, b, aws.ToString(out.AuthorizationUrl))
	r2, err := b.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != http.StatusBadRequest || !strings.Contains(string(page), "AADSTS50011") {
		t.Errorf("unregistered callback: %d %s", r2.StatusCode, page)
	}
}

// TestDeletionsForget: a deleted provider takes its vaulted tokens with
// it (a new one of the same name starts over), and a deleted workload
// identity its workload access tokens.
func TestDeletionsForget(t *testing.T) {
	v := newVault(t)
	s := v.startFlow(t, "alice@contoso.example")
	if err := v.complete(s.jwt, s.session); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ctl.DeleteOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.DeleteOauth2CredentialProviderInput{Name: aws.String(providerName)}); err != nil {
		t.Fatal(err)
	}
	_, err := v.ask(s.wat, nil)
	wantError(t, err, "ResourceNotFoundException", providerName)
	env := v.sim.Env()
	if _, err := v.ctl.CreateOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.CreateOauth2CredentialProviderInput{Name: aws.String(providerName),
		CredentialProviderVendor:  ctltypes.CredentialProviderVendorTypeMicrosoftOauth2,
		Oauth2ProviderConfigInput: microsoft(env["VAULT_APP_ID"], "cloudsim-local-vault-secret-do-not-reuse", "")}); err != nil {
		t.Fatal(err)
	}
	if out, err := v.ask(s.wat, nil); err != nil || out.AccessToken != nil || out.AuthorizationUrl == nil {
		t.Fatalf("recreated provider: %+v %v", out, err)
	}
	if _, err := v.ctl.DeleteWorkloadIdentity(ctx, &bedrockagentcorecontrol.DeleteWorkloadIdentityInput{Name: aws.String(workloadName)}); err != nil {
		t.Fatal(err)
	}
	_, err = v.ask(s.wat, nil)
	wantError(t, err, "AccessDeniedException", "not valid")
}

// TestConcurrentUse runs the control and data planes at once (for the
// race detector): flows, updates and provider changes in parallel.
func TestConcurrentUse(t *testing.T) {
	v := newVault(t)
	wat := v.wat(t, v.userJWT(t, "alice@contoso.example"))
	env := v.sim.Env()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if _, err := v.ask(wat, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.ForceAuthentication = aws.Bool(true) }); err != nil {
					t.Error(err)
				}
				if _, err := v.ctl.UpdateWorkloadIdentity(ctx, &bedrockagentcorecontrol.UpdateWorkloadIdentityInput{Name: aws.String(workloadName),
					AllowedResourceOauth2ReturnUrls: []string{returnURL}}); err != nil {
					t.Error(err)
				}
				if _, err := v.ctl.UpdateOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.UpdateOauth2CredentialProviderInput{Name: aws.String(providerName),
					CredentialProviderVendor:  ctltypes.CredentialProviderVendorTypeMicrosoftOauth2,
					Oauth2ProviderConfigInput: microsoft(env["VAULT_APP_ID"], "cloudsim-local-vault-secret-do-not-reuse", "")}); err != nil {
					t.Error(err)
				}
				if _, err := v.ctl.GetOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.GetOauth2CredentialProviderInput{Name: aws.String(providerName)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}
