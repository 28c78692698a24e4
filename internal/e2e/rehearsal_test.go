package e2e_test

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsfront"
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

// testBash is the bash the rehearsals run the scripts under: bash on
// PATH, or the one AGENTID_TEST_BASH names (CI runs them under
// ../shared/tools/bash-3.2.48 too, the bash of a Mac).
func testBash(t *testing.T) string {
	t.Helper()
	b := os.Getenv("AGENTID_TEST_BASH")
	if b == "" {
		return "bash"
	}
	abs, err := filepath.Abs(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("AGENTID_TEST_BASH: %v", err)
	}
	return abs
}

// runScript runs a script of the repository and returns its stdout.
func runScript(t *testing.T, env []string, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testBash(t), append([]string{filepath.Join("..", "..", "scripts", script)}, args...)...)
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
	trust, _ := runAWS(t, env, cli, "iam", "get-role", "--role-name", "agentid-bedrock-invoke", "--query", "Role.AssumeRolePolicyDocument", "--output", "json")
	bedrockPolicy, _ := runAWS(t, env, cli, "iam", "get-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-name", "bedrock-invoke",
		"--query", "PolicyDocument", "--output", "json")
	turn := func() (string, bool) { r := bedrockTurn(t, url, tc); return r.raw, r.body["success"] == true }
	cases := []struct {
		name         string
		damage, undo []string // AWS CLI arguments, run as the admin
		check        func() (string, bool)
		want         string
	}{
		{"a trust policy whose aud condition does not match",
			[]string{"iam", "update-assume-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-document", wrongAud},
			[]string{"iam", "update-assume-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-document", trust},
			assume, "(AccessDenied) when calling the AssumeRoleWithWebIdentity operation: Not authorized to perform sts:AssumeRoleWithWebIdentity"},
		{"a provider without the client ID",
			[]string{"iam", "remove-client-id-from-open-id-connect-provider", "--open-id-connect-provider-arn", providerARN, "--client-id", s.Env["STS_APP_URI"]},
			[]string{"iam", "add-client-id-to-open-id-connect-provider", "--open-id-connect-provider-arn", providerARN, "--client-id", s.Env["STS_APP_URI"]},
			assume, "(InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: Incorrect token audience"},
		{"a policy without the model's inference profile ARN",
			[]string{"iam", "put-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-name", "bedrock-invoke", "--policy-document",
				`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel*","Resource":"arn:aws:bedrock:*::foundation-model/*"}]}`},
			[]string{"iam", "put-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-name", "bedrock-invoke", "--policy-document", bedrockPolicy},
			turn, "AccessDeniedException"},
		{"an explicit Deny beside the Allow",
			[]string{"iam", "put-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-name", "deny-bedrock", "--policy-document",
				`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"bedrock:*","Resource":"*"}]}`},
			[]string{"iam", "delete-role-policy", "--role-name", "agentid-bedrock-invoke", "--policy-name", "deny-bedrock"},
			turn, "AccessDeniedException"},
	}
	works := func(t *testing.T, when string) {
		t.Helper()
		if out, ok := assume(); !ok {
			t.Errorf("%s, assuming the role fails: %s", when, out)
		}
		if r := bedrockTurn(t, url, tc); r.body["success"] != true {
			t.Errorf("%s, the turn fails: %.600s", when, r.raw)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			admin(c.damage...)
			if out, ok := c.check(); ok || !strings.Contains(out, c.want) {
				t.Errorf("got ok=%v %.600s\nwant a refusal containing %q", ok, out, c.want)
			}
			admin(c.undo...)
			works(t, "undone")
		})
	}
	// What the script owns, broken all at once, one rerun repairs.
	t.Run("a rerun repairs the trust, the client ID and the policy", func(t *testing.T) {
		for _, c := range cases[:3] {
			admin(c.damage...)
		}
		runScript(t, env, "aws-federation.sh", args...)
		works(t, "after the rerun")
	})
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

