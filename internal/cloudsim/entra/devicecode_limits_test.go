package entra_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/entra"
)

// deviceCodeAnswer is /devicecode's answer, success or refusal.
type deviceCodeAnswer struct {
	status     int
	retryAfter string
	raw        string
	UserCode   string `json:"user_code"`
	Error      string `json:"error"`
	Desc       string `json:"error_description"`
	Codes      []int  `json:"error_codes"`
}

func askDeviceCode(t *testing.T, client *http.Client, authority, clientID, scope string) deviceCodeAnswer {
	t.Helper()
	resp, err := client.PostForm(authority+"/oauth2/v2.0/devicecode", url.Values{"client_id": {clientID}, "scope": {scope}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a deviceCodeAnswer
	_ = json.Unmarshal(raw, &a)
	a.status, a.retryAfter, a.raw = resp.StatusCode, resp.Header.Get("Retry-After"), string(raw)
	return a
}

// wantThrottled checks Entra's throttling answer: 429, Retry-After in
// seconds within (0, max], temporarily_unavailable with AADSTS90055.
func wantThrottled(t *testing.T, a deviceCodeAnswer, maxWait int) {
	t.Helper()
	wait, err := strconv.Atoi(a.retryAfter)
	if a.status != http.StatusTooManyRequests || err != nil || wait < 1 || wait > maxWait || a.Error != "temporarily_unavailable" ||
		len(a.Codes) != 1 || a.Codes[0] != 90055 || !strings.HasPrefix(a.Desc, "AADSTS90055: ") {
		t.Fatalf("got %d Retry-After %q %s, want 429, Retry-After 1..%d, temporarily_unavailable AADSTS90055", a.status, a.retryAfter, a.raw, maxWait)
	}
}

// A full device code store refuses new codes with Entra's throttling
// answer instead of dropping a sign-in in progress; expired codes make
// room first. MSAL Go's device code flow, started before the store filled,
// completes after a thousand more requests.
func TestDeviceCodeStoreFullRefusesNewCodes(t *testing.T) {
	offset := &atomic.Int64{}
	h := newHarness(t, func(o *cloudsim.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		o.DeviceCodeInterval = time.Second
		o.DeviceCodesPerMinute = 5000 // this test is about the store, not the rate
	})
	spa, asUser := h.env["CLIENT_SPA_APP_ID"], "api://"+h.env["BLUEPRINT_APP_ID"]+"/access_as_user"
	app, err := public.New(spa, public.WithAuthority(h.authority()), public.WithHTTPClient(h.http), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(h.ctx, 60*time.Second)
	defer cancel()
	dc, err := app.AcquireTokenByDeviceCode(ctx, []string{asUser})
	if err != nil {
		t.Fatal(err)
	}

	// The store holds MSAL's code and 999 more; the next is refused, and
	// so is the one after (nothing was evicted to make room).
	const capacity = 1000
	accepted := 0
	var refused deviceCodeAnswer
	for range capacity + 1 {
		a := askDeviceCode(t, h.http, h.authority(), spa, asUser)
		if a.status != http.StatusOK {
			refused = a
			break
		}
		accepted++
	}
	if accepted != capacity-1 {
		t.Fatalf("the store took %d more codes beside MSAL's, want %d; then %d %s", accepted, capacity-1, refused.status, refused.raw)
	}
	wantThrottled(t, refused, 900)
	wantThrottled(t, askDeviceCode(t, h.http, h.authority(), spa, asUser), 900)

	// The sign-in in progress completes.
	h.approveDevice(dc.Result.UserCode, url.Values{"user": {h.sim.Tenant.Users[0].UPN}})
	r, err := dc.AuthenticationResult(ctx)
	if err != nil || r.AccessToken == "" {
		t.Fatalf("MSAL's sign-in after the store filled: %v", err)
	}

	// Once the codes expire, they go first and new ones are taken.
	offset.Store(int64(16 * time.Minute))
	if a := askDeviceCode(t, h.http, h.authority(), spa, asUser); a.status != http.StatusOK || a.UserCode == "" {
		t.Fatalf("after the codes expired: %d %s", a.status, a.raw)
	}
}

// Each client address may start DefaultDeviceCodesPerMinute device codes a
// minute. Past that, MSAL Go and plain HTTP get Entra's throttling answer;
// another address is not held back, and the allowance comes back with
// time.
func TestDeviceCodeRateIsPerClientAddress(t *testing.T) {
	offset := &atomic.Int64{}
	h := newHarness(t, func(o *cloudsim.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	spa, asUser := h.env["CLIENT_SPA_APP_ID"], "api://"+h.env["BLUEPRINT_APP_ID"]+"/access_as_user"
	for i := range entra.DefaultDeviceCodesPerMinute {
		if a := askDeviceCode(t, h.http, h.authority(), spa, asUser); a.status != http.StatusOK {
			t.Fatalf("code %d of %d: %d %s", i+1, entra.DefaultDeviceCodesPerMinute, a.status, a.raw)
		}
	}
	wantThrottled(t, askDeviceCode(t, h.http, h.authority(), spa, asUser), 60/entra.DefaultDeviceCodesPerMinute)

	app, err := public.New(spa, public.WithAuthority(h.authority()), public.WithHTTPClient(h.http), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.AcquireTokenByDeviceCode(h.ctx, []string{asUser}); err == nil || !strings.Contains(err.Error(), "429") ||
		!strings.Contains(err.Error(), "AADSTS90055") {
		t.Errorf("MSAL Go past the rate: %v, want the 429 with AADSTS90055", err)
	}

	// Another loopback address has its own allowance.
	other := h.http.Transport.(*http.Transport).Clone()
	other.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}).DialContext
	t.Cleanup(other.CloseIdleConnections)
	if a := askDeviceCode(t, &http.Client{Transport: other, Timeout: 10 * time.Second}, h.authority(), spa, asUser); a.status != http.StatusOK {
		t.Errorf("from 127.0.0.2: %d %s", a.status, a.raw)
	}

	// A minute later, the first address may start codes again, MSAL included.
	offset.Store(int64(time.Minute))
	if _, err := app.AcquireTokenByDeviceCode(h.ctx, []string{asUser}); err != nil {
		t.Errorf("MSAL Go a minute later: %v", err)
	}
	if n := h.sim.Entra.Stats().Get("entra.devicecode.throttled.rate"); n != 2 {
		t.Errorf("stats count %d rate refusals, want 2", n)
	}
}
