package e2e_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/mcpserver"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

const chromiumPath = "/usr/bin/chromium"

// browserStack runs the stack with llm-agent on a port registered as an SPA
// redirect URI, and a headless Chromium that trusts cloudsim's certificate
// by its key only (never a blanket ignore, never the system store).
// overrides, given the stack and the page's origin, adds llm-agent settings.
func browserStack(t *testing.T, overrides func(s *e2e.Stack, origin string) map[string]string) (*e2e.Stack, string, context.Context) {
	return browserStackWith(t, nil, overrides)
}

// browserStackWith is browserStack with cloudsim's options edited too.
func browserStackWith(t *testing.T, edit func(*cloudsim.Options), overrides func(s *e2e.Stack, origin string) map[string]string) (*e2e.Stack, string, context.Context) {
	needChromium(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + ln.Addr().String()
	s := e2e.StartWith(t, func(o *cloudsim.Options) {
		if edit != nil {
			edit(o)
		}
		spa, blueprint := o.Tenant.AppFor(tenant.PartSPA), o.Tenant.AppFor(tenant.PartBlueprint)
		spa.SPARedirectURIs = append(spa.SPARedirectURIs, origin)
		blueprint.WebRedirectURIs = append(blueprint.WebRedirectURIs, origin+"/consent.html")
	})
	var settings map[string]string
	if overrides != nil {
		settings = overrides(s, origin)
	}
	url, _ := s.AgentOn(ln, settings)
	return s, url, newChromium(t, s)
}

// needChromium skips a browser test where Chromium is missing, except
// under CI, which installs it.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is missing at %s; .ci/run installs it", chromiumPath)
		}
		t.Skip("Chromium is not installed (apt-get install chromium)")
	}
}

// newChromium starts a headless Chromium that trusts cloudsim's
// certificate by its key only (never a blanket ignore, never the system
// store), with extra flags.
func newChromium(t *testing.T, s *e2e.Stack, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	leaf, err := x509.ParseCertificate(s.Sim.CA.ServerCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// console records what the page logs, its exceptions and any dialog.
type console struct {
	mu       sync.Mutex
	messages []string
	errors   []string
	dialogs  int
}

// listen starts reading the page's console and dialogs; call it after the
// browser has started (the first Do).
// openPage starts the browser, listens to its console, loads url and
// waits until every one of ready is visible.
func openPage(t *testing.T, ctx context.Context, url string, ready ...string) *console {
	t.Helper()
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatal(err)
	}
	con := &console{}
	con.listen(ctx)
	actions := []chromedp.Action[chromedp.Void]{chromedp.Navigate(url)}
	for _, sel := range ready {
		actions = append(actions, chromedp.WaitVisible(chromedp.CSS(sel)))
	}
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("load: %v", err)
	}
	return con
}

// checkNoErrors fails the test with the console errors seen, if any.
func (c *console) checkNoErrors(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	errs := slices.Clone(c.errors)
	c.mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

func (c *console) listen(ctx context.Context) {
	messages := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.messages = append(c.messages, string(m.Type)+": "+m.Text)
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				c.errors = append(c.errors, m.Text)
			}
			c.mu.Unlock()
		}
	}()
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.dialogs++
			c.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := filepath.Join("..", "..", ".artifacts", "screenshots")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

// claim reads a claim from the last card of kind in the trace.
func claim(ctx context.Context, kind, name string) (string, error) {
	js := fmt.Sprintf(`(() => { const cards = [...document.querySelectorAll('.card[data-kind=%q]')]; const c = cards[cards.length-1];
	  if (!c) return ""; const dt = [...c.querySelectorAll('dt')].find(d => d.textContent === %q); return dt ? dt.nextElementSibling.textContent : ""; })()`, kind, name)
	return chromedp.Run(ctx, chromedp.Evaluate[string](js))
}

func sendMessage(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.SetValue(chromedp.ID("message"), text), chromedp.Click(chromedp.ID("send")))
}

// openPopup clicks button and returns a context on the window it opens,
// whose address contains urlPart.
func openPopup[S chromedp.Selectable](t *testing.T, ctx context.Context, button S, urlPart string) context.Context {
	t.Helper()
	opened := chromedp.WaitNewTarget(ctx, func(i *target.Info) bool { return strings.Contains(i.URL, urlPart) })
	if err := chromedp.Do(ctx, chromedp.Click(button)); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-opened:
		pctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
		t.Cleanup(cancel)
		return pctx
	case <-ctx.Done():
		t.Fatalf("no popup at %s", urlPart)
		return nil
	}
}

