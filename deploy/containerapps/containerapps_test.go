// Package containerapps_test renders the Container Apps manifest with the
// real script and checks it: the golden file, the deployment rules, and
// each container's settings against its binary's own configuration code.
package containerapps_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sidecar"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/refresher"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

type manifest struct {
	Identity   struct{ Type string } `yaml:"identity"`
	Properties struct {
		Configuration struct {
			Ingress struct {
				External   bool `yaml:"external"`
				TargetPort int  `yaml:"targetPort"`
			} `yaml:"ingress"`
			Secrets []any `yaml:"secrets"`
		} `yaml:"configuration"`
		Template struct {
			Volumes []struct {
				Name        string `yaml:"name"`
				StorageType string `yaml:"storageType"`
			} `yaml:"volumes"`
			Containers []struct {
				Name      string `yaml:"name"`
				Resources struct {
					CPU    float64 `yaml:"cpu"`
					Memory string  `yaml:"memory"`
				} `yaml:"resources"`
				Env []struct {
					Name      string `yaml:"name"`
					Value     string `yaml:"value"`
					SecretRef string `yaml:"secretRef"`
				} `yaml:"env"`
				Probes []struct {
					Type    string `yaml:"type"`
					HTTPGet *struct {
						Path string `yaml:"path"`
						Port int    `yaml:"port"`
					} `yaml:"httpGet"`
				} `yaml:"probes"`
			} `yaml:"containers"`
		} `yaml:"template"`
	} `yaml:"properties"`
}

func render(t *testing.T, envFile string, env ...string) ([]byte, error) {
	cmd := exec.Command("bash", "../../scripts/render-containerapp.sh", "--env-file", envFile)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &renderError{stderr.String()}
	}
	return out, nil
}

type renderError struct{ msg string }

func (e *renderError) Error() string { return e.msg }

func TestRenderMatchesGolden(t *testing.T) {
	got, err := render(t, "testdata/example.env")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("testdata/rendered.golden.yaml")
	if !bytes.Equal(got, want) {
		t.Errorf("the render differs from testdata/rendered.golden.yaml (regenerate it with the script if the change is meant)")
	}
	// A variable left out fails the render, naming it.
	empty := t.TempDir() + "/empty.env"
	os.WriteFile(empty, []byte("LOCATION=x\n"), 0o600)
	if _, err := render(t, empty); err == nil || !strings.Contains(err.Error(), "set APP_NAME") {
		t.Errorf("a missing variable: %v", err)
	}
}

