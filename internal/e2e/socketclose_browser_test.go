package e2e_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
)

// The chat UI and a socket the server closes. Mid-turn (a slow model keeps
// the turn running), the page shows the failure and why at once, not at
// its 120 s timeout, and can send the next turn. A socket the server
// closes before the turn began (it is draining for a restart) is retried
// once over POST, which answers.
func TestBrowserSocketClosedByTheServer(t *testing.T) {
	needChromium(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + ln.Addr().String()
	s := e2e.StartWith(t, func(o *cloudsim.Options) {
		spa := o.Tenant.AppFor(tenant.PartSPA)
		spa.SPARedirectURIs = append(spa.SPARedirectURIs, origin)
	})
	url, api := s.AgentOn(ln, nil)
	ctx := newChromium(t, s)
	con := openPage(t, ctx, url, "#dot-identity.ok")
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	s.Sim.Bedrock.Delay(60 * time.Second)
	defer s.Sim.Bedrock.Delay(0)
	if err := chromedp.Do(ctx, chromedp.Click(css(`input[name=mode][value=bedrock]`)), sendMessage("What's the weather in Oslo?")); err != nil {
		t.Fatal(err)
	}
	// The turn has begun: its first steps are on the page.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll('#events li.event').length > 0`)); err != nil {
		t.Fatalf("the turn did not start: %v", err)
	}
	closed := time.Now()
	api.CloseSockets()
	shown, cancel := context.WithTimeout(ctx, 20*time.Second) // far below the page's 120 s
	defer cancel()
	failed := `(() => { const li = [...document.querySelectorAll('#messages li.error')].pop();
	  return !!li && li.textContent.includes('closed before the turn finished') && !document.getElementById('send').disabled; })()`
	if _, err := chromedp.Run(shown, chromedp.Poll[bool](failed)); err != nil {
		msgs, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("messages")))
		screenshot(t, ctx, "socket-closed-mid-turn-failed")
		t.Fatalf("the page did not show the closed socket: %v\nmessages: %s", err, msgs)
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#messages li.error')].pop().textContent`))
	if !strings.Contains(text, "code 1001") || !strings.Contains(text, "Send it again") {
		t.Errorf("the failure reads %q: want the close code and what to do", text)
	}
	t.Logf("shown %s after the server closed the socket", time.Since(closed).Round(time.Millisecond))
	screenshot(t, ctx, "socket-closed-mid-turn")
	s.Sim.Bedrock.Delay(0)

	// Draining: the socket opens, the turn is refused before it starts and
	// the socket closes; the page sends it over POST.
	api.DrainSockets(0)
	answered(t, ctx, 2, chromedp.Click(css(`input[name=mode][value=direct]`)), sendMessage("What's the weather in Lima?"))
	last, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#messages li.agent, #messages li.error')].pop().textContent`))
	if !strings.Contains(last, "Lima") || strings.Contains(last, "closed") {
		t.Errorf("the turn the socket never carried: %q, want the answer over POST", last)
	}
	if events, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("events"))); !strings.Contains(events, "Lima") {
		t.Errorf("the POST turn's trace is not shown: %.300s", events)
	}
	con.checkNoErrors(t)
}