// entraSetup runs scripts/entra-setup.sh against cloudsim as an operator
// would: AZURE_AUTHORITY_HOST and GRAPH_URL from cloudsim.env, its CA in
// SSL_CERT_FILE. When the script shows its device code, approveAs signs
// in and consents in the person's place (cloudsim's unattended approval),
// for the scopes named in only (all when empty). It returns the script's
// stderr and whether it succeeded.
func entraSetup(t *testing.T, sim *cloudsim.Sim, approveAs, only string, args ...string) (string, bool) {
	t.Helper()
	return entraSetupIn(t, sim, "", approveAs, only, args...)
}

// entraSetupIn is entraSetup run from the folder dir ("": this package's),
// where relative paths the script writes (its default secret file) land.
func entraSetupIn(t *testing.T, sim *cloudsim.Sim, dir, approveAs, only string, args ...string) (string, bool) {
	t.Helper()
	return entraSetupWith(t, sim, dir, nil, approveAs, only, args...)
}

// entraSetupWith is entraSetupIn with more of the operator's environment:
// awsEnv (scriptEnv's, for entra-setup.sh --vault, which runs
// aws-agentcore.sh), whose PATH's folders come after curl's wrapper.
func entraSetupWith(t *testing.T, sim *cloudsim.Sim, dir string, awsEnv []string, approveAs, only string, args ...string) (string, bool) {
	t.Helper()
	script, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "entra-setup.sh"))
	cmd := exec.Command(testBash(t), append([]string{script, "--tenant-id", sim.Tenant.Tenant.ID}, args...)...)
	cmd.Dir = dir
	env := sim.Env()
	// curl's command lines are recorded: no secret may be on one, where
	// other users of the machine could read it (ps).
	wrap, argv := t.TempDir(), filepath.Join(t.TempDir(), "curl-argv")
	os.WriteFile(filepath.Join(wrap, "curl"), []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >>\""+argv+"\"\nexec /usr/bin/curl \"$@\"\n"), 0o755)
	defer func() {
		logged, _ := os.ReadFile(argv)
		if found := secretsOnCommandLines(string(logged)); len(found) > 0 {
			t.Errorf("entra-setup.sh put secrets on curl's command line: %v", found)
		}
	}()
	path := wrap + ":/usr/bin:/bin"
	cmd.Env = []string{"HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(), "AZURE_AUTHORITY_HOST=" + env["AZURE_AUTHORITY_HOST"],
		"GRAPH_URL=" + env["GRAPH_URL"], "SSL_CERT_FILE=" + env["SSL_CERT_FILE"]}
	for _, kv := range awsEnv {
		switch k, v, _ := strings.Cut(kv, "="); k {
		case "PATH":
			path = wrap + ":" + v
		case "HOME", "TMPDIR", "SSL_CERT_FILE":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PATH="+path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var out strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if m := userCode.FindStringSubmatch(line); m != nil {
			form := url.Values{"user_code": {m[1]}, "user": {approveAs}}
			if only != "" {
				form.Set("scopes", only)
			}
			resp, err := cloudsimtest.Client(sim).PostForm(sim.URL+"/_cloudsim/devicecode/approve", form)
			if err != nil || resp.StatusCode != 204 {
				t.Fatalf("approve the device code: %v %v", err, resp)
			}
			resp.Body.Close()
		}
	}
	return out.String(), cmd.Wait() == nil
}

var userCode = regexp.MustCompile(`enter the code ([A-Z0-9]+) `)

// secretArg finds a bearer token, a client secret or an assertion given
// inline on a command line.
var secretArg = regexp.MustCompile(`Authorization: Bearer \S+|client_secret=\S+|client_assertion=ey\S+`)

// secretsOnCommandLines lists what secretArg finds in logged command
// lines, each cut short.
func secretsOnCommandLines(logged string) []string {
	var found []string
	for _, m := range secretArg.FindAllString(logged, -1) {
		found = append(found, m[:min(len(m), 24)]+"…")
	}
	return found
}

