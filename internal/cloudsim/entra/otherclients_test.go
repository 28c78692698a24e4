package entra_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// MSAL Python and msal-node, which the project did not write, run the
// agent flows against cloudsim: the scripts in testdata print what the
// library got, and these tests check it as they check MSAL Go's tokens.
// Under CI a missing client fails; elsewhere it skips with how to get it.

// msalPython is Debian's interpreter: python3-msal installs there, and the
// python3 first on PATH (pyenv) does not have it.
const msalPython = "/usr/bin/python3"

var msalNodeDir = filepath.Join("testdata", "msalnode")

func TestMSALPythonAgainstCloudsim(t *testing.T) {
	if err := exec.Command(msalPython, "-c", "import msal").Run(); err != nil {
		missingClient(t, "MSAL Python", "apt-get install python3-msal", err)
	}
	runOtherClient(t, exec.Command(msalPython, filepath.Join("testdata", "msal_python_client.py")))
}

func TestMSALNodeAgainstCloudsim(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(msalNodeDir, "node_modules", "@azure", "msal-node", "package.json"))
	}
	if err != nil {
		missingClient(t, "msal-node", "npm ci --prefix "+msalNodeDir, err)
	}
	cmd := exec.Command(node, "client.mjs")
	cmd.Dir = msalNodeDir
	runOtherClient(t, cmd)
}

func missingClient(t *testing.T, name, install string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (.ci/run installs it: %s): %v", name, install, err)
	}
	t.Skipf("%s is missing; install it with: %s", name, install)
}

// clientResult is one line of a client script's output.
type clientResult struct {
	Case        string `json:"case"`
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	Error       string `json:"error"`
	Codes       []int  `json:"codes"`
	Description string `json:"description"`
}

func runOtherClient(t *testing.T, cmd *exec.Cmd) {
	// A 1-second polling interval: both libraries wait what /devicecode says.
	h := newHarness(t, func(o *cloudsim.Options) { o.DeviceCodeInterval = time.Second })
	env := h.env
	tid, blueprintID, agentID, weather := env["TENANT_ID"], env["BLUEPRINT_APP_ID"], env["AGENT_CLIENT_ID"], env["WEATHER_API_APP_ID"]
	alice := h.sim.Tenant.Users[0]
	agentUser := h.sim.Tenant.AgentUser(env["AGENT_USER_UPN"])
	cfg, err := json.Marshal(map[string]string{
		"authority": h.authority(), "blueprint_id": blueprintID, "blueprint_secret": env["BLUEPRINT_CLIENT_SECRET"],
		"agent_id": agentID, "weather_id": weather, "spa_id": env["CLIENT_SPA_APP_ID"],
		"sts_app_id": env["STS_APP_ID"], "sts_app_uri": env["STS_APP_URI"], "mi_token": cloudsimtest.NewTokens(h.sim).ManagedIdentity(t),
		"approve_url": h.sim.URL + "/_cloudsim/devicecode/approve", "user_upn": alice.UPN, "user_password": alice.Password, "agent_user_upn": agentUser.UPN, "agent_user_oid": agentUser.ObjectID,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each library reads the CA bundle its own way: Python's requests
	// REQUESTS_CA_BUNDLE, node NODE_EXTRA_CA_CERTS. A fresh HOME keeps any
	// cache of the machine's out.
	ca := env["SSL_CERT_FILE"]
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "SSL_CERT_FILE=" + ca, "REQUESTS_CA_BUNDLE=" + ca, "NODE_EXTRA_CA_CERTS=" + ca}
	cmd.Stdin = bytes.NewReader(cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd.Args, err, stderr.String())
	}
	results := map[string]clientResult{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r clientResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("client printed %q: %v", sc.Text(), err)
		}
		results[r.Case] = r
	}

	issued := []struct {
		name     string
		version  int
		audience string
		want     map[string]any
	}{
		{"T1 with a secret and fmi_path", 2, tenant.TokenExchangeAppID, map[string]any{"azp": blueprintID, "idtyp": "app"}},
		{"TR with T1 as the client assertion", 2, weather, map[string]any{"azp": agentID, "roles": "Weather.Read", "xms_par_app_azp": blueprintID}},
		{"STS app with the managed identity token as the client assertion", 1, env["STS_APP_URI"], map[string]any{"appid": env["STS_APP_ID"], "ver": "1.0"}},
		{"ROPC", 2, blueprintID, map[string]any{"oid": alice.ObjectID, "scp": "access_as_user", "idtyp": absent}},
		{"refresh", 2, blueprintID, map[string]any{"oid": alice.ObjectID, "scp": "access_as_user"}},
		{"OBO", 2, weather, map[string]any{"oid": alice.ObjectID, "azp": agentID, "scp": "Weather.Read", "idtyp": "user", "xms_idrel": "1"}},
		{"device code", 2, blueprintID, map[string]any{"oid": alice.ObjectID, "scp": "access_as_user", "azp": env["CLIENT_SPA_APP_ID"]}},
		{"agent user by UPN", 2, weather, map[string]any{"oid": agentUser.ObjectID, "azp": agentID, "xms_sub_fct": "3 13"}},
		{"agent user by object ID", 2, weather, map[string]any{"oid": agentUser.ObjectID, "azp": agentID, "xms_sub_fct": "3 13"}},
	}
	for _, c := range issued {
		t.Run(c.name, func(t *testing.T) {
			r, ok := results[c.name]
			switch {
			case !ok:
				t.Fatalf("the client printed no result\n%s", stderr.String())
			case r.AccessToken == "":
				t.Fatalf("no token: %s %v %s", r.Error, r.Codes, r.Description)
			}
			wantClaims(t, c.name, h.verify(r.AccessToken, c.version, c.audience), c.want)
			if c.name != "ROPC" {
				return
			}
			if r.IDToken == "" {
				t.Fatal("no ID token, though the library asks for openid")
			}
			id := h.verify(r.IDToken, 2, env["CLIENT_SPA_APP_ID"])
			wantClaims(t, "ID token", id, map[string]any{"tid": tid, "oid": alice.ObjectID, "idtyp": absent})
			if id["sid"] == nil || id["aio"] == nil {
				t.Errorf("ID token lacks sid or aio: %v", id)
			}
		})
	}

	refused := []struct {
		name  string
		error string
		code  int // 0: Entra's code is undocumented, so none is sent
	}{
		{"refused: wrong secret", "invalid_client", 7000215},
		{"refused: wrong password", "invalid_grant", 50126},
		{"refused: Microsoft Graph scope without consent", "invalid_grant", 65001},
		{"refused: OBO from a token for another audience", "invalid_grant", 50013},
		{"refused: agent user the agent does not own", "invalid_grant", 50034},
		{"refused: UPN as user_id", "invalid_request", 0},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			r, ok := results[c.name]
			switch {
			case !ok:
				t.Fatalf("the client printed no result\n%s", stderr.String())
			case r.AccessToken != "":
				t.Fatal("a token was issued")
			case r.Error != c.error:
				t.Fatalf("error %q (%s), want %q", r.Error, r.Description, c.error)
			case c.code == 0 && (len(r.Codes) != 0 || strings.Contains(r.Description, "AADSTS")):
				t.Fatalf("codes %v (%s), want none", r.Codes, r.Description)
			case c.code != 0 && !slices.Equal(r.Codes, []int{c.code}):
				t.Fatalf("codes %v (%s), want AADSTS%d", r.Codes, r.Description, c.code)
			}
		})
	}
	if len(results) != len(issued)+len(refused) {
		t.Errorf("the client ran %d cases, the test checks %d", len(results), len(issued)+len(refused))
	}
}
