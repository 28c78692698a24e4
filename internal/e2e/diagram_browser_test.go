package e2e_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// drawn is the diagram on the page: its lanes, left to right, and its
// arrows in order as "from → to: label".
type drawn struct {
	Lanes  []string `json:"lanes"`
	Arrows []string `json:"arrows"`
	// Hops is how many trace steps are hops (they link to the diagram).
	Hops int `json:"hops"`
}

func readDiagram(ctx context.Context) (drawn, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[drawn](`({
	  lanes: [...document.querySelectorAll('#diagram .lane-label')].map(t => t.textContent),
	  arrows: [...document.querySelectorAll('#diagram a.hop')].map(a => a.dataset.from + ' → ' + a.dataset.to + ': ' + a.dataset.label),
	  hops: document.querySelectorAll('#events li .to-diagram').length,
	})`))
}

// checkDiagram compares the diagram with a flow's expected sequence and
// checks one arrow per hop step, each linking to its step and back.
func checkDiagram(t *testing.T, ctx context.Context, name string, lanes, arrows []string) {
	t.Helper()
	d, err := readDiagram(ctx)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !slices.Equal(d.Lanes, lanes) {
		t.Errorf("%s: lanes\n  %q\nwant\n  %q", name, d.Lanes, lanes)
	}
	if !slices.Equal(d.Arrows, arrows) {
		t.Errorf("%s: arrows\n  %s\nwant\n  %s", name, strings.Join(d.Arrows, "\n  "), strings.Join(arrows, "\n  "))
	}
	if d.Hops != len(d.Arrows) {
		t.Errorf("%s: %d arrows for %d hop steps", name, len(d.Arrows), d.Hops)
	}
	linked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('#diagram a.hop')].every(a => {
	  const step = document.querySelector(a.getAttribute('href'));
	  return step && step.querySelector('.to-diagram').getAttribute('href') === '#' + a.id; })`))
	if err != nil || !linked {
		t.Errorf("%s: an arrow does not link to its step and back (%v)", name, err)
	}
}

// diagramShot saves the diagram alone under .artifacts/screenshots, for
// the docs' tour (docs/diagram-*.png are copies), in a window wide
// enough to show it whole.
func diagramShot(t *testing.T, ctx context.Context, name string) {
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(2400, 1400)); err != nil {
		t.Logf("diagram screenshot %s: %v", name, err)
		return
	}
	defer chromedp.Do(ctx, chromedp.EmulateReset())
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#diagram")))
	if err != nil {
		t.Logf("diagram screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("..", "..", ".artifacts", "screenshots")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "diagram-"+name+".png"), png, 0o644)
}

// downloadedPNG clicks "Download PNG" and checks the file Chromium saves is
// a PNG of the diagram at twice its size.
func downloadedPNG(t *testing.T, ctx context.Context) {
	t.Helper()
	dir := t.TempDir()
	if _, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("download-png"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent-turn-sequence.png")
	var img image.Config
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.Open(path)
		if err == nil {
			img, err = png.DecodeConfig(f)
			f.Close()
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no PNG downloaded to %s: %v", path, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	width, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`Number(document.getElementById('diagram').getAttribute('width'))`))
	if img.Width != 2*width || img.Height == 0 {
		t.Errorf("the PNG is %dx%d, want twice the diagram's %d pixels wide", img.Width, img.Height, width)
	}
}

// exportedSVG is "Copy as SVG"'s text, checked to parse as XML and to hold
// no token.
func exportedSVG(t *testing.T, ctx context.Context) string {
	t.Helper()
	svg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Diagram.svgText()`))
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("the exported SVG does not parse: %v\n%.300s", err, svg)
		}
	}
	if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("the export is not a standalone SVG: %.200s", svg)
	}
	if leaks := leakcheck.Find(svg); len(leaks) > 0 {
		t.Errorf("a token in the exported SVG: %v", leaks)
	}
	return svg
}

const (
	browser    = "Browser and user"
	agent      = "llm-agent"
	sidecar    = "Auth sidecar"
	msal       = "MSAL Go (in llm-agent)"
	entra      = "Entra ID"
	weatherAPI = "Weather API"
	mcpServer  = "MCP server"
	sts        = "AWS STS"
	bedrock    = "Bedrock"
)