// The scanner catches each planted form, and not the forms the script uses.
func TestSecretsOnCommandLinesScanner(t *testing.T) {
	planted := "-sS -H Authorization: Bearer eyJ0eXAi.x.y https://graph\n--data-urlencode client_secret=abc~def\n--data-urlencode client_assertion=eyJhbGci.a.b\n"
	if found := secretsOnCommandLines(planted); len(found) != 3 {
		t.Errorf("planted: found %v, want 3", found)
	}
	clean := "-sS -H @/tmp/x/authorization https://graph\n--data-urlencode client_secret@/tmp/x/secret --data-urlencode client_assertion@/tmp/x/t1\n"
	if found := secretsOnCommandLines(clean); len(found) != 0 {
		t.Errorf("clean: found %v", found)
	}
}

// readEnv reads KEY=VALUE lines.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// scriptScopes are the permissions entra-setup.sh asks for by default.
const scriptScopes = "User.Read RoleManagement.Read.Directory AgentIdentityBlueprint.Create AgentIdentityBlueprint.UpdateAuthProperties.All " +
	"AgentIdentityBlueprint.AddRemoveCreds.All AgentIdentityBlueprintPrincipal.Create AgentIdentity.Create.All Application.ReadWrite.All " +
	"AppRoleAssignment.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All AgentIdUser.ReadWrite.IdentityParentedBy"

// consentForOrganization is an admin's consent, for everyone, to the
// Graph Command Line Tools' use of these Graph permissions (an
// AllPrincipals grant).
func consentForOrganization(sim *cloudsim.Sim, scopes string) {
	sim.Live.Update(func(next *tenant.Directory) error {
		next.Consents = append(next.Consents, &tenant.Consent{Client: tenant.GraphCLIAppID, Resource: tenant.GraphAppID, Scopes: strings.Fields(scopes)})
		return nil
	})
}

// freshTenant is cloudsim's options for a new tenant with replication
// delay on, as a real tenant has.
func freshTenant(t *testing.T) func(*cloudsim.Options) {
	return func(o *cloudsim.Options) {
		cloudsimtest.FreshTenant(t)(o)
		o.ReplicationDelay = 2 * time.Second
	}
}

// setRoles gives a user of the live tenant these directory roles (a copy:
// published snapshots never change).
func setRoles(sim *cloudsim.Sim, upn string, roles ...string) {
	sim.Live.Update(func(next *tenant.Directory) error {
		for i, u := range next.Users {
			if u.UPN == upn {
				c := *u
				c.DirectoryRoles = roles
				next.Users[i] = &c
			}
		}
		return nil
	})
}

// freshTenantSim is cloudsim on a new tenant.
func freshTenantSim(t *testing.T) *cloudsim.Sim { return cloudsimtest.Start(t, freshTenant(t)) }

// graphCreations counts the objects cloudsim's Graph created.
func graphCreations(sim *cloudsim.Sim) int64 {
	var n int64
	for k, v := range sim.Entra.Stats().Snapshot() {
		if strings.HasPrefix(k, "graph.") && (strings.HasSuffix(k, ".create") || strings.HasSuffix(k, ".password") || strings.HasSuffix(k, ".fic")) {
			n += v
		}
	}
	return n
}

