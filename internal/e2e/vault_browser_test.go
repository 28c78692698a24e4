package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol"
	"github.com/chromedp/chromedp"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsfront"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

const agentcoreIdentity = "AgentCore Identity"

// vaultFront is cloudsim's AgentCore Runtime front, built from
// deploy/aws/template.yaml, before container, with the runtime's workload
// identity: every request its authorizer lets through carries a workload
// access token minted from the user's token. The identity allows
// returnURL, as aws-agentcore.sh vault makes it. It returns the
// invocation URL.
func vaultFront(t *testing.T, s *e2e.Stack, container, returnURL string) string {
	t.Helper()
	src, err := os.ReadFile("../../deploy/aws/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := awsfront.Load(src, awsfront.LocalStack(s.Env))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := neturl.Parse(container)
	rt, err := awsfront.RuntimeFrom(tpl, "AgentRuntime", awsfront.KeySetFunc(s.Sim.Keys.Verify), u)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.UseIdentity(s.Sim.AgentCoreIdentity); err != nil {
		t.Fatal(err)
	}
	ctl, _ := vaultPlanes(s)
	if _, err := ctl.UpdateWorkloadIdentity(t.Context(), &bedrockagentcorecontrol.UpdateWorkloadIdentityInput{
		Name: aws.String(rt.WorkloadIdentity), AllowedResourceOauth2ReturnUrls: []string{returnURL}}); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(rt)
	t.Cleanup(front.Close)
	return front.URL + "/runtimes/" + neturl.PathEscape(awsfront.LocalRuntimeARN) + "/invocations?qualifier=DEFAULT"
}

// vaultConsentTurn starts the page before the AgentCore Runtime front
// with the vault as the runtime's user token source, signs alice in, and
// runs her first on-behalf-of weather turn, which ends with Grant consent.
func vaultConsentTurn(t *testing.T) (*e2e.Stack, string, context.Context, *console, string) {
	t.Helper()
	var returnURL string
	s, url, ctx := browserStackWith(t, nil, func(s *e2e.Stack, origin string) map[string]string {
		returnURL = origin + "/consent.html"
		// The runtime's AWS SDK finds AgentCore Identity's data plane as
		// on AWS, by the SDK's own setting.
		t.Setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", s.Env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"])
		runtime := agentCore(s, map[string]string{"USER_TOKEN_SOURCE": "agentcore-vault"})
		return map[string]string{"AGENTCORE_INVOCATION_URL": vaultFront(t, s, runtime, returnURL)}
	})
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	con := openPage(t, ctx, url, "#dot-identity.ok")
	signIn(t, ctx, s, con)
	answered(t, ctx, 1, chromedp.Click(css(`input[name=flow][value=obo]`)), chromedp.Click(css(`input[name=mode][value=direct]`)),
		sendMessage("What's the weather in Oslo?"))
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(`#messages li.consent .grant-consent`))); err != nil {
		msgs, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("messages")))
		t.Fatalf("no Grant consent: %v\nmessages: %s", err, msgs)
	}
	return s, url, ctx, con, returnURL
}

// consentInPage signs alice in on cloudsim's Entra page in ctx, if it
// asks, and accepts its consent page for the vault's app.
func consentInPage(t *testing.T, ctx context.Context) {
	t.Helper()
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	waitFor := func(js string) {
		t.Helper()
		if err := pollAcrossNavigations(ctx, js); err != nil {
			href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
			t.Fatalf("the consent window at %s: %v", href, err)
		}
	}
	waitFor(`!!(document.getElementById('accept') || document.querySelector('button[value="alice@contoso.example"]'))`)
	if login, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('button[value="alice@contoso.example"]')`)); login {
		if err := chromedp.Do(ctx, chromedp.Click(css(`button[value="alice@contoso.example"]`))); err != nil {
			t.Fatal(err)
		}
		waitFor(`!!document.getElementById('accept')`)
	}
	page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " :: " + document.body.innerText`))
	if !strings.Contains(page, "Weather.Read") {
		t.Errorf("the consent page says: %s (%v)", page, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("accept"))); err != nil {
		t.Fatalf("accept: %v", err)
	}
}

