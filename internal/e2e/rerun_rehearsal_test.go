package e2e_test

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/graph"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// Issue 37: the setup as a new user meets it on a real tenant: reruns
// after a re-created identity or a second deployment, a deployed consent
// page, Entra's eventual consistency, a caller with fewer roles, and no
// secret left in what the deploy scripts read.

// mustEntraSetup runs entra-setup.sh as the admin and fails the test if
// it fails.
func mustEntraSetup(t *testing.T, sim *cloudsim.Sim, args ...string) string {
	t.Helper()
	out, ok := entraSetup(t, sim, "admin@contoso.example", "", args...)
	if !ok {
		t.Fatalf("entra-setup.sh %v:\n%s", args, out)
	}
	return out
}

// trusts reports whether the application trusts subject from issuer.
func trusts(a *tenant.Application, issuer, subject string) bool {
	return slices.ContainsFunc(a.FederatedCredentials, func(fc tenant.FederatedCredential) bool { return fc.Issuer == issuer && fc.Subject == subject })
}

// After a full setup, the app's managed identity is re-created (a new
// object ID, as the Operations table tells the user to handle by
// rerunning) and a second stack brings a second AWS role: the reruns add
// their credentials beside the old ones, where fixed names made Graph
// answer 409, and T1 works from the new identity. Then --prune removes
// the credentials of the identity that no longer exists, and nothing
// else.
func TestEntraSetupRehearsalNewManagedIdentity(t *testing.T) {
	t.Parallel()
	sim := freshTenantSim(t)
	envFile := filepath.Join(t.TempDir(), "agentid.env")
	mustEntraSetup(t, sim, "--env-file", envFile)
	oldMI := sim.Tenant.ManagedIdentity.ObjectID
	issuerAWS := "https://8f3c2a9e-4b1d-4e7a-9c6f-2d5b8a1e0f47.tokens.sts.global.api.aws"
	role1, role2 := "arn:aws:iam::111122223333:role/agentid-AgentRuntimeRole-ABC", "arn:aws:iam::111122223333:role/agentid-eu-AgentRuntimeRole-DEF"
	mustEntraSetup(t, sim, "--env-file", envFile, "--federated-credential", oldMI)
	mustEntraSetup(t, sim, "--env-file", envFile, "--aws-role", role1, "--aws-issuer", issuerAWS)

	// The identity is re-created: the managed identity endpoint now
	// speaks for a new object ID, and Graph knows only it.
	const newMI = "5f0c9a2e-7b3d-4e1f-8a6c-9d2b4e7f1a30"
	sim.Live.Update(func(next *tenant.Directory) error {
		next.ManagedIdentity.ObjectID = newMI
		return nil
	})
	mustEntraSetup(t, sim, "--env-file", envFile, "--federated-credential", newMI)
	mustEntraSetup(t, sim, "--env-file", envFile, "--aws-role", role2, "--aws-issuer", issuerAWS)
	env := readEnv(t, envFile)
	live := sim.Live.Load()
	bp, sts := live.App(env["BLUEPRINT_APP_ID"]), live.App(env["STS_APP_ID"])
	issuerMI := "https://login.microsoftonline.com/" + sim.Tenant.Tenant.ID + "/v2.0"
	for _, c := range []struct {
		app             *tenant.Application
		issuer, subject string
	}{{bp, issuerMI, oldMI}, {bp, issuerMI, newMI}, {bp, issuerAWS, role1}, {bp, issuerAWS, role2}, {sts, issuerMI, oldMI}, {sts, issuerMI, newMI}} {
		if !trusts(c.app, c.issuer, c.subject) {
			t.Errorf("%s does not trust %s: %+v", c.app.Name, c.subject, c.app.FederatedCredentials)
		}
	}
	names := map[string]bool{}
	for _, fc := range bp.FederatedCredentials {
		if names[fc.Name] || len(fc.Name) > 120 || strings.ContainsAny(fc.Name, ":/ ") {
			t.Errorf("credential name %q: repeated, too long or not URL-friendly", fc.Name)
		}
		names[fc.Name] = true
	}
	if len(bp.FederatedCredentials) != 4 || len(sts.FederatedCredentials) != 2 {
		t.Errorf("credentials: blueprint %d, STS app %d; want 4 and 2", len(bp.FederatedCredentials), len(sts.FederatedCredentials))
	}

	// T1 from the new identity's assertion, once the new credential has
	// replicated (the tenant's 2 s delay).
	tokens := cloudsimtest.NewTokens(sim)
	t1 := url.Values{"grant_type": {"client_credentials"}, "client_id": {env["BLUEPRINT_APP_ID"]},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"scope":                 {tenant.TokenExchangeURI + "/.default"}, "fmi_path": {env["AGENT_CLIENT_ID"]}}
	for deadline := time.Now().Add(15 * time.Second); !slices.ContainsFunc(sim.Live.ForTokens().FederatedCredentials(bp),
		func(fc tenant.FederatedCredential) bool { return fc.Subject == newMI }); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the new identity's credential did not replicate within 15 s")
		}
	}
	t1.Set("client_assertion", tokens.ManagedIdentity(t))
	tokens.Get(t, t1)

	// --prune: the old identity no longer exists; its credentials go, the
	// new identity's and the AWS roles' stay.
	out := mustEntraSetup(t, sim, "--env-file", envFile, "--federated-credential", newMI, "--prune")
	if !strings.Contains(out, "deleting") {
		t.Errorf("--prune deleted nothing:\n%s", out)
	}
	live = sim.Live.Load()
	bp, sts = live.App(env["BLUEPRINT_APP_ID"]), live.App(env["STS_APP_ID"])
	if trusts(bp, issuerMI, oldMI) || trusts(sts, issuerMI, oldMI) || !trusts(bp, issuerMI, newMI) || !trusts(sts, issuerMI, newMI) ||
		!trusts(bp, issuerAWS, role1) || !trusts(bp, issuerAWS, role2) {
		t.Errorf("after --prune: blueprint %+v, STS app %+v", bp.FederatedCredentials, sts.FederatedCredentials)
	}
	// --remove takes one AWS role's trust away.
	mustEntraSetup(t, sim, "--env-file", envFile, "--aws-role", role1, "--aws-issuer", issuerAWS, "--remove")
	if bp = sim.Live.Load().App(env["BLUEPRINT_APP_ID"]); trusts(bp, issuerAWS, role1) || !trusts(bp, issuerAWS, role2) {
		t.Errorf("after --remove: %+v", bp.FederatedCredentials)
	}
}