// TestEntraSetupRehearsal runs the real scripts/entra-setup.sh against
// cloudsim's Graph from a new tenant, with replication delay on, signing
// the admin in by device code: it builds the agent, and its own T1 -> TR
// check passes; a second run creates nothing; the trust modes add what
// they should; and a user without a role, a withheld scope and an
// over-privileged token each stop it before any write.
func TestEntraSetupRehearsal(t *testing.T) {
	// No stack, only cloudsim and the script (which mostly waits on its
	// device code): it runs beside the stack's tests.
	t.Parallel()
	sim := freshTenantSim(t)
	creations := func() int64 { return graphCreations(sim) }
	envFile := filepath.Join(t.TempDir(), "agentid.env")

	// A dry run signs in and looks, and shows what it would create.
	out, ok := entraSetup(t, sim, "admin@contoso.example", "", "--env-file", envFile, "--dry-run")
	if !ok || !strings.Contains(out, "would call: POST /applications/microsoft.graph.agentIdentityBlueprint") || creations() != 0 {
		t.Fatalf("dry run (ok=%v, %d created):\n%s", ok, creations(), out)
	}
	if _, err := os.Stat(envFile); err == nil {
		t.Error("the dry run wrote the env file")
	}

	out, ok = entraSetup(t, sim, "admin@contoso.example", "", "--env-file", envFile)
	if !ok || !strings.Contains(out, "no blueprint secret") || !strings.Contains(out, "an admin consents once for everyone at "+sim.URL+"/"+sim.Tenant.Tenant.ID+"/v2.0/adminconsent?client_id=") {
		t.Fatalf("first run:\n%s", out)
	}
	env := readEnv(t, envFile)
	for _, k := range []string{"TENANT_ID", "BLUEPRINT_APP_ID", "AGENT_CLIENT_ID", "AGENT_USER_UPN", "CLIENT_SPA_APP_ID",
		"WEATHER_API_APP_ID", "STS_APP_ID", "STS_APP_URI", "STS_SP_OBJECT_ID"} {
		if env[k] == "" {
			t.Errorf("the env file lacks %s", k)
		}
	}
	if _, has := env["BLUEPRINT_CLIENT_SECRET"]; has || len(sim.Live.Load().App(env["BLUEPRINT_APP_ID"]).Secrets) != 0 {
		t.Errorf("a run that asked for no secret made one: %v", sim.Live.Load().App(env["BLUEPRINT_APP_ID"]).Secrets)
	}
	if info, _ := os.Stat(envFile); info.Mode().Perm() != 0o600 {
		t.Errorf("the env file is %v", info.Mode().Perm())
	}
	live := sim.Live.Load()
	if au := live.AgentUser(env["AGENT_USER_UPN"]); au == nil || au.AgentIdentity != env["AGENT_CLIENT_ID"] {
		t.Errorf("agent user: %+v", au)
	}
	if bp := live.App(env["BLUEPRINT_APP_ID"]); bp == nil || !slices.Contains(bp.WebRedirectURIs, "http://localhost:3001/consent.html") ||
		!slices.Contains(bp.Scopes, "access_as_user") {
		t.Errorf("blueprint: %+v", bp)
	}

	t.Run("a second run creates nothing", func(t *testing.T) {
		before := creations()
		scopeID := sim.Live.Load().App(env["BLUEPRINT_APP_ID"]).ScopeID("access_as_user")
		if out, ok := entraSetup(t, sim, "admin@contoso.example", "", "--env-file", envFile); !ok {
			t.Fatalf("second run:\n%s", out)
		}
		if after := creations(); after != before {
			t.Errorf("the second run created %d objects", after-before)
		}
		if got := sim.Live.Load().App(env["BLUEPRINT_APP_ID"]).ScopeID("access_as_user"); got != scopeID {
			t.Errorf("access_as_user changed id: %s -> %s", scopeID, got)
		}
	})

	// Asked for, a local secret lasts the days given, lives in its own
	// 0600 file, never the env file, passes the T1 -> TR check, and is
	// kept by a rerun while it lasts.
	t.Run("a local secret", func(t *testing.T) {
		secretFile := filepath.Join(t.TempDir(), "secret.env")
		for run := range 2 {
			before := creations()
			out, ok := entraSetup(t, sim, "admin@contoso.example", "", "--env-file", envFile, "--local-secret", "--secret-days", "3", "--secret-file", secretFile)
			if !ok || !strings.Contains(out, "T1 -> TR works") {
				t.Fatalf("run %d:\n%s", run, out)
			}
			if want := int64(1 - run); creations()-before != want {
				t.Errorf("run %d created %d objects, want %d", run, creations()-before, want)
			}
		}
		if info, err := os.Stat(secretFile); err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("the secret file: %v %v", info, err)
		}
		secret := readEnv(t, secretFile)
		bp := sim.Live.Load().App(env["BLUEPRINT_APP_ID"])
		if len(bp.Secrets) != 1 || secret["BLUEPRINT_CLIENT_SECRET"] != bp.Secrets[0] {
			t.Fatalf("the blueprint's secrets %d, the file's %q", len(bp.Secrets), secret["BLUEPRINT_CLIENT_SECRET"][:min(3, len(secret["BLUEPRINT_CLIENT_SECRET"]))])
		}
		if ends := bp.SecretEnds[bp.Secrets[0]]; time.Until(ends) > 3*24*time.Hour || time.Until(ends) < 3*24*time.Hour-time.Hour {
			t.Errorf("the secret ends %s, want in three days", ends)
		}
		if _, has := readEnv(t, envFile)["BLUEPRINT_CLIENT_SECRET"]; has {
			t.Error("the env file holds the secret")
		}
	})

	t.Run("a run that lost its env file finds everything by name", func(t *testing.T) {
		before := creations()
		lost := filepath.Join(t.TempDir(), "lost.env")
		if out, ok := entraSetup(t, sim, "admin@contoso.example", "", "--env-file", lost); !ok {
			t.Fatalf("run without the env file:\n%s", out)
		}
		if added := creations() - before; added != 0 {
			t.Errorf("the run created %d objects, want none", added)
		}
		found := readEnv(t, lost)
		for _, k := range []string{"BLUEPRINT_APP_ID", "AGENT_CLIENT_ID", "AGENT_USER_UPN", "CLIENT_SPA_APP_ID", "WEATHER_API_APP_ID", "STS_APP_ID"} {
			if found[k] != env[k] {
				t.Errorf("%s = %q, want the existing %q", k, found[k], env[k])
			}
		}
	})

	t.Run("federated credential", func(t *testing.T) {
		mi := sim.Tenant.ManagedIdentity.ObjectID
		for range 2 { // the second run adds nothing
			if out, ok := entraSetup(t, sim, "admin@contoso.example", "", "--env-file", envFile, "--federated-credential", mi,
				"--public-origin", "https://agentid.example.azurecontainerapps.io"); !ok {
				t.Fatalf("--federated-credential:\n%s", out)
			}
		}
		live := sim.Live.Load()
		bp, sts := live.App(env["BLUEPRINT_APP_ID"]), live.App(env["STS_APP_ID"])
		if len(bp.FederatedCredentials) != 1 || bp.FederatedCredentials[0].Subject != mi || len(sts.FederatedCredentials) != 1 {
			t.Errorf("credentials: blueprint %+v, STS app %+v", bp.FederatedCredentials, sts.FederatedCredentials)
		}
		if !slices.Contains(bp.WebRedirectURIs, "https://agentid.example.azurecontainerapps.io/consent.html") {
			t.Errorf("blueprint redirect URIs %v", bp.WebRedirectURIs)
		}
		// Chain A's first hop now works with no secret, once the new
		// credential has replicated: the managed identity's assertion
		// gets T1 for the agent.
		for deadline := time.Now().Add(10 * time.Second); len(sim.Live.ForTokens().FederatedCredentials(bp)) == 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the blueprint's federated credential did not replicate within 10 s")
			}
		}
		tokens := cloudsimtest.NewTokens(sim)
		assertion := tokens.ManagedIdentity(t)
		tokens.Get(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {env["BLUEPRINT_APP_ID"]},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
			"scope": {tenant.TokenExchangeURI + "/.default"}, "fmi_path": {env["AGENT_CLIENT_ID"]}})
	})

	t.Run("aws role", func(t *testing.T) {
		role, issuer := "arn:aws:iam::111122223333:role/agentid-AgentRuntimeRole-ABC", "https://example.tokens.sts.global.api.aws"
		if out, ok := entraSetup(t, sim, "admin@contoso.example", "", "--env-file", envFile, "--aws-role", role, "--aws-issuer", issuer); !ok {
			t.Fatalf("--aws-role:\n%s", out)
		}
		fcs := sim.Live.Load().App(env["BLUEPRINT_APP_ID"]).FederatedCredentials
		if !slices.ContainsFunc(fcs, func(fc tenant.FederatedCredential) bool { return fc.Issuer == issuer && fc.Subject == role }) {
			t.Errorf("credentials %+v", fcs)
		}
	})

	// Every permission the script asks for needs an admin's consent, which
	// a member or a developer cannot give (AADSTS90094, as on a real
	// tenant: TestMemberCannotConsentToAdminOnlyGraphPermissions). So each
	// runs on a new tenant whose admin consented to them for the
	// organization first, and the developer owns what it creates there:
	// another's apps it could not change (TestDelegatedTokenActsOnlyAsFarAsTheUserMay).
	// A developer with Cloud Application Administrator too (for the admin
	// consents) gets everything but the agent user.
	for _, c := range []struct {
		name, user string
		roles      []string
		want       string
		ok         bool
	}{
		{"a user without a role", "member@contoso.example", nil,
			"lack(s) directory roles this run needs (you have: none):\n  - Agent ID Developer (or Agent ID Administrator)", false},
		{"a developer and cloud application administrator: no agent user", "developer@contoso.example",
			[]string{"Agent ID Developer", "Cloud Application Administrator"}, "the agent user will be skipped: creating one needs the Agent ID Administrator role", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sim := freshTenantSim(t)
			consentForOrganization(sim, scriptScopes)
			if c.roles != nil {
				setRoles(sim, c.user, c.roles...)
			}
			out, ok := entraSetup(t, sim, c.user, "", "--env-file", filepath.Join(t.TempDir(), "x.env"))
			if !strings.Contains(out, c.want) || ok != c.ok || c.ok && !strings.Contains(out, "entra-setup: wrote") {
				t.Errorf("got ok=%v:\n%s\nwant ok=%v and %q", ok, out, c.ok, c.want)
			}
			if !c.ok && graphCreations(sim) != 0 {
				t.Errorf("%d writes before the refusal", graphCreations(sim))
			}
		})
	}
	// A scope consented once is in every later token for Graph, so each
	// withheld scope is tried on a tenant that never consented it.
	for _, withheld := range strings.Fields(scriptScopes) {
		t.Run("without "+withheld, func(t *testing.T) {
			t.Parallel()
			sim := freshTenantSim(t)
			only := strings.Join(slices.DeleteFunc(strings.Fields(scriptScopes), func(s string) bool { return s == withheld }), " ")
			out, ok := entraSetup(t, sim, "admin@contoso.example", only, "--env-file", filepath.Join(t.TempDir(), "x.env"))
			if ok || !strings.Contains(out, "the token lacks "+withheld) || graphCreations(sim) != 0 {
				t.Errorf("ok=%v, %d writes:\n%s", ok, graphCreations(sim), out)
			}
		})
	}
	t.Run("an over-privileged token", func(t *testing.T) {
		// The tenant once consented Directory.AccessAsUser.All to the Graph
		// CLI client for everyone, as running az with it can leave.
		sim.Live.Update(func(next *tenant.Directory) error {
			next.Consents = append(next.Consents, &tenant.Consent{Client: tenant.GraphCLIAppID, Resource: tenant.GraphAppID, Scopes: []string{"Directory.AccessAsUser.All"}})
			return nil
		})
		before := creations()
		out, ok := entraSetup(t, sim, "admin@contoso.example", "", "--env-file", filepath.Join(t.TempDir(), "x.env"))
		if ok || !strings.Contains(out, "Directory.AccessAsUser.All") || !strings.Contains(out, "refuses every Agent ID write") || creations() != before {
			t.Errorf("ok=%v:\n%s", ok, out)
		}
	})
}

