package agentid_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/crosscloud-agentid/agentid/internal/agentid"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/secret"
)

type fixture struct {
	sim    *cloudsim.Sim
	env    map[string]string
	tokens *cloudsimtest.Tokens
}

func newFixture(t *testing.T) *fixture {
	sim := cloudsimtest.Start(t, nil)
	cloudsimtest.SetEnv(t, sim) // MSAL's managed identity source reads the process environment
	tokens := cloudsimtest.NewTokens(sim)
	return &fixture{sim: sim, env: tokens.Env, tokens: tokens}
}

func (f *fixture) config(cred agentid.Credential) agentid.Config {
	return agentid.Config{AuthorityHost: f.sim.URL, TenantID: f.env["TENANT_ID"], BlueprintID: f.env["BLUEPRINT_APP_ID"],
		Credential: cred, HTTPClient: cloudsimtest.Client(f.sim)}
}

func (f *fixture) agent(t *testing.T, cred agentid.Credential) *agentid.Agent {
	t.Helper()
	bp, err := agentid.NewBlueprint(f.config(cred))
	if err != nil {
		t.Fatal(err)
	}
	a, err := bp.Agent(f.env["AGENT_CLIENT_ID"])
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *fixture) secretCred() agentid.Credential {
	return agentid.Credential{Kind: agentid.CredentialSecret, Secret: secret.New(f.env["BLUEPRINT_CLIENT_SECRET"])}
}

func (f *fixture) appScope() []string {
	return []string{"api://" + f.env["WEATHER_API_APP_ID"] + "/.default"}
}
func (f *fixture) userScope() []string {
	return []string{"api://" + f.env["WEATHER_API_APP_ID"] + "/Weather.Read"}
}

func claims(t *testing.T, r confidential.AuthResult) map[string]any {
	return jwtauthtest.Claims(t, r.AccessToken)
}

func TestEveryFlowWithEachBlueprintCredential(t *testing.T) {
	f := newFixture(t)
	creds := map[string]agentid.Credential{
		"secret": f.secretCred(),
		// No secret anywhere: the managed identity's token is the
		// blueprint's client assertion, through its federated credential.
		"managed-identity": {Kind: agentid.CredentialManagedIdentity, ManagedIdentityClientID: f.env["MANAGED_IDENTITY_CLIENT_ID"]},
	}
	weather, agent := f.env["WEATHER_API_APP_ID"], f.env["AGENT_CLIENT_ID"]
	alice := f.sim.Tenant.UserByUPN(f.env["CLOUDSIM_DEMO_USERNAME"]).ObjectID
	agentUser := f.sim.Tenant.AgentUser(f.env["AGENT_USER_UPN"]).ObjectID
	for name, cred := range creds {
		t.Run(name, func(t *testing.T) {
			a := f.agent(t, cred)
			ctx := t.Context()

			tr, err := a.AppToken(ctx, f.appScope())
			if err != nil {
				t.Fatalf("TR: %v", err)
			}
			c := claims(t, tr)
			if c["aud"] != weather || c["azp"] != agent || fmt.Sprint(c["roles"]) != "[Weather.Read]" || c["idtyp"] != "app" {
				t.Errorf("TR claims: %v", c)
			}

			tu, err := a.OBO(ctx, f.tokens.User(t), f.userScope())
			if err != nil {
				t.Fatalf("TU: %v", err)
			}
			c = claims(t, tu)
			if c["aud"] != weather || c["azp"] != agent || c["oid"] != alice || c["scp"] != "Weather.Read" {
				t.Errorf("TU claims: %v", c)
			}

			tau, t2, err := a.AgentUserToken(ctx, agentid.AgentUser{UPN: f.env["AGENT_USER_UPN"]}, f.appScope())
			if err != nil {
				t.Fatalf("TAU: %v", err)
			}
			c = claims(t, tau)
			if c["aud"] != weather || c["azp"] != agent || c["oid"] != agentUser || !strings.Contains(fmt.Sprint(c["xms_sub_fct"]), "13") {
				t.Errorf("TAU claims: %v", c)
			}
			if c := claims(t, t2); c["aud"] != "fb60f99c-7a34-4190-8149-302f77469936" || c["azp"] != agent {
				t.Errorf("T2 claims: %v", c)
			}
			if _, _, err := a.AgentUserToken(ctx, agentid.AgentUser{ObjectID: agentUser}, f.appScope()); err != nil {
				t.Errorf("TAU by object ID: %v", err)
			}
		})
	}
}