// A default-mode rerun after the deployment added its consent page keeps
// it: redirect URIs are read, added to and written, never replaced.
func TestEntraSetupRehearsalKeepsDeployedRedirect(t *testing.T) {
	t.Parallel()
	sim := freshTenantSim(t)
	envFile := filepath.Join(t.TempDir(), "agentid.env")
	mustEntraSetup(t, sim, "--env-file", envFile)
	mustEntraSetup(t, sim, "--env-file", envFile, "--federated-credential", sim.Tenant.ManagedIdentity.ObjectID, "--public-origin", "https://app.example")
	mustEntraSetup(t, sim, "--env-file", envFile)
	bp := sim.Live.Load().App(readEnv(t, envFile)["BLUEPRINT_APP_ID"])
	for _, u := range []string{"https://app.example/consent.html", "http://localhost:3001/consent.html"} {
		if !slices.Contains(bp.WebRedirectURIs, u) {
			t.Errorf("the blueprint's redirect URIs %v lack %s", bp.WebRedirectURIs, u)
		}
	}
}

// With Graph's replication lag on (a switch on cloudsim's Graph: the
// first request naming a new object misses it with 404), the script
// retries and completes, and every object exists once.
func TestEntraSetupRehearsalEventualConsistency(t *testing.T) {
	t.Parallel()
	sim := freshTenantSim(t)
	resp, err := cloudsimtest.Client(sim).Post(sim.URL+graph.FaultPath+"?on=true", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("switch: %v %v", err, resp)
	}
	resp.Body.Close()
	envFile := filepath.Join(t.TempDir(), "agentid.env")
	out := mustEntraSetup(t, sim, "--env-file", envFile)
	if !strings.Contains(out, "Entra has not replicated it yet") {
		t.Errorf("no read missed:\n%s", out)
	}
	if n := sim.Entra.Stats().Get("graph.replica_miss"); n < 3 {
		t.Errorf("%d replica misses, want the blueprint's, the apps' and their principals'", n)
	}
	env := readEnv(t, envFile)
	live := sim.Live.Load()
	for _, k := range []string{"BLUEPRINT_APP_ID", "WEATHER_API_APP_ID", "CLIENT_SPA_APP_ID", "STS_APP_ID"} {
		if a := live.App(env[k]); a == nil || a.ServicePrincipalID == "" {
			t.Errorf("%s: %+v", k, a)
		}
	}
	made := 0
	for _, a := range live.Applications {
		if !a.CreatedAt.IsZero() {
			made++
		}
	}
	if made != 4 || len(live.AgentIdentities) != 1 || len(live.AgentUsers) != 1 {
		t.Errorf("%d applications made, %d agent identities, %d agent users; want 4, 1, 1", made, len(live.AgentIdentities), len(live.AgentUsers))
	}
	for _, k := range []string{"GRANT_AGENT_WEATHER_ROLE", "GRANT_AGENT_WEATHER_SCOPE", "GRANT_SPA_BLUEPRINT_SCOPE"} {
		if env[k] == "" {
			t.Errorf("no %s", k)
		}
	}
}

