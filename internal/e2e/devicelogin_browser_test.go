package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/chromedp/chromedp"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/graph"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
)

// A person at /devicelogin in Chromium: MSAL Go's public client for the
// Microsoft Graph Command Line Tools asks for a device code, the person
// types it, picks a user and consents, and MSAL Go's polling then gets a
// Graph token that cloudsim's Graph accepts.
func TestBrowserDeviceLoginForGraph(t *testing.T) {
	needChromium(t)
	s := e2e.StartWith(t, func(o *cloudsim.Options) { o.DeviceCodeInterval = time.Second })
	client := cloudsimtest.Client(s.Sim)
	app, err := public.New(tenant.GraphCLIAppID, public.WithAuthority(s.Sim.URL+"/"+s.Env["TENANT_ID"]), public.WithHTTPClient(client),
		public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx := newChromium(t, s)
	dc, err := app.AcquireTokenByDeviceCode(ctx, []string{"https://graph.microsoft.com/User.Read"})
	if err != nil {
		t.Fatal(err)
	}
	step, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(step,
		chromedp.Navigate(dc.Result.VerificationURL),
		chromedp.WaitVisible(chromedp.ID("otc")),
		chromedp.SendKeys(chromedp.ID("otc"), strings.ToLower(dc.Result.UserCode)),
		chromedp.Click(chromedp.ID("next")),
		chromedp.Click(chromedp.CSS(`button[value="alice@contoso.example"]`)),
		chromedp.Click(chromedp.ID("accept")),
		chromedp.WaitNotPresent(chromedp.ID("accept")),
	); err != nil {
		screenshot(t, ctx, "device-login-failed")
		t.Fatalf("the device login pages: %v", err)
	}
	done, err := chromedp.Run(step, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(done, "You have signed in to Microsoft Graph Command Line Tools") {
		t.Errorf("last page: %q", done)
	}
	res, err := dc.AuthenticationResult(step)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.Env["GRAPH_URL"]+"/v1.0/me", nil)
	req.Header.Set("Authorization", "Bearer "+res.AccessToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var me map[string]any
	json.NewDecoder(resp.Body).Decode(&me)
	if resp.StatusCode != 200 || me["userPrincipalName"] != "alice@contoso.example" {
		t.Errorf("GET %s/v1.0/me: %d %v", graph.Path, resp.StatusCode, me)
	}
}
