package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/crosscloud-agentid/agentid/internal/binarytest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// The test binary doubles as the demo: the tests start it as a user does,
// as a process with flags, and talk to it over loopback.
func TestMain(m *testing.M) { binarytest.Main(m, main) }

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type demoRun struct {
	url, dir string
	env      map[string]string // cloudsim.env
	http     *http.Client      // trusts the demo's CA
	proc     *binarytest.Process
}

var readyLine = regexp.MustCompile(`^ready: (\S+)`)

// startDemo runs the demo and waits for its ready line.
func startDemo(t *testing.T, args ...string) *demoRun {
	return startDemoIn(t, nil, args...)
}

// startDemoIn is startDemo with the shell's environment env.
func startDemoIn(t *testing.T, env map[string]string, args ...string) *demoRun {
	if testing.Short() {
		t.Skip("the demo end-to-end test is skipped under -short")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	shell := map[string]string{"HOME": t.TempDir()}
	for k, v := range env {
		shell[k] = v
	}
	cmd := binarytest.Command(context.Background(), shell,
		append([]string{"-addr", addr, "-cloudsim-addr", freeAddr(t), "-dir", dir}, args...)...)
	d := &demoRun{dir: dir, proc: binarytest.Start(t, cmd)}
	d.url = d.proc.WaitFor(t, readyLine, 60*time.Second)[1]
	if want := "http://" + addr; d.url != want {
		t.Fatalf("ready: %s, want %s", d.url, want)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cloudsim.env"))
	if err != nil {
		t.Fatal(err)
	}
	d.env = map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			d.env[k] = strings.Trim(v, `'"`)
		}
	}
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool.AppendCertsFromPEM(ca)
	d.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return d
}

// userToken signs the demo user in as a script would (password grant).
func (d *demoRun) userToken(t *testing.T) string {
	resp, err := d.http.PostForm(d.env["AZURE_AUTHORITY_HOST"]+"/"+d.env["TENANT_ID"]+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"password"}, "client_id": {d.env["CLIENT_SPA_APP_ID"]}, "username": {d.env["CLOUDSIM_DEMO_USERNAME"]},
		"password": {d.env["CLOUDSIM_DEMO_PASSWORD"]}, "scope": {"api://" + d.env["BLUEPRINT_APP_ID"] + "/access_as_user"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	tok, _ := body["access_token"].(string)
	if tok == "" {
		t.Fatalf("no user token: %v", body)
	}
	return tok
}

func (d *demoRun) getJSON(t *testing.T, u string) map[string]any {
	resp, err := d.http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return body
}

// The demo as a user runs it, for each identity provider: every flow and
// mode, the websocket, both chains proven from cloudsim's own records, a
// clean stop that leaves no port behind.
func TestDemo(t *testing.T) {
	for _, provider := range []string{"sidecar", "msal"} {
		t.Run(provider, func(t *testing.T) {
			d := startDemo(t, "-identity", provider)
			tc := d.userToken(t)
			for _, mode := range []string{"direct", "bedrock"} {
				for _, flow := range []string{"autonomous", "obo", "agent_user"} {
					body, _ := json.Marshal(map[string]string{"message": "What's the weather in Madrid?", "llm_mode": mode, "token_flow": flow})
					req, _ := http.NewRequest("POST", d.url+"/api/chat", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+tc)
					req.Header.Set("Content-Type", "application/json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.Contains(string(raw), "In Madrid it is") {
						t.Errorf("%s/%s: %d %.300s", mode, flow, resp.StatusCode, raw)
					}
				}
			}
			c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(d.url, "http")+"/api/chat/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			c.WriteJSON(map[string]string{"message": "weather in Rome", "llm_mode": "bedrock", "token_flow": "obo", "user_token": tc})
			for {
				var m map[string]any
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				if err := c.ReadJSON(&m); err != nil {
					t.Fatalf("websocket: %v", err)
				}
				if m["type"] == "final" || m["type"] == "error" {
					if m["type"] != "final" || !strings.Contains(fmt.Sprint(m["response"]), "Rome") {
						t.Errorf("websocket turn: %v", m)
					}
					break
				}
			}
			c.Close()

			// Chain A: the blueprint authenticated with the managed
			// identity's token, never a secret.
			stats, _ := d.getJSON(t, d.env["AZURE_AUTHORITY_HOST"]+"/_cloudsim/stats")["counts"].(map[string]any)
			bp := d.env["BLUEPRINT_APP_ID"]
			if stats["entra.client_auth.federated_credential."+bp] == nil || stats["entra.client_auth.secret."+bp] != nil {
				t.Errorf("chain A not proven: %v", stats)
			}
			// Chain B: Bedrock saw SigV4 made with credentials STS issued for
			// the refresher's v1 token.
			var received []map[string]any
			resp, err := d.http.Get(d.env["AZURE_AUTHORITY_HOST"] + "/_cloudsim/bedrock/received")
			if err != nil {
				t.Fatal(err)
			}
			json.NewDecoder(resp.Body).Decode(&received)
			resp.Body.Close()
			if len(received) == 0 {
				t.Fatal("Bedrock received nothing")
			}
			for _, r := range received {
				caller, _ := r["caller"].(map[string]any)
				principal := fmt.Sprint(caller["principal"])
				if caller["auth"] != "sigv4" || !strings.Contains(principal, "assumed-role/agentid-bedrock-invoke/") || !strings.Contains(principal, "web identity sub") {
					t.Errorf("chain B not proven: %v", caller)
				}
			}
			if leaks := leakcheck.Find(d.proc.Output(), tc); len(leaks) > 0 {
				t.Errorf("the demo's log holds a token: %v", leaks)
			}
			if strings.Contains(d.proc.Output(), d.env["BLUEPRINT_CLIENT_SECRET"]) {
				t.Error("the blueprint secret reached a log")
			}

			// Ctrl-C stops everything cleanly and frees the ports.
			if err := d.proc.Signal(syscall.SIGINT); err != nil {
				t.Errorf("exit after SIGINT: %v\n%s", err, d.proc.Output())
			}
			if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(d.url, "http://"), time.Second); err == nil {
				conn.Close()
				t.Error("the UI port is still open after the demo stopped")
			}
		})
	}
}

