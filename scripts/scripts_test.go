// Package scripts_test runs the setup scripts against fake az, aws and curl
// that record their arguments and answer from canned files, and compares
// the calls, in order, with golden logs (UPDATE_GOLDEN=1 rewrites them).
package scripts_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/deploy/models"
)

// fake records its call, then answers with the first response whose
// pattern (an extended regexp) matches "<cli> <args…>"; a failing response
// writes to stderr and exits 254.
const fake = `#!/usr/bin/env bash
name=$(basename "$0")
{ printf '%s' "$name"; for a in "$@"; do printf ' %q' "$a"; done; printf '\n'; } >>"$FAKE_LOG"
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
	err            error
}

// runScript runs script with args against the fake CLIs.
func runScript(t *testing.T, script string, responses []answer, args ...string) run {
	t.Helper()
	dir := t.TempDir()
	bin, resp := filepath.Join(dir, "bin"), filepath.Join(dir, "responses")
	os.MkdirAll(bin, 0o755)
	os.MkdirAll(resp, 0o755)
	for _, cli := range []string{"aws", "az", "curl", "docker"} {
		os.WriteFile(filepath.Join(bin, cli), []byte(fake), 0o755)
	}
	for i, a := range responses {
		name := fmt.Sprintf("%03d", i)
		if a.fail {
			name += ".fail"
		}
		os.WriteFile(filepath.Join(resp, name), []byte(a.pattern+"\n"+a.body), 0o644)
	}
	log := filepath.Join(dir, "calls.log")
	abs, _ := filepath.Abs(script)
	cmd := exec.Command("bash", append([]string{abs}, args...)...)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "FAKE_LOG=" + log, "FAKE_RESPONSES=" + resp, "HOME=" + dir, "TMPDIR=" + dir}
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	calls, _ := os.ReadFile(log)
	return run{stdout: stdout.String(), stderr: stderr.String(), calls: string(calls), err: err}
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

func TestEveryScriptHasHelp(t *testing.T) {
	scripts, _ := filepath.Glob("*.sh")
	for _, s := range scripts {
		if s == "verify-cloudsim-tokens.sh" {
			continue // CI's independent client, not an operator script
		}
		r := runScript(t, s, nil, "--help")
		if r.err != nil || !strings.Contains(r.stdout, "Usage:") || r.calls != "" {
			t.Errorf("%s --help: %v %q (calls %q)", s, r.err, r.stdout, r.calls)
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
		{[]string{"--tenant-id", "t", "--bogus"}, "unknown argument: --bogus"},
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

func TestContainerApps(t *testing.T) {
	envFile := containerAppsEnv(t)
	azure := []answer{
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
	r := runScript(t, "containerapps.sh", azure, "deploy", "--env-file", envFile, "--dry-run")
	if r.err != nil || !strings.Contains(r.stdout, "would run: az containerapp update") || !strings.Contains(r.stdout, "deployed: https://agentid.example.azurecontainerapps.io") {
		t.Fatalf("deploy: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "would run: az rest --method PATCH") || strings.Count(r.stdout, "agentid.example.azurecontainerapps.io") < 2 {
		t.Errorf("the SPA redirect URI is not added:\n%s", r.stdout)
	}
	golden(t, "containerapps-deploy-dry-run", r.calls+"--- stdout\n"+r.stdout)
	checkACRDockerfiles(t, r.stdout)

	// With telemetry destinations, the environment's managed agent is set,
	// and a dry run shows neither the connection string nor the headers.
	const connection, headers = "InstrumentationKey=00000000-0000-0000-0000-00000000c0de;IngestionEndpoint=https://eastus2.in.applicationinsights.azure.com/",
		"x-honeycomb-team=hcaik_plantedplantedplanted"
	f, _ := os.OpenFile(envFile, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "APPLICATIONINSIGHTS_CONNECTION_STRING='%s'\nOTLP_ENDPOINT=https://api.honeycomb.io:443\nOTLP_HEADERS='%s'\n", connection, headers)
	f.Close()
	fresh := append([]answer{{pattern: "^az containerapp env telemetry otlp show", fail: true}}, azure...) // no OTLP destination yet
	r = runScript(t, "containerapps.sh", fresh, "deploy", "--env-file", envFile, "--dry-run")
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
	r = runScript(t, "containerapps.sh", healthy, "verify", "--env-file", envFile)
	if r.err != nil || !strings.Contains(r.stdout, "all check out") {
		t.Fatalf("verify: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	golden(t, "containerapps-verify", r.calls)
	sick := append([]answer{{pattern: "^curl .*/api/status", body: `{"checks":{"identity":{"ok":true},"weather_api":{"ok":true},"bedrock":{"ok":false,"reason":"no AWS credentials resolved"}}}`}}, azure...)
	if r = runScript(t, "containerapps.sh", sick, "verify", "--env-file", envFile); r.err == nil || !strings.Contains(r.stderr, "bedrock is not OK: no AWS credentials resolved") {
		t.Errorf("verify with Bedrock down: %v %q", r.err, r.stderr)
	}

	r = runScript(t, "containerapps.sh", nil, "teardown", "--env-file", envFile, "--aws", "--entra")
	if r.err != nil || r.calls != "" || !strings.Contains(r.stdout, "would run: aws iam delete-open-id-connect-provider --open-id-connect-provider-arn arn:aws:iam::111122223333:oidc-provider/sts.windows.net/ca77995a-3696-41ae-a339-cf02b3e89b12/") {
		t.Errorf("teardown dry run: %v calls %q\n%s", r.err, r.calls, r.stdout)
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

func TestAWSAgentCore(t *testing.T) {
	envFile := awsAgentCoreEnv(t)
	const issuer = "https://8f3c2a9e-4b1d-4e7a-9c6f-2d5b8a1e0f47.tokens.sts.global.api.aws"
	stack := []answer{
		{pattern: "^aws sts get-caller-identity", body: "111122223333\n"},
		{pattern: "OutputKey=='AgentRuntimeRoleArn'", body: "arn:aws:iam::111122223333:role/agentid-AgentRuntimeRole-ABC\n"},
		{pattern: "OutputKey=='AgentRuntimeArn'", body: "arn:aws:bedrock-agentcore:us-east-1:111122223333:runtime/weather_agent-XYZ\n"},
		{pattern: "OutputKey=='AgentInvocationUrl'", body: "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A111122223333%3Aruntime%2Fweather_agent-XYZ/invocations?qualifier=DEFAULT\n"},
		{pattern: "OutputKey=='WeatherApiUrl'", body: "https://abc123.execute-api.us-east-1.amazonaws.com\n"},
		{pattern: "^aws s3api head-bucket", body: "NotFound", fail: true},
		{pattern: "^aws ecr describe-repositories", body: "RepositoryNotFoundException", fail: true},
	}
	enabled := answer{pattern: "^aws iam get-outbound-web-identity-federation-info", body: issuer + "\n"}
	disabled := answer{pattern: "^aws iam get-outbound-web-identity-federation-info", body: "FeatureDisabled", fail: true}

	r := runScript(t, "aws-agentcore.sh", append([]answer{enabled}, stack...), "deploy", "--env-file", envFile, "--dry-run")
	if r.err != nil || !strings.Contains(r.stdout, "would run: aws cloudformation deploy") ||
		!strings.Contains(r.stdout, "--aws-role arn:aws:iam::111122223333:role/agentid-AgentRuntimeRole-ABC --aws-issuer "+issuer) ||
		!strings.Contains(r.stdout, "runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A111122223333%3Aruntime%2Fweather_agent-XYZ/invocations") {
		t.Fatalf("deploy: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "enable-outbound") || strings.Contains(r.stderr, "enable-outbound") {
		t.Error("federation was already on, yet the script enables it")
	}
	golden(t, "aws-agentcore-deploy-dry-run", r.calls+"--- stdout\n"+r.stdout)

	r = runScript(t, "aws-agentcore.sh", append([]answer{disabled}, stack...), "deploy", "--env-file", envFile, "--dry-run")
	if r.err != nil || !strings.Contains(r.stderr, "would run: aws iam enable-outbound-web-identity-federation") {
		t.Errorf("deploy with federation off: %v\n%s", r.err, r.stderr)
	}

	healthy := append([]answer{
		enabled,
		{pattern: "^curl -fsS .*/health", body: `{"status":"healthy"}`},
		{pattern: "^curl .*http_code.*/weather", body: "401"},
		{pattern: "^aws bedrock-agentcore-control get-agent-runtime --agent-runtime-id weather_agent-XYZ", body: "READY\n"},
	}, stack...)
	r = runScript(t, "aws-agentcore.sh", healthy, "verify", "--env-file", envFile)
	if r.err != nil || !strings.Contains(r.stdout, "check out") {
		t.Fatalf("verify: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	golden(t, "aws-agentcore-verify", r.calls)
	open := append([]answer{{pattern: "^curl .*http_code.*/weather", body: "200"}}, healthy...)
	if r = runScript(t, "aws-agentcore.sh", open, "verify", "--env-file", envFile); r.err == nil || !strings.Contains(r.stderr, "is the JWT authorizer attached?") {
		t.Errorf("verify with an open route: %v %q", r.err, r.stderr)
	}

	r = runScript(t, "aws-agentcore.sh", nil, "teardown", "--env-file", envFile, "--federation")
	if r.err != nil || r.calls != "" || !strings.Contains(r.stdout, "would run: aws cloudformation delete-stack --stack-name agentid") ||
		!strings.Contains(r.stdout, "would run: aws iam disable-outbound-web-identity-federation") {
		t.Errorf("teardown dry run: %v calls %q\n%s", r.err, r.calls, r.stdout)
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
