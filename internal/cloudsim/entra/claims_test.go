package entra_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/mcpserver"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
)

// TestTokensFollowEntraDocs pins the places where cloudsim once answered
// otherwise than Entra documents (issue 20): each case fails on the old
// behaviour.
func TestTokensFollowEntraDocs(t *testing.T) {
	h := newHarness(t, nil)
	env := h.env
	spa, blueprintID, agentID, weather := env["CLIENT_SPA_APP_ID"], env["BLUEPRINT_APP_ID"], env["AGENT_CLIENT_ID"], env["WEATHER_API_APP_ID"]
	alice := h.sim.Tenant.Users[0]
	asUser := "api://" + blueprintID + "/access_as_user"

	t.Run("ID tokens carry aio and sid", func(t *testing.T) {
		first, err := h.ropc([]string{asUser}, alice.UPN, alice.Password)
		if err != nil {
			t.Fatal(err)
		}
		c := h.verify(first.IDToken.RawToken, 2, spa)
		if c["aio"] == nil || c["sid"] == nil {
			t.Fatalf("ID token lacks aio or sid: aio=%v sid=%v", c["aio"], c["sid"])
		}
		if c["idtyp"] != nil {
			t.Errorf("ID token carries idtyp %v", c["idtyp"])
		}
	})

	t.Run("refresh returns a new refresh token for the first resource's scopes", func(t *testing.T) {
		issued := h.post(url.Values{"grant_type": {"password"}, "client_id": {spa}, "username": {alice.UPN}, "password": {alice.Password},
			"scope": {asUser + " offline_access"}})
		if issued.status != http.StatusOK || issued.RefreshToken == "" {
			t.Fatalf("ROPC: %d %s", issued.status, issued.Desc)
		}
		// The auth code flow page: scopes of several resources get a token
		// for the first; the rest are left for a later request.
		e := h.post(url.Values{"grant_type": {"refresh_token"}, "client_id": {spa}, "refresh_token": {issued.RefreshToken},
			"scope": {asUser + " api://" + weather + "/Weather.Read"}})
		if e.status != http.StatusOK {
			t.Fatalf("refresh with two resources: %d %s", e.status, e.Desc)
		}
		if aud := jwtauthtest.Claims(t, e.AccessToken)["aud"]; aud != blueprintID {
			t.Errorf("refreshed token is for %v, want the first resource %s", aud, blueprintID)
		}
		if e.RefreshToken == "" || e.RefreshToken == issued.RefreshToken {
			t.Errorf("refresh did not return a new refresh token (given: %v)", e.RefreshToken != "")
		}
	})

	t.Run("ordinary user tokens carry no idtyp and still work as OBO assertions", func(t *testing.T) {
		tc := h.userToken(alice.UPN, alice.Password, asUser)
		if c := jwtauthtest.Claims(t, tc); c["idtyp"] != nil || c["scp"] == nil {
			t.Fatalf("Tc: idtyp=%v scp=%v", c["idtyp"], c["scp"])
		}
		agent := h.agentClient(h.blueprint(), agentID)
		if _, err := agent.AcquireTokenOnBehalfOf(h.ctx, tc, []string{"api://" + weather + "/Weather.Read"}); err != nil {
			t.Fatalf("OBO from a token without idtyp: %v", err)
		}
	})

	t.Run("a token without scp is no OBO assertion, even naming a user", func(t *testing.T) {
		// No idtyp to go by and an oid that is a user's: only the missing
		// scp shows that no user delegated anything.
		appOnly := h.mint(with(with(with(h.miClaims(), "idtyp", nil), "aud", blueprintID), "oid", alice.ObjectID))
		agent := h.agentClient(h.blueprint(), agentID)
		_, err := agent.AcquireTokenOnBehalfOf(h.ctx, appOnly, []string{"api://" + weather + "/Weather.Read"})
		if err == nil || !strings.Contains(err.Error(), "AADSTS50034") {
			t.Fatalf("OBO from an app-only assertion: %v, want AADSTS50034", err)
		}
	})

	t.Run("user_fic takes an object ID in user_id and refuses a UPN there", func(t *testing.T) {
		bp := h.blueprint()
		t1, err := bp.AcquireTokenByCredential(h.ctx, []string{exchangeScope}, confidential.WithFMIPath(agentID))
		if err != nil {
			t.Fatal(err)
		}
		t2, err := h.agentClient(bp, agentID).AcquireTokenByCredential(h.ctx, []string{exchangeScope})
		if err != nil {
			t.Fatal(err)
		}
		au := h.sim.Tenant.AgentUser(env["AGENT_USER_UPN"])
		form := func(userID string) url.Values {
			return url.Values{"grant_type": {"user_fic"}, "client_id": {agentID},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {t1.AccessToken},
				"user_federated_identity_credential": {t2.AccessToken}, "user_id": {userID}, "scope": {"api://" + weather + "/.default"}}
		}
		if e := h.post(form(au.ObjectID)); e.status != http.StatusOK || jwtauthtest.Claims(t, e.AccessToken)["oid"] != au.ObjectID {
			t.Fatalf("user_id as object ID: %d %s", e.status, e.Desc)
		}
		// Entra's answer to the mix is undocumented: invalid_request naming
		// user_id, and no AADSTS number.
		if e := h.post(form(au.UPN)); e.status != http.StatusBadRequest || e.Error != "invalid_request" || len(e.Codes) != 0 ||
			!strings.Contains(e.Desc, "'user_id'") || strings.Contains(e.Desc, "AADSTS") {
			t.Fatalf("user_id as UPN: %d %s %v %s, want 400 invalid_request naming user_id, no code", e.status, e.Error, e.Codes, e.Desc)
		}
	})
}

// A delegated token carries every scope consented to the client on the
// resource, not only those asked for, as Entra's tokens do; one never
// consented is refused.
func TestDelegatedTokensCarryEveryConsentedScope(t *testing.T) {
	sim := cloudsimtest.Start(t, cloudsimtest.WithMCPConsent("MCP.User.Read.All", "MCP.GroupMember.Read.All"))
	tokens := cloudsimtest.NewTokens(sim)
	tu := tokens.OBO(t, mcpserver.AppID+"/MCP.GroupMember.Read.All")
	if scp := jwtauthtest.Claims(t, tu)["scp"]; scp != "MCP.GroupMember.Read.All MCP.User.Read.All" {
		t.Errorf("scp = %q, want the scope asked for, then the other consented one", scp)
	}
}
