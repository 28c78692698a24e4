package entra_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/entra"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

const exchangeScope = "api://AzureADTokenExchange/.default"

// harness is a running cloudsim with the settings a real deployment would
// read from cloudsim.env.
type harness struct {
	t    *testing.T
	sim  *cloudsim.Sim
	env  map[string]string
	http *http.Client
	ctx  context.Context
}

func newHarness(t *testing.T, edit func(*cloudsim.Options)) *harness {
	sim := cloudsimtest.Start(t, edit)
	client := cloudsimtest.Client(sim)
	return &harness{t: t, sim: sim, env: sim.Env(), http: client, ctx: oidc.ClientContext(t.Context(), client)}
}

func (h *harness) authority() string { return h.sim.URL + "/" + h.env["TENANT_ID"] }

func (h *harness) confidential(clientID string, cred confidential.Credential) confidential.Client {
	h.t.Helper()
	c, err := confidential.New(h.authority(), clientID, cred, confidential.WithHTTPClient(h.http), confidential.WithInstanceDiscovery(false))
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) secretClient(clientID, secret string) confidential.Client {
	h.t.Helper()
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.confidential(clientID, cred)
}

func (h *harness) blueprint() confidential.Client {
	return h.secretClient(h.env["BLUEPRINT_APP_ID"], h.env["BLUEPRINT_CLIENT_SECRET"])
}

// agentClient is the agent identity authenticated by its blueprint's T1,
// obtained through bp with WithFMIPath: the in-process Agent ID pattern.
func (h *harness) agentClient(bp confidential.Client, agentID string) confidential.Client {
	t1 := func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
		r, err := bp.AcquireTokenByCredential(ctx, []string{exchangeScope}, confidential.WithFMIPath(agentID))
		return r.AccessToken, err
	}
	return h.confidential(agentID, confidential.NewCredFromAssertionCallback(t1))
}

// managedIdentityAssertion returns the host's managed identity token for the
// token exchange app, through MSAL's own managed identity client.
func (h *harness) managedIdentityAssertion() func(context.Context, confidential.AssertionRequestOptions) (string, error) {
	cloudsimtest.SetEnv(h.t, h.sim)
	mi, err := managedidentity.New(managedidentity.UserAssignedClientID(h.env["MANAGED_IDENTITY_CLIENT_ID"]), managedidentity.WithRetryPolicyDisabled())
	if err != nil {
		h.t.Fatal(err)
	}
	return func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
		r, err := mi.AcquireToken(ctx, tenant.TokenExchangeURI)
		return r.AccessToken, err
	}
}

// ropc signs a demo user in with a password through the SPA app. MSAL marks
// the flow deprecated for production; cloudsim keeps it for scripted tests.
func (h *harness) ropc(scopes []string, username, password string) (public.AuthResult, error) {
	h.t.Helper()
	spa, err := public.New(h.env["CLIENT_SPA_APP_ID"], public.WithAuthority(h.authority()), public.WithHTTPClient(h.http), public.WithInstanceDiscovery(false))
	if err != nil {
		h.t.Fatal(err)
	}
	//lint:ignore SA1019 ROPC is the documented way to script a demo user's sign-in against cloudsim.
	return spa.AcquireTokenByUsernamePassword(h.ctx, scopes, username, password)
}

func (h *harness) userToken(username, password string, scopes ...string) string {
	h.t.Helper()
	r, err := h.ropc(scopes, username, password)
	if err != nil {
		h.t.Fatalf("ROPC for %s: %v", username, err)
	}
	return r.AccessToken
}

// verify checks a token with go-oidc against cloudsim's published keys,
// discovered from the v2 or v1 metadata, and returns its claims.
func (h *harness) verify(token string, version int, audience string) map[string]any {
	h.t.Helper()
	tid := h.env["TENANT_ID"]
	issuer, discovery := entra.IssuerV2(tid), h.authority()+"/v2.0"
	if version == 1 {
		issuer, discovery = entra.IssuerV1(tid), h.authority()
	}
	// cloudsim, like Entra, serves discovery from a host other than the
	// issuer's; go-oidc is told so explicitly.
	provider, err := oidc.NewProvider(oidc.InsecureIssuerURLContext(h.ctx, issuer), discovery)
	if err != nil {
		h.t.Fatalf("discovery: %v", err)
	}
	idt, err := provider.VerifierContext(h.ctx, &oidc.Config{ClientID: audience}).Verify(h.ctx, token)
	if err != nil {
		h.t.Fatalf("go-oidc refused a cloudsim token: %v", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		h.t.Fatal(err)
	}
	return claims
}

// absent, as a wanted value, asks wantClaims for a claim the token must not carry.
var absent = &struct{}{}

func wantClaims(t *testing.T, what string, claims map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, present := claims[k]
		if v == absent {
			if present {
				t.Errorf("%s: carries %s = %v, want no %s claim", what, k, got, k)
			}
			continue
		}
		if list, ok := got.([]any); ok {
			if !slices.Contains(list, v) {
				t.Errorf("%s: %s = %v, want it to contain %v", what, k, got, v)
			}
			continue
		}
		if got != v {
			t.Errorf("%s: %s = %v, want %v", what, k, got, v)
		}
	}
}