// After the rehearsal, the product runs from what the script wrote:
// weather-api, token-refresher and llm-agent (msal, the blueprint proving
// itself with the managed identity the script trusted) start from the env
// file, and autonomous, on-behalf-of and agent-user turns pass, as does the
// MCP server's consent on demand through the consent page the script
// registered.
func TestEntraSetupRehearsalTurns(t *testing.T) {
	// llm-agent's origin is where consent pages return: the script
	// registers it, as containerapps.sh passes the app's FQDN.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + ln.Addr().String()
	var env map[string]string
	s := e2e.StartPrepared(t, freshTenant(t), func(sim *cloudsim.Sim) (map[string]string, error) {
		envFile := filepath.Join(t.TempDir(), "agentid.env")
		for _, args := range [][]string{nil, {"--federated-credential", sim.Tenant.ManagedIdentity.ObjectID, "--public-origin", origin}} {
			if out, ok := entraSetup(t, sim, "admin@contoso.example", "", append([]string{"--env-file", envFile}, args...)...); !ok {
				return nil, fmt.Errorf("entra-setup.sh %v:\n%s", args, out)
			}
		}
		env = readEnv(t, envFile)
		settings := map[string]string{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "managed-identity"}
		for _, k := range []string{"TENANT_ID", "BLUEPRINT_APP_ID", "AGENT_CLIENT_ID", "AGENT_USER_UPN", "CLIENT_SPA_APP_ID", "WEATHER_API_APP_ID", "STS_APP_ID", "STS_APP_URI"} {
			settings[k] = env[k]
		}
		return settings, nil
	})
	url, _ := s.AgentOn(ln, nil)
	tc := cloudsimtest.SPASignIn(t, s.Sim, env["CLIENT_SPA_APP_ID"], "api://"+env["BLUEPRINT_APP_ID"]+"/access_as_user", "alice@contoso.example",
		"http://localhost:3001")
	for _, flow := range []string{"autonomous", "obo", "agent_user"} {
		r := chat(t, url, map[string]any{"message": "What's the weather in Lisbon?", "llm_mode": "direct", "token_flow": flow}, tc)
		if resp, _ := r.body["response"].(string); r.status != 200 || r.body["success"] != true || !strings.Contains(resp, "Lisbon") || strings.Contains(resp, "couldn't") {
			t.Errorf("%s: %d %.600s", flow, r.status, r.raw)
		}
	}
	ask := func() reply {
		return chat(t, url, map[string]any{"message": "Who am I?", "llm_mode": "direct", "token_flow": "obo"}, tc)
	}
	r := ask()
	need, _ := r.body["consent_required"].(map[string]any)
	link, _ := need["url"].(string)
	if r.status != 200 || link == "" {
		t.Fatalf("the MCP question before consent: %d %.600s", r.status, r.raw)
	}
	if to := consentAsUser(t, s, link, "alice@contoso.example"); !strings.HasPrefix(to, origin+"/consent.html?") {
		t.Errorf("after consent the browser went to %q, not the consent page the script registered", to)
	}
	if r := ask(); r.status != 200 || !strings.Contains(fmt.Sprint(r.body["response"]), "Alice Example") {
		t.Errorf("the MCP question after consent: %d %.600s", r.status, r.raw)
	}
}

