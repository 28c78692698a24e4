// Package cloudsimtest starts a cloudsim on loopback for tests: random ports,
// a temporary state folder, the shipped tenant file, stopped at cleanup.
package cloudsimtest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/mcpserver"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// signingKeys is the one set of Entra signing keys every cloudsim of the
// test binary starts with. MSAL Go caches managed identity tokens
// process-wide, so a later test's client would present a token an earlier
// cloudsim signed: with the same keys, every cloudsim accepts it. Each
// cloudsim still has its own copy, so one test rotating its keys changes
// no other.
var signingKeys = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "cloudsim-keys-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, signingKeysFile)
	if _, err := signing.Open(path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
})

// signingKeysFile is where cloudsim keeps its Entra signing keys in its
// state folder.
const signingKeysFile = "signing-keys.json"

// Options are a test's cloudsim options: random loopback ports, a state
// folder of its own holding the binary's signing keys, the shipped tenant
// file, warnings logged to the test; edit adjusts them (nil for none).
func Options(t testing.TB, edit func(*cloudsim.Options)) cloudsim.Options {
	t.Helper()
	dir, err := tenant.Parse("tenant.jsonc", local.TenantFile)
	if err != nil {
		t.Fatalf("shipped tenant file: %v", err)
	}
	keys, err := signingKeys()
	if err != nil {
		t.Fatalf("signing keys: %v", err)
	}
	stateDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(stateDir, signingKeysFile), keys, 0o600); err != nil {
		t.Fatal(err)
	}
	o := cloudsim.Options{
		Addr:         "127.0.0.1:0",
		IdentityAddr: "127.0.0.1:0",
		Dir:          stateDir,
		Tenant:       dir,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if edit != nil {
		edit(&o)
	}
	return o
}

// Start runs a cloudsim with Options(t, edit), stopped when the test ends.
func Start(t testing.TB, edit func(*cloudsim.Options)) *cloudsim.Sim {
	t.Helper()
	sim, err := cloudsim.Start(Options(t, edit))
	if err != nil {
		t.Fatalf("start cloudsim: %v", err)
	}
	t.Cleanup(func() {
		CloseClients(sim)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sim.Close(ctx); err != nil {
			t.Errorf("stop cloudsim: %v", err)
		}
	})
	return sim
}

// CloseClients closes the spare connections of the clients Client made for
// sim: dialled but never used, they would hold its graceful shutdown for
// 5 s.
func CloseClients(sim *cloudsim.Sim) {
	transports.Lock()
	defer transports.Unlock()
	for _, tr := range transports.bySim[sim] {
		tr.CloseIdleConnections()
	}
	delete(transports.bySim, sim)
}

var transports = struct {
	sync.Mutex
	bySim map[*cloudsim.Sim][]*http.Transport
}{bySim: map[*cloudsim.Sim][]*http.Transport{}}

// Client returns an HTTP client that trusts only cloudsim's dev CA.
func Client(sim *cloudsim.Sim) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CA.Pool(), MinVersion: tls.VersionTLS12}}
	transports.Lock()
	transports.bySim[sim] = append(transports.bySim[sim], tr)
	transports.Unlock()
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

// SetEnv points this test's process environment at sim, as sourcing
// cloudsim.env would (MSAL's managed identity client reads it from there).
func SetEnv(t testing.TB, sim *cloudsim.Sim) {
	t.Helper()
	for k, v := range sim.Env() {
		t.Setenv(k, v)
	}
}

// Tokens mints Agent ID tokens from a cloudsim with plain protocol requests,
// for tests of what consumes tokens (MSAL Go itself is tested in entra).
type Tokens struct {
	Sim  *cloudsim.Sim
	Env  map[string]string
	HTTP *http.Client
}

// NewTokens returns a minter for sim.
func NewTokens(sim *cloudsim.Sim) *Tokens {
	return &Tokens{Sim: sim, Env: sim.Env(), HTTP: Client(sim)}
}

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Get posts form to the tenant's token endpoint and returns the access token.
func (k *Tokens) Get(t testing.TB, form url.Values) string {
	t.Helper()
	resp, err := k.HTTP.PostForm(k.Sim.URL+"/"+k.Env["TENANT_ID"]+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token endpoint: %v", err)
	}
	at, _ := body["access_token"].(string)
	if at == "" {
		t.Fatalf("token request refused: %v", body)
	}
	return at
}

// T1 is the blueprint's exchange token for the agent (secret credential).
func (k *Tokens) T1(t testing.TB) string {
	return k.Get(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {k.Env["BLUEPRINT_APP_ID"]},
		"client_secret": {k.Env["BLUEPRINT_CLIENT_SECRET"]}, "scope": {tenant.TokenExchangeURI + "/.default"}, "fmi_path": {k.Env["AGENT_CLIENT_ID"]}})
}

// App is TR: the agent's app-only token for resource (an app ID URI).
func (k *Tokens) App(t testing.TB, resource string) string {
	return k.Get(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {k.Env["AGENT_CLIENT_ID"]},
		"client_assertion_type": {jwtBearer}, "client_assertion": {k.T1(t)}, "scope": {resource + "/.default"}})
}

// User is Tc: the demo user's token for the blueprint, as the SPA gets it.
func (k *Tokens) User(t testing.TB) string {
	return k.UserNamed(t, k.Env["CLOUDSIM_DEMO_USERNAME"], k.Env["CLOUDSIM_DEMO_PASSWORD"])
}

