package compose_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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

	"github.com/compose-spec/compose-go/v2/graph"
	"github.com/compose-spec/compose-go/v2/types"
)

// Podman's default rlimits are above what a container sandbox without
// CAP_SYS_RESOURCE may set, and runc then refuses every container; these
// fit any machine. The runtime is runc, as on these machines.
const podmanConf = `[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
`

// pod runs the compose file's services as one podman pod: one network
// namespace, as a Container Apps replica has, so each service name is an
// alias of localhost.
type pod struct {
	t       *testing.T
	name    string
	conf    string
	project *types.Project
	hostTCP map[uint32]int // container port -> host port on 127.0.0.1
}

func (p *pod) podman(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (p *pod) must(timeout time.Duration, args ...string) string {
	p.t.Helper()
	out, err := p.podman(timeout, args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

func (p *pod) container(service string) string { return p.name + "-" + service }
func (p *pod) volume(name string) string       { return p.name + "-" + name }

// create makes the pod, publishing each service's ports on a free loopback
// port, and the project's named volumes.
func (p *pod) create() {
	args := []string{"pod", "create", "--name", p.name}
	for _, s := range p.project.Services {
		args = append(args, "--add-host", s.Name+":127.0.0.1")
		for _, port := range s.Ports {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				p.t.Fatal(err)
			}
			host := l.Addr().(*net.TCPAddr).Port
			l.Close()
			p.hostTCP[port.Target] = host
			args = append(args, "-p", fmt.Sprintf("127.0.0.1:%d:%d", host, port.Target))
		}
	}
	p.t.Cleanup(func() { p.podman(time.Minute, "pod", "rm", "-f", "-t", "2", p.name) })
	p.must(time.Minute, args...)
	for v := range p.project.Volumes {
		p.t.Cleanup(func() { p.podman(time.Minute, "volume", "rm", "-f", p.volume(v)) })
		p.must(time.Minute, "volume", "create", p.volume(v))
	}
}

// start runs one service as compose would: its dependencies' conditions
// first, then its image, command, environment and volumes.
func (p *pod) start(s types.ServiceConfig) error {
	for dep, d := range s.DependsOn {
		if d.Condition == types.ServiceConditionHealthy {
			if err := p.waitHealthy(dep); err != nil {
				return err
			}
		}
	}
	args := []string{"run", "-d", "--pod", p.name, "--name", p.container(s.Name)}
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeVolume {
			return fmt.Errorf("%s: only named volumes run in the pod, not %s", s.Name, v.Type)
		}
		mount := p.volume(v.Source) + ":" + v.Target
		if v.ReadOnly {
			mount += ":ro"
		}
		args = append(args, "-v", mount)
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range s.Environment {
			if !yield(k) {
				return
			}
		}
	}) {
		if v := s.Environment[k]; v != nil {
			args = append(args, "-e", k+"="+*v)
		}
	}
	args = append(append(args, s.Image), s.Command...)
	_, err := p.podman(time.Minute, args...)
	return err
}

// waitHealthy runs the service's healthcheck in its container until it
// passes, within the budget compose would give it.
func (p *pod) waitHealthy(name string) error {
	s, err := p.project.GetService(name)
	if err != nil {
		return err
	}
	hc := s.HealthCheck
	if hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
		return fmt.Errorf("%s: service_healthy needs a CMD healthcheck, got %v", name, hc)
	}
	budget := 30 * time.Second
	if hc.Interval != nil && hc.Retries != nil {
		budget = time.Duration(*hc.Interval) * time.Duration(*hc.Retries)
		if hc.StartPeriod != nil {
			budget += time.Duration(*hc.StartPeriod)
		}
	}
	deadline := time.Now().Add(budget)
	for {
		_, err := p.podman(10*time.Second, append([]string{"exec", p.container(name)}, hc.Test[1:]...)...)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not healthy after %s: %w", name, budget, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (p *pod) logs() {
	for _, s := range p.project.Services {
		out, _ := p.podman(time.Minute, "logs", p.container(s.Name))
		p.t.Logf("--- %s ---\n%s", s.Name, out)
	}
}

// The local profile, from the host-built scratch images, as one pod: every
// service healthy, one Bedrock turn with the agent's own token through them,
// and cloudsim's records proving both secretless chains.
func TestLocalProfileInOnePod(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs container images")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("podman is missing; .ci/run installs it")
		}
		t.Skip("podman is not installed")
	}
	dir := t.TempDir()
	tag := "smoke-" + strconv.Itoa(os.Getpid())
	p := &pod{t: t, name: "agentid-" + tag, conf: filepath.Join(dir, "containers.conf"), hostTCP: map[uint32]int{}}
	if err := os.WriteFile(p.conf, []byte(podmanConf), 0o644); err != nil {
		t.Fatal(err)
	}
	p.project = load(t, "compose.local.yaml", "local.env", "REGISTRY=agentid", "TAG="+tag)

	build := exec.Command("bash", "scripts/build-images.sh", "--engine", "podman", "--tag", tag, "--dist", filepath.Join(dir, "dist"))
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	images := map[string]bool{}
	for _, s := range p.project.Services {
		images[s.Image] = true
	}
	t.Cleanup(func() {
		for img := range images {
			p.podman(time.Minute, "rmi", "-f", img)
		}
	})
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-images.sh: %v\n%s", err, out)
	}

	p.create()
	t.Cleanup(func() {
		if t.Failed() {
			p.logs()
		}
	})
	err := graph.InDependencyOrder(context.Background(), p.project, func(_ context.Context, _ string, s types.ServiceConfig) error {
		return p.start(s)
	}, graph.WithMaxConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.project.Services {
		if s.HealthCheck != nil {
			if err := p.waitHealthy(s.Name); err != nil {
				t.Fatal(err)
			}
		}
	}

	agent := fmt.Sprintf("http://127.0.0.1:%d", p.hostTCP[3000])
	body, _ := json.Marshal(map[string]string{"message": "What's the weather in Madrid?", "llm_mode": "bedrock", "token_flow": "autonomous"})
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(agent+"/api/chat", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "In Madrid it is") {
		t.Fatalf("chat turn: %d %.500s", resp.StatusCode, raw)
	}

	// cloudsim's records, read with its CA copied out of the state volume.
	ca := filepath.Join(dir, "ca.pem")
	p.must(time.Minute, "cp", p.container("cloudsim")+":/state/ca-bundle.pem", ca)
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	cloudsim := fmt.Sprintf("https://127.0.0.1:%d", p.hostTCP[8443])
	getJSON := func(path string, v any) {
		resp, err := client.Get(cloudsim + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var stats struct{ Counts map[string]int }
	getJSON("/_cloudsim/stats", &stats)
	bp := *p.project.Services["auth-sidecar"].Environment["AzureAd__ClientId"]
	if stats.Counts["entra.client_auth.federated_credential."+bp] == 0 || stats.Counts["entra.client_auth.secret."+bp] != 0 {
		t.Errorf("chain A not proven: the blueprint must authenticate with the managed identity: %v", stats.Counts)
	}
	var received []struct {
		Caller struct{ Auth, Principal string }
	}
	getJSON("/_cloudsim/bedrock/received", &received)
	if len(received) == 0 {
		t.Fatal("Bedrock received nothing")
	}
	for _, r := range received {
		if r.Caller.Auth != "sigv4" || !strings.Contains(r.Caller.Principal, "assumed-role/agentid-bedrock-invoke/") {
			t.Errorf("chain B not proven: Bedrock's caller %+v", r.Caller)
		}
	}
}
