package cloudsim_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

func TestEnvFileIsSourceableAndComplete(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	resp, err := cloudsimtest.Client(sim).Get(sim.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz over TLS with the dev CA: %v", err)
	}
	resp.Body.Close()
	path := filepath.Join(sim.Dir, cloudsim.EnvFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode = %v, want 0600: it holds a local secret", cloudsim.EnvFile, fi.Mode().Perm())
	}
	required := []string{"TENANT_ID", "AZURE_AUTHORITY_HOST", "SSL_CERT_FILE", "AWS_CA_BUNDLE", "BLUEPRINT_APP_ID",
		"BLUEPRINT_CLIENT_SECRET", "AGENT_CLIENT_ID", "AGENT_USER_UPN", "CLIENT_SPA_APP_ID", "WEATHER_API_APP_ID",
		"STS_APP_ID", "STS_APP_URI", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "CLOUDSIM_DEMO_USERNAME", "CLOUDSIM_DEMO_PASSWORD"}
	script := "set -euo pipefail; set -a; . " + path + "; set +a\n"
	for _, k := range required {
		script += `printf '%s=%s\n' ` + k + ` "$` + k + `"` + "\n"
	}
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash could not source %s: %v\n%s", path, err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	env := sim.Env()
	for _, k := range required {
		if got[k] == "" || got[k] != env[k] {
			t.Errorf("%s = %q after sourcing, want %q", k, got[k], env[k])
		}
	}
	if got["SSL_CERT_FILE"] != sim.CA.BundlePath() || got["AWS_CA_BUNDLE"] != sim.CA.BundlePath() {
		t.Error("SSL_CERT_FILE and AWS_CA_BUNDLE must both be the bundle")
	}
	data, _ := os.ReadFile(path)
	for _, forbidden := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		if strings.Contains(string(data), forbidden) {
			t.Errorf("%s exports %s: static keys would bypass the web identity chain", cloudsim.EnvFile, forbidden)
		}
	}
	// The IAM users' keys are in the credentials file, and only there.
	creds, err := os.ReadFile(filepath.Join(sim.Dir, cloudsim.AWSCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(filepath.Join(sim.Dir, cloudsim.AWSCredentialsFile)); info.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", cloudsim.AWSCredentialsFile, info.Mode().Perm())
	}
	for _, u := range sim.Tenant.AWS.DevCredentials {
		for _, key := range []string{u.AccessKeyID, u.SecretAccessKey} {
			if strings.Contains(string(data), key) {
				t.Errorf("%s holds an IAM user's key", cloudsim.EnvFile)
			}
			if !strings.Contains(string(creds), key) {
				t.Errorf("%s lacks the key of profile %s", cloudsim.AWSCredentialsFile, u.Profile)
			}
		}
	}
}

func TestPortInUseNamesTheFlag(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir, err := tenant.Parse("tenant.jsonc", local.TenantFile)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cloudsim.Start(cloudsim.Options{Addr: busy.Addr().String(), IdentityAddr: "127.0.0.1:0", Dir: t.TempDir(), Tenant: dir})
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), "-addr") {
		t.Fatalf("err = %v, want it to say the address is in use and name -addr", err)
	}
}

// A start that fails leaves no port taken: the next start on the same
// addresses works.
func TestFailedStartFreesItsPorts(t *testing.T) {
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	addr, miAddr, sideAddr := free(), free(), free()
	dir := t.TempDir()
	d, err := tenant.Parse("tenant.jsonc", local.TenantFile)
	if err != nil {
		t.Fatal(err)
	}
	opts := cloudsim.Options{Addr: addr, IdentityAddr: miAddr, SidecarAddr: sideAddr, Dir: dir, Tenant: d}
	// A corrupt key file fails the start late, after the CA and Entra's keys.
	if err := os.WriteFile(filepath.Join(dir, "aws-outbound-keys.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cloudsim.Start(opts); err == nil {
		t.Fatal("started with a corrupt key file")
	}
	os.Remove(filepath.Join(dir, "aws-outbound-keys.json"))
	sim, err := cloudsim.Start(opts)
	if err != nil {
		t.Fatalf("the second start: %v", err)
	}
	sim.Close(t.Context())
}

// Forms and switches take posts from cloudsim's own pages only; the token
// endpoint stays open to SPAs on other origins; fault counts are bounded.
func TestCrossSiteFormPostsAndFaultBounds(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	client := cloudsimtest.Client(sim)
	tenantID := sim.Env()["TENANT_ID"]
	post := func(path, origin, body string) int {
		req, _ := http.NewRequest("POST", sim.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	authorize := "/" + tenantID + "/oauth2/v2.0/authorize"
	login := "login=alice%40contoso.example&password=alice-local-demo-password"
	cases := []struct {
		name, path, origin string
		refused            bool
	}{
		{"sign-in form from another site (login CSRF)", authorize, "https://attacker.example", true},
		{"sign-in form from a sandboxed page", authorize, "null", true},
		{"sign-in form from cloudsim's own page", authorize, sim.URL, false},
		{"admin consent from another site", "/" + tenantID + "/v2.0/adminconsent", "https://attacker.example", true},
		{"device code sign-in from another site", "/devicelogin", "https://attacker.example", true},
		{"device code sign-in from cloudsim's own page", "/devicelogin", sim.URL, false},
		{"a fault switch from another site", "/_cloudsim/faults/bedrock?throttle=5", "https://attacker.example", true},
		{"key rotation from another site", "/_cloudsim/keys/rotate", "https://attacker.example", true},
		{"the token endpoint from an SPA's origin", "/" + tenantID + "/oauth2/v2.0/token", "http://localhost:3001", false},
	}
	for _, c := range cases {
		if got := post(c.path, c.origin, login); (got == http.StatusForbidden) != c.refused {
			t.Errorf("%s: %d, refused want %v", c.name, got, c.refused)
		}
	}
	for q, want := range map[string]int{"throttle=1000000": 400, "fail=-1": 400, "throttle=x": 400, "skip_tool=maybe": 400, "throttle=0&fail=0": 204} {
		if got := post("/_cloudsim/faults/bedrock?"+q, "", ""); got != want {
			t.Errorf("faults?%s: %d, want %d", q, got, want)
		}
	}
}