// The whole setup, both clouds, from a new tenant and a new account: the
// Entra objects (entra-setup.sh), chain B's provider and role
// (aws-federation.sh), outbound identity federation (aws-agentcore.sh
// federation) and the blueprint's trust in the role's tokens
// (entra-setup.sh --aws-role). Then llm-agent as on AgentCore Runtime, its
// blueprint proving itself with the role's outbound token and no secret,
// answers a signed-in user, and a Bedrock turn goes through the role the
// script made.
func TestCrossCloudSetupRehearsal(t *testing.T) {
	cli := awsCLIDir(t)
	var env map[string]string
	var issuer string
	s := e2e.StartPrepared(t, cloudsimtest.FreshTenant(t), func(sim *cloudsim.Sim) (map[string]string, error) {
		envFile := filepath.Join(t.TempDir(), "agentid.env")
		entra := func(args ...string) error {
			if out, ok := entraSetup(t, sim, "admin@contoso.example", "", append([]string{"--env-file", envFile}, args...)...); !ok {
				return fmt.Errorf("entra-setup.sh %v:\n%s", args, out)
			}
			return nil
		}
		if err := entra(); err != nil {
			return nil, err
		}
		if err := entra("--federated-credential", sim.Tenant.ManagedIdentity.ObjectID); err != nil {
			return nil, err
		}
		env = readEnv(t, envFile)
		awsEnv := scriptEnv(t, sim, cli)
		out := runScript(t, awsEnv, "aws-federation.sh", "--tenant-id", env["TENANT_ID"], "--sts-app-uri", env["STS_APP_URI"],
			"--sts-sp-object-id", env["STS_SP_OBJECT_ID"])
		_, roleARN, _ := strings.Cut(strings.TrimSpace(out), "AWS_ROLE_ARN=")
		// The role's right to prove the blueprint: AgentRuntimeRole's inline
		// policies from deploy/aws/template.yaml, resolved for this stack,
		// put as CloudFormation would (it is not emulated).
		for name, doc := range runtimeRolePolicies(t, env) {
			if out, ok := runAWS(t, awsEnv, cli, "iam", "put-role-policy", "--role-name", roleARN[strings.LastIndex(roleARN, "/")+1:],
				"--policy-name", name, "--policy-document", doc); !ok {
				return nil, fmt.Errorf("put-role-policy %s: %s", name, out)
			}
		}
		awsFile := filepath.Join(t.TempDir(), "aws.env")
		os.WriteFile(awsFile, []byte("TENANT_ID="+env["TENANT_ID"]+"\nAWS_REGION=us-east-1\n"), 0o600)
		issuer = strings.TrimSpace(runScript(t, awsEnv, "aws-agentcore.sh", "federation", "--env-file", awsFile))
		if err := entra("--aws-role", roleARN, "--aws-issuer", issuer); err != nil {
			return nil, err
		}
		settings := map[string]string{"AWS_ROLE_ARN": roleARN}
		for _, k := range []string{"TENANT_ID", "BLUEPRINT_APP_ID", "AGENT_CLIENT_ID", "AGENT_USER_UPN", "CLIENT_SPA_APP_ID", "WEATHER_API_APP_ID", "STS_APP_ID", "STS_APP_URI"} {
			settings[k] = env[k]
		}
		return settings, nil
	})
	tc := cloudsimtest.SPASignIn(t, s.Sim, env["CLIENT_SPA_APP_ID"], "api://"+env["BLUEPRINT_APP_ID"]+"/access_as_user", "alice@contoso.example",
		"http://localhost:3001")
	url := s.Agent(map[string]string{"AGENTCORE_RUNTIME": "true", "IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "aws-web-identity"})
	stats := s.Sim.Entra.Stats()
	// The scripts' own checks used the secret and Bedrock: what the turns add.
	secretUses, converses := stats.Get("entra.client_auth.secret."+env["BLUEPRINT_APP_ID"]), stats.Get("bedrock.converse")
	for _, flow := range []string{"autonomous", "obo", "agent_user"} {
		status, _, raw := invoke(t, url, `{"prompt":"What's the weather in Lisbon?","token_flow":"`+flow+`"}`, tc, "")
		if status != 200 || !strings.Contains(raw, `"status":"success"`) || !strings.Contains(raw, "°F") {
			t.Errorf("%s: %d %.600s", flow, status, raw)
		}
	}
	if n := stats.Get("entra.client_auth.external_issuer." + issuer); n == 0 {
		t.Errorf("the account's issuer %s never authenticated the blueprint", issuer)
	}
	if stats.Get("sts.AssumeRoleWithWebIdentity") == 0 || stats.Get("bedrock.converse") == converses || stats.Get("bedrock.error.AccessDeniedException") != 0 {
		t.Errorf("the turns did not reach Bedrock through the role aws-federation.sh made (chain B): %v", stats.Snapshot())
	}
	if n := stats.Get("entra.client_auth.secret." + env["BLUEPRINT_APP_ID"]); n != secretUses {
		t.Errorf("the agent used the blueprint's secret %d times", n-secretUses)
	}
}

// runtimeRolePolicies are the inline policies of deploy/aws/template.yaml's
// AgentRuntimeRole, by name, resolved for a stack of the tenant in env.
func runtimeRolePolicies(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	src, err := os.ReadFile("../../deploy/aws/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := awsfront.Load(src, awsfront.LocalStack(env))
	if err != nil {
		t.Fatal(err)
	}
	policies, err := tpl.InlinePolicies("AgentRuntimeRole")
	if err != nil {
		t.Fatal(err)
	}
	return policies
}
