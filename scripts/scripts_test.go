// Package scripts_test runs the setup scripts against fake az, aws and curl
// that record their arguments and answer from canned files, and compares
// the calls, in order, with golden logs (UPDATE_GOLDEN=1 rewrites them).
package scripts_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/deploy/models"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// fake records its call, then answers with the first response whose
// pattern (an extended regexp) matches "<cli> <args…>"; a failing response
// writes to stderr and exits 254. A call given file:///dev/stdin has what
// it read there appended to $FAKE_LOG.stdin.
const fake = `#!/usr/bin/env bash
name=$(basename "$0")
{ printf '%s' "$name"; for a in "$@"; do printf ' %q' "$a"; done; printf '\n'; } >>"$FAKE_LOG"
if [[ $* == *file:///dev/stdin* ]]; then { cat; printf '\n'; } >>"$FAKE_LOG.stdin"; fi
call="$name $*"
for f in "$FAKE_RESPONSES"/*; do
	[ -e "$f" ] || break
	if grep -qE -- "$(head -1 "$f")" <<<"$call"; then
		if [[ $f == *.fail ]]; then tail -n +2 "$f" >&2; exit 254; fi
		tail -n +2 "$f"
		exit 0
	fi
done
`

// answer is a canned response: the first whose pattern matches wins.
type answer struct {
	pattern, body string
	fail          bool
}

type run struct {
	stdout, stderr string
	calls          string
	stdin          string // what the calls read from file:///dev/stdin
	err            error
}

// shell is the bash a script runs under, and the system folders on its
// PATH after the fakes'.
type shell struct {
	bash string // the binary: "bash" on PATH, or bash 3.2
	path string // system folders, ":"-separated
}

// bash5 is the machine's bash with /usr/bin and /bin.
var bash5 = shell{bash: "bash", path: "/usr/bin:/bin"}

// runScript runs script with args against the fake CLIs under bash 5.
func runScript(t *testing.T, script string, responses []answer, args ...string) run {
	t.Helper()
	return bash5.run(t, script, responses, args...)
}

// run runs script with args against the fake CLIs. The fakes' folder has
// a bash too, the shell's, so that a script running another with bash
// runs it under the same one.
func (sh shell) run(t *testing.T, script string, responses []answer, args ...string) run {
	t.Helper()
	return sh.runWithStdin(t, script, responses, "", args...)
}

// runWithStdin is run with stdin given to the script.
func (sh shell) runWithStdin(t *testing.T, script string, responses []answer, stdin string, args ...string) run {
	t.Helper()
	dir := t.TempDir()
	bin, resp := filepath.Join(dir, "bin"), filepath.Join(dir, "responses")
	os.MkdirAll(bin, 0o755)
	os.MkdirAll(resp, 0o755)
	for _, cli := range []string{"aws", "az", "curl", "docker"} {
		os.WriteFile(filepath.Join(bin, cli), []byte(fake), 0o755)
	}
	bash, err := exec.LookPath(sh.bash)
	if err != nil {
		t.Fatal(err)
	}
	os.Symlink(bash, filepath.Join(bin, "bash"))
	for i, a := range responses {
		name := fmt.Sprintf("%03d", i)
		if a.fail {
			name += ".fail"
		}
		os.WriteFile(filepath.Join(resp, name), []byte(a.pattern+"\n"+a.body), 0o644)
	}
	log := filepath.Join(dir, "calls.log")
	abs, _ := filepath.Abs(script)
	cmd := exec.Command(bash, append([]string{abs}, args...)...)
	cmd.Env = []string{"PATH=" + bin + ":" + sh.path, "FAKE_LOG=" + log, "FAKE_RESPONSES=" + resp, "HOME=" + dir, "TMPDIR=" + dir}
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	calls, _ := os.ReadFile(log)
	read, _ := os.ReadFile(log + ".stdin")
	return run{stdout: stdout.String(), stderr: stderr.String(), calls: string(calls), stdin: string(read), err: runErr}
}

var tmpPath = regexp.MustCompile(`/tmp/[^ \n'"]+`)

var uuid = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// golden compares calls with testdata/<name>.golden; generated UUIDs are
// replaced first, so the log is stable.
func golden(t *testing.T, name, got string) {
	t.Helper()
	repo, _ := filepath.Abs("..")
	got = strings.ReplaceAll(got, repo, "<repo>")
	got = tmpPath.ReplaceAllString(got, "<tmp>")
	got = uuid.ReplaceAllStringFunc(got, func(u string) string {
		if strings.HasPrefix(u, "ca77995a") || strings.HasPrefix(u, "241e239b") || strings.HasPrefix(u, "102dbbc0") {
			return u // the fixed IDs the tests pass in
		}
		return "<uuid>"
	})
	path := filepath.Join("testdata", name+".golden")
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

const awsArgs = "--tenant-id ca77995a-3696-41ae-a339-cf02b3e89b12 --sts-app-uri api://241e239b-367f-411d-9291-4ad052b57982 --sts-sp-object-id 102dbbc0-25f4-40ca-8a16-32afe8ef6c3d"

func TestAWSFederation(t *testing.T) {
	account := []answer{{pattern: "^aws sts get-caller-identity", body: "111122223333\n"}}
	ok := answer{pattern: "^aws bedrock-runtime converse", body: "end_turn\n"}
	noProvider := answer{pattern: "get-open-id-connect-provider", body: "NoSuchEntity", fail: true}
	noRole := answer{pattern: "get-role", body: "NoSuchEntity", fail: true}
	provider := func(clients string) answer {
		return answer{pattern: "get-open-id-connect-provider", body: clients + "\n"}
	}
	role := answer{pattern: "get-role", body: "arn:aws:iam::111122223333:role/agentid-bedrock-invoke\n"}
	with := func(more ...answer) []answer { return append(append([]answer{}, account...), more...) }
	cases := []struct {
		name      string
		responses []answer
		extra     []string
		wantOut   string
		wantFail  string
	}{
		{"fresh-account", with(noProvider, noRole, ok), nil, "AWS_ROLE_ARN=arn:aws:iam::111122223333:role/agentid-bedrock-invoke", ""},
		{"existing-provider-and-role", with(provider("api://other"), role, ok), nil, "AWS_ROLE_ARN=", ""},
		{"already-done", with(provider("api://241e239b-367f-411d-9291-4ad052b57982"), role, ok), nil, "AWS_ROLE_ARN=", ""},
		{"dry-run", with(noProvider, noRole, ok), []string{"--dry-run"}, "would run: aws iam create-open-id-connect-provider", ""},
		{"model-not-enabled", with(provider("api://241e239b-367f-411d-9291-4ad052b57982"), role,
			answer{pattern: "bedrock-runtime converse", body: "AccessDeniedException", fail: true}), nil, "", "enable model access"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runScript(t, "aws-federation.sh", c.responses, append(strings.Fields(awsArgs), c.extra...)...)
			if c.wantFail != "" {
				if r.err == nil || !strings.Contains(r.stderr, c.wantFail) {
					t.Errorf("err %v, stderr %q", r.err, r.stderr)
				}
			} else if r.err != nil || !strings.Contains(r.stdout, c.wantOut) {
				t.Fatalf("err %v\nstdout %s\nstderr %s", r.err, r.stdout, r.stderr)
			}
			golden(t, "aws-federation-"+c.name, r.calls)
		})
	}
	if r := runScript(t, "aws-federation.sh", nil, "--tenant-id", "x"); r.err == nil || !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("missing arguments: %v %q", r.err, r.stderr)
	}
}