// UserNamed is Tc for another user of the tenant file.
func (k *Tokens) UserNamed(t testing.TB, upn, password string) string {
	return k.Get(t, url.Values{"grant_type": {"password"}, "client_id": {k.Env["CLIENT_SPA_APP_ID"]}, "username": {upn},
		"password": {password}, "scope": {"api://" + k.Env["BLUEPRINT_APP_ID"] + "/access_as_user"}})
}

// OBO is TU: the agent's token for scope on behalf of the demo user.
func (k *Tokens) OBO(t testing.TB, scope string) string {
	return k.Get(t, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {k.Env["AGENT_CLIENT_ID"]},
		"client_assertion_type": {jwtBearer}, "client_assertion": {k.T1(t)}, "assertion": {k.User(t)}, "requested_token_use": {"on_behalf_of"},
		"scope": {scope}})
}

// AgentUser is TAU: the agent user's token for resource, through T2.
func (k *Tokens) AgentUser(t testing.TB, resource string) string {
	t1 := k.T1(t)
	t2 := k.Get(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {k.Env["AGENT_CLIENT_ID"]},
		"client_assertion_type": {jwtBearer}, "client_assertion": {t1}, "scope": {tenant.TokenExchangeURI + "/.default"}})
	return k.Get(t, url.Values{"grant_type": {"user_fic"}, "client_id": {k.Env["AGENT_CLIENT_ID"]}, "client_assertion_type": {jwtBearer},
		"client_assertion": {t1}, "user_federated_identity_credential": {t2}, "username": {k.Env["AGENT_USER_UPN"]},
		"scope": {resource + "/.default"}})
}

// ManagedIdentity is the host's managed identity token for
// api://AzureADTokenExchange, from the identity endpoint.
func (k *Tokens) ManagedIdentity(t testing.TB) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, k.Sim.IdentityEndpoint+"?api-version=2019-08-01&resource="+url.QueryEscape(tenant.TokenExchangeURI), nil)
	req.Header.Set("X-IDENTITY-HEADER", k.Sim.IdentityHeader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("managed identity endpoint: %s %v", resp.Status, err)
	}
	return body.AccessToken
}

// STSApp is chain B's v1 token: the intermediary STS app's token for itself,
// with the managed identity token as its client assertion.
func (k *Tokens) STSApp(t testing.TB) string {
	return k.Get(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {k.Env["STS_APP_ID"]},
		"client_assertion_type": {jwtBearer}, "client_assertion": {k.ManagedIdentity(t)}, "scope": {k.Env["STS_APP_URI"] + "/.default"}})
}

// WithMCPConsent is an edit for Start: admin consent for every agent
// identity on the MCP server, which the shipped tenant leaves out so the
// consent path shows. scopes default to MCP.User.Read.All.
func WithMCPConsent(scopes ...string) func(*cloudsim.Options) {
	if len(scopes) == 0 {
		scopes = []string{"MCP.User.Read.All"}
	}
	return func(o *cloudsim.Options) {
		for _, ag := range o.Tenant.AgentIdentities {
			o.Tenant.Consents = append(o.Tenant.Consents, &tenant.Consent{Client: ag.AppID, Resource: mcpserver.AppID, Scopes: scopes})
		}
	}
}

// SPASignIn is the chat UI's sign-in as a browser makes it: the
// authorization code flow with PKCE for an SPA, upn picked on cloudsim's
// login page, the code redeemed from the SPA's origin. It returns the
// access token for scope.
func SPASignIn(t testing.TB, sim *cloudsim.Sim, spaID, scope, upn, redirectURI string) string {
	t.Helper()
	c := Client(sim)
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	const verifier = "spa-sign-in-verifier-spa-sign-in-verifier"
	sum := sha256.Sum256([]byte(verifier))
	base := sim.URL + "/" + sim.Tenant.Tenant.ID + "/oauth2/v2.0/"
	form := url.Values{"client_id": {spaID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {scope + " openid"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "response_mode": {"fragment"},
		"state": {"s"}, "login": {upn}}
	resp, err := c.PostForm(base+"authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	_, frag, _ := strings.Cut(loc, "#")
	v, _ := url.ParseQuery(frag)
	if resp.StatusCode != http.StatusFound || v.Get("code") == "" {
		t.Fatalf("SPA sign-in: %d, redirected to %q", resp.StatusCode, loc)
	}
	redeem := url.Values{"client_id": {spaID}, "grant_type": {"authorization_code"}, "code": {v.Get("code")}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}, "scope": {scope + " openid"}}
	req, _ := http.NewRequest("POST", base+"token", strings.NewReader(redeem.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	u, _ := url.Parse(redirectURI)
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	token, _ := body["access_token"].(string)
	if token == "" {
		t.Fatalf("SPA code redemption: %d %v", resp.StatusCode, body)
	}
	return token
}

// FreshTenant puts cloudsim on deploy/local/fresh-tenant.jsonc, a new
// tenant with people and roles and no agent, with device codes polled
// every second: for Graph's tests and the setup rehearsals.
func FreshTenant(t testing.TB) func(*cloudsim.Options) {
	return func(o *cloudsim.Options) {
		d, err := tenant.Parse("fresh-tenant.jsonc", local.FreshTenantFile)
		if err != nil {
			t.Fatalf("the fresh tenant file: %v", err)
		}
		o.Tenant, o.DeviceCodeInterval = d, time.Second
	}
}
