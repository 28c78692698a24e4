package entra_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// golang.org/x/oauth2, a client the project did not write, refreshes as
// RFC 6749 section 6 lets it: grant_type=refresh_token and the token,
// with no scope. Entra's auth code flow page marks scope optional on a
// refresh; the token is for the scopes the refresh token was issued with.
// A refresh token redeemed by another client is refused.
func TestRefreshWithoutScopeThroughXOAuth2(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.WithValue(t.Context(), oauth2.HTTPClient, cloudsimtest.Client(sim)), 30*time.Second)
	defer cancel()
	spa := sim.Tenant.AppFor(tenant.PartSPA).AppID
	blueprint := sim.Tenant.AppFor(tenant.PartBlueprint).AppID
	endpoint := oauth2.Endpoint{TokenURL: sim.URL + "/" + sim.Tenant.Tenant.ID + "/oauth2/v2.0/token", AuthStyle: oauth2.AuthStyleInParams}
	conf := &oauth2.Config{ClientID: spa, Endpoint: endpoint, Scopes: []string{"api://" + blueprint + "/access_as_user", "offline_access"}}
	first, err := conf.PasswordCredentialsToken(ctx, "alice@contoso.example", "alice-local-demo-password")
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if first.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	expired := *first
	expired.Expiry = time.Now().Add(-time.Minute)
	refreshed, err := conf.TokenSource(ctx, &expired).Token()
	if err != nil {
		t.Fatalf("refresh without scope: %v", err)
	}
	claims := decodeClaims(t, refreshed.AccessToken)
	if claims["scp"] != "access_as_user" || claims["aud"] != blueprint || refreshed.RefreshToken == "" || refreshed.RefreshToken == first.RefreshToken {
		t.Errorf("the refreshed token: aud %v scp %v, new refresh token %v", claims["aud"], claims["scp"], refreshed.RefreshToken != first.RefreshToken)
	}
	// The new refresh token, again without scope.
	again := *refreshed
	again.Expiry = time.Now().Add(-time.Minute)
	if _, err := conf.TokenSource(ctx, &again).Token(); err != nil {
		t.Fatalf("a second refresh without scope: %v", err)
	}

	other := &oauth2.Config{ClientID: tenant.GraphCLIAppID, Endpoint: endpoint}
	_, err = other.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || !strings.Contains(re.ErrorDescription, "AADSTS") {
		t.Errorf("another client's refresh: %v, want invalid_grant with an AADSTS code", err)
	}
}

// decodeClaims reads a JWT's payload, unverified (the token came from the
// endpoint under test).
func decodeClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err != nil || json.Unmarshal(raw, &c) != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return c
}