// AgentCore Identity's vault as the user token source, from the page, as
// deployed on AWS: the page's llm-agent relays to cloudsim's AgentCore
// Runtime front, which hands the llm-agent on the runtime a workload
// access token minted from the user's token. Alice signs in and asks
// about the weather on her behalf; the turn ends with Grant consent, the
// diagram drawing the vault's lane; the popup goes to AgentCore's
// authorization URL, cloudsim's Entra consent page for the vault's app,
// and back to the page's consent.html with the session; the page sends the
// turn again with the token it first sent, the runtime's agent binds the
// session, and the answer comes from the Weather API called with TV, whose
// verdict names the vault's app. Her next turn takes TV from the vault with
// no Entra request. Bob's session cannot be bound by alice through the
// same path (AWS refuses; her own vaulted token answers her), and bob binds
// it after. No token in the DOM, the exported diagram or a log.
func TestAgentCoreVaultConsent(t *testing.T) {
	s, url, ctx, con, returnURL := vaultConsentTurn(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	msgs, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("messages")))
	if !strings.Contains(msgs, "AgentCore Identity's token vault") || !strings.Contains(msgs, "via: AgentCore Runtime") {
		t.Errorf("the consent turn: %q", msgs)
	}
	checkDiagram(t, ctx, "the vault's consent", []string{browser, agent, agentcoreIdentity}, []string{
		arrow("browser", "llm-agent", "the message with Tc"),
		arrow("llm-agent", "agentcore-identity", "GetResourceOauth2Token (workload access token)"),
		arrow("agentcore-identity", "llm-agent", "an authorization URL (HTTP 200)"),
		arrow("llm-agent", "browser", "AgentCore Identity's authorization URL"),
	})
	screenshot(t, ctx, "vault-1-consent")

	// Grant consent: AgentCore's authorization URL, then cloudsim's Entra
	// sign-in (if it asks) and consent page for the vault's app.
	stats := s.Sim.Entra.Stats()
	pctx := openPopup(t, ctx, css(`#messages li.consent .grant-consent`), "authorize")
	consentInPage(t, pctx)
	// consent.html hands the session to the chat, which sends the turn
	// again; it is answered with TV.
	done := `[...document.querySelectorAll('#messages li.agent')].some(li => li.textContent.includes('In Oslo'))`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](done)); err != nil {
		msgs, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("messages")))
		t.Fatalf("the retried turn: %v\nmessages: %s\nlog: %s", err, msgs, lastLogLines(s, 20))
	}
	if azp, _ := claim(ctx, "TV", "azp"); azp != s.Env["VAULT_APP_ID"] {
		t.Errorf("TV azp = %q, want the vault's app %s", azp, s.Env["VAULT_APP_ID"])
	}
	if act, _ := claim(ctx, "TV", "xms_act_fct"); act != "" {
		t.Errorf("TV carries agent identity claims: xms_act_fct %q", act)
	}
	events, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("events")))
	if !strings.Contains(events, `"app_id":"`+s.Env["VAULT_APP_ID"]+`"`) {
		t.Errorf("the Weather API's verdict does not name the vault's app: %.2000s", events)
	}
	checkDiagram(t, ctx, "the vault's retried turn", []string{browser, agent, agentcoreIdentity, entra, weatherAPI}, []string{
		arrow("browser", "llm-agent", "the message with Tc"),
		arrow("llm-agent", "agentcore-identity", "CompleteResourceTokenAuth (session, Tc)"),
		arrow("agentcore-identity", "llm-agent", "session bound (HTTP 200)"),
		arrow("agentcore-identity", "entra", "the code + the vault app's secret"),
		arrow("entra", "agentcore-identity", "TV (HTTP 200)"),
		arrow("llm-agent", "agentcore-identity", "GetResourceOauth2Token (workload access token)"),
		arrow("agentcore-identity", "llm-agent", "TV (HTTP 200)"),
		arrow("llm-agent", "weather-api", "TV"),
		arrow("weather-api", "llm-agent", "the weather (HTTP 200)"),
	})
	exportedSVG(t, ctx)
	diagramShot(t, ctx, "vault")
	screenshot(t, ctx, "vault-2-answered")

	// The next turn: TV from the vault, no Entra request.
	before := stats.Get("entra.token")
	answered(t, ctx, 3, sendMessage("What's the weather in Lima?"))
	last, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#messages li.agent')].pop().textContent`))
	if !strings.Contains(last, "In Lima") || stats.Get("entra.token") != before {
		t.Errorf("the next turn: %q, %d Entra token requests", last, stats.Get("entra.token")-before)
	}
	checkDiagram(t, ctx, "the vault's warm turn", []string{browser, agent, agentcoreIdentity, weatherAPI}, []string{
		arrow("browser", "llm-agent", "the message with Tc"),
		arrow("llm-agent", "agentcore-identity", "GetResourceOauth2Token (workload access token)"),
		arrow("agentcore-identity", "llm-agent", "TV (HTTP 200)"),
		arrow("llm-agent", "weather-api", "TV"),
		arrow("weather-api", "llm-agent", "the weather (HTTP 200)"),
	})

	// Bob's session, through the same relay and front, cannot be bound by
	// alice: AWS refuses (her own vaulted token answers her turn), and bob
	// binds it afterwards.
	tokens := cloudsimtest.NewTokens(s.Sim)
	bob := tokens.UserNamed(t, "bob@contoso.example", "bob-local-demo-password")
	alice := tokens.UserNamed(t, "alice@contoso.example", "alice-local-demo-password")
	relayed := func(token, session string) reply {
		t.Helper()
		body := map[string]any{"message": "What's the weather in Oslo?", "token_flow": "obo", "llm_mode": "direct"}
		if session != "" {
			body["vault_session"] = session
		}
		r := chat(t, url, body, token)
		if r.status != http.StatusOK {
			t.Fatalf("relayed turn: %d %.400s", r.status, r.raw)
		}
		r.body["raw"] = r.raw
		return r
	}
	bobNeed := vaultConsentOf(t, relayed(bob, "").body)
	bobSession := vaultConsentAs(t, s, bobNeed["url"].(string), returnURL, "bob@contoso.example")
	refusals := stats.Get("agentcore.error.AccessDeniedException")
	stolen := relayed(alice, bobSession)
	refused := false
	for _, e := range stolen.body["trace"].([]any) {
		h, _ := e.(map[string]any)["hop"].(map[string]any)
		refused = refused || (h != nil && h["carries"] == "session binding refused" && h["code"] == "AccessDeniedException")
	}
	aliceOID, bobOID := s.Sim.Tenant.UserByUPN("alice@contoso.example").ObjectID, s.Sim.Tenant.UserByUPN("bob@contoso.example").ObjectID
	if !refused || stats.Get("agentcore.error.AccessDeniedException") != refusals+1 || weatherCaller(stolen.body["trace"].([]any))["user_oid"] != aliceOID {
		t.Errorf("alice binding bob's session: refused %v, answered for %v: %.600s", refused, weatherCaller(stolen.body["trace"].([]any)), stolen.raw)
	}
	if caller := weatherCaller(relayed(bob, bobSession).body["trace"].([]any)); caller["user_oid"] != bobOID || caller["app_id"] != s.Env["VAULT_APP_ID"] {
		t.Errorf("bob binding his own session: %v", caller)
	}

	dom, _ := chromedp.Run(ctx, chromedp.OuterHTML(css("html")))
	if leaks := leakcheck.Find(dom + s.Logs.String()); len(leaks) > 0 {
		t.Errorf("a token in the DOM or a log: %v", leaks)
	}
	con.checkNoErrors(t)
}

