package agentcoreid_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	dptypes "github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// The tenant file's vault: its provider, made at start, and app.
const (
	providerName = "entra-weather-api"
	returnURL    = "http://localhost:3000/consent.html"
	workloadName = "weather-app-wi"
)

// vault is a started cloudsim with a workload identity allowing
// returnURL, and what a flow needs.
type vault struct {
	*env
	scope  string // the Weather API's delegated scope
	tokens *cloudsimtest.Tokens
}

func newVault(t *testing.T) *vault {
	e := start(t, nil)
	if _, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{
		Name: aws.String(workloadName), AllowedResourceOauth2ReturnUrls: []string{returnURL}}); err != nil {
		t.Fatal(err)
	}
	env := e.sim.Env()
	return &vault{env: e, scope: "api://" + env["WEATHER_API_APP_ID"] + "/Weather.Read", tokens: cloudsimtest.NewTokens(e.sim)}
}

// userJWT is a demo user's token for the blueprint, as the chat UI holds
// it.
func (v *vault) userJWT(t *testing.T, upn string) string {
	pw := map[string]string{"alice@contoso.example": "alice-local-demo-password", "bob@contoso.example": "bob-local-demo-password"}[upn]
	return v.tokens.UserNamed(t, upn, pw)
}

func (v *vault) wat(t *testing.T, jwt string) string {
	t.Helper()
	out, err := v.dp.GetWorkloadAccessTokenForJWT(ctx, &bedrockagentcore.GetWorkloadAccessTokenForJWTInput{
		WorkloadName: aws.String(workloadName), UserToken: aws.String(jwt)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.WorkloadAccessToken)
}

func (v *vault) ask(wat string, edit func(*bedrockagentcore.GetResourceOauth2TokenInput)) (*bedrockagentcore.GetResourceOauth2TokenOutput, error) {
	in := &bedrockagentcore.GetResourceOauth2TokenInput{WorkloadIdentityToken: aws.String(wat), ResourceCredentialProviderName: aws.String(providerName),
		Scopes: []string{v.scope}, Oauth2Flow: dptypes.Oauth2FlowTypeUserFederation, ResourceOauth2ReturnUrl: aws.String(returnURL)}
	if edit != nil {
		edit(in)
	}
	return v.dp.GetResourceOauth2Token(ctx, in)
}

// browser is a user's browser: cookies, and redirects shown, not
// followed.
func (v *vault) browser() *http.Client {
	c := cloudsimtest.Client(v.sim)
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

var consentRequestField = regexp.MustCompile(`name="consent_request" value="([^"]+)"`)

// consent walks the browser leg from the authorization URL: AgentCore's
// redirect to Entra, upn's sign-in, the consent page (accepted), Entra's
// redirect to the callback, and the callback's redirect to the return
// URL, which it returns.
func (v *vault) consent(t *testing.T, b *http.Client, authorizationURL, upn string) *url.URL {
	t.Helper()
	resp := get(t, b, authorizationURL)
	entraURL := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(entraURL, v.sim.URL+"/"+v.sim.Tenant.Tenant.ID+"/oauth2/v2.0/authorize?") {
		t.Fatalf("authorize: %d to %q", resp.StatusCode, entraURL)
	}
	form, _ := url.ParseQuery(strings.SplitN(entraURL, "?", 2)[1])
	form.Set("login", upn)
	resp, page := post(t, b, entraURL, form)
	if m := consentRequestField.FindStringSubmatch(page); m != nil {
		form.Del("login")
		form.Set("consent_request", m[1])
		form.Set("decision", "accept")
		resp, _ = post(t, b, entraURL, form)
	}
	callback := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(callback, v.sim.URL+"/identities/oauth2/callback/") {
		t.Fatalf("Entra sign-in: %d to %q: %s", resp.StatusCode, callback, page)
	}
	resp = get(t, b, callback)
	back, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(back.String(), returnURL+"?") {
		t.Fatalf("callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return back
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (v *vault) complete(jwt, sessionURI string) error {
	_, err := v.dp.CompleteResourceTokenAuth(ctx, &bedrockagentcore.CompleteResourceTokenAuthInput{SessionUri: aws.String(sessionURI),
		UserIdentifier: &dptypes.UserIdentifierMemberUserToken{Value: jwt}})
	return err
}

func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

var sessionURIShape = regexp.MustCompile(`^urn:ietf:params:oauth:request_uri:[A-Za-z0-9+/]{48}$`)

// TestThreeLeggedFlow is USER_FEDERATION end to end with the Go SDK and a
// browser: the authorization URL, Entra's sign-in and consent, the
// callback, session binding with the same JWT, and the vaulted token,
// whose claims are the vault app's delegated token for the Weather API.
// The next call answers from the vault.
func TestThreeLeggedFlow(t *testing.T) {
	v := newVault(t)
	jwt := v.userJWT(t, "alice@contoso.example")
	wat := v.wat(t, jwt)
	first, err := v.ask(wat, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.CustomState = aws.String("csrf-123") })
	if err != nil {
		t.Fatal(err)
	}
	session := aws.ToString(first.SessionUri)
	if first.AccessToken != nil || first.SessionStatus != dptypes.SessionStatusInProgress || !sessionURIShape.MatchString(session) {
		t.Fatalf("first answer: %+v", first)
	}
	id, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(session, "urn:ietf:params:oauth:request_uri:"))
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).Match(id) {
		t.Errorf("the session id is not base64 of a UUID: %s", id)
	}
	if want := v.sim.URL + "/identities/oauth2/authorize?request_uri=" + url.QueryEscape(session); aws.ToString(first.AuthorizationUrl) != want {
		t.Errorf("authorization URL %s, want %s", aws.ToString(first.AuthorizationUrl), want)
	}
	// Before the user consents, a poll is still in progress.
	poll, err := v.ask(wat, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.SessionUri = aws.String(session) })
	if err != nil || poll.AccessToken != nil || poll.SessionStatus != dptypes.SessionStatusInProgress {
		t.Fatalf("poll before consent: %+v %v", poll, err)
	}
	back := v.consent(t, v.browser(), aws.ToString(first.AuthorizationUrl), "alice@contoso.example")
	if back.Query().Get("session_id") != session || back.Query().Get("custom_state") != "csrf-123" {
		t.Errorf("return URL %s", back)
	}
	if err := v.complete(jwt, session); err != nil {
		t.Fatal(err)
	}
	done, err := v.ask(wat, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.SessionUri = aws.String(session) })
	if err != nil || done.AccessToken == nil {
		t.Fatalf("after completion: %+v %v", done, err)
	}
	c := claims(t, aws.ToString(done.AccessToken))
	env := v.sim.Env()
	if c["azp"] != env["VAULT_APP_ID"] || c["aud"] != env["WEATHER_API_APP_ID"] || c["scp"] != "Weather.Read" || c["oid"] != "4c255636-0874-4a16-a88f-caf77944d9b2" {
		t.Errorf("vaulted token claims: azp %v aud %v scp %v oid %v", c["azp"], c["aud"], c["scp"], c["oid"])
	}
	// The next turn, with a new WAT from the same JWT, is answered from
	// the vault.
	again, err := v.ask(v.wat(t, jwt), nil)
	if err != nil || aws.ToString(again.AccessToken) != aws.ToString(done.AccessToken) {
		t.Fatalf("vaulted answer: %+v %v", again, err)
	}
	// forceAuthentication starts a new flow whatever the vault holds.
	forced, err := v.ask(wat, func(in *bedrockagentcore.GetResourceOauth2TokenInput) { in.ForceAuthentication = aws.Bool(true) })
	if err != nil || forced.AccessToken != nil || aws.ToString(forced.SessionUri) == session {
		t.Fatalf("forced: %+v %v", forced, err)
	}
}
