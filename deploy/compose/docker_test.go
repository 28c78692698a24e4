package compose_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/jwtpeek"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// composeRun is one Docker Compose v2 project of the local profile.
type composeRun struct {
	t       *testing.T
	compose string // the Compose v2 binary
	project string
	env     []string
}

func (c *composeRun) run(timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{"-p", c.project, "-f", "compose.local.yaml", "--env-file", "local.env"}, args...)
	cmd := exec.CommandContext(ctx, c.compose, full...)
	cmd.Env = append(os.Environ(), c.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("docker compose %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

func (c *composeRun) must(timeout time.Duration, args ...string) []byte {
	c.t.Helper()
	out, err := c.run(timeout, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// files lists what a container holds under path, through docker compose
// cp (the images are scratch: no shell to list with), with each file's
// contents; an error when the path is not there.
func (c *composeRun) files(service, path string) (map[string][]byte, error) {
	out, err := c.run(time.Minute, "cp", service+":"+path, "-")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			files[h.Name], _ = io.ReadAll(tr)
		}
	}
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The local profile as a user runs it, with Docker Compose v2 on a Docker
// engine: the images built from scratch by the project's script, up
// --no-build (nothing pulled), every service healthy, a Direct and a
// Bedrock turn through the published port, the web identity token file in
// place, no key where a client container can read it, no token in the
// logs, and nothing left after down -v. AGENTID_COMPOSE names the Compose
// binary and DOCKER_HOST the engine; .ci/run starts both.
func TestComposeUpWithDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds images and runs them on a Docker engine")
	}
	compose := os.Getenv("AGENTID_COMPOSE")
	if compose == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("AGENTID_COMPOSE is unset: .ci/run builds Docker Compose v2 and starts a Docker engine for this test")
		}
		t.Skip("AGENTID_COMPOSE (a Docker Compose v2 binary) is unset")
	}
	id := strconv.Itoa(os.Getpid())
	tag := "compose-" + id
	agentPort, cloudsimPort := freePort(t), freePort(t)
	c := &composeRun{t: t, compose: compose, project: "agentid-test-" + id,
		env: []string{"TAG=" + tag, "AGENT_PORT=" + strconv.Itoa(agentPort), "CLOUDSIM_PORT=" + strconv.Itoa(cloudsimPort)}}

	build := exec.Command("bash", "scripts/build-images.sh", "--engine", "docker", "--tag", tag, "--dist", filepath.Join(t.TempDir(), "dist"))
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-images.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		for _, bin := range []string{"cloudsim", "llm-agent", "weather-api", "token-refresher"} {
			exec.Command("docker", "rmi", "-f", "agentid/"+bin+":"+tag).Run()
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := c.run(time.Minute, "logs", "--no-color")
			t.Logf("--- docker compose logs ---\n%s", logs)
		}
		c.run(2*time.Minute, "down", "-v", "--remove-orphans", "--timeout", "5")
	})

	start := time.Now()
	c.must(4*time.Minute, "up", "-d", "--no-build", "--wait", "--wait-timeout", "180")
	t.Logf("the local profile's five services were healthy %s after up", time.Since(start).Round(100*time.Millisecond))
	var ps []struct{ Service, Health string }
	for _, line := range bytes.Split(bytes.TrimSpace(c.must(time.Minute, "ps", "--format", "json")), []byte("\n")) {
		var one struct{ Service, Health string }
		if err := json.Unmarshal(line, &one); err != nil {
			t.Fatalf("docker compose ps: %v: %s", err, line)
		}
		ps = append(ps, one)
	}
	if len(ps) != 5 || slices.ContainsFunc(ps, func(s struct{ Service, Health string }) bool { return s.Health != "healthy" }) {
		t.Fatalf("services: %+v, want five healthy", ps)
	}

	client := &http.Client{Timeout: 60 * time.Second}
	for _, mode := range []string{"direct", "bedrock"} {
		body, _ := json.Marshal(map[string]string{"message": "What's the weather in Oslo?", "llm_mode": mode})
		resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/api/chat", agentPort), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(raw), "In Oslo it is") {
			t.Fatalf("%s turn: %d %.500s", mode, resp.StatusCode, raw)
		}
	}

	token := c.tokenFile()
	var claims struct {
		Iss, Aud string
		Exp      int64
	}
	if err := jwtpeek.Claims(token, &claims); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(claims.Iss, "https://sts.windows.net/") || !strings.HasPrefix(claims.Aud, "api://") || time.Unix(claims.Exp, 0).Before(time.Now()) {
		t.Errorf("the web identity token: iss %q aud %q exp %s; want Entra's v1 issuer, the STS app, unexpired", claims.Iss, claims.Aud, time.Unix(claims.Exp, 0))
	}

	// Only cloudsim can read its keys: every other container has the
	// trust folder, which holds certificates and nothing else.
	for _, svc := range []string{"llm-agent", "auth-sidecar", "weather-api", "token-refresher"} {
		trust, err := c.files(svc, "/trust")
		if err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		var names []string
		for name, data := range trust {
			names = append(names, filepath.Base(name))
			if bytes.Contains(data, []byte("PRIVATE KEY")) {
				t.Errorf("%s can read a private key in %s", svc, name)
			}
		}
		slices.Sort(names)
		if strings.Join(names, ",") != "ca-bundle.pem,ca.pem" {
			t.Errorf("%s's /trust holds %v", svc, names)
		}
		// Every image has an empty /state mount point; here nothing is
		// mounted on it.
		if state, err := c.files(svc, "/state"); err == nil && len(state) > 0 {
			t.Errorf("%s can read cloudsim's state folder: %d files", svc, len(state))
		}
	}
	if state, err := c.files("cloudsim", "/state"); err != nil || len(state) == 0 {
		t.Errorf("cloudsim's own state: %v", err)
	}

	logs := string(c.must(time.Minute, "logs", "--no-color"))
	if leaks := leakcheck.Find(logs, token); len(leaks) > 0 {
		t.Errorf("the services' logs hold %v", leaks)
	}
	if leaks := leakcheck.Find(logs+"\n"+token, token); len(leaks) == 0 {
		t.Error("the scan missed a planted token")
	}

	c.must(2*time.Minute, "down", "-v", "--remove-orphans", "--timeout", "5")
	label := "label=com.docker.compose.project=" + c.project
	for _, kind := range [][]string{{"ps", "-a"}, {"volume", "ls"}, {"network", "ls"}} {
		if left := docker(t, append(kind, "-q", "--filter", label)...); left != "" {
			t.Errorf("docker %s still lists %s after down -v", strings.Join(kind, " "), left)
		}
	}
}

// tokenFile is the web identity token token-refresher wrote.
func (c *composeRun) tokenFile() string {
	c.t.Helper()
	files, err := c.files("token-refresher", "/azure-token/token")
	if err != nil {
		c.t.Fatal(err)
	}
	for _, data := range files {
		return strings.TrimSpace(string(data))
	}
	c.t.Fatal("no token file")
	return ""
}