// A model past its end of life is named at the start, from
// deploy/models/lifecycle.tsv, and the preflight's refusal is told from
// missing model access.
func TestAWSFederationRetiredModel(t *testing.T) {
	const retired = "us.anthropic.claude-3-haiku-20240307-v1:0"
	r := runScript(t, "aws-federation.sh", []answer{
		{pattern: "^aws sts get-caller-identity", body: "111122223333\n"},
		{pattern: "get-open-id-connect-provider", body: "api://241e239b-367f-411d-9291-4ad052b57982\n"},
		{pattern: "get-role", body: "arn:aws:iam::111122223333:role/agentid-bedrock-invoke\n"},
		{pattern: "bedrock-runtime converse", fail: true,
			body: "An error occurred (ResourceNotFoundException) when calling the Converse operation: This model version has reached the end of its life. Please refer to the AWS documentation for more details."},
	}, append(strings.Fields(awsArgs), "--model-id", retired)...)
	for _, want := range []string{
		"warning: " + retired + " reached end of life on Bedrock on 2026-09-10 in us-east-1 (deploy/models/lifecycle.tsv)",
		"aws-federation: " + retired + " has reached end of life on Bedrock in us-east-1: pass --model-id an active model, such as " + models.DefaultID,
	} {
		if r.err == nil || !strings.Contains(r.stderr, want) {
			t.Errorf("err %v, stderr %q, want %q", r.err, r.stderr, want)
		}
	}
	if strings.Contains(r.stderr, "enable model access") {
		t.Errorf("a retired model was taken for missing model access: %q", r.stderr)
	}
	// Active in the Region the card names: no warning.
	r = runScript(t, "aws-federation.sh", []answer{
		{pattern: "^aws sts get-caller-identity", body: "111122223333\n"},
		{pattern: "get-open-id-connect-provider", body: "api://241e239b-367f-411d-9291-4ad052b57982\n"},
		{pattern: "get-role", body: "arn:aws:iam::111122223333:role/agentid-bedrock-invoke\n"},
		{pattern: "bedrock-runtime converse", body: "end_turn\n"},
	}, append(strings.Fields(awsArgs), "--model-id", "anthropic.claude-3-haiku-20240307-v1:0", "--region", "ca-central-1")...)
	if r.err != nil || strings.Contains(r.stderr, "warning") {
		t.Errorf("ca-central-1: err %v, stderr %q", r.err, r.stderr)
	}
}

// Every script answers --help with its usage and calls nothing, and is
// committed executable.
func TestEveryScriptHasHelp(t *testing.T) { everyScriptHasHelp(t, bash5) }

func everyScriptHasHelp(t *testing.T, sh shell) {
	scripts, _ := filepath.Glob("*.sh")
	if len(scripts) < 8 {
		t.Fatalf("found %d scripts", len(scripts))
	}
	for _, s := range scripts {
		r := sh.run(t, s, nil, "--help")
		if r.err != nil || !strings.Contains(r.stdout, "Usage:") || r.calls != "" {
			t.Errorf("%s --help: %v %q %q (calls %q)", s, r.err, r.stdout, r.stderr, r.calls)
		}
	}
	if sh != bash5 {
		return
	}
	modes, err := exec.Command("git", "ls-files", "-s", "--", "*.sh").Output()
	if err != nil {
		t.Skipf("git ls-files: %v", err)
	}
	committed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(modes)), "\n") {
		if f := strings.Fields(line); len(f) == 4 {
			committed[f[3]] = f[0]
		}
	}
	for _, s := range scripts {
		if mode, ok := committed[s]; ok && mode != "100755" {
			t.Errorf("%s is committed with mode %s, not executable (100755)", s, mode)
		}
	}
}

// entra-setup.sh is proven by running it against cloudsim's Graph
// (TestEntraSetupRehearsal in internal/e2e); here, only the arguments it
// refuses before signing anyone in.
func TestEntraSetupArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"--tenant-id", "t", "--aws-role", "arn:aws:iam::1:role/r"}, "--aws-role and --aws-issuer go together"},
		{[]string{"--tenant-id", "t", "--public-origin", "https://x"}, "--public-origin goes with --federated-credential"},
		{[]string{"--tenant-id", "t", "--remove"}, "--remove goes with --federated-credential or --aws-role"},
		{[]string{"--tenant-id", "t", "--prune"}, "--prune goes with --federated-credential"},
		{[]string{"--tenant-id", "t", "--federated-credential", "x", "--local-secret"}, "--local-secret goes with the default run"},
		{[]string{"--tenant-id", "t", "--local-secret", "--secret-days", "730"}, "--secret-days is a whole number of days from 1 to 90"},
		{[]string{"--tenant-id", "t", "--bogus"}, "unknown argument: --bogus"},
		{[]string{"--tenant-id", "t", "--vault", "--local-secret"}, "--vault is a run of its own"},
		{[]string{"--tenant-id", "t", "--vault", "--federated-credential", "x"}, "--vault is a run of its own"},
	} {
		r := runScript(t, "entra-setup.sh", nil, c.args...)
		if r.err == nil || !strings.Contains(r.stderr, c.want) || r.calls != "" {
			t.Errorf("%v: err %v, calls %q, stderr %q", c.args, r.err, r.calls, r.stderr)
		}
	}
}