func lastLogLines(s *e2e.Stack, n int) string {
	lines := strings.Split(strings.TrimRight(s.Logs.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// With popups blocked, Grant consent takes the tab itself to AgentCore's
// authorization URL; consent.html, back in the tab, keeps the session (a
// session URI, not a token) for the chat, which binds it on its next
// on-behalf-of turn with the token the page has then (MSAL.js's cached
// one, the token the consent started with), and answers with TV.
func TestAgentCoreVaultConsentWithoutPopups(t *testing.T) {
	s, url, ctx, con, _ := vaultConsentTurn(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.open = () => null`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(css(`#messages li.consent .grant-consent`))); err != nil {
		t.Fatal(err)
	}
	consentInPage(t, ctx)
	if err := pollAcrossNavigations(ctx, `location.pathname.endsWith('/consent.html') && document.getElementById('outcome').textContent.includes('AgentCore Identity')`); err != nil {
		t.Fatalf("consent.html in the tab: %v", err)
	}
	if kept, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem('agentid-vault-session') || ''`)); !strings.HasPrefix(kept, "urn:ietf:params:oauth:request_uri:") {
		t.Fatalf("the session kept for the chat: %q", kept)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(css("#dot-user.ok"))); err != nil {
		t.Fatalf("back to the chat: %v", err)
	}
	answered(t, ctx, 1, chromedp.Click(css(`input[name=flow][value=obo]`)), chromedp.Click(css(`input[name=mode][value=direct]`)),
		sendMessage("What's the weather in Oslo?"))
	last, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#messages li')].pop().textContent`))
	if !strings.Contains(last, "In Oslo") {
		t.Fatalf("the turn after consent: %q\nlog: %s", last, lastLogLines(s, 20))
	}
	if azp, _ := claim(ctx, "TV", "azp"); azp != s.Env["VAULT_APP_ID"] {
		t.Errorf("TV azp = %q", azp)
	}
	if kept, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem('agentid-vault-session') || ''`)); kept != "" {
		t.Errorf("the session is still kept after the turn that bound it: %q", kept)
	}
	dom, _ := chromedp.Run(ctx, chromedp.OuterHTML(css("html")))
	if leaks := leakcheck.Find(dom + s.Logs.String()); len(leaks) > 0 {
		t.Errorf("a token in the DOM or a log: %v", leaks)
	}
	con.checkNoErrors(t)
}

// pollAcrossNavigations is chromedp.Poll in a window that navigates
// meanwhile (a redirect destroys the page the poll ran in): it polls
// again in the new page, at most 20 times.
func pollAcrossNavigations(ctx context.Context, js string) error {
	var err error
	for range 20 {
		if _, err = chromedp.Run(ctx, chromedp.Poll[bool](js)); err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}