func TestAgentIDFlowsWithMSALGo(t *testing.T) {
	h := newHarness(t, nil)
	env := h.env
	weather := env["WEATHER_API_APP_ID"]
	weatherDefault := "api://" + weather + "/.default"
	agentID, blueprintID := env["AGENT_CLIENT_ID"], env["BLUEPRINT_APP_ID"]
	tid := env["TENANT_ID"]

	t.Run("T1 and TR with a blueprint secret", func(t *testing.T) {
		bp := h.blueprint()
		t1, err := bp.AcquireTokenByCredential(h.ctx, []string{exchangeScope}, confidential.WithFMIPath(agentID))
		if err != nil {
			t.Fatal(err)
		}
		claims := h.verify(t1.AccessToken, 2, tenant.TokenExchangeAppID)
		wantClaims(t, "T1", claims, map[string]any{
			"azp": blueprintID, "azpacr": "1", "idtyp": "app", "ver": "2.0", "tid": tid,
		})
		if sub, _ := claims["sub"].(string); !strings.HasPrefix(sub, "/eid1/c/pub/t/") || !strings.HasSuffix(sub, "/"+agentID) {
			t.Errorf("T1 sub = %q, want the FMI path ending in the agent ID", sub)
		}

		agent := h.agentClient(bp, agentID)
		tr, err := agent.AcquireTokenByCredential(h.ctx, []string{weatherDefault})
		if err != nil {
			t.Fatal(err)
		}
		wantClaims(t, "TR", h.verify(tr.AccessToken, 2, weather), map[string]any{
			"azp": agentID, "azpacr": "2", "oid": agentID, "sub": agentID, "idtyp": "app",
			"roles": "Weather.Read", "xms_par_app_azp": blueprintID, "xms_act_fct": "3 9 11", "xms_sub_fct": "9 3 11",
		})
	})

	t.Run("chain A: the blueprint authenticates with the managed identity, no secret", func(t *testing.T) {
		assertion := h.managedIdentityAssertion()
		mi, err := assertion(h.ctx, confidential.AssertionRequestOptions{})
		if err != nil {
			t.Fatalf("managed identity token through MSAL: %v", err)
		}
		wantClaims(t, "managed identity token", h.verify(mi, 2, tenant.TokenExchangeAppID), map[string]any{
			"sub": h.sim.Tenant.ManagedIdentity.ObjectID, "azp": env["MANAGED_IDENTITY_CLIENT_ID"], "idtyp": "app",
		})
		bp := h.confidential(blueprintID, confidential.NewCredFromAssertionCallback(assertion))
		agent := h.agentClient(bp, agentID)
		tr, err := agent.AcquireTokenByCredential(h.ctx, []string{weatherDefault})
		if err != nil {
			t.Fatal(err)
		}
		wantClaims(t, "TR", h.verify(tr.AccessToken, 2, weather), map[string]any{"azp": agentID, "roles": "Weather.Read"})
	})

	t.Run("OBO from a user token got by ROPC", func(t *testing.T) {
		alice := h.sim.Tenant.Users[0]
		tc := h.userToken(alice.UPN, alice.Password, "api://"+blueprintID+"/access_as_user")
		wantClaims(t, "Tc", h.verify(tc, 2, blueprintID), map[string]any{
			"oid": alice.ObjectID, "scp": "access_as_user", "azp": env["CLIENT_SPA_APP_ID"], "idtyp": absent, "xms_idrel": absent, "preferred_username": alice.UPN,
		})
		agent := h.agentClient(h.blueprint(), agentID)
		tu, err := agent.AcquireTokenOnBehalfOf(h.ctx, tc, []string{"api://" + weather + "/Weather.Read"})
		if err != nil {
			t.Fatal(err)
		}
		wantClaims(t, "TU", h.verify(tu.AccessToken, 2, weather), map[string]any{
			"oid": alice.ObjectID, "scp": "Weather.Read", "azp": agentID, "idtyp": "user", "xms_idrel": "1", "xms_sub_fct": absent, "roles": absent, "xms_act_fct": "3 9 11", "xms_par_app_azp": blueprintID,
		})
	})

	t.Run("agent user with user_fic", func(t *testing.T) {
		agent := h.agentClient(h.blueprint(), agentID)
		t2, err := agent.AcquireTokenByCredential(h.ctx, []string{exchangeScope})
		if err != nil {
			t.Fatal(err)
		}
		wantClaims(t, "T2", h.verify(t2.AccessToken, 2, tenant.TokenExchangeAppID), map[string]any{"azp": agentID, "sub": agentID})
		tau, err := agent.AcquireTokenByUserFederatedIdentityCredential(h.ctx, []string{"api://" + weather + "/.default"}, t2.AccessToken, confidential.WithUserFICUsername(env["AGENT_USER_UPN"]))
		if err != nil {
			t.Fatal(err)
		}
		au := h.sim.Tenant.AgentUser(env["AGENT_USER_UPN"])
		wantClaims(t, "TAU", h.verify(tau.AccessToken, 2, weather), map[string]any{
			"oid": au.ObjectID, "azp": agentID, "idtyp": "user", "xms_idrel": "1", "scp": "Weather.Read", "xms_sub_fct": "3 13", "preferred_username": au.UPN,
		})
	})

	t.Run("chain B: a v1 token for the STS app", func(t *testing.T) {
		sts := h.confidential(env["STS_APP_ID"], confidential.NewCredFromAssertionCallback(h.managedIdentityAssertion()))
		r, err := sts.AcquireTokenByCredential(h.ctx, []string{env["STS_APP_URI"] + "/.default"})
		if err != nil {
			t.Fatal(err)
		}
		wantClaims(t, "STS token", h.verify(r.AccessToken, 1, env["STS_APP_URI"]), map[string]any{
			"iss": "https://sts.windows.net/" + tid + "/", "aud": env["STS_APP_URI"], "appid": env["STS_APP_ID"], "ver": "1.0", "idtyp": "app",
		})
	})
}

