package entra_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// TestNoTokenOrSecretInLogsOrErrors runs every grant and a set of refusals
// whose requests carry tokens, then scans cloudsim's log and every error
// body: neither may hold a token, a signature, a refresh token or a secret.
func TestNoTokenOrSecretInLogsOrErrors(t *testing.T) {
	logs := &leakcheck.Log{}
	h := newHarness(t, func(o *cloudsim.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	env := h.env
	bp, agent, weather := env["BLUEPRINT_APP_ID"], env["AGENT_CLIENT_ID"], env["WEATHER_API_APP_ID"]
	secrets := []string{env["BLUEPRINT_CLIENT_SECRET"], env["CLOUDSIM_DEMO_PASSWORD"], env["IDENTITY_HEADER"]}
	var errorBodies []string
	ok := func(what string, form url.Values) string {
		t.Helper()
		r := h.post(form)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", what, r.status, r.Desc)
		}
		secrets = append(secrets, r.AccessToken, r.RefreshToken)
		return r.AccessToken
	}
	refused := func(form url.Values) {
		r := h.post(form)
		if r.status == http.StatusOK {
			t.Fatalf("accepted: %v", form.Get("grant_type"))
		}
		errorBodies = append(errorBodies, r.raw)
	}
	assertion := func(client, token string) url.Values {
		return url.Values{"client_id": {client}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {token}}
	}
	merge := func(a, b url.Values) url.Values {
		for k, v := range b {
			a[k] = v
		}
		return a
	}

	t1 := ok("T1", url.Values{"grant_type": {"client_credentials"}, "client_id": {bp}, "client_secret": {env["BLUEPRINT_CLIENT_SECRET"]},
		"scope": {exchangeScope}, "fmi_path": {agent}})
	tr := ok("TR", merge(assertion(agent, t1), url.Values{"grant_type": {"client_credentials"}, "scope": {"api://" + weather + "/.default"}}))
	tc := ok("Tc", url.Values{"grant_type": {"password"}, "client_id": {env["CLIENT_SPA_APP_ID"]}, "username": {env["CLOUDSIM_DEMO_USERNAME"]},
		"password": {env["CLOUDSIM_DEMO_PASSWORD"]}, "scope": {"openid offline_access api://" + bp + "/access_as_user"}})
	obo := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "requested_token_use": {"on_behalf_of"}, "scope": {"api://" + weather + "/Weather.Read"}}
	ok("TU", merge(merge(assertion(agent, t1), obo), url.Values{"assertion": {tc}}))
	t2 := ok("T2", merge(assertion(agent, t1), url.Values{"grant_type": {"client_credentials"}, "scope": {exchangeScope}}))
	ok("TAU", merge(assertion(agent, t1), url.Values{"grant_type": {"user_fic"}, "user_federated_identity_credential": {t2},
		"username": {env["AGENT_USER_UPN"]}, "scope": {"api://" + weather + "/.default"}}))

	req, _ := http.NewRequest(http.MethodGet, h.sim.IdentityEndpoint+"?api-version=2019-08-01&resource=api://AzureADTokenExchange", nil)
	req.Header.Set("X-IDENTITY-HEADER", env["IDENTITY_HEADER"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var mi struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&mi)
	resp.Body.Close()
	if err != nil || mi.AccessToken == "" {
		t.Fatalf("managed identity token: %v", err)
	}
	secrets = append(secrets, mi.AccessToken)

	expired := h.mint(with(h.miClaims(), "exp", time.Now().Add(-time.Hour).Unix()))
	refused(merge(assertion(bp, expired), url.Values{"grant_type": {"client_credentials"}, "scope": {exchangeScope}, "fmi_path": {agent}}))
	refused(merge(assertion(bp, tr), url.Values{"grant_type": {"client_credentials"}, "scope": {exchangeScope}, "fmi_path": {agent}}))
	refused(merge(merge(assertion(agent, t1), obo), url.Values{"assertion": {tr}}))
	refused(merge(merge(assertion(agent, t1), obo), url.Values{"assertion": {tc + "x"}}))
	refused(merge(assertion(agent, t1), url.Values{"grant_type": {"user_fic"}, "user_federated_identity_credential": {tr},
		"username": {env["AGENT_USER_UPN"]}, "scope": {"api://" + weather + "/.default"}}))
	refused(url.Values{"grant_type": {"client_credentials"}, "client_id": {bp}, "client_secret": {env["BLUEPRINT_CLIENT_SECRET"] + "x"}, "scope": {exchangeScope}})
	secrets = append(secrets, expired)

	// The device code flow: its device code is a credential as much as a
	// refresh token is, and is polled in the open.
	dc := h.deviceCode(env["CLIENT_SPA_APP_ID"], "api://"+bp+"/access_as_user")
	device := dc["device_code"].(string)
	poll := url.Values{"grant_type": {"device_code"}, "client_id": {env["CLIENT_SPA_APP_ID"]}, "device_code": {device}}
	refused(poll)
	h.approveDevice(dc["user_code"].(string), url.Values{"user": {env["CLOUDSIM_DEMO_USERNAME"]}})
	ok("device code", poll)
	refused(poll) // redeemed once
	secrets = append(secrets, device)

	if n := len(leakcheck.Find(logs.String())); logs.String() == "" || n > 0 {
		t.Errorf("cloudsim's log (%d bytes) holds %d token-shaped strings", len(logs.String()), n)
	}
	if found := leakcheck.Find(logs.String(), secrets...); len(found) > 0 {
		t.Errorf("cloudsim's log leaks: %v", found)
	}
	for _, body := range errorBodies {
		if found := leakcheck.Find(body, secrets...); len(found) > 0 {
			t.Errorf("an error body leaks %v: %s", found, body)
		}
	}
}