func TestDemoReportsABusyPort(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := binarytest.Command(context.Background(), nil, "-addr", ln.Addr().String(), "-cloudsim-addr", freeAddr(t), "-dir", t.TempDir()).CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Errorf("exit: %v", err)
	}
	if !strings.Contains(string(out), "already in use") || !strings.Contains(string(out), "-addr") || !strings.Contains(string(out), "chat UI") {
		t.Errorf("output: %s", out)
	}
}

// The browser signs in once through the demo's cloudsim and makes an
// on-behalf-of turn.
func TestDemoBrowserSignIn(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/chromium"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is missing; .ci/run installs it")
		}
		t.Skip("Chromium is not installed")
	}
	d := startDemo(t)
	certPEM, _ := os.ReadFile(filepath.Join(d.dir, "server.pem"))
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath("/usr/bin/chromium"), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])), chromedp.UserDataDir(t.TempDir()))
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	popup := chromedp.WaitNewTarget(ctx, func(i *target.Info) bool { return strings.Contains(i.URL, "/authorize") })
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url), chromedp.WaitVisible(chromedp.CSS("#dot-identity.ok")),
		chromedp.Click(chromedp.CSS(`input[name=flow][value=obo]`)), chromedp.Click(chromedp.ID("sign-in"))); err != nil {
		t.Fatal(err)
	}
	pctx, cancelP := chromedp.NewContext(ctx, chromedp.WithTargetID(<-popup))
	defer cancelP()
	if err := chromedp.Do(pctx, chromedp.Click(chromedp.CSS(`button[value="bob@contoso.example"]`))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("sign-out")), chromedp.SetValue(chromedp.ID("message"), "weather in Vienna?"),
		chromedp.Click(chromedp.ID("send")), chromedp.WaitVisible(chromedp.CSS(`.card[data-kind="TU"]`))); err != nil {
		t.Fatalf("OBO turn in the browser: %v\n%s", err, d.proc.Output())
	}
}

// The demo owns its settings: a shell that sourced a cloudsim.env (the
// README's own instructions, here another tenant's and a sidecar's that
// is gone) and holds stray AWS keys and another host's managed identity
// variables changes nothing, with MSAL in-process.
func TestDemoIgnoresTheShellsSettings(t *testing.T) {
	polluted := map[string]string{
		"BLUEPRINT_CLIENT_SECRET": "a-secret-from-the-shell", "BLUEPRINT_CREDENTIAL": "secret", "IDENTITY_PROVIDER": "sidecar",
		"TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47", "AZURE_AUTHORITY_HOST": "https://127.0.0.1:1", "SIDECAR_URL": "http://127.0.0.1:1",
		"WEATHER_API_URL": "http://127.0.0.1:1", "AGENT_CLIENT_ID": "00000000-0000-0000-0000-000000000001", "CLOUDSIM_DEMO_PASSWORD": "x",
		"AWS_ACCESS_KEY_ID": "AKIASTRAYSTRAYSTRAY1", "AWS_SECRET_ACCESS_KEY": "stray-secret-stray-secret", "AWS_PROFILE": "nowhere",
		"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "https://127.0.0.1:1", "IDENTITY_SERVER_THUMBPRINT": "0123", "SSL_CERT_FILE": "/nonexistent/ca.pem", "AWS_CA_BUNDLE": "/nonexistent/ca.pem", "PUBLIC_ORIGIN": "https://elsewhere.example",
	}
	d := startDemoIn(t, polluted, "-identity", "msal")
	body, _ := json.Marshal(map[string]string{"message": "What's the weather in Madrid?", "llm_mode": "bedrock", "token_flow": "autonomous"})
	resp, err := http.Post(d.url+"/api/chat", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "In Madrid it is") {
		t.Fatalf("a Bedrock turn with a polluted shell: %d %.400s", resp.StatusCode, raw)
	}
	if leaks := leakcheck.Find(d.proc.Output(), "a-secret-from-the-shell", "stray-secret-stray-secret"); len(leaks) > 0 {
		t.Errorf("the shell's secrets reached the output: %v", leaks)
	}
}
