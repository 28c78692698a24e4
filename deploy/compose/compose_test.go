// Package compose_test checks the compose files: they load with compose-go,
// follow the deployment rules, and give every binary the settings its own
// configuration code requires.
package compose_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sidecar"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/refresher"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

func load(t *testing.T, file, envFile string, extra ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithWorkingDirectory("."), cli.WithEnvFiles(envFile), cli.WithDotEnv, cli.WithEnv(extra))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return p
}

func projects(t *testing.T) map[string]*types.Project {
	return map[string]*types.Project{
		// The example's empty secret stands in for a filled-in .env.
		"compose.yaml":       load(t, "compose.yaml", ".env.example", "BLUEPRINT_CLIENT_SECRET=filled-in"),
		"compose.local.yaml": load(t, "compose.local.yaml", "local.env"),
	}
}

func env(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func TestDeploymentRules(t *testing.T) {
	for name, p := range projects(t) {
		t.Run(name, func(t *testing.T) {
			svc := func(n string) types.ServiceConfig {
				s, err := p.GetService(n)
				if err != nil {
					t.Fatalf("no service %s", n)
				}
				return s
			}
			side, agent, weather := svc("auth-sidecar"), svc("llm-agent"), svc("weather-api")
			if side.NetworkMode != "service:llm-agent" || len(side.Ports) != 0 {
				t.Errorf("the sidecar must share llm-agent's network namespace and publish nothing: %q %v", side.NetworkMode, side.Ports)
			}
			if len(weather.Ports) != 0 {
				t.Errorf("weather-api publishes %v", weather.Ports)
			}
			if e := env(agent); e["SIDECAR_URL"] != "http://localhost:5000" {
				t.Errorf("SIDECAR_URL = %q", e["SIDECAR_URL"])
			}
			if len(agent.Ports) != 1 || agent.Ports[0].Target != 3000 || agent.Ports[0].Published != "3001" {
				t.Errorf("llm-agent ports %v, want 3001 -> 3000", agent.Ports)
			}
			if d, ok := agent.DependsOn["weather-api"]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("llm-agent must wait for a healthy weather-api: %v", agent.DependsOn)
			}
			for _, s := range p.Services {
				ours := strings.Contains(s.Image, "agentid/") // cloudsim's sidecar stand-in included
				if ours && (s.HealthCheck == nil || len(s.HealthCheck.Test) == 0) {
					t.Errorf("%s has no healthcheck", s.Name)
				}
			}
			e := env(side)
			if e["Sidecar__AllowOverrides__GetAuthorizationHeaderUnauthenticated"] != "true" || e["DownstreamApis__weather-app__RequestAppToken"] != "true" {
				t.Errorf("sidecar overrides or app-token entry missing: %v", e)
			}
			if name == "compose.local.yaml" {
				if d := agent.DependsOn["token-refresher"]; d.Condition != types.ServiceConditionHealthy {
					t.Error("llm-agent must wait for the first web identity token")
				}
				for _, s := range p.Services {
					for k := range env(s) {
						if k == "BLUEPRINT_CLIENT_SECRET" || strings.HasSuffix(k, "__ClientSecret") || k == "AWS_ACCESS_KEY_ID" || k == "AWS_BEARER_TOKEN_BEDROCK" {
							t.Errorf("%s gets %s: the local stack is secretless", s.Name, k)
						}
					}
				}
			}
		})
	}
}

// Each binary's own settings code accepts what compose gives it: a missing
// or malformed setting would fail here, not at docker compose up.
func TestEverySettingIsThere(t *testing.T) {
	for name, p := range projects(t) {
		t.Run(name, func(t *testing.T) {
			for _, s := range p.Services {
				e := env(s)
				get := func(k string) string { return e[k] }
				var err error
				switch s.Name {
				case "llm-agent":
					r := config.New(get)
					chatapi.LoadSettings(r)
					err = r.Err()
				case "weather-api":
					r := config.New(get)
					weatherapi.LoadSettings(r)
					err = r.Err()
				case "token-refresher":
					r := config.NewLookup(func(k string) (string, bool) { v, ok := e[k]; return v, ok })
					refresher.LoadSettings(r)
					err = r.Err()
				case "auth-sidecar":
					// Microsoft's image and cloudsim's read the same names.
					var environ []string
					for k, v := range e {
						environ = append(environ, k+"="+v)
					}
					_, err = sidecar.ConfigFromEnv(environ)
				}
				if err != nil {
					t.Errorf("%s: %v", s.Name, err)
				}
			}
		})
	}
}