func TestAutonomousTokensAreCached(t *testing.T) {
	f := newFixture(t)
	a := f.agent(t, f.secretCred())
	stats := f.sim.Entra.Stats()
	before := stats.Get("entra.token")
	for i := range 20 {
		r, err := a.AppToken(t.Context(), f.appScope())
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && r.Metadata.TokenSource != confidential.TokenSourceCache {
			t.Errorf("acquisition %d went to the network", i+1)
		}
	}
	if n := stats.Get("entra.token") - before; n > 2 {
		t.Errorf("20 autonomous acquisitions made %d token requests, want at most 2 (T1 and TR)", n)
	}
}

// 50 concurrent OBO acquisitions for two users: every TU is its own user's.
func TestOBOIsolation(t *testing.T) {
	f := newFixture(t)
	a := f.agent(t, f.secretCred())
	users := []struct{ upn, password, oid string }{
		{"alice@contoso.example", "alice-local-demo-password", ""},
		{"bob@contoso.example", "bob-local-demo-password", ""},
	}
	tcs := make([]string, len(users))
	for i := range users {
		users[i].oid = f.sim.Tenant.UserByUPN(users[i].upn).ObjectID
		tcs[i] = f.tokens.UserNamed(t, users[i].upn, users[i].password)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := i % 2
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := a.OBO(ctx, tcs[u], f.userScope())
			if err != nil {
				errs <- err
				return
			}
			if oid := claims(t, r)["oid"]; oid != users[u].oid {
				errs <- fmt.Errorf("%s got a TU for %v", users[u].upn, oid)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestBlueprintOwnTokensAreRefused(t *testing.T) {
	f := newFixture(t)
	bp, err := agentid.NewBlueprint(f.config(f.secretCred()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bp.AppToken(t.Context(), f.appScope()); err == nil || !strings.Contains(err.Error(), "AADSTS82001") {
		t.Errorf("the blueprint's own app token: %v, want AADSTS82001", err)
	}
	if _, err := bp.OBO(t.Context(), f.tokens.User(t), f.userScope()); err == nil || !strings.Contains(err.Error(), "AADSTS82002") {
		t.Errorf("the blueprint's own OBO token: %v, want AADSTS82002", err)
	}
}

func TestCredentialErrors(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "blueprint"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})

	base := agentid.Config{AuthorityHost: "https://login.microsoftonline.com", TenantID: "ca77995a-3696-41ae-a339-cf02b3e89b12", BlueprintID: "6a7f0937-6749-4a53-b866-c424b6e0824d"}
	cases := []struct {
		name string
		cred agentid.Credential
		want string
	}{
		{"certificate and key", agentid.Credential{Kind: agentid.CredentialCertificate, CertPEM: append(certPEM, keyPEM...)}, ""},
		{"empty secret", agentid.Credential{Kind: agentid.CredentialSecret}, "BLUEPRINT_CLIENT_SECRET is empty"},
		{"certificate without its key", agentid.Credential{Kind: agentid.CredentialCertificate, CertPEM: certPEM}, "BLUEPRINT_CERT_PATH"},
		{"an EC key (MSAL takes RSA only)", agentid.Credential{Kind: agentid.CredentialCertificate, CertPEM: append(certPEM, ecPEM...)}, "BLUEPRINT_CERT_PATH"},
		{"unknown kind", agentid.Credential{Kind: "password"}, `BLUEPRINT_CREDENTIAL "password"`},
	}
	for _, c := range cases {
		cfg := base
		cfg.Credential = c.cred
		_, err := agentid.NewBlueprint(cfg)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