func TestManifest(t *testing.T) {
	raw, err := os.ReadFile("testdata/rendered.golden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Identity.Type != "SystemAssigned" || !m.Properties.Configuration.Ingress.External || m.Properties.Configuration.Ingress.TargetPort != 3000 {
		t.Errorf("identity %q, ingress %+v", m.Identity.Type, m.Properties.Configuration.Ingress)
	}
	if len(m.Properties.Configuration.Secrets) != 0 || bytes.Contains(raw, []byte("secretRef")) || bytes.Contains(raw, []byte("ClientSecret")) {
		t.Error("the manifest holds a secret")
	}
	if len(m.Properties.Template.Volumes) != 1 || m.Properties.Template.Volumes[0].StorageType != "EmptyDir" {
		t.Errorf("volumes %+v", m.Properties.Template.Volumes)
	}
	// Consumption plan combinations: 0.25 vCPU per 0.5 GiB.
	var cpu float64
	for _, c := range m.Properties.Template.Containers {
		cpu += c.Resources.CPU
	}
	if cpu != 1.25 {
		t.Errorf("total CPU %.2f; keep a valid CPU/memory combination", cpu)
	}
	names := map[string]bool{}
	for _, c := range m.Properties.Template.Containers {
		names[c.Name] = true
		env := map[string]string{}
		var environ []string
		for _, e := range c.Env {
			env[e.Name] = e.Value
			environ = append(environ, e.Name+"="+e.Value)
		}
		liveness, readiness := false, false
		for _, p := range c.Probes {
			if p.HTTPGet == nil {
				t.Errorf("%s: only HTTP probes exist on Container Apps", c.Name)
				continue
			}
			liveness = liveness || p.Type == "Liveness"
			readiness = readiness || p.Type == "Readiness"
		}
		if !liveness || !readiness {
			t.Errorf("%s: liveness %v, readiness %v", c.Name, liveness, readiness)
		}
		get := func(k string) string { return env[k] }
		var err error
		switch c.Name {
		case "llm-agent":
			r := config.New(get)
			s := chatapi.LoadSettings(r)
			err = r.Err()
			if !s.API.TrustProxyHeaders || env["AWS_ROLE_SESSION_NAME"] == "" {
				t.Error("llm-agent must trust the ingress's forwarded headers and name its AWS session")
			}
			// The ingress is public: the Host allowlist is the app's FQDN and
			// autonomous turns need a signed-in user.
			if want := "https://agentid.kindwave-1a2b3c4d.eastus2.azurecontainerapps.io"; env["PUBLIC_ORIGIN"] != want || !s.API.AutonomousNeedsUser {
				t.Errorf("PUBLIC_ORIGIN %q (want %s), autonomous turns need sign-in: %v", env["PUBLIC_ORIGIN"], want, s.API.AutonomousNeedsUser)
			}
		case "weather-api":
			r := config.New(get)
			weatherapi.LoadSettings(r)
			err = r.Err()
		case "token-refresher":
			r := config.NewLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			refresher.LoadSettings(r)
			err = r.Err()
		case "auth-sidecar":
			var cfg sidecar.Config
			cfg, err = sidecar.ConfigFromEnv(environ)
			if cfg.Credential.SourceType != "SignedAssertionFromManagedIdentity" {
				t.Errorf("the sidecar's credential is %q", cfg.Credential.SourceType)
			}
		}
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	for _, n := range []string{"llm-agent", "auth-sidecar", "weather-api", "token-refresher"} {
		if !names[n] {
			t.Errorf("no %s container", n)
		}
	}
}

// The chat UI on Container Apps for the agent on AgentCore Runtime:
// AGENTCORE_INVOCATION_URL, empty by default (this app's own agent
// answers), set to the AWS stack's AgentInvocationUrl makes llm-agent relay
// every turn there, and its settings code takes the rendered value.
func TestManifestOffersTheAgentCoreRelay(t *testing.T) {
	invocationURL := "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A111122223333%3Aruntime%2Fweather_agent-XYZ/invocations?qualifier=DEFAULT"
	for _, want := range []string{"", invocationURL} {
		raw, err := render(t, "testdata/example.env", "AGENTCORE_INVOCATION_URL="+want)
		if err != nil {
			t.Fatal(err)
		}
		var m manifest
		if err := yaml.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		for _, c := range m.Properties.Template.Containers {
			if c.Name != "llm-agent" {
				continue
			}
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			got, ok := env["AGENTCORE_INVOCATION_URL"]
			r := config.New(func(k string) string { return env[k] })
			s := chatapi.LoadSettings(r)
			if !ok || got != want || r.Err() != nil || s.API.InvocationURL != want {
				t.Errorf("AGENTCORE_INVOCATION_URL=%q rendered as %q (present: %v), settings %q: %v", want, got, ok, s.API.InvocationURL, r.Err())
			}
		}
	}
}

// The app scales out: more than one replica possible, an HTTP rule, no
// session affinity (any replica answers any turn), and a termination
// grace period longer than llm-agent's drain, so turns in flight finish
// on a restart.
func TestManifestScalesOut(t *testing.T) {
	raw, err := os.ReadFile("testdata/rendered.golden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Properties struct {
			Configuration struct {
				Ingress struct {
					StickySessions struct {
						Affinity string `yaml:"affinity"`
					} `yaml:"stickySessions"`
				} `yaml:"ingress"`
			} `yaml:"configuration"`
			Template struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Scale                         struct {
					MinReplicas int `yaml:"minReplicas"`
					MaxReplicas int `yaml:"maxReplicas"`
					Rules       []struct {
						Name string `yaml:"name"`
						HTTP *struct {
							Metadata map[string]string `yaml:"metadata"`
						} `yaml:"http"`
					} `yaml:"rules"`
				} `yaml:"scale"`
			} `yaml:"template"`
		} `yaml:"properties"`
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	sc := m.Properties.Template.Scale
	if sc.MinReplicas < 1 || sc.MaxReplicas <= sc.MinReplicas {
		t.Errorf("replicas %d to %d: want at least one always, and room to scale out", sc.MinReplicas, sc.MaxReplicas)
	}
	if len(sc.Rules) != 1 || sc.Rules[0].HTTP == nil || sc.Rules[0].HTTP.Metadata["concurrentRequests"] == "" {
		t.Errorf("scale rules %+v: want one HTTP rule on concurrent requests", sc.Rules)
	}
	if a := m.Properties.Configuration.Ingress.StickySessions.Affinity; a != "none" {
		t.Errorf("session affinity %q: the app needs none", a)
	}
	if g := time.Duration(m.Properties.Template.TerminationGracePeriodSeconds) * time.Second; g <= chatapi.WebSocketDrain || g <= httpserver.ShutdownGrace {
		t.Errorf("terminationGracePeriodSeconds %s: must be longer than llm-agent's drain, %s", g, chatapi.WebSocketDrain)
	}
}
