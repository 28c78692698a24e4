package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// The tenant file's IAM administrator (deploy/local/tenant.jsonc), who
// plays the setup here: the workload identity and its return URL.
const iamAdminKey, iamAdminSecret = "AKIACLOUDSIMIAMADMIN1", "cloudsim-local-iam-admin-key-do-not-reuse"

// vaultTestWorkload is the workload identity the tests' runtime stands
// for, named as AgentCore names a runtime's (after the runtime's ID), so
// the demo tenant's agentcore-vault policy, the template's, covers it.
const vaultTestWorkload = "weather_agent-vaulttest"

// vaultPlanes are AgentCore Identity's two planes as the administrator
// reaches them.
func vaultPlanes(s *e2e.Stack) (*bedrockagentcorecontrol.Client, *bedrockagentcore.Client) {
	cfg := aws.Config{Region: s.Env["AWS_REGION"], Credentials: credentials.NewStaticCredentialsProvider(iamAdminKey, iamAdminSecret, ""),
		HTTPClient: cloudsimtest.Client(s.Sim), RetryMaxAttempts: 1}
	ctl := bedrockagentcorecontrol.NewFromConfig(cfg, func(o *bedrockagentcorecontrol.Options) {
		o.BaseEndpoint = aws.String(s.Env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL"])
	})
	dp := bedrockagentcore.NewFromConfig(cfg, func(o *bedrockagentcore.Options) {
		o.BaseEndpoint = aws.String(s.Env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"])
	})
	return ctl, dp
}

// vaultRuntime is an llm-agent on (cloudsim's stand-in for) AgentCore
// Runtime with the vault as the user token source; mint is the runtime's
// own step, a workload access token from the inbound user token.
type vaultRuntime struct {
	url       string
	returnURL string
	mint      func(t testing.TB, tc string) string
}

// startVaultRuntime allows returnURL on the workload identity (as
// aws-agentcore.sh vault does) and starts the agent. The AWS SDK reads
// the data plane's endpoint from the process, as on a real host.
func startVaultRuntime(t testing.TB, s *e2e.Stack, returnURL string) *vaultRuntime {
	t.Helper()
	ctl, dp := vaultPlanes(s)
	if _, err := ctl.CreateWorkloadIdentity(t.Context(), &bedrockagentcorecontrol.CreateWorkloadIdentityInput{
		Name: aws.String(vaultTestWorkload), AllowedResourceOauth2ReturnUrls: []string{returnURL}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", s.Env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"])
	url := agentCore(s, map[string]string{"USER_TOKEN_SOURCE": "agentcore-vault", "AGENTCORE_VAULT_RETURN_URL": returnURL})
	return &vaultRuntime{url: url, returnURL: returnURL, mint: func(t testing.TB, tc string) string {
		out, err := dp.GetWorkloadAccessTokenForJWT(t.Context(), &bedrockagentcore.GetWorkloadAccessTokenForJWTInput{
			WorkloadName: aws.String(vaultTestWorkload), UserToken: aws.String(tc)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.WorkloadAccessToken)
	}}
}

// vaultTurn is an on-behalf-of Direct turn to the runtime's agent with the
// workload access token the runtime minted from tc, binding session when
// set.
func (v *vaultRuntime) turn(t testing.TB, tc, session string) map[string]any {
	t.Helper()
	body := map[string]any{"prompt": "What's the weather in Oslo?", "token_flow": "obo", "llm_mode": "direct"}
	if session != "" {
		body["vault_session"] = session
	}
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), "POST", v.url+"/invocations", strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tc)
	req.Header.Set("WorkloadAccessToken", v.mint(t, tc))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var a map[string]any
	if json.Unmarshal(out, &a) != nil || resp.StatusCode != 200 || a["status"] != "success" {
		t.Fatalf("turn: %d %.600s", resp.StatusCode, out)
	}
	a["raw"] = string(out)
	return a
}

// vaultConsentAs walks the browser's leg from the vault's authorization
// URL: AgentCore to Entra, upn's sign-in and consent, Entra to AgentCore's
// callback, and the callback to the return URL, whose session_id it
// returns.
func vaultConsentAs(t testing.TB, s *e2e.Stack, authorizationURL, returnURL, upn string) string {
	t.Helper()
	c := cloudsimtest.Client(s.Sim)
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	step := func(resp *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, _ := step(c.Get(authorizationURL))
	entraURL := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(entraURL, "/oauth2/v2.0/authorize?") {
		t.Fatalf("AgentCore's authorize: %d to %q", resp.StatusCode, entraURL)
	}
	form, _ := url.ParseQuery(strings.SplitN(entraURL, "?", 2)[1])
	form.Set("login", upn)
	resp, page := step(c.PostForm(entraURL, form))
	if m := consentRequestID.FindStringSubmatch(page); m != nil {
		form.Del("login")
		form.Set("consent_request", m[1])
		form.Set("decision", "accept")
		resp, page = step(c.PostForm(entraURL, form))
	}
	callback := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(callback, "/identities/oauth2/callback/") {
		t.Fatalf("Entra: %d to %q: %.300s", resp.StatusCode, callback, page)
	}
	resp, _ = step(c.Get(callback))
	back, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(back.String(), returnURL+"?") {
		t.Fatalf("AgentCore's callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return back.Query().Get("session_id")
}

// vaultConsentOf is a turn's consent_required from the vault.
func vaultConsentOf(t testing.TB, a map[string]any) map[string]any {
	t.Helper()
	need, _ := a["consent_required"].(map[string]any)
	if need == nil || need["source"] != "agentcore-vault" || need["reason"] != "consent_required" {
		t.Fatalf("no vault consent: %.600s", a["raw"])
	}
	return need
}

// hopsOf are a turn's arrows to and from AgentCore Identity and Entra.
func hopsOf(a map[string]any) []string {
	var out []string
	for _, e := range a["trace"].([]any) {
		h, _ := e.(map[string]any)["hop"].(map[string]any)
		if h == nil {
			continue
		}
		from, to := h["from"].(string), h["to"].(string)
		if from == "agentcore-identity" || to == "agentcore-identity" || from == "entra" || to == "entra" {
			out = append(out, from+" → "+to+": "+h["carries"].(string))
		}
	}
	return out
}

// A user's turns with the vault as the token source, against cloudsim's
// AgentCore Identity through the SDK: the first ends with the
// authorization URL; the browser's leg; bob's session cannot be bound by
// alice (she gets a new consent of her own, and his stays unbound); the
// turn sent back with her session is answered, the Weather API naming the
// vault's app; her next turn takes the vaulted token with no Entra
// request. Nothing of a token in any answer or log.
func TestAgentCoreVaultTurns(t *testing.T) {
	s := e2e.Start(t)
	returnURL := "http://127.0.0.1:1/consent.html"
	v := startVaultRuntime(t, s, returnURL)
	tokens := cloudsimtest.NewTokens(s.Sim)
	alice, bob := tokens.UserNamed(t, "alice@contoso.example", "alice-local-demo-password"), tokens.UserNamed(t, "bob@contoso.example", "bob-local-demo-password")
	stats := s.Sim.Entra.Stats()
	var everything strings.Builder

	first := v.turn(t, alice, "")
	everything.WriteString(first["raw"].(string))
	need := vaultConsentOf(t, first)
	if !strings.HasPrefix(need["url"].(string), s.Sim.URL+"/identities/oauth2/authorize?request_uri=") || need["session_uri"] == "" {
		t.Errorf("consent: %v", need)
	}
	if want := []string{"llm-agent → agentcore-identity: GetResourceOauth2Token (workload access token)", "agentcore-identity → llm-agent: an authorization URL",
		"llm-agent → browser: AgentCore Identity's authorization URL"}; !slices.Equal(hopsOf(first)[:2], want[:2]) {
		t.Errorf("first turn's vault hops: %q", hopsOf(first))
	}

	// Bob starts his own consent, and consents; alice, with his session,
	// is refused by AWS and gets a new consent of her own.
	bobNeed := vaultConsentOf(t, v.turn(t, bob, ""))
	bobSession := vaultConsentAs(t, s, bobNeed["url"].(string), returnURL, "bob@contoso.example")
	stolen := v.turn(t, alice, bobSession)
	everything.WriteString(stolen["raw"].(string))
	again := vaultConsentOf(t, stolen)
	if !strings.Contains(again["message"].(string), "AccessDeniedException") || again["session_uri"] == bobSession {
		t.Errorf("alice binding bob's session: %v", again)
	}
	if c := stats.Get("agentcore.error.AccessDeniedException"); c != 1 {
		t.Errorf("AWS refused %d bindings, want alice's one", c)
	}

	session := vaultConsentAs(t, s, again["url"].(string), returnURL, "alice@contoso.example")
	if session != again["session_uri"] {
		t.Errorf("came back with %q, want %q", session, again["session_uri"])
	}
	bound := v.turn(t, alice, session)
	everything.WriteString(bound["raw"].(string))
	caller := weatherCaller(bound["trace"].([]any))
	if !strings.Contains(bound["response"].(string), "Oslo") || caller["app_id"] != s.Env["VAULT_APP_ID"] || caller["flow"] != "delegated" ||
		caller["agent_identity"] != false || caller["user_oid"] != s.Sim.Tenant.UserByUPN("alice@contoso.example").ObjectID {
		t.Fatalf("the bound turn: %v %.400s", caller, bound["response"])
	}
	if want := []string{"llm-agent → agentcore-identity: CompleteResourceTokenAuth (session, Tc)", "agentcore-identity → llm-agent: session bound",
		"agentcore-identity → entra: the code + the vault app's secret", "entra → agentcore-identity: TV",
		"llm-agent → agentcore-identity: GetResourceOauth2Token (workload access token)", "agentcore-identity → llm-agent: TV"}; !slices.Equal(hopsOf(bound), want) {
		t.Errorf("the bound turn's hops:\n%s", strings.Join(hopsOf(bound), "\n"))
	}

	// The next turn: the vaulted token, no Entra request.
	before := stats.Get("entra.token")
	warm := v.turn(t, alice, "")
	everything.WriteString(warm["raw"].(string))
	if caller := weatherCaller(warm["trace"].([]any)); caller["app_id"] != s.Env["VAULT_APP_ID"] || stats.Get("entra.token") != before {
		t.Errorf("the warm turn: caller %v, %d Entra requests", caller, stats.Get("entra.token")-before)
	}
	// Bob's session was not bound by alice's attempt: he binds it now.
	bobTurn := v.turn(t, bob, bobSession)
	if caller := weatherCaller(bobTurn["trace"].([]any)); caller["user_oid"] != s.Sim.Tenant.UserByUPN("bob@contoso.example").ObjectID {
		t.Errorf("bob's own binding: %v %.400s", caller, bobTurn["raw"])
	}
	everything.WriteString(s.Logs.String())
	if leaks := leakcheck.Find(everything.String(), alice, bob); len(leaks) > 0 {
		t.Errorf("a token in an answer or a log: %v", leaks)
	}
}

// callsPerTurn is what one turn cost: token requests at Entra, and
// requests at AgentCore Identity by operation (the browser's leg:
// oauth2.authorize and oauth2.callback); pages is the requests to Entra's
// authorize endpoint (the browser's).
type callsPerTurn struct {
	entra     int64
	agentcore map[string]int64
	pages     int64
}

func (c callsPerTurn) String() string {
	var ops []string
	var total int64
	for _, op := range sortedOps(c.agentcore) {
		ops = append(ops, fmt.Sprintf("%s %d", op, c.agentcore[op]))
		total += c.agentcore[op]
	}
	return fmt.Sprintf("Entra token %d, Entra authorize %d, AgentCore Identity %d (%s)", c.entra, c.pages, total, strings.Join(ops, ", "))
}

func sortedOps(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// measure runs turn and returns what it cost, the test's own sign-ins
// aside.
func measure(s *e2e.Stack, turn func()) callsPerTurn {
	stats := s.Sim.Entra.Stats()
	before := stats.Snapshot()
	turn()
	after := stats.Snapshot()
	c := callsPerTurn{agentcore: map[string]int64{}}
	c.entra = (after["entra.token"] - before["entra.token"]) - (after["entra.token.grant."+grantROPC] - before["entra.token.grant."+grantROPC])
	c.pages = after["entra.authorize"] - before["entra.authorize"]
	for k, n := range after {
		if op, ok := strings.CutPrefix(k, "agentcore."); ok && !strings.HasPrefix(op, "error.") && n-before[k] > 0 {
			c.agentcore[op] = n - before[k]
		}
	}
	return c
}

// The cost of a user's on-behalf-of turn for each source of the user's
// token, on the same runtime (llm-agent on AgentCore Runtime, MSAL in
// process): Entra's on-behalf-of exchange, and AgentCore Identity's vault.
// Measured at cloudsim: token requests at Entra (the agent's, and the
// vault's code exchange), and requests at AgentCore Identity, counting
// GetWorkloadAccessTokenForJWT, which the runtime makes for every
// invocation with a user's token whatever the source. The figures are
// logged for docs/identity.md and checked.
func TestCallsPerTurnOBOAndVault(t *testing.T) {
	s := e2e.Start(t)
	returnURL := "http://127.0.0.1:1/consent.html"
	v := startVaultRuntime(t, s, returnURL)
	obo := &vaultRuntime{url: agentCore(s, nil), mint: v.mint}
	tokens := cloudsimtest.NewTokens(s.Sim)
	alice := tokens.UserNamed(t, "alice@contoso.example", "alice-local-demo-password")
	bob := tokens.UserNamed(t, "bob@contoso.example", "bob-local-demo-password")
	wat := map[string]int64{"GetWorkloadAccessTokenForJWT": 1}
	cases := []struct {
		name string
		turn func()
		want callsPerTurn
	}{
		{"entra-obo, first turn (T1, then TU)", func() { obo.turn(t, alice, "") }, callsPerTurn{2, wat, 0}},
		{"entra-obo, warm turn (TU from MSAL's cache)", func() { obo.turn(t, alice, "") }, callsPerTurn{0, wat, 0}},
		{"entra-obo, another user's first turn (TU; T1 cached)", func() { obo.turn(t, bob, "") }, callsPerTurn{1, wat, 0}},
		{"agentcore-vault, first turn (an authorization URL)", func() {
			need := vaultConsentOf(t, v.turn(t, alice, ""))
			v.returnURL = need["url"].(string) // kept for the next step
		}, callsPerTurn{0, map[string]int64{"GetWorkloadAccessTokenForJWT": 1, "GetResourceOauth2Token": 1}, 0}},
		{"agentcore-vault, the browser's leg (sign-in, consent, callback)", func() {
			v.returnURL = vaultConsentAs(t, s, v.returnURL, returnURL, "alice@contoso.example")
		}, callsPerTurn{0, map[string]int64{"oauth2.authorize": 1, "oauth2.callback": 1}, 2}},
		{"agentcore-vault, the turn sent back (binding, the code exchanged, TV)", func() {
			a := v.turn(t, alice, v.returnURL)
			if weatherCaller(a["trace"].([]any))["app_id"] != s.Env["VAULT_APP_ID"] {
				t.Errorf("not answered with TV: %.400s", a["raw"])
			}
		}, callsPerTurn{1, map[string]int64{"GetWorkloadAccessTokenForJWT": 1, "CompleteResourceTokenAuth": 1, "GetResourceOauth2Token": 1}, 0}},
		{"agentcore-vault, warm turn (TV from the vault)", func() { v.turn(t, alice, "") },
			callsPerTurn{0, map[string]int64{"GetWorkloadAccessTokenForJWT": 1, "GetResourceOauth2Token": 1}, 0}},
	}
	for _, c := range cases {
		got := measure(s, c.turn)
		t.Logf("%-70s %s", c.name+":", got)
		if got.entra != c.want.entra || got.pages != c.want.pages || fmt.Sprint(got.agentcore) != fmt.Sprint(c.want.agentcore) {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