func containerAppsEnv(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "aca.env")
	src, err := os.ReadFile("../deploy/containerapps/testdata/example.env")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f, append(src, []byte("RESOURCE_GROUP=rg-agentid\nENVIRONMENT_NAME=agentid-env\nACR_NAME=agentidacr\n")...), 0o600)
	return f
}

// azure answers the read-only az calls of a subscription where everything
// exists but the image tag.
var azure = []answer{
	{pattern: "^az acr repository show", body: "ResourceNotFoundError: the image is not found", fail: true},
	{pattern: "^az containerapp show .*identity.principalId", body: "mi-principal\n"},
	{pattern: "^az containerapp show .*ingress.fqdn", body: "agentid.example.azurecontainerapps.io\n"},
	{pattern: "^az containerapp env show .*--query id", body: "/subscriptions/s/resourceGroups/rg-agentid/providers/Microsoft.App/managedEnvironments/agentid-env\n"},
	{pattern: "^az containerapp env show .*defaultDomain", body: "kindwave-1a2b3c4d.eastus2.azurecontainerapps.io\n"},
	{pattern: "^az acr show .*--query id", body: "/subscriptions/s/resourceGroups/rg-agentid/providers/Microsoft.ContainerRegistry/registries/agentidacr\n"},
	{pattern: "^az acr show .*loginServer", body: "agentidacr.azurecr.io\n"},
	{pattern: "^az ad app show .*--query id", body: "spa-object-id\n"},
	{pattern: "^az ad app show .*redirectUris", body: `["http://localhost:3001"]` + "\n"},
	{pattern: "^az (acr|containerapp env|containerapp) show", body: ""},
}

// newSubscription answers as a subscription with nothing in it: every show
// fails.
var newSubscription = []answer{
	{pattern: "^az (acr|containerapp env|containerapp|acr repository) show", body: "ResourceNotFound", fail: true},
	{pattern: "^az ad app show .*--query id", body: "spa-object-id\n"},
	{pattern: "^az ad app show .*redirectUris", body: `["http://localhost:3001"]` + "\n"},
}

func TestContainerApps(t *testing.T) { containerApps(t, bash5) }