// local.env holds the tenant file's IDs, so the containers and cloudsim
// agree.
func TestLocalEnvMatchesTheTenantFile(t *testing.T) {
	d, err := tenant.Parse("tenant.jsonc", local.TenantFile)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"TENANT_ID": d.Tenant.ID, "MANAGED_IDENTITY_CLIENT_ID": d.ManagedIdentity.ClientID, "AWS_REGION": d.AWS.Region}
	for _, a := range d.Applications {
		if a.ExportAs != "" {
			want[a.ExportAs] = a.AppID
		}
	}
	for _, a := range d.AgentIdentities {
		want[a.ExportAs] = a.AppID
	}
	for _, u := range d.AgentUsers {
		want[u.ExportAs] = u.UPN
	}
	want["AWS_ROLE_ARN"] = d.AWS.ARN(d.AWS.Roles[0])
	raw, err := os.ReadFile(filepath.Join(".", "local.env"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			got[k] = v
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("local.env %s = %q, the tenant file says %q", k, got[k], v)
		}
	}
}

// The local profile publishes every port on this machine's loopback only:
// cloudsim signs anyone in without a password and serves IAM with the
// demo's admin key, and llm-agent lets anonymous autonomous turns run.
func TestComposeLocalBindsLoopbackOnly(t *testing.T) {
	p := load(t, "compose.local.yaml", "local.env")
	published := 0
	for _, s := range p.Services {
		for _, port := range s.Ports {
			published++
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %d on %q, want 127.0.0.1", s.Name, port.Target, port.HostIP)
			}
		}
	}
	if published != 2 {
		t.Errorf("%d ports published, want cloudsim's and llm-agent's", published)
	}
}

// Only cloudsim mounts its state folder (the CA key, the server key, the
// signing keys, the IAM users' keys); the others mount the folder it
// publishes certificates to, and the images they run are built here or by
// scripts/build-images.sh, never pulled under a name this project does not
// own on Docker Hub.
func TestOnlyCloudsimReadsItsKeys(t *testing.T) {
	p := load(t, "compose.local.yaml", "local.env")
	sim, err := p.GetService("cloudsim")
	if err != nil {
		t.Fatal(err)
	}
	flag := func(name string) string {
		if i := slices.Index(sim.Command, name); i >= 0 && i+1 < len(sim.Command) {
			return sim.Command[i+1]
		}
		return ""
	}
	mounted := func(s types.ServiceConfig, target string) string {
		for _, v := range s.Volumes {
			if v.Target == target {
				return v.Source
			}
		}
		return ""
	}
	state, trust := mounted(sim, flag("-dir")), mounted(sim, flag("-trust-dir"))
	if state == "" || trust == "" || state == trust {
		t.Fatalf("cloudsim's -dir and -trust-dir must be two volumes of their own: %q %q", state, trust)
	}
	for _, s := range p.Services {
		if strings.Contains(s.Image, "agentid/") && s.PullPolicy != types.PullPolicyNever {
			t.Errorf("%s: pull_policy %q, want never: %s is built locally", s.Name, s.PullPolicy, s.Image)
		}
		if s.Name == "cloudsim" {
			continue
		}
		for _, v := range s.Volumes {
			if v.Source == state {
				t.Errorf("%s mounts cloudsim's state (%s at %s), which holds its private keys", s.Name, state, v.Target)
			}
			if v.Source == trust && !v.ReadOnly {
				t.Errorf("%s mounts the trust folder writable", s.Name)
			}
		}
		for k, v := range env(s) {
			if (k == "SSL_CERT_FILE" || k == "AWS_CA_BUNDLE") && !strings.HasPrefix(v, mountTarget(s, trust)+"/") {
				t.Errorf("%s: %s=%s is not in the trust folder", s.Name, k, v)
			}
		}
	}
}

func mountTarget(s types.ServiceConfig, source string) string {
	for _, v := range s.Volumes {
		if v.Source == source {
			return v.Target
		}
	}
	return "(not mounted)"
}