// signIn clicks "Sign in" and picks alice on cloudsim's login page in the
// popup, then waits for the page to show her signed in.
func signIn(t *testing.T, ctx context.Context, s *e2e.Stack, con *console) {
	t.Helper()
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	pctx := openPopup(t, ctx, chromedp.ID("sign-in"), "/authorize")
	if err := chromedp.Do(pctx, chromedp.Click(css(`button[value="alice@contoso.example"]`))); err != nil {
		t.Fatalf("login page: %v", err)
	}
	signedIn, cancelS := context.WithTimeout(ctx, 20*time.Second)
	defer cancelS()
	if err := chromedp.Do(signedIn, chromedp.WaitVisible(chromedp.ID("sign-out")), chromedp.WaitVisible(css("#dot-user.ok"))); err != nil {
		msgs, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("messages")))
		con.mu.Lock()
		logged := strings.Join(con.messages, "\n")
		con.mu.Unlock()
		screenshot(t, ctx, "sign-in-failed")
		href, perr := chromedp.Run(pctx, chromedp.Evaluate[string](`location.href`))
		var lines []string
		for _, l := range strings.Split(s.Logs.String(), "\n") {
			if strings.Contains(l, "component=cloudsim") && (strings.Contains(l, "authoriz") || strings.Contains(l, "token")) {
				lines = append(lines, l)
			}
		}
		t.Fatalf("after sign-in: %v\nmessages: %s\nconsole: %s\npopup at: %s %v\ncloudsim: %s", err, msgs, logged, href, perr, strings.Join(lines[max(0, len(lines)-6):], "\n"))
	}
}

