package e2e_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// TestBrowserSPARules runs MSAL.js in Chromium against cloudsim's SPA rules
// (issue 21): consent asked after sign-in, every renewal through the
// refresh token from the browser, the 24-hour refresh chain ending with
// AADSTS700084 and MSAL.js falling back to interaction once the session is
// gone too, and extraScopesToConsent.
func TestBrowserSPARules(t *testing.T) {
	offset := &atomic.Int64{}
	var spa string
	s, url, ctx := browserStackWith(t, func(o *cloudsim.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		// Under MSAL.js's 5-minute renewal offset: every silent request
		// redeems the refresh token.
		o.TokenLifetime = 4 * time.Minute
		spa = o.Tenant.AppFor(tenant.PartSPA).AppID
		for _, c := range o.Tenant.Consents {
			if c.Client == spa {
				c.Scopes = nil // the user consents on the page, after sign-in
			}
		}
	}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("sign-in"))); err != nil {
		t.Fatalf("load: %v", err)
	}
	stats := s.Sim.Entra.Stats()
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	alice := css(`button[value="alice@contoso.example"]`)

	// Sign-in: the login page, then the consent page, in the popup.
	pctx := openPopup(t, ctx, chromedp.ID("sign-in"), "/authorize")
	if err := chromedp.Do(pctx, chromedp.Click(alice), chromedp.WaitVisible(chromedp.ID("accept"))); err != nil {
		t.Fatalf("no consent page after sign-in: %v", err)
	}
	if page, _ := chromedp.Run(pctx, chromedp.Text(css("body"))); !strings.Contains(page, "access_as_user") {
		t.Errorf("the consent page does not name access_as_user: %s", page)
	}
	if err := chromedp.Do(pctx, chromedp.Click(chromedp.ID("accept"))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("sign-out"))); err != nil {
		t.Fatalf("not signed in after consent: %v", err)
	}

	// userToken is the page's own renewal: silent first, a popup if needed.
	renew := func(t *testing.T) string {
		t.Helper()
		tok, err := chromedp.Run(ctx, chromedp.Evaluate[string](`userToken()`, chromedp.EvalAwaitPromise))
		if err != nil || tok == "" {
			var lines []string
			for _, l := range strings.Split(s.Logs.String(), "\n") {
				if strings.Contains(l, "component=cloudsim") {
					lines = append(lines, l)
				}
			}
			t.Fatalf("userToken(): %v\nstats: %v\ncloudsim: %s", err, stats.Snapshot(), strings.Join(lines[max(0, len(lines)-8):], "\n"))
		}
		return tok
	}
	before := stats.Get("entra.token.grant.refresh_token")
	renew(t)
	if stats.Get("entra.token.grant.refresh_token") == before {
		t.Fatal("MSAL.js did not renew through the refresh token")
	}

	// 25 hours on, with cloudsim's session gone: the refresh token is
	// refused, MSAL.js's silent sign-in in a hidden iframe fails
	// (login_required), and it asks the user in a popup. (Chromium sends
	// no third-party cookie to that iframe anyway, as browsers that block
	// them do: there the popup comes even while the session lives.)
	offset.Store(int64(25 * time.Hour))
	if _, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: "cloudsim_session", URL: s.Sim.URL}); err != nil {
		t.Fatal(err)
	}
	popup := chromedp.WaitNewTarget(ctx, func(i *target.Info) bool { return strings.Contains(i.URL, "/authorize") })
	// A user gesture, as the Send button gives: Chromium opens popups for one.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.renewed = userToken().then(t => !!t, e => String(e)); 0`, userGesture)); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-popup:
		pctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
		defer cancel()
		if err := chromedp.Do(pctx, chromedp.Click(alice)); err != nil {
			t.Fatalf("login page in the renewal popup: %v", err)
		}
	case <-time.After(20 * time.Second):
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[any](`window.renewed`, chromedp.EvalAwaitPromise))
		t.Fatalf("MSAL.js opened no popup after the refresh token was refused (AADSTS700084 seen %d times, login_required %d); userToken(): %v",
			stats.Get("entra.error.AADSTS700084"), stats.Get("entra.error.AADSTS50058"), got)
	}
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.renewed`, chromedp.EvalAwaitPromise))
	if err != nil || ok != true {
		t.Fatalf("renewal after sign-in again: %v %v", ok, err)
	}
	if stats.Get("entra.error.AADSTS700084") != 1 || stats.Get("entra.error.AADSTS50058") == 0 {
		t.Errorf("AADSTS700084 seen %d times, AADSTS50058 %d; want 1 and at least 1", stats.Get("entra.error.AADSTS700084"), stats.Get("entra.error.AADSTS50058"))
	}

	// extraScopesToConsent: one sign-in consents to a second resource.
	weather := "api://" + s.Env["WEATHER_API_APP_ID"] + "/Weather.Read"
	popup = chromedp.WaitNewTarget(ctx, func(i *target.Info) bool { return strings.Contains(i.URL, "/authorize") })
	js := `window.extra = msalApp.acquireTokenPopup({scopes: config.scopes, account, extraScopesToConsent: [` + quote(weather) + `]}).then(r => !!r.accessToken, e => String(e)); 0`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](js, userGesture)); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-popup:
		pctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
		defer cancel()
		if err := chromedp.Do(pctx, chromedp.WaitVisible(chromedp.ID("accept"))); err != nil {
			t.Fatalf("no consent page for the extra scope: %v", err)
		}
		if page, _ := chromedp.Run(pctx, chromedp.Text(css("body"))); !strings.Contains(page, "Weather.Read") {
			t.Errorf("the consent page does not name Weather.Read: %s", page)
		}
		if err := chromedp.Do(pctx, chromedp.Click(chromedp.ID("accept"))); err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no popup for extraScopesToConsent")
	}
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.extra`, chromedp.EvalAwaitPromise)); err != nil || ok != true {
		t.Fatalf("acquireTokenPopup with extraScopesToConsent: %v %v", ok, err)
	}
	// The consent now stands: the SPA gets a Weather API token silently.
	silent := `msalApp.acquireTokenSilent({scopes: [` + quote(weather) + `], account}).then(r => !!r.accessToken, e => String(e))`
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[any](silent, chromedp.EvalAwaitPromise)); err != nil || ok != true {
		t.Fatalf("silent token for the consented second resource: %v %v", ok, err)
	}
}

// userGesture marks an evaluation as the user's doing, as a click is.
func userGesture(p *runtime.EvaluateParams) { yes := true; p.UserGesture = &yes }

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
