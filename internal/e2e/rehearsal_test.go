package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsiam"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
)

// The rehearsals run the repository's AWS setup scripts for real, with
// the real AWS CLI, against cloudsim's IAM and STS, from an account with
// nothing in it, then use what they created through the product's own
// clients. Nothing here replays a script's calls: cloudsim decides from
// the documents the scripts wrote.

const bedrockRole = "arn:aws:iam::111122223333:role/agentid-bedrock-invoke"

// awsCLIDir is a folder holding an aws command that runs the AWS CLI v1
// of the machine's Python, whatever PATH the script is given.
func awsCLIDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys, awscli; print(sys.executable)").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the python3 on PATH lacks the AWS CLI v1 (the machine's pyenv Python has it; PyPI is unreachable): %v", err)
		}
		t.Skip("the AWS CLI v1 is not importable from the python3 on PATH")
	}
	dir := t.TempDir()
	wrapper := "#!/bin/sh\nexec " + strings.TrimSpace(string(out)) + " -m awscli \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "aws"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// scriptEnv is what an operator's shell would hold to run a setup script
// against cloudsim: cloudsim.env's endpoints and CA, AWS_ENDPOINT_URL at
// cloudsim so no other service is reached, and the IAM admin's profile in
// cloudsim's credentials file. Nothing of the machine's AWS setup.
func scriptEnv(t *testing.T, sim *cloudsim.Sim, cli string) []string {
	env := []string{"PATH=" + cli + ":/usr/bin:/bin", "HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"), "AWS_ENDPOINT_URL=" + sim.URL,
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(sim.Dir, cloudsim.AWSCredentialsFile), "AWS_PROFILE=cloudsim-admin"}
	for k, v := range sim.Env() {
		if strings.HasPrefix(k, "AWS_ENDPOINT_URL_") || k == "AWS_CA_BUNDLE" || k == "SSL_CERT_FILE" || k == "AWS_DEFAULT_REGION" || k == "AWS_REGION" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// runScript runs a script of the repository and returns its stdout.
func runScript(t *testing.T, env []string, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join("..", "..", "scripts", script)}, args...)...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", script, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// runAWS runs the AWS CLI with env and returns its combined output and
// whether it succeeded.
func runAWS(t *testing.T, env []string, cli string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(filepath.Join(cli, "aws"), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// bedrockTurn is one autonomous Bedrock turn through llm-agent.
func bedrockTurn(t *testing.T, url, token string) reply {
	t.Helper()
	return chat(t, url, map[string]any{"message": "What's the weather in Lisbon?", "llm_mode": "bedrock", "token_flow": "autonomous"}, token)
}

func TestAWSFederationRehearsal(t *testing.T) {
	cli := awsCLIDir(t)
	s := e2e.StartWithSettings(t, func(o *cloudsim.Options) {
		o.Tenant.AWS.OIDCProviders, o.Tenant.AWS.Roles = nil, nil // an account with nothing in it
	}, map[string]string{"AWS_ROLE_ARN": bedrockRole})
	url := s.Agent(nil)
	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	env := scriptEnv(t, s.Sim, cli)
	stats := s.Sim.Entra.Stats()

	if r := bedrockTurn(t, url, tc); r.body["success"] == true || !strings.Contains(r.raw, "No OpenIDConnect provider found") {
		t.Fatalf("before the script, chain B should fail at STS: %d %.600s", r.status, r.raw)
	}

	sts := s.Sim.Tenant.AppFor(tenant.PartSTS)
	args := []string{"--tenant-id", s.Env["TENANT_ID"], "--sts-app-uri", s.Env["STS_APP_URI"], "--sts-sp-object-id", sts.ServicePrincipalID}
	if out := runScript(t, env, "aws-federation.sh", args...); !strings.Contains(out, "AWS_ROLE_ARN="+bedrockRole) {
		t.Fatalf("the script printed %q, not the role the stack was given", out)
	}
	if r := bedrockTurn(t, url, tc); r.status != 200 || r.body["success"] != true {
		t.Fatalf("chain B through the script's provider and role: %d %.600s", r.status, r.raw)
	}

	// A second run finds what exists and creates nothing.
	created := func() string {
		return fmt.Sprint(stats.Get("iam.CreateOpenIDConnectProvider"), stats.Get("iam.CreateRole"), stats.Get("iam.AddClientIDToOpenIDConnectProvider"))
	}
	before := created()
	runScript(t, env, "aws-federation.sh", args...)
	if after := created(); after != before || before != "1 1 0" {
		t.Errorf("creations (provider, role, client ID) went from %s to %s; want 1 1 0 both times", before, after)
	}

	// Each broken piece gives AWS's refusal through a real client: the AWS
	// CLI assuming the role with the refresher's token (STS judges the
	// provider and trust anew each time), and llm-agent's Bedrock turn (the
	// role's policies are judged on every call).
	providerARN := "arn:aws:iam::111122223333:oidc-provider/sts.windows.net/" + s.Env["TENANT_ID"] + "/"
	assume := func() (string, bool) {
		return runAWS(t, env, cli, "sts", "assume-role-with-web-identity", "--role-arn", bedrockRole, "--role-session-name", "rehearsal",
			"--web-identity-token", "file://"+s.TokenFile)
	}
	admin := func(args ...string) {
		t.Helper()
		if out, ok := runAWS(t, env, cli, args...); !ok {
			t.Fatalf("aws %s: %s", strings.Join(args, " "), out)
		}
	}
	host := "sts.windows.net/" + s.Env["TENANT_ID"] + "/"
	wrongAud := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + providerARN + `"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + host + `:aud":"api://someone-else","` + host + `:sub":"` + sts.ServicePrincipalID + `"}}}]}`
	cases := []struct {
		name   string
		damage func()
		check  func() (string, bool)
		want   string
	}{
		{"a trust policy whose aud condition does not match",
			func() {
				admin("iam", "update-assume-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-document", wrongAud)
			},
			assume, "(AccessDenied) when calling the AssumeRoleWithWebIdentity operation: Not authorized to perform sts:AssumeRoleWithWebIdentity"},
		{"a provider without the client ID",
			func() {
				admin("iam", "remove-client-id-from-open-id-connect-provider", "--open-id-connect-provider-arn", providerARN, "--client-id", s.Env["STS_APP_URI"])
			},
			assume, "(InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: Incorrect token audience"},
		{"a policy without the model's inference profile ARN",
			func() {
				admin("iam", "put-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-name", "bedrock-invoke", "--policy-document",
					`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel*","Resource":"arn:aws:bedrock:*::foundation-model/*"}]}`)
			},
			func() (string, bool) { r := bedrockTurn(t, url, tc); return r.raw, r.body["success"] == true },
			"AccessDeniedException"},
		{"an explicit Deny beside the Allow",
			func() {
				admin("iam", "put-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-name", "deny-bedrock", "--policy-document",
					`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"bedrock:*","Resource":"*"}]}`)
			},
			func() (string, bool) { r := bedrockTurn(t, url, tc); return r.raw, r.body["success"] == true },
			"AccessDeniedException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.damage()
			if out, ok := c.check(); ok || !strings.Contains(out, c.want) {
				t.Errorf("got ok=%v %.600s\nwant a refusal containing %q", ok, out, c.want)
			}
			// The script repairs what it owns; the extra Deny is removed by hand.
			runScript(t, env, "aws-federation.sh", args...)
			if c.name == "an explicit Deny beside the Allow" {
				admin("iam", "delete-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-name", "deny-bedrock")
			}
			if out, ok := assume(); !ok {
				t.Errorf("after the rerun, assuming the role fails: %s", out)
			}
			if r := bedrockTurn(t, url, tc); r.body["success"] != true {
				t.Errorf("after the rerun, the turn fails: %.600s", r.raw)
			}
		})
	}
}

// aws-agentcore.sh's IAM step from an account whose outbound identity
// federation is off: it enables it and prints the issuer, and the
// secretless blueprint then authenticates with the role's outbound token.
func TestAWSAgentCoreFederationRehearsal(t *testing.T) {
	cli := awsCLIDir(t)
	issuer := awsiam.DefaultOutboundIssuer("111122223333")
	s := e2e.StartWith(t, func(o *cloudsim.Options) {
		o.Tenant.AWS.OutboundIssuer = "" // off
		bp := o.Tenant.AppFor(tenant.PartBlueprint)
		for i, fc := range bp.FederatedCredentials {
			if strings.HasSuffix(fc.Issuer, ".tokens.sts.global.api.aws") {
				bp.FederatedCredentials[i].Issuer = issuer // what the script's issuer will be
			}
		}
	})
	url := s.Agent(map[string]string{"AGENTCORE_RUNTIME": "true", "IDENTITY_PROVIDER": "",
		"BLUEPRINT_CREDENTIAL": "aws-web-identity", "BLUEPRINT_CLIENT_SECRET": ""})
	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	turn := func() (int, string) {
		status, _, raw := invoke(t, url, `{"prompt":"What's the weather in Lisbon?","token_flow":"autonomous"}`, tc, "")
		return status, raw
	}
	// The turn answers, saying the weather could not be fetched: T1 needs
	// the blueprint's client assertion, which STS refuses to issue.
	if _, raw := turn(); !strings.Contains(raw, "OutboundWebIdentityFederationDisabledException") {
		t.Fatalf("with federation off the blueprint should not authenticate: %.600s", raw)
	}

	envFile := filepath.Join(t.TempDir(), "agentid.env")
	os.WriteFile(envFile, []byte("TENANT_ID="+s.Env["TENANT_ID"]+"\nAWS_REGION="+s.Env["AWS_REGION"]+"\n"), 0o600)
	env := scriptEnv(t, s.Sim, cli)
	if out := runScript(t, env, "aws-agentcore.sh", "federation", "--env-file", envFile); strings.TrimSpace(out) != issuer {
		t.Fatalf("the script printed %q, want the account's issuer %s", out, issuer)
	}
	if status, raw := turn(); status != 200 || !strings.Contains(raw, `"status":"success"`) || !strings.Contains(raw, "°F") {
		t.Fatalf("after the script, the secretless blueprint fails: %d %.600s", status, raw)
	}
	if n := s.Sim.Entra.Stats().Get("entra.client_auth.external_issuer." + issuer); n == 0 {
		t.Error("the AWS issuer never authenticated the blueprint")
	}
	// A second run finds it enabled and changes nothing.
	if out := runScript(t, env, "aws-agentcore.sh", "federation", "--env-file", envFile); strings.TrimSpace(out) != issuer {
		t.Errorf("the second run printed %q", out)
	}
	if n := s.Sim.Entra.Stats().Get("iam.EnableOutboundWebIdentityFederation"); n != 1 {
		t.Errorf("federation was enabled %d times, want 1", n)
	}
}