// answered runs actions (the last one sending a message) and waits until
// the page shows its n-th reply.
func answered(t *testing.T, ctx context.Context, n int, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
	// A reply still "…" is a turn in flight: another turn's end may have
	// enabled the send button meanwhile.
	done := fmt.Sprintf(`!document.getElementById('send').disabled && document.querySelectorAll('#messages li.agent, #messages li.error, #messages li.consent').length >= %d`+
		` && ![...document.querySelectorAll('#messages li.agent')].some(li => li.textContent === '…')`, n)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](done)); err != nil {
		t.Fatal(err)
	}
}

// arrow is one expected arrow, by the page's party IDs.
func arrow(from, to, label string) string { return from + " → " + to + ": " + label }

// Each flow's turn draws its own sequence, with the sidecar beside
// llm-agent: an autonomous Direct turn, an on-behalf-of Bedrock turn (the
// AWS leg; the MCP server's token refused, since nobody consented yet, so
// the model gets no directory tool; two Converse rounds and the tool call
// between them), an agent user turn; clicking an arrow goes to its step and token card; the
// export is a standalone SVG without a token.
func TestBrowserDiagram(t *testing.T) {
	s, url, ctx := browserStack(t, nil)
	con := openPage(t, ctx, url, "#dot-identity.ok")
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	if hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('diagram-figure').hidden`)); !hidden {
		t.Error("the diagram shows before any turn")
	}
	answered(t, ctx, 1, sendMessage("What's the weather in Seattle?"))
	checkDiagram(t, ctx, "autonomous Direct", []string{browser, agent, sidecar, weatherAPI}, []string{
		arrow("browser", "llm-agent", "the message"),
		arrow("auth-sidecar", "llm-agent", "TR (HTTP 200)"),
		arrow("llm-agent", "weather-api", "TR"),
		arrow("weather-api", "llm-agent", "the weather (HTTP 200)"),
	})
	exportedSVG(t, ctx)
	diagramShot(t, ctx, "autonomous")
	downloadedPNG(t, ctx)

	if err := chromedp.Do(ctx, chromedp.Click(css(`input[name=flow][value=obo]`))); err != nil {
		t.Fatal(err)
	}
	signIn(t, ctx, s, con)
	answered(t, ctx, 2, chromedp.Click(css(`input[name=mode][value=bedrock]`)), sendMessage("What's the weather in Oslo?"))
	checkDiagram(t, ctx, "on-behalf-of Bedrock", []string{browser, agent, sidecar, weatherAPI, sts, bedrock}, []string{
		arrow("browser", "llm-agent", "the message with Tc"),
		arrow("llm-agent", "aws-sts", "the web identity token"),
		arrow("aws-sts", "llm-agent", "temporary AWS credentials (HTTP 200)"),
		arrow("auth-sidecar", "llm-agent", "✗ failed: TU for the MCP server refused (HTTP 401 AADSTS65001)"),
		arrow("llm-agent", "bedrock", "Converse"),
		arrow("bedrock", "llm-agent", "tool_use (HTTP 200)"),
		arrow("auth-sidecar", "llm-agent", "TU (HTTP 200)"),
		arrow("llm-agent", "weather-api", "TU"),
		arrow("weather-api", "llm-agent", "the weather (HTTP 200)"),
		arrow("llm-agent", "bedrock", "Converse"),
		arrow("bedrock", "llm-agent", "end_turn (HTTP 200)"),
	})
	diagramShot(t, ctx, "obo-bedrock")

	// Arrows are in the keyboard's reach: each takes focus.
	focused, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('#diagram a.hop')].every(a => { a.focus(); return document.activeElement === a; })`))
	if !focused {
		t.Error("an arrow cannot take the keyboard's focus")
	}

	// Clicking the TU arrow goes to its step, which holds TU's card.
	tu, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#diagram a.hop')].find(a => a.dataset.label.startsWith('TU ')).id`))
	if err != nil || tu == "" {
		t.Fatalf("no TU arrow: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(tu))); err != nil {
		t.Fatal(err)
	}
	target, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const li = document.querySelector(':target'); return li ? li.id + ' ' + (li.querySelector('.card') || {}).dataset?.kind : ''; })()`))
	if want := strings.Replace(tu, "hop-", "ev-", 1) + " TU"; target != want {
		t.Errorf("after clicking the TU arrow the page shows %q, want %q", target, want)
	}

	answered(t, ctx, 3, chromedp.Click(css(`input[name=mode][value=direct]`)), chromedp.Click(css(`input[name=flow][value=agent_user]`)),
		sendMessage("What's the weather in Paris?"))
	checkDiagram(t, ctx, "agent user", []string{browser, agent, sidecar, weatherAPI}, []string{
		arrow("browser", "llm-agent", "the message with Tc"),
		arrow("auth-sidecar", "llm-agent", "TAU (HTTP 200)"),
		arrow("llm-agent", "weather-api", "TAU"),
		arrow("weather-api", "llm-agent", "the weather (HTTP 200)"),
	})
	exportedSVG(t, ctx)
	diagramShot(t, ctx, "agent-user")

	// Side by side in a 1280-pixel window, where this turn's diagram fits;
	// stacked on a phone, where it keeps its size and scrolls sideways.
	layout := `(() => { const chat = document.querySelector('.chat').getBoundingClientRect(), trace = document.querySelector('.trace').getBoundingClientRect();
	  const svg = document.getElementById('diagram'), box = document.querySelector('.diagram-scroll');
	  return { stacked: trace.top >= chat.bottom, unscaled: Math.round(svg.getBoundingClientRect().width) === Number(svg.getAttribute('width')),
	    scrolls: box.scrollWidth > box.clientWidth }; })()`
	for _, c := range []struct {
		width, height    int64
		stacked, scrolls bool
	}{{1280, 900, false, false}, {390, 844, true, true}} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(c.width, c.height)); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]bool](layout))
		if err != nil {
			t.Fatal(err)
		}
		if got["stacked"] != c.stacked || !got["unscaled"] || got["scrolls"] != c.scrolls {
			t.Errorf("at %d pixels: %v, want stacked=%v, the diagram unscaled, scrolling=%v", c.width, got, c.stacked, c.scrolls)
		}
	}
	chromedp.Do(ctx, chromedp.EmulateReset())
	con.checkNoErrors(t)
}

// Markup in a hop's fields (a party, what it carried, a code) stays text
// in the diagram and in its export, and the leak scan of the export
// catches a planted token.
func TestBrowserDiagramKeepsMarkupAsText(t *testing.T) {
	_, url, ctx := browserStack(t, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("events"))); err != nil {
		t.Fatal(err)
	}
	planted := "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJwbGFudGVkIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`Diagram.reset(); Diagram.add({seq: 1, hop: {
	  from: '<img src=x onerror=alert(1)>', to: 'llm-agent', carries: '<script>alert(2)</script>', code: '</text><b>x</b>', failed: true}})`)); err != nil {
		t.Fatal(err)
	}
	elements, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#diagram img, #diagram script, #diagram b, #diagram-text img').length`))
	if elements != 0 {
		t.Errorf("%d elements made from a hop's text", elements)
	}
	svg := exportedSVG(t, ctx)
	if !strings.Contains(svg, "&lt;script&gt;alert(2)&lt;/script&gt;") || !strings.Contains(svg, "&lt;img src=x") {
		t.Errorf("the export does not keep the markup as text: %.600s", svg)
	}
	if leaks := leakcheck.Find(strings.Replace(svg, "llm-agent", planted, 1)); len(leaks) != 1 {
		t.Errorf("the leak scan found %v in an export with a planted token, want it", leaks)
	}
}

// With SIDECAR_MODE=downstream-api the agent never holds the token: the
// diagram shows the sidecar calling the Weather API with it.
func TestBrowserDiagramDownstreamAPI(t *testing.T) {
	_, url, ctx := browserStack(t, func(*e2e.Stack, string) map[string]string {
		return map[string]string{"IDENTITY_PROVIDER": "sidecar", "SIDECAR_MODE": "downstream-api"}
	})
	answered(t, ctx, 1, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#dot-identity.ok")), sendMessage("What's the weather in Lima?"))
	checkDiagram(t, ctx, "DownstreamApi", []string{browser, agent, sidecar, weatherAPI}, []string{
		arrow("browser", "llm-agent", "the message"),
		arrow("llm-agent", "auth-sidecar", "DownstreamApi (no token)"),
		arrow("auth-sidecar", "weather-api", "TR"),
		arrow("weather-api", "auth-sidecar", "the weather (HTTP 200)"),
		arrow("auth-sidecar", "llm-agent", "the answer (HTTP 200)"),
	})
	diagramShot(t, ctx, "downstream-api")
	if cards, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.card').length`)); cards != 0 {
		t.Errorf("%d token cards in a turn where the agent held no token", cards)
	}
}