func TestBrowser(t *testing.T) {
	s, url, ctx := browserStack(t, nil)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	// The page loads, with real status dots.
	con := openPage(t, ctx, url, "#dot-weather_api.ok", "#dot-identity.ok")
	screenshot(t, ctx, "1-loaded")

	// An autonomous Direct turn: the answer and a TR card for the Weather API.
	if err := chromedp.Do(ctx, sendMessage("What's the weather in Seattle?"), chromedp.WaitVisible(css(`.card[data-kind="TR"]`))); err != nil {
		t.Fatalf("autonomous turn: %v", err)
	}
	if aud, _ := claim(ctx, "TR", "aud"); aud != s.Env["WEATHER_API_APP_ID"] {
		t.Errorf("TR aud = %q", aud)
	}
	screenshot(t, ctx, "2-autonomous")

	// On-behalf-of: sign in through cloudsim's login page in the popup.
	if err := chromedp.Do(ctx, chromedp.Click(css(`input[name=flow][value=obo]`))); err != nil {
		t.Fatal(err)
	}
	signIn(t, ctx, s, con)
	if err := chromedp.Do(ctx, sendMessage("What's the weather in Oslo?"), chromedp.WaitVisible(css(`.card[data-kind="TU"]`))); err != nil {
		t.Fatalf("OBO turn: %v", err)
	}
	if oid, _ := claim(ctx, "TU", "oid"); oid != s.Sim.Tenant.UserByUPN("alice@contoso.example").ObjectID {
		t.Errorf("TU oid = %q", oid)
	}
	screenshot(t, ctx, "3-on-behalf-of")

	// A Bedrock turn shows the AWS leg.
	if err := chromedp.Do(ctx, chromedp.Click(css(`input[name=mode][value=bedrock]`)), chromedp.Click(css(`input[name=flow][value=autonomous]`)),
		sendMessage("What's the weather in Tokyo?"), chromedp.WaitVisible(css(`.card[data-kind="AWS"]`))); err != nil {
		t.Fatalf("Bedrock turn: %v", err)
	}
	if events, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("events"))); !strings.Contains(events, "AssumeRoleWithWebIdentity") {
		t.Error("the AWS leg is not in the trace")
	}
	screenshot(t, ctx, "4-bedrock")

	// Markup from the user or the server stays text.
	if err := chromedp.Do(ctx, chromedp.Click(css(`input[name=mode][value=direct]`)), sendMessage("weather in <img src=x onerror=alert(1)>")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.getElementById('send').disabled && document.querySelectorAll('#messages li').length >= 8`)); err != nil {
		t.Fatal(err)
	}
	imgs, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('img').length`))
	con.mu.Lock()
	dialogs := con.dialogs
	con.mu.Unlock()
	if imgs != 0 || dialogs != 0 {
		t.Errorf("markup was rendered: %d images, %d dialogs", imgs, dialogs)
	}

	// The weather-api dot turns red when the Weather API stops.
	s.StopWeather()
	chromedp.Run(ctx, chromedp.Evaluate[any](`refreshStatus()`)) // rather than wait for the 10 s poll
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css("#dot-weather_api.bad"))); err != nil {
		t.Errorf("weather-api dot: %v", err)
	}
	screenshot(t, ctx, "5-weather-api-down")

	// No token in the DOM, in localStorage or in the console.
	dom, err := chromedp.Run(ctx, chromedp.OuterHTML(css("html")))
	if err != nil {
		t.Fatal(err)
	}
	local, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(localStorage)`))
	con.mu.Lock()
	logged, errs := strings.Join(con.messages, "\n"), slices.Clone(con.errors)
	con.mu.Unlock()
	for name, text := range map[string]string{"DOM": dom, "localStorage": local, "console": logged} {
		if leaks := leakcheck.Find(text); len(leaks) > 0 {
			t.Errorf("a token in the %s: %v", name, leaks)
		}
	}
	if len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// Consent on demand in the browser: "who am I?" on behalf of alice stops
// with a "Grant consent" button (the shipped tenant has no consent for the
// agent on the MCP server), and the diagram shows why; the popup shows
// cloudsim's consent page; accepting sends the popup to consent.html,
// which tells the chat, and the turn runs again and answers with alice's
// name, the diagram now drawing the MCP server's hops.
func TestBrowserDiagramConsentOnDemand(t *testing.T) {
	s, url, ctx := browserStack(t, nil)
	con := openPage(t, ctx, url, "#dot-identity.ok")
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	if err := chromedp.Do(ctx, chromedp.Click(css(`input[name=flow][value=obo]`))); err != nil {
		t.Fatal(err)
	}
	signIn(t, ctx, s, con)
	if err := chromedp.Do(ctx, sendMessage("Who am I?"), chromedp.WaitVisible(css(`#messages li.consent .grant-consent`))); err != nil {
		t.Fatalf("no consent request: %v", err)
	}
	screenshot(t, ctx, "consent-1-needed")
	// The diagram draws Entra's refusal (AADSTS65001, through the sidecar)
	// and the consent link back to the browser, in colour and in words.
	checkDiagram(t, ctx, "consent needed", []string{browser, agent, sidecar}, []string{
		arrow("browser", "llm-agent", "the message with Tc"),
		arrow("auth-sidecar", "llm-agent", "✗ failed: TU for the MCP server refused (HTTP 401 AADSTS65001)"),
		arrow("llm-agent", "browser", "a consent link (AADSTS65001)"),
	})
	if failed, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#diagram a.hop.failed').length`)); failed != 1 {
		t.Errorf("%d arrows marked failed, want the refusal's", failed)
	}
	words, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('diagram-text').textContent`))
	if !strings.Contains(words, "2. Auth sidecar to llm-agent: ✗ failed: TU for the MCP server refused") {
		t.Errorf("the text alternative reads %q", words)
	}
	diagramShot(t, ctx, "consent")
	pctx := openPopup(t, ctx, css(`#messages li.consent .grant-consent`), "response_type=none")
	if err := chromedp.Do(pctx, chromedp.WaitVisible(chromedp.ID("accept"))); err != nil {
		t.Fatalf("consent page: %v", err)
	}
	consentText, _ := chromedp.Run(pctx, chromedp.Text(css("body")))
	if !strings.Contains(consentText, "MCP.User.Read.All") || !strings.Contains(consentText, "alice@contoso.example") {
		t.Errorf("the consent page says: %s", consentText)
	}
	if err := chromedp.Do(pctx, chromedp.Click(chromedp.ID("accept"))); err != nil {
		t.Fatalf("accept: %v", err)
	}
	alice := s.Sim.Tenant.UserByUPN("alice@contoso.example")
	answered := fmt.Sprintf(`[...document.querySelectorAll('#messages li.agent')].some(li => li.textContent.includes(%q))`, alice.DisplayName)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](answered)); err != nil {
		msgs, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("messages")))
		t.Fatalf("the retried turn: %v\nmessages: %s", err, msgs)
	}
	if aud, _ := claim(ctx, "TU", "aud"); aud != mcpserver.AppID {
		t.Errorf("the MCP token's aud = %q", aud)
	}
	if oid, _ := claim(ctx, "TU", "oid"); oid != alice.ObjectID {
		t.Errorf("the MCP token's oid = %q", oid)
	}
	checkDiagram(t, ctx, "after consent", []string{browser, agent, sidecar, mcpServer}, []string{
		arrow("browser", "llm-agent", "the message with Tc"),
		arrow("auth-sidecar", "llm-agent", "TU (HTTP 200)"),
		arrow("llm-agent", "mcp-server", "TU"),
		arrow("mcp-server", "llm-agent", "its tools (HTTP 200)"),
		arrow("llm-agent", "mcp-server", "tool call microsoft_graph_get"),
		arrow("mcp-server", "llm-agent", "result of microsoft_graph_get"),
	})
	exportedSVG(t, ctx)
	screenshot(t, ctx, "consent-2-answered")
	dom, _ := chromedp.Run(ctx, chromedp.OuterHTML(css("html")))
	if leaks := leakcheck.Find(dom); len(leaks) > 0 {
		t.Errorf("a token in the DOM: %v", leaks)
	}
	con.checkNoErrors(t)
}