// A caller with only the Agent ID Developer role is told, before anything
// is created, which roles the run still needs, each with its Graph page:
// Cloud Application Administrator (or another admin-consent role) for the
// grants, and that the agent user needs Agent ID Administrator.
func TestEntraSetupRehearsalAgentIDDeveloper(t *testing.T) {
	t.Parallel()
	sim := freshTenantSim(t)
	consentForOrganization(sim, scriptScopes)
	out, ok := entraSetup(t, sim, "developer@contoso.example", "", "--env-file", filepath.Join(t.TempDir(), "x.env"))
	for _, want := range []string{
		"developer@contoso.example lack(s) directory roles this run needs (you have: Agent ID Developer)",
		"Cloud Application Administrator (or Application Administrator, Privileged Role Administrator): the admin consents for everyone",
		"https://learn.microsoft.com/graph/api/oauth2permissiongrant-post", "https://learn.microsoft.com/entra/identity/enterprise-apps/grant-admin-consent",
		"the agent user will be skipped: creating one needs the Agent ID Administrator role (https://learn.microsoft.com/graph/api/agentuser-post)",
		"Nothing was changed.",
	} {
		if ok || !strings.Contains(out, want) {
			t.Errorf("ok=%v, want %q in:\n%s", ok, want, out)
		}
	}
	if n := graphCreations(sim); n != 0 {
		t.Errorf("%d objects created before the refusal", n)
	}
}

// Both deploy paths rehearsed from one folder as the docs lay it out:
// Container Apps' env file deploy/aca.env (with a secret an older version
// left in it), AWS's deploy/aws.env, and compose's deploy/compose/.env
// with a local secret. No env file a deploy script reads holds a client
// secret afterwards, and git ignores every file that holds one, and every
// env file the scripts wrote.
func TestNoSecretInDeployEnv(t *testing.T) {
	cli := awsCLIDir(t)
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		cloudsimtest.FreshTenant(t)(o)
		o.ReplicationDelay = 2 * time.Second
	})
	work := t.TempDir()
	aca, aws, compose := filepath.Join(work, "deploy", "aca.env"), filepath.Join(work, "deploy", "aws.env"), filepath.Join(work, "deploy", "compose", ".env")
	entra := func(args ...string) {
		t.Helper()
		if out, ok := entraSetupIn(t, sim, work, "admin@contoso.example", "", args...); !ok {
			t.Fatalf("entra-setup.sh %v:\n%s", args, out)
		}
	}
	// Container Apps: the Entra objects, an old secret line, then the trust
	// in the app's identity.
	entra("--env-file", aca)
	f, _ := os.OpenFile(aca, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("BLUEPRINT_CLIENT_SECRET=left-by-an-older-version\n")
	f.Close()
	entra("--env-file", aca, "--federated-credential", sim.Tenant.ManagedIdentity.ObjectID, "--public-origin", "https://agentid.example.azurecontainerapps.io")
	// AWS: the same objects found by name, chain B's provider and role,
	// outbound federation, the blueprint's trust in the role.
	entra("--env-file", aws)
	env := readEnv(t, aws)
	awsEnv := scriptEnv(t, sim, cli)
	out := runScript(t, awsEnv, "aws-federation.sh", "--tenant-id", env["TENANT_ID"], "--sts-app-uri", env["STS_APP_URI"], "--sts-sp-object-id", env["STS_SP_OBJECT_ID"])
	_, roleARN, _ := strings.Cut(strings.TrimSpace(out), "AWS_ROLE_ARN=")
	f, _ = os.OpenFile(aws, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("AWS_REGION=us-east-1\n")
	f.Close()
	issuer := strings.TrimSpace(runScript(t, awsEnv, "aws-agentcore.sh", "federation", "--env-file", aws))
	entra("--env-file", aws, "--aws-role", roleARN, "--aws-issuer", issuer)
	// Compose against the real tenant: the one secret, asked for.
	entra("--env-file", compose, "--local-secret")

	secrets := sim.Live.Load().App(env["BLUEPRINT_APP_ID"]).Secrets
	if len(secrets) != 1 {
		t.Fatalf("the blueprint has %d secrets, want the one --local-secret asked for", len(secrets))
	}
	var holders, envFiles []string
	filepath.WalkDir(work, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(work, path)
		data, _ := os.ReadFile(path)
		if bytes.Contains(data, []byte(secrets[0])) || bytes.Contains(data, []byte("left-by-an-older-version")) {
			holders = append(holders, rel)
		}
		if strings.HasSuffix(rel, ".env") {
			envFiles = append(envFiles, rel)
		}
		return nil
	})
	if !slices.Equal(holders, []string{filepath.Join("deploy", "compose", "secret.env")}) {
		t.Errorf("files holding a secret: %v, want only deploy/compose/secret.env", holders)
	}
	for _, deployEnv := range []string{aca, aws} {
		if v, has := readEnv(t, deployEnv)["BLUEPRINT_CLIENT_SECRET"]; has {
			t.Errorf("%s holds BLUEPRINT_CLIENT_SECRET=%.3s…", deployEnv, v)
		}
	}
	if info, err := os.Stat(filepath.Join(work, "deploy", "compose", "secret.env")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the secret file: %v %v", info, err)
	}
	if len(envFiles) != 4 {
		t.Errorf("env files written: %v", envFiles)
	}
	// git ignores each, at the same path in the repository.
	for _, rel := range append(holders, envFiles...) {
		cmd := exec.Command("git", "check-ignore", "-q", "--no-index", filepath.ToSlash(rel))
		cmd.Dir = filepath.Join("..", "..")
		if err := cmd.Run(); err != nil {
			t.Errorf("git does not ignore %s: %v", rel, err)
		}
	}
}