func containerApps(t *testing.T, sh shell) {
	envFile := containerAppsEnv(t)
	r := sh.run(t, "containerapps.sh", azure, "deploy", "--env-file", envFile, "--dry-run")
	if r.err != nil || !strings.Contains(r.stdout, "would run: az containerapp update") || !strings.Contains(r.stdout, "deployed: https://agentid.example.azurecontainerapps.io") {
		t.Fatalf("deploy: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "would run: az rest --method PATCH") || strings.Count(r.stdout, "agentid.example.azurecontainerapps.io") < 2 {
		t.Errorf("the SPA redirect URI is not added:\n%s", r.stdout)
	}
	golden(t, "containerapps-deploy-dry-run", r.calls+"--- stdout\n"+r.stdout)
	checkACRDockerfiles(t, r.stdout)

	// On a new subscription nothing can be shown: the dry run names what
	// it would create and goes on.
	r = sh.run(t, "containerapps.sh", newSubscription, "deploy", "--env-file", envFile, "--dry-run")
	if r.err != nil || !strings.Contains(r.stdout, "would run: az acr create") || !strings.Contains(r.stdout, "would run: az containerapp create") ||
		!strings.Contains(r.stdout, "--federated-credential \\<the\\ app\\'s\\ principal\\ ID\\>") {
		t.Fatalf("deploy on a new subscription: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	golden(t, "containerapps-deploy-dry-run-new-subscription", r.calls+"--- stdout\n"+r.stdout)

	// With telemetry destinations, the environment's managed agent is set,
	// and a dry run shows neither the connection string nor the headers.
	const connection, headers = "InstrumentationKey=00000000-0000-0000-0000-00000000c0de;IngestionEndpoint=https://eastus2.in.applicationinsights.azure.com/",
		"x-honeycomb-team=hcaik_plantedplantedplanted"
	telemetryEnv := containerAppsEnv(t)
	f, _ := os.OpenFile(telemetryEnv, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "APPLICATIONINSIGHTS_CONNECTION_STRING='%s'\nOTLP_ENDPOINT=https://api.honeycomb.io:443\nOTLP_HEADERS='%s'\n", connection, headers)
	f.Close()
	fresh := append([]answer{{pattern: "^az containerapp env telemetry otlp show", fail: true}}, azure...) // no OTLP destination yet
	r = sh.run(t, "containerapps.sh", fresh, "deploy", "--env-file", telemetryEnv, "--dry-run")
	if r.err != nil || !strings.Contains(r.stdout, "would run: az containerapp env telemetry app-insights set") ||
		!strings.Contains(r.stdout, "would run: az containerapp env telemetry otlp add") {
		t.Fatalf("deploy with telemetry: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "c0de") || strings.Contains(r.stdout+r.stderr, "hcaik_") {
		t.Errorf("a dry run shows the connection string or the headers:\n%s", r.stdout)
	}

	healthy := append([]answer{
		{pattern: "^curl .*/api/status", body: `{"checks":{"identity":{"ok":true},"weather_api":{"ok":true},"bedrock":{"ok":true}}}`},
		{pattern: "^curl .*/api/chat", body: "401"},
		{pattern: "^az containerapp logs show", body: "time=… msg=\"wrote web identity token\" iss=https://sts.windows.net/…/\n"},
		{pattern: "^aws cloudtrail lookup-events", body: "agent-5b4418ec\n"},
	}, azure...)
	r = sh.run(t, "containerapps.sh", healthy, "verify", "--env-file", envFile)
	if r.err != nil || !strings.Contains(r.stdout, "all check out") {
		t.Fatalf("verify: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	golden(t, "containerapps-verify", r.calls)
	sick := append([]answer{{pattern: "^curl .*/api/status", body: `{"checks":{"identity":{"ok":true},"weather_api":{"ok":true},"bedrock":{"ok":false,"reason":"no AWS credentials resolved"}}}`}}, azure...)
	if r = sh.run(t, "containerapps.sh", sick, "verify", "--env-file", envFile); r.err == nil || !strings.Contains(r.stderr, "bedrock is not OK: no AWS credentials resolved") {
		t.Errorf("verify with Bedrock down: %v %q", r.err, r.stderr)
	}

	r = sh.run(t, "containerapps.sh", azure, "teardown", "--env-file", envFile, "--aws", "--entra")
	if r.err != nil || !strings.Contains(r.stdout, "would run: aws iam delete-open-id-connect-provider --open-id-connect-provider-arn arn:aws:iam::111122223333:oidc-provider/sts.windows.net/ca77995a-3696-41ae-a339-cf02b3e89b12/") ||
		!strings.Contains(r.stdout, "--federated-credential mi-principal --remove") {
		t.Errorf("teardown dry run: %v calls %q\n%s", r.err, r.calls, r.stdout)
	}
	golden(t, "containerapps-teardown-dry-run", r.calls+"--- stdout\n"+r.stdout)
}

// ACR Tasks refused (free trial subscriptions): the images are built here
// with docker buildx from the same Dockerfile and pushed after az acr
// login, single-arch with no provenance.
func TestContainerAppsBuildWithoutACRTasks(t *testing.T) {
	refused := append([]answer{{pattern: "^az acr build", fail: true,
		body: "(TasksOperationsNotAllowed) ACR Tasks requests for the registry agentidacr and 00000000-0000-0000-0000-000000000000 are not permitted. Please file an Azure support request at http://aka.ms/azuresupport for assistance.\nCode: TasksOperationsNotAllowed\n"}}, azure...)
	r := runScript(t, "containerapps.sh", refused, "build", "--env-file", containerAppsEnv(t))
	if r.err != nil || strings.Count(r.calls, "docker buildx build --platform linux/amd64 --provenance=false") != 3 || strings.Count(r.calls, "az acr login") != 1 {
		t.Fatalf("build: %v\n%s\n%s", r.err, r.calls, r.stderr)
	}
	golden(t, "containerapps-build-without-acr-tasks", r.calls)
	// Another failure of az acr build is not papered over.
	broken := append([]answer{{pattern: "^az acr build", fail: true, body: "ERROR: the Dockerfile failed"}}, azure...)
	if r = runScript(t, "containerapps.sh", broken, "build", "--env-file", containerAppsEnv(t)); r.err == nil || strings.Contains(r.calls, "docker") ||
		!strings.Contains(r.stderr, "the Dockerfile failed") {
		t.Errorf("another build failure: %v\n%s\n%s", r.err, r.calls, r.stderr)
	}
	// A tag already in the registry is refused before anything is built.
	reused := append([]answer{{pattern: "^az acr repository show", body: "\n"}}, azure...)
	if r = runScript(t, "containerapps.sh", reused, "deploy", "--env-file", containerAppsEnv(t), "--dry-run"); r.err == nil ||
		!strings.Contains(r.stderr, "llm-agent:v1 is already in agentidacr") || strings.Contains(r.stdout, "az acr build") {
		t.Errorf("a reused IMAGE_TAG: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
}

func awsAgentCoreEnv(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "aws.env")
	os.WriteFile(f, []byte(`TENANT_ID=ca77995a-3696-41ae-a339-cf02b3e89b12
BLUEPRINT_APP_ID=6a7f0937-6749-4a53-b866-c424b6e0824d
AGENT_CLIENT_ID=5b4418ec-1653-479f-96f7-3f28255917c7
CLIENT_SPA_APP_ID=5e4b9291-798c-43f9-a8b2-d712c6e87186
WEATHER_API_APP_ID=b8302fea-6762-4183-a16c-69b510285c49
AWS_REGION=us-east-1
ARTIFACT_BUCKET=agentid-artifacts-111122223333
IMAGE_TAG=v1
`), 0o600)
	return f
}

const outboundIssuer = "https://8f3c2a9e-4b1d-4e7a-9c6f-2d5b8a1e0f47.tokens.sts.global.api.aws"

// stack answers the read-only aws calls of an account with the stack
// deployed, but not the image tag.
var stack = []answer{
	{pattern: "^aws sts get-caller-identity", body: "111122223333\n"},
	{pattern: "^aws ecr describe-images", body: "ImageNotFoundException", fail: true},
	{pattern: "OutputKey=='AgentRuntimeRoleArn'", body: "arn:aws:iam::111122223333:role/agentid-AgentRuntimeRole-ABC\n"},
	{pattern: "OutputKey=='AgentRuntimeArn'", body: "arn:aws:bedrock-agentcore:us-east-1:111122223333:runtime/weather_agent-XYZ\n"},
	{pattern: "OutputKey=='AgentInvocationUrl'", body: "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A111122223333%3Aruntime%2Fweather_agent-XYZ/invocations?qualifier=DEFAULT\n"},
	{pattern: "OutputKey=='WeatherApiUrl'", body: "https://abc123.execute-api.us-east-1.amazonaws.com\n"},
	{pattern: "^aws s3api head-bucket", body: "NotFound", fail: true},
	{pattern: "^aws ecr describe-repositories", body: "RepositoryNotFoundException", fail: true},
}

var (
	federationOn  = answer{pattern: "^aws iam get-outbound-web-identity-federation-info .*JwtVendingEnabled", body: outboundIssuer + "\tTrue\n"}
	federationIss = answer{pattern: "^aws iam get-outbound-web-identity-federation-info", body: outboundIssuer + "\n"}
	federationOff = answer{pattern: "^aws iam get-outbound-web-identity-federation-info", body: "FeatureDisabled", fail: true}
)

func TestAWSAgentCore(t *testing.T) { awsAgentCore(t, bash5) }

func awsAgentCore(t *testing.T, sh shell) {
	envFile := awsAgentCoreEnv(t)
	r := sh.run(t, "aws-agentcore.sh", append([]answer{federationOn}, stack...), "deploy", "--env-file", envFile, "--dry-run")
	if r.err != nil || !strings.Contains(r.stdout, "would run: aws cloudformation deploy") ||
		!strings.Contains(r.stdout, "--aws-role arn:aws:iam::111122223333:role/agentid-AgentRuntimeRole-ABC --aws-issuer "+outboundIssuer) ||
		!strings.Contains(r.stdout, "AgentRuntimeName=agentid_agent") ||
		!strings.Contains(r.stdout, "runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A111122223333%3Aruntime%2Fweather_agent-XYZ/invocations") {
		t.Fatalf("deploy: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "enable-outbound") || strings.Contains(r.stderr, "enable-outbound") {
		t.Error("federation was already on, yet the script enables it")
	}
	golden(t, "aws-agentcore-deploy-dry-run", r.calls+"--- stdout\n"+r.stdout)

	for name, info := range map[string]answer{"off": federationOff,
		"on without JWT vending": {pattern: "^aws iam get-outbound-web-identity-federation-info", body: outboundIssuer + "\tFalse\n"}} {
		r = sh.run(t, "aws-agentcore.sh", append([]answer{info}, stack...), "deploy", "--env-file", envFile, "--dry-run")
		if r.err != nil || !strings.Contains(r.stderr, "would run: aws iam enable-outbound-web-identity-federation") {
			t.Errorf("deploy with federation %s: %v\n%s", name, r.err, r.stderr)
		}
	}

	// A new account: no stack, no repository, no bucket, federation off.
	// The dry run names the outputs it cannot read yet.
	newAccount := []answer{federationOff, {pattern: "^aws sts get-caller-identity", body: "111122223333\n"},
		{pattern: "^aws (cloudformation describe-stacks|ecr describe-images|ecr describe-repositories|s3api head-bucket)", body: "does not exist", fail: true}}
	r = sh.run(t, "aws-agentcore.sh", newAccount, "deploy", "--env-file", envFile, "--dry-run")
	if r.err != nil || !strings.Contains(r.stdout, "--aws-role \\<the\\ stack\\ agentid\\ output\\ AgentRuntimeRoleArn\\>") {
		t.Fatalf("deploy on a new account: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	golden(t, "aws-agentcore-deploy-dry-run-new-account", r.calls+"--- stdout\n"+r.stdout)

	// A second stack gets a runtime of its own name.
	second := filepath.Join(t.TempDir(), "second.env")
	src, _ := os.ReadFile(envFile)
	os.WriteFile(second, append(src, []byte("STACK_NAME=agentid-eu-2\n")...), 0o600)
	if r = sh.run(t, "aws-agentcore.sh", append([]answer{federationOn}, stack...), "deploy", "--env-file", second, "--dry-run"); r.err != nil ||
		!strings.Contains(r.stdout, "AgentRuntimeName=agentid_eu_2_agent") {
		t.Errorf("a second stack: %v\n%s", r.err, r.stdout)
	}

	// A tag already in ECR is refused before anything is built.
	reused := append([]answer{federationOn, {pattern: "^aws ecr describe-images", body: "IMAGEDETAILS\n"}}, stack...)
	if r = sh.run(t, "aws-agentcore.sh", reused, "deploy", "--env-file", envFile, "--dry-run"); r.err == nil ||
		!strings.Contains(r.stderr, "agentid/llm-agent:v1 is already in ECR") || strings.Contains(r.stdout, "docker buildx") {
		t.Errorf("a reused IMAGE_TAG: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}

	healthy := append([]answer{
		federationOn,
		{pattern: "^curl -fsS .*/health", body: `{"status":"healthy"}`},
		{pattern: "^curl .*http_code.*/weather", body: "401"},
		{pattern: "^aws bedrock-agentcore-control get-agent-runtime --agent-runtime-id weather_agent-XYZ", body: "READY\n"},
	}, stack...)
	r = sh.run(t, "aws-agentcore.sh", healthy, "verify", "--env-file", envFile)
	if r.err != nil || !strings.Contains(r.stdout, "check out") {
		t.Fatalf("verify: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	golden(t, "aws-agentcore-verify", r.calls)
	open := append([]answer{{pattern: "^curl .*http_code.*/weather", body: "200"}}, healthy...)
	if r = sh.run(t, "aws-agentcore.sh", open, "verify", "--env-file", envFile); r.err == nil || !strings.Contains(r.stderr, "is the JWT authorizer attached?") {
		t.Errorf("verify with an open route: %v %q", r.err, r.stderr)
	}

	r = sh.run(t, "aws-agentcore.sh", append([]answer{federationIss}, stack...), "teardown", "--env-file", envFile, "--federation", "--entra", "--vault")
	if r.err != nil || !strings.Contains(r.stdout, "would run: aws cloudformation delete-stack --stack-name agentid") ||
		!strings.Contains(r.stdout, "would run: aws bedrock-agentcore-control delete-oauth2-credential-provider --name entra-weather-api") ||
		!strings.Contains(r.stdout, "would run: aws iam disable-outbound-web-identity-federation") ||
		!strings.Contains(r.stdout, "--aws-role arn:aws:iam::111122223333:role/agentid-AgentRuntimeRole-ABC --aws-issuer "+outboundIssuer+" --remove") {
		t.Errorf("teardown dry run: %v calls %q\n%s", r.err, r.calls, r.stdout)
	}
}

// The dry run of aws-federation.sh on a new account, and the other
// scripts' dry runs, under a shell.
func otherDryRuns(t *testing.T, sh shell) {
	account := []answer{{pattern: "^aws sts get-caller-identity", body: "111122223333\n"},
		{pattern: "get-open-id-connect-provider|get-role", body: "NoSuchEntity", fail: true}, {pattern: "^aws bedrock-runtime converse", body: "end_turn\n"}}
	r := sh.run(t, "aws-federation.sh", account, append(strings.Fields(awsArgs), "--dry-run")...)
	if r.err != nil || !strings.Contains(r.stdout, "would run: aws iam create-open-id-connect-provider") {
		t.Errorf("aws-federation.sh --dry-run: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	golden(t, "aws-federation-dry-run", r.calls)
	r = sh.run(t, "build-images.sh", nil, "--dry-run", "--engine", "docker", "--tag", "t1")
	if r.err != nil || strings.Count(r.stdout, "docker build --build-arg") != 4 {
		t.Errorf("build-images.sh --dry-run: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	example, _ := filepath.Abs("../deploy/containerapps/testdata/example.env")
	r = sh.run(t, "render-containerapp.sh", nil, "--env-file", example)
	want, _ := os.ReadFile("../deploy/containerapps/testdata/rendered.golden.yaml")
	if r.err != nil || r.stdout != string(want) {
		t.Errorf("render-containerapp.sh: %v %s\n%.300s", r.err, r.stderr, r.stdout)
	}
}

// acrUnsupported is Dockerfile syntax that ACR Tasks cannot build: its
// dependency scanner refuses FROM --platform (Azure/acr#697), and its steps
// run without BuildKit, where the platform ARGs are empty and RUN --mount
// and syntax directives do not exist.
var acrUnsupported = regexp.MustCompile(`(?im)^\s*FROM\s+--platform|^\s*FROM\s.*\$\{?(BUILDPLATFORM|TARGETPLATFORM|TARGETOS|TARGETARCH)|^\s*RUN\s+--mount|^\s*#\s*syntax\s*=`)

// checkACRDockerfiles reads the Dockerfile of every az acr build the
// script would run and refuses what ACR Tasks cannot build.
func checkACRDockerfiles(t *testing.T, stdout string) {
	t.Helper()
	builds := 0
	for _, line := range strings.Split(stdout, "\n") {
		if !strings.Contains(line, "would run: az acr build") {
			continue
		}
		builds++
		file := "Dockerfile"
		if _, rest, ok := strings.Cut(line, "--file "); ok {
			file, _, _ = strings.Cut(rest, " ")
		}
		src, err := os.ReadFile(filepath.Join("..", file))
		if err != nil {
			t.Fatalf("az acr build's Dockerfile: %v", err)
		}
		if bad := acrUnsupported.FindAllString(string(src), -1); len(bad) > 0 {
			t.Errorf("%s has syntax ACR Tasks cannot build: %q", file, bad)
		}
	}
	if builds == 0 {
		t.Error("no az acr build in the dry run")
	}
}

// The check is proven on the repository's own Dockerfile, which is
// BuildKit-only on purpose (cross-compiled multi-arch builds).
func TestACRCheckCatchesBuildKitSyntax(t *testing.T) {
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if got := acrUnsupported.FindAllString(string(src), -1); len(got) < 2 {
		t.Errorf("the check missed BuildKit syntax in ../Dockerfile: %q", got)
	}
}

// bash32 is GNU bash 3.2.48, the bash macOS ships, from ../shared/tools
// beside the repository (see its README), with the system's folders on
// PATH but envsubst, which macOS lacks (GNU gettext).
func bash32(t *testing.T) shell {
	t.Helper()
	root, _ := filepath.Abs("..")
	b := filepath.Join(filepath.Dir(root), "shared", "tools", "bash-3.2.48")
	if _, err := os.Stat(b); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI runs the scripts under bash 3.2 from ../shared/tools: %v", err)
		}
		t.Skipf("no bash 3.2 at %s", b)
	}
	if out, err := exec.Command(b, "-c", "echo $BASH_VERSION").Output(); err != nil || !strings.HasPrefix(string(out), "3.2.") {
		t.Fatalf("%s is bash %q (%v), not 3.2", b, out, err)
	}
	sys := t.TempDir()
	for _, d := range []string{"/usr/bin", "/bin"} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if name := e.Name(); name != "envsubst" && name != "bash" && name != "sh" {
				os.Symlink(filepath.Join(d, name), filepath.Join(sys, name)) // the first folder's wins
			}
		}
	}
	// sh stays the system's: only what runs under bash is bash 3.2.
	os.Symlink("/bin/sh", filepath.Join(sys, "sh"))
	return shell{bash: b, path: sys}
}

// Every script runs under bash 3.2, the bash of a Mac, with envsubst
// absent: its --help, its dry runs (the same golden call logs as under
// bash 5), and entra-setup.sh against cloudsim with no CA variable set,
// where curl's own store refuses cloudsim's certificate, and against an
// authority that does not answer: each is a connection error in curl's
// words, never bash's "unbound variable". (The rehearsals in
// internal/e2e run the scripts against cloudsim under bash 3.2 too when
// AGENTID_TEST_BASH names it, as CI does.)
func TestScriptsUnderBash32(t *testing.T) {
	sh := bash32(t)
	if out, err := exec.Command(sh.bash, "-c", "PATH="+sh.path+"; command -v envsubst || echo absent").Output(); err != nil || strings.TrimSpace(string(out)) != "absent" {
		t.Fatalf("envsubst on the bash 3.2 PATH: %q %v", out, err)
	}
	t.Run("help", func(t *testing.T) { everyScriptHasHelp(t, sh) })
	t.Run("containerapps", func(t *testing.T) { containerApps(t, sh) })
	t.Run("aws-agentcore", func(t *testing.T) { awsAgentCore(t, sh) })
	t.Run("aws-agentcore vault", func(t *testing.T) { awsAgentCoreVault(t, sh) })
	t.Run("other dry runs", func(t *testing.T) { otherDryRuns(t, sh) })
	t.Run("entra-setup without a CA", func(t *testing.T) {
		sim := cloudsimtest.Start(t, cloudsimtest.FreshTenant(t))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "https://" + ln.Addr().String()
		ln.Close()
		for _, c := range []struct{ authority, want string }{
			{sim.URL, "curl: (60)"}, // SSL certificate problem
			{closed, "curl: (7)"},   // failed to connect
		} {
			cmd := exec.Command(sh.bash, "entra-setup.sh", "--tenant-id", sim.Tenant.Tenant.ID, "--env-file", filepath.Join(t.TempDir(), "x.env"))
			cmd.Env = []string{"PATH=" + sh.path, "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(), "AZURE_AUTHORITY_HOST=" + c.authority,
				"GRAPH_URL=" + c.authority + "/graph"}
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "entra-setup: cannot reach "+c.authority+"/") || !strings.Contains(string(out), c.want) ||
				strings.Contains(string(out), "unbound variable") {
				t.Errorf("authority %s: %v\n%s\nwant a connection error (%s)", c.authority, err, out, c.want)
			}
		}
	})
}

// ignoredByDocker reports whether .dockerignore's patterns leave path
// out of a build context: the last pattern matching it, or a folder
// above it, decides (a "!" pattern keeps it); "**/" matches any folders.
func ignoredByDocker(patterns []string, path string) bool {
	ignored := false
	parts := strings.Split(path, "/")
	for _, p := range patterns {
		keep := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		for end := 1; end <= len(parts); end++ {
			prefix := strings.Join(parts[:end], "/")
			matched, _ := filepath.Match(p, prefix)
			if rest, ok := strings.CutPrefix(p, "**/"); ok {
				for start := 0; start < end && !matched; start++ {
					matched, _ = filepath.Match(rest, strings.Join(parts[start:end], "/"))
				}
			}
			if matched {
				ignored = !keep
				break
			}
		}
	}
	return ignored
}

// The repository's .dockerignore keeps env files, the local secret, state
// folders and .git out of every build context, and keeps what the build
// embeds.
func TestDockerignore(t *testing.T) {
	src, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(src), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	for _, out := range []string{".git/config", "deploy/aca.env", "deploy/aws.env", "deploy/compose/.env", "deploy/compose/secret.env",
		"deploy/compose/local.env", ".cloudsim/ca-key.pem", ".demo/signing-keys.json", ".rehearsal/agentid.env", "dist/llm-agent", "some/where/else.env"} {
		if !ignoredByDocker(patterns, out) {
			t.Errorf("%s would be in a build context", out)
		}
	}
	for _, in := range []string{"go.mod", "cmd/llm-agent/main.go", "deploy/models/default.env", "deploy/local/tenant.jsonc", "web/static/index.html"} {
		if ignoredByDocker(patterns, in) {
			t.Errorf("%s would be left out of a build context", in)
		}
	}
}

// vaultEnv is awsAgentCoreEnv with the vault's settings.
func vaultEnv(t *testing.T) string {
	f := awsAgentCoreEnv(t)
	src, _ := os.ReadFile(f)
	os.WriteFile(f, append(src, []byte("VAULT_APP_ID=3c1d7e52-0f6a-4b8e-9d21-7a5c4e8b9f10\nAGENTCORE_VAULT_RETURN_URL=https://chat.example/consent.html\n")...), 0o600)
	return f
}

const (
	vaultApp      = "3c1d7e52-0f6a-4b8e-9d21-7a5c4e8b9f10"
	vaultCallback = "https://bedrock-agentcore.us-east-1.amazonaws.com/identities/oauth2/callback/5d3c0a1e-8b7f-4c2d-9e6a-1f0b3c5d7e9a"
	vaultSecret   = "planted~vault.secret_XYZ"
	providerARN   = "arn:aws:bedrock-agentcore:us-east-1:111122223333:token-vault/default/oauth2credentialprovider/entra-weather-api"
	workloadARN   = "arn:aws:bedrock-agentcore:us-east-1:111122223333:workload-identity-directory/default/workload-identity/agentid_agent-wi"
)

// provider answers get-oauth2-credential-provider with a provider for
// client.
func provider(client string) answer {
	return answer{pattern: "^aws bedrock-agentcore-control get-oauth2-credential-provider", body: `{"name":"entra-weather-api","credentialProviderArn":"` + providerARN +
		`","callbackUrl":"` + vaultCallback + `","clientSecretArn":{"secretArn":"arn:aws:secretsmanager:us-east-1:111122223333:secret:bedrock-agentcore-identity!default/oauth2/entra-weather-api-AbCdEf"},` +
		`"oauth2ProviderConfigOutput":{"microsoftOauth2ProviderConfig":{"clientId":"` + client + `"}}}`}
}

var (
	noProvider = answer{pattern: "^aws bedrock-agentcore-control get-oauth2-credential-provider", fail: true,
		body: "An error occurred (ResourceNotFoundException) when calling the GetOauth2CredentialProvider operation: Credential provider entra-weather-api not found"}
	created = answer{pattern: "^aws bedrock-agentcore-control create-oauth2-credential-provider", body: `{"name":"entra-weather-api","credentialProviderArn":"` + providerARN +
		`","callbackUrl":"` + vaultCallback + `","clientSecretArn":{"secretArn":"arn:aws:secretsmanager:us-east-1:111122223333:secret:bedrock-agentcore-identity!default/oauth2/entra-weather-api-AbCdEf"},"status":"READY"}`}
	runtimeWorkload = answer{pattern: "^aws bedrock-agentcore-control get-agent-runtime", body: `{"workloadIdentityDetails":{"workloadIdentityArn":"` + workloadARN + `"}}`}
)

// workload answers get-workload-identity with these return URLs.
func workload(urls string) answer {
	return answer{pattern: "^aws bedrock-agentcore-control get-workload-identity", body: `{"name":"agentid_agent-wi","workloadIdentityArn":"` + workloadARN +
		`","allowedResourceOauth2ReturnUrls":` + urls + `}`}
}

func TestAWSAgentCoreVault(t *testing.T) { awsAgentCoreVault(t, bash5) }

// aws-agentcore.sh vault against fake aws: the provider is created with
// the secret from stdin, passed on to the AWS CLI's stdin and never on a
// command line; the return URL is added to the runtime's workload
// identity's; the runtime role gets the provider's rights; the callback
// URL is all it prints. A rerun without a secret changes nothing, and
// one whose provider is missing or holds another app exits 3.
func awsAgentCoreVault(t *testing.T, sh shell) {
	env := vaultEnv(t)
	// A stack deployed before the template granted the vault: the role
	// gets an inline policy.
	olderStack := answer{pattern: "ParameterKey=='VaultProviderName'", body: "None\n"}
	with := func(more ...answer) []answer { return append(append([]answer{olderStack}, more...), stack...) }
	r := sh.runWithStdin(t, "aws-agentcore.sh", with(noProvider, created, runtimeWorkload, workload(`["https://other.example/consent.html"]`)), vaultSecret+"\n",
		"vault", "--env-file", env, "--client-secret-stdin")
	if r.err != nil || r.stdout != vaultCallback+"\n" {
		t.Fatalf("vault: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if strings.Contains(r.calls, vaultSecret) || strings.Contains(r.stderr, vaultSecret) {
		t.Errorf("the secret is on a command line or in the output:\n%s", r.calls)
	}
	if want := `{"microsoftOauth2ProviderConfig":{"clientId":"` + vaultApp + `","clientSecret":"` + vaultSecret + `","tenantId":"ca77995a-3696-41ae-a339-cf02b3e89b12"}}`; strings.TrimSpace(r.stdin) != want {
		t.Errorf("the provider's configuration on stdin: %q, want %q", r.stdin, want)
	}
	for _, want := range []string{"update-workload-identity --name agentid_agent-wi --allowed-resource-oauth2-return-urls",
		"put-role-policy --role-name agentid-AgentRuntimeRole-ABC --policy-name agentcore-vault"} {
		if !strings.Contains(r.calls, want) {
			t.Errorf("no %s in\n%s", want, r.calls)
		}
	}
	golden(t, "aws-agentcore-vault", r.calls)

	// A rerun without a secret, on a stack whose template grants the
	// vault: the provider holds the app, the identity allows the URL, the
	// role has its rights. Nothing changes.
	current := answer{pattern: "ParameterKey=='VaultProviderName'", body: "entra-weather-api\n"}
	r = sh.run(t, "aws-agentcore.sh", append([]answer{current}, with(provider(vaultApp), runtimeWorkload, workload(`["https://chat.example/consent.html"]`))...),
		"vault", "--env-file", env)
	if r.err != nil || r.stdout != vaultCallback+"\n" || strings.Contains(r.calls, "create-") || strings.Contains(r.calls, "update-") || strings.Contains(r.calls, "put-") {
		t.Errorf("rerun: %v\n%s\n%s\n%s", r.err, r.stdout, r.stderr, r.calls)
	}
	golden(t, "aws-agentcore-vault-rerun", r.calls)

	// An agent the stack does not run: its own workload identity, created
	// when missing, and its role named in the env file.
	own := filepath.Join(t.TempDir(), "own.env")
	src, _ := os.ReadFile(env)
	os.WriteFile(own, append(src, []byte("WORKLOAD_IDENTITY_NAME=local-agent\nRUNTIME_ROLE_ARN=arn:aws:iam::111122223333:role/path/local-agent-role\n")...), 0o600)
	r = sh.run(t, "aws-agentcore.sh", []answer{{pattern: "^aws sts get-caller-identity", body: "arn:aws:iam::111122223333:user/admin\n"}, provider(vaultApp),
		{pattern: "^aws bedrock-agentcore-control get-workload-identity", fail: true,
			body: "An error occurred (ResourceNotFoundException) when calling the GetWorkloadIdentity operation: Workload identity local-agent not found"},
		{pattern: "^aws bedrock-agentcore-control create-workload-identity", body: `{"name":"local-agent","workloadIdentityArn":"arn:aws:bedrock-agentcore:us-east-1:111122223333:workload-identity-directory/default/workload-identity/local-agent"}`}},
		"vault", "--env-file", own)
	if r.err != nil || !strings.Contains(r.calls, `create-workload-identity --name local-agent --allowed-resource-oauth2-return-urls \[\"https://chat.example/consent.html\"\]`) ||
		!strings.Contains(r.calls, "put-role-policy --role-name local-agent-role --policy-name agentcore-vault") || strings.Contains(r.calls, "cloudformation") {
		t.Errorf("own workload identity and role: %v\n%s\n%s", r.err, r.calls, r.stderr)
	}

	// A secret for an existing provider updates it.
	r = sh.runWithStdin(t, "aws-agentcore.sh", with(provider("0d9f1e2a-3b4c-4d5e-8f60-718293a4b5c6"),
		answer{pattern: "^aws bedrock-agentcore-control update-oauth2-credential-provider", body: created.body}, runtimeWorkload,
		workload(`["https://chat.example/consent.html"]`)), vaultSecret+"\n", "vault", "--env-file", env, "--client-secret-stdin")
	if r.err != nil || !strings.Contains(r.calls, "update-oauth2-credential-provider --name entra-weather-api --credential-provider-vendor MicrosoftOauth2 --oauth2-provider-config-input file:///dev/stdin") {
		t.Errorf("update: %v\n%s\n%s", r.err, r.calls, r.stderr)
	}

	for name, p := range map[string]answer{"missing": noProvider, "another app's": provider("0d9f1e2a-3b4c-4d5e-8f60-718293a4b5c6")} {
		r = sh.run(t, "aws-agentcore.sh", with(p, runtimeWorkload, workload("[]")), "vault", "--env-file", env)
		var exit *exec.ExitError
		if !errors.As(r.err, &exit) || exit.ExitCode() != 3 || !strings.Contains(r.stderr, "client secret") || strings.Contains(r.calls, "put-role-policy") {
			t.Errorf("a %s provider without a secret: %v\n%s\n%s", name, r.err, r.stderr, r.calls)
		}
	}

	// A dry run on a new account: no stack, no provider.
	newAccount := []answer{{pattern: "^aws sts get-caller-identity", body: "111122223333\n"}, noProvider,
		{pattern: "^aws cloudformation describe-stacks", body: "does not exist", fail: true}}
	r = sh.runWithStdin(t, "aws-agentcore.sh", newAccount, vaultSecret+"\n", "vault", "--env-file", env, "--client-secret-stdin", "--dry-run")
	if r.err != nil || strings.Contains(r.calls, "create-") || strings.Contains(r.calls, "put-role") || !strings.Contains(r.stderr, "would run: aws bedrock-agentcore-control create-oauth2-credential-provider") ||
		strings.Contains(r.stderr, vaultSecret) || !strings.Contains(r.stdout, "<the callback URL") {
		t.Errorf("dry run: %v\n%s\n%s\n%s", r.err, r.stdout, r.stderr, r.calls)
	}
	golden(t, "aws-agentcore-vault-dry-run-new-account", r.calls+"--- stderr\n"+r.stderr)

	// The settings it needs, named.
	noRegion := filepath.Join(t.TempDir(), "no-region.env")
	os.WriteFile(noRegion, []byte("TENANT_ID=ca77995a-3696-41ae-a339-cf02b3e89b12\n"), 0o600)
	if r = sh.run(t, "aws-agentcore.sh", stack, "vault", "--env-file", noRegion); r.err == nil || strings.TrimSpace(r.stderr) != "aws-agentcore: "+noRegion+" has no AWS_REGION" {
		t.Errorf("no AWS_REGION: %v %q", r.err, r.stderr)
	}
	bare := awsAgentCoreEnv(t)
	if r = sh.run(t, "aws-agentcore.sh", stack, "vault", "--env-file", bare); r.err == nil || !strings.Contains(r.stderr, "has no VAULT_APP_ID") || r.calls != "" {
		t.Errorf("no VAULT_APP_ID: %v %q", r.err, r.stderr)
	}
	f, _ := os.OpenFile(bare, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "VAULT_APP_ID=%s\n", vaultApp)
	f.Close()
	if r = sh.run(t, "aws-agentcore.sh", stack, "vault", "--env-file", bare); r.err == nil || !strings.Contains(r.stderr, "set AGENTCORE_VAULT_RETURN_URL") {
		t.Errorf("no AGENTCORE_VAULT_RETURN_URL: %v %q", r.err, r.stderr)
	}
}
