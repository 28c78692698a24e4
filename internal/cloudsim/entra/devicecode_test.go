package entra_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
)

// approveDevice is cloudsim's switch for a person at /devicelogin.
func (h *harness) approveDevice(userCode string, form url.Values) {
	h.t.Helper()
	form.Set("user_code", userCode)
	resp, err := h.http.PostForm(h.sim.URL+"/_cloudsim/devicecode/approve", form)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		h.t.Fatalf("approve %s: %d", userCode, resp.StatusCode)
	}
}

func (h *harness) deviceCode(clientID, scope string) map[string]any {
	h.t.Helper()
	resp, err := h.http.PostForm(h.authority()+"/oauth2/v2.0/devicecode", url.Values{"client_id": {clientID}, "scope": {scope}})
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		h.t.Fatalf("devicecode: %d %v %v", resp.StatusCode, body, err)
	}
	return body
}

// TestDeviceCodeWithMSALGo: MSAL Go's device code flow against cloudsim,
// the person's part done by cloudsim's approval switch.
func TestDeviceCodeWithMSALGo(t *testing.T) {
	h := newHarness(t, nil)
	spa, asUser := h.env["CLIENT_SPA_APP_ID"], "api://"+h.env["BLUEPRINT_APP_ID"]+"/access_as_user"
	alice := h.sim.Tenant.Users[0]
	app, err := public.New(spa, public.WithAuthority(h.authority()), public.WithHTTPClient(h.http), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, approve url.Values) (public.AuthResult, error) {
		ctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
		defer cancel()
		dc, err := app.AcquireTokenByDeviceCode(ctx, []string{asUser})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(dc.Result.VerificationURL, h.sim.URL+"/devicelogin") || !strings.Contains(dc.Result.Message, dc.Result.UserCode) {
			t.Errorf("device code result: %+v", dc.Result)
		}
		approve.Set("user", alice.UPN)
		go func() {
			time.Sleep(300 * time.Millisecond) // MSAL polls, and is told to wait, first
			h.approveDevice(dc.Result.UserCode, approve)
		}()
		return dc.AuthenticationResult(ctx)
	}

	t.Run("approved", func(t *testing.T) {
		r, err := run(t, url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		wantClaims(t, "device code token", h.verify(r.AccessToken, 2, h.env["BLUEPRINT_APP_ID"]), map[string]any{"oid": alice.ObjectID, "scp": "access_as_user", "azp": spa})
		if h.sim.Entra.Stats().Get("entra.error.AADSTS70016") == 0 {
			t.Error("MSAL was never told authorization_pending")
		}
	})
	t.Run("declined", func(t *testing.T) {
		_, err := run(t, url.Values{"decision": {"decline"}})
		if err == nil || !strings.Contains(err.Error(), "authorization_declined") {
			t.Fatalf("declined: %v", err)
		}
	})
}

// TestDeviceCodeRefusals: the token endpoint's answers while a person has
// not (yet) approved, over raw HTTP.
func TestDeviceCodeRefusals(t *testing.T) {
	offset := &atomic.Int64{}
	h := newHarness(t, func(o *cloudsim.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		o.DeviceCodeInterval = time.Second
	})
	spa, asUser := h.env["CLIENT_SPA_APP_ID"], "api://"+h.env["BLUEPRINT_APP_ID"]+"/access_as_user"
	poll := func(clientID, deviceCode string) entraError {
		return h.post(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {clientID}, "device_code": {deviceCode}})
	}
	want := func(t *testing.T, e entraError, oauth string, code int) {
		t.Helper()
		if e.status != http.StatusBadRequest || e.Error != oauth || (code == 0) != (len(e.Codes) == 0) || (code != 0 && e.Codes[0] != code) {
			t.Fatalf("got %d %s %v (%s), want 400 %s %d", e.status, e.Error, e.Codes, e.Desc, oauth, code)
		}
	}
	dc := h.deviceCode(spa, asUser)
	device := dc["device_code"].(string)
	if dc["expires_in"] != float64(900) || dc["interval"] != float64(1) {
		t.Errorf("expires_in %v, interval %v; want Entra's 900 and the configured 1", dc["expires_in"], dc["interval"])
	}

	t.Run("pending", func(t *testing.T) { want(t, poll(spa, device), "authorization_pending", 70016) })
	t.Run("unknown device code", func(t *testing.T) { want(t, poll(spa, "not-a-code"), "bad_verification_code", 70018) })
	t.Run("another client's device code", func(t *testing.T) {
		e := h.post(url.Values{"grant_type": {"device_code"}, "client_id": {h.env["STS_APP_ID"]}, "device_code": {device},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {h.mint(h.miClaims())}})
		want(t, e, "bad_verification_code", 70018)
	})
	t.Run("the switch grants only scopes the code asked for", func(t *testing.T) {
		resp, err := h.http.PostForm(h.sim.URL+"/_cloudsim/devicecode/approve", url.Values{"user_code": {dc["user_code"].(string)},
			"user": {"alice@contoso.example"}, "scopes": {"Weather.Read"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("approval for a scope not asked for: %d, want 400", resp.StatusCode)
		}
		want(t, poll(spa, device), "authorization_pending", 70016)
	})
	t.Run("declined", func(t *testing.T) {
		other := h.deviceCode(spa, asUser)
		h.approveDevice(other["user_code"].(string), url.Values{"user": {"alice@contoso.example"}, "decision": {"decline"}})
		want(t, poll(spa, other["device_code"].(string)), "authorization_declined", 0)
	})
	t.Run("expired", func(t *testing.T) {
		offset.Store(int64(16 * time.Minute))
		t.Cleanup(func() { offset.Store(0) })
		want(t, poll(spa, device), "expired_token", 70019)
	})
	t.Run("redeemed once", func(t *testing.T) {
		fresh := h.deviceCode(spa, asUser)
		h.approveDevice(fresh["user_code"].(string), url.Values{"user": {"alice@contoso.example"}})
		if e := poll(spa, fresh["device_code"].(string)); e.status != http.StatusOK || e.AccessToken == "" {
			t.Fatalf("approved: %d %s", e.status, e.Desc)
		}
		want(t, poll(spa, fresh["device_code"].(string)), "bad_verification_code", 70018)
	})
}

// TestDeviceLoginPage: a person at /devicelogin enters the code, signs in
// and, where the client lacks consent, answers the consent page.
func TestDeviceLoginPage(t *testing.T) {
	b := newBrowser(t, func(o *cloudsim.Options) {
		for _, c := range o.Tenant.Consents {
			if c.Client == "5e4b9291-798c-43f9-a8b2-d712c6e87186" {
				c.Scopes = nil
			}
		}
	})
	spa, asUser := b.env["CLIENT_SPA_APP_ID"], "api://"+b.env["BLUEPRINT_APP_ID"]+"/access_as_user"
	start := func(t *testing.T) (device, user string) {
		t.Helper()
		resp, err := b.client.PostForm(b.sim.URL+"/"+b.env["TENANT_ID"]+"/oauth2/v2.0/devicecode", url.Values{"client_id": {spa}, "scope": {asUser}})
		if err != nil {
			t.Fatal(err)
		}
		var dc map[string]any
		json.NewDecoder(resp.Body).Decode(&dc)
		resp.Body.Close()
		return dc["device_code"].(string), dc["user_code"].(string)
	}
	post := func(t *testing.T, form url.Values) (*http.Response, string) {
		t.Helper()
		resp, err := b.client.PostForm(b.sim.URL+"/devicelogin", form)
		if err != nil {
			t.Fatal(err)
		}
		return resp, readAll(resp)
	}
	poll := func(device string) (*http.Response, map[string]any) {
		return b.redeem(url.Values{"grant_type": {"device_code"}, "client_id": {spa}, "device_code": {device}}, "")
	}
	// Each case signs in a user who has not consented yet.
	signInAndConsent := func(t *testing.T, upn, decision string) string {
		t.Helper()
		device, user := start(t)
		if resp, page := b.get(b.sim.URL + "/devicelogin"); resp.StatusCode != 200 || !strings.Contains(page, `name="otc"`) {
			t.Fatalf("code page: %d", resp.StatusCode)
		}
		// A person types the code in lower case, with a space.
		typed := strings.ToLower(user[:4] + " " + user[4:])
		if resp, page := post(t, url.Values{"otc": {typed}}); resp.StatusCode != 200 || !strings.Contains(page, `name="login"`) {
			t.Fatalf("after the code: %d, want the login page", resp.StatusCode)
		}
		resp, page := post(t, url.Values{"otc": {typed}, "login": {upn}})
		m := consentRequestField.FindStringSubmatch(page)
		if resp.StatusCode != 200 || m == nil || !strings.Contains(page, "<code>access_as_user</code>") {
			t.Fatalf("after sign-in: %d, want the consent page", resp.StatusCode)
		}
		if resp, _ := post(t, url.Values{"consent_request": {m[1]}, "decision": {decision}}); resp.StatusCode != 200 {
			t.Fatalf("consent answer: %d", resp.StatusCode)
		}
		return device
	}

	t.Run("accept", func(t *testing.T) {
		resp, body := poll(signInAndConsent(t, "alice@contoso.example", "accept"))
		if resp.StatusCode != 200 || jwtauthtest.Claims(t, body["access_token"].(string))["scp"] != "access_as_user" {
			t.Fatalf("token after the person's sign-in: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		resp, body := poll(signInAndConsent(t, "bob@contoso.example", "cancel"))
		if resp.StatusCode != 400 || body["error"] != "authorization_declined" {
			t.Fatalf("after cancel: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("a wrong code", func(t *testing.T) {
		if resp, page := post(t, url.Values{"otc": {"NOTACODE1"}}); resp.StatusCode != 400 || !strings.Contains(page, "AADSTS70018") {
			t.Fatalf("wrong code: %d", resp.StatusCode)
		}
	})
}