// An independent check of what MSAL caches: repeated acquisitions reuse
// T1 and TR instead of calling the token endpoint again.
func TestMSALCacheKeepsTokenRequestsLow(t *testing.T) {
	h := newHarness(t, nil)
	agent := h.agentClient(h.blueprint(), h.env["AGENT_CLIENT_ID"])
	for range 5 {
		if _, err := agent.AcquireTokenByCredential(h.ctx, []string{"api://" + h.env["WEATHER_API_APP_ID"] + "/.default"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.sim.Entra.Stats().Get("entra.token"); n != 2 {
		t.Fatalf("5 agent acquisitions made %d token requests, want 2 (T1 and TR)", n)
	}
	var body struct{ Counts map[string]int64 }
	resp, err := h.http.Get(h.sim.URL + "/_cloudsim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Counts["entra.token.grant.client_credentials+fmi_path"] != 1 || body.Counts["entra.token.grant.client_credentials"] != 1 {
		t.Fatalf("stats = %v", body.Counts)
	}
}

func TestRotatedKeyVerifiesAfterClientRefreshesKeys(t *testing.T) {
	h := newHarness(t, nil)
	weather := h.env["WEATHER_API_APP_ID"]
	tid := h.env["TENANT_ID"]
	keySet := oidc.NewRemoteKeySet(h.ctx, h.authority()+"/discovery/v2.0/keys")
	verifier := oidc.NewVerifier(entra.IssuerV2(tid), keySet, &oidc.Config{ClientID: weather})
	get := func() string {
		agent := h.agentClient(h.blueprint(), h.env["AGENT_CLIENT_ID"]) // a fresh client: no cache
		r, err := agent.AcquireTokenByCredential(h.ctx, []string{"api://" + weather + "/.default"})
		if err != nil {
			t.Fatal(err)
		}
		return r.AccessToken
	}
	before := get()
	if _, err := verifier.Verify(h.ctx, before); err != nil {
		t.Fatal(err)
	}
	oldKid := h.sim.Keys.ActiveID()
	resp, err := h.http.Post(h.sim.URL+"/_cloudsim/keys/rotate", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h.sim.Keys.ActiveID() == oldKid {
		t.Fatal("rotation did not change the signing key")
	}
	after := get()
	if _, err := verifier.Verify(h.ctx, after); err != nil {
		t.Fatalf("token signed with the rotated key: %v", err)
	}
	if _, err := verifier.Verify(h.ctx, before); err != nil {
		t.Fatalf("token signed with the previous key no longer verifies: %v", err)
	}
}
