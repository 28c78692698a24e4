package cloudsim_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// These tests drive cloudsim's STS and Bedrock with clients the project
// did not write: boto3 and the AWS CLI v1, from the machine's Python.
// PyPI is out of reach, so nothing installs them: the python3 on PATH
// must have them (the pyenv Python does), and under CI a missing one
// fails the test.

const profileID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

// awsPython is the interpreter that has boto3 and the AWS CLI v1.
func awsPython(t *testing.T) string {
	out, err := exec.Command("python3", "-c", "import sys, boto3, awscli; print(sys.executable)").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the python3 on PATH lacks boto3 or the AWS CLI v1 (the machine's pyenv Python has both; PyPI is unreachable): %v", err)
		}
		t.Skip("boto3 and the AWS CLI v1 are not importable from the python3 on PATH")
	}
	return strings.TrimSpace(string(out))
}

// awsEnv is the whole environment the Python clients see: cloudsim's
// settings as cloudsim.env gives them, web identity from the refresher's
// file, and a fresh HOME so no profile or credential cache of the machine
// (the CLI caches web identity sessions under ~/.aws/cli/cache) is used.
func awsEnv(t *testing.T, sim *cloudsim.Sim, tokenFile string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none"),
		"AWS_WEB_IDENTITY_TOKEN_FILE=" + tokenFile, "AWS_ROLE_SESSION_NAME=python-client", "BEDROCK_MODEL_ID=" + profileID,
	}
	for k, v := range sim.Env() {
		if strings.HasPrefix(k, "AWS_") || k == "SSL_CERT_FILE" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// startForPython runs a cloudsim whose clock the test can move, and writes
// chain B's web identity token where the refresher would.
func startForPython(t *testing.T) (*cloudsim.Sim, *atomic.Int64, string) {
	offset := &atomic.Int64{}
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		o.TokenLifetime = 3 * time.Hour
	})
	tokenFile := filepath.Join(t.TempDir(), "web-identity-token")
	if err := os.WriteFile(tokenFile, []byte(cloudsimtest.NewTokens(sim).STSApp(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, offset, tokenFile
}

// boto3Session is the running boto3 script: one scenario per call.
type boto3Session struct {
	t   *testing.T
	in  io.Writer
	out *bufio.Scanner
}

func startBoto3(t *testing.T, python string, env []string) *boto3Session {
	in, out := startPython(t, python, "boto3_client.py", env)
	return &boto3Session{t: t, in: in, out: out}
}

// startPython runs testdata/script with env, its standard input and output
// a line protocol; it is stopped when the test ends.
func startPython(t *testing.T, python, script string, env []string) (io.Writer, *bufio.Scanner) {
	cmd := exec.Command(python, filepath.Join("testdata", script))
	cmd.Env = env
	cmd.Stderr = t.Output()
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return in, sc
}

func (b *boto3Session) run(scenario string) map[string]any {
	b.t.Helper()
	if _, err := io.WriteString(b.in, scenario+"\n"); err != nil {
		b.t.Fatalf("%s: %v", scenario, err)
	}
	if !b.out.Scan() {
		b.t.Fatalf("%s: the boto3 script stopped: %v", scenario, b.out.Err())
	}
	var res map[string]any
	if err := json.Unmarshal(b.out.Bytes(), &res); err != nil {
		b.t.Fatalf("%s: %s", scenario, b.out.Bytes())
	}
	return res
}

// refusal is what boto3 reports of an AWS error.
type refusal struct {
	scenario, code string
	status         float64
	class, message string
}

func (b *boto3Session) expectRefusals(cases []refusal) {
	b.t.Helper()
	for _, c := range cases {
		got := b.run(c.scenario)
		if got["ok"] != false || got["code"] != c.code || got["status"] != c.status || got["class"] != c.class ||
			!strings.Contains(got["message"].(string), c.message) || got["request_id"] == "" {
			b.t.Errorf("%s: got %v\nwant %s %v (%s) containing %q, with a request ID", c.scenario, got, c.code, c.status, c.class, c.message)
		}
	}
}

func TestBoto3AgainstCloudsim(t *testing.T) {
	python := awsPython(t)
	sim, offset, tokenFile := startForPython(t)
	b := startBoto3(t, python, awsEnv(t, sim, tokenFile))
	account, tenantID := sim.Tenant.AWS.AccountID, sim.Env()["TENANT_ID"]
	roleARN := sim.Env()["AWS_ROLE_ARN"]

	t.Run("AssumeRoleWithWebIdentity", func(t *testing.T) {
		got := b.run("assume")
		wantProvider := "arn:aws:iam::" + account + ":oidc-provider/sts.windows.net/" + tenantID + "/"
		if got["provider"] != wantProvider || got["packed_policy_size"] != false || got["audience"] != sim.Env()["STS_APP_URI"] {
			t.Errorf("got %v; want provider %s and no PackedPolicySize", got, wantProvider)
		}
	})
	t.Run("GetCallerIdentity", func(t *testing.T) {
		got := b.run("caller")
		if got["arn"] != "arn:aws:sts::"+account+":assumed-role/agentid-bedrock-invoke/python-client" ||
			!strings.HasPrefix(got["user_id"].(string), "AROA") || got["account"] != account {
			t.Errorf("got %v", got)
		}
	})
	t.Run("Converse with a tool round", func(t *testing.T) {
		got := b.run("converse")
		stops, _ := json.Marshal(got["stop_reasons"])
		input, _ := json.Marshal(got["input"])
		if string(stops) != `["tool_use","end_turn"]` || got["tool"] != "get_weather" || string(input) != `{"city":"Oslo"}` ||
			!strings.Contains(got["answer"].(string), "Oslo") || got["total_is_sum"] != true || got["request_id"] == "" {
			t.Errorf("got %v", got)
		}
	})
	t.Run("ConverseStream, every event parsed", func(t *testing.T) {
		got := b.run("converse_stream")
		events, _ := json.Marshal(got["events"])
		input, _ := json.Marshal(got["input"])
		// The text block has no contentBlockStart; the tool block does.
		if !strings.HasPrefix(string(events), `["messageStart","contentBlockDelta",`) || strings.Count(string(events), "contentBlockStart") != 1 ||
			!strings.HasSuffix(string(events), `"messageStop","metadata"]`) || got["tool"] != "get_weather" || string(input) != `{"city":"Oslo"}` ||
			!strings.Contains(got["text"].(string), "Oslo") || got["total_is_sum"] != true || got["request_id"] == "" {
			t.Errorf("got %v", got)
		}
	})
	t.Run("an inference profile ARN, a 2 MiB body", func(t *testing.T) {
		for _, s := range []string{"profile_arn", "large_body"} {
			if got := b.run(s); got["ok"] != true {
				t.Errorf("%s: %v", s, got)
			}
		}
	})
	t.Run("GetWebIdentityToken", func(t *testing.T) {
		if got := b.run("web_identity_token"); got["sub"] != roleARN || got["aud"] != "api://AzureADTokenExchange" {
			t.Errorf("got %v", got)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		b.expectRefusals([]refusal{
			{"assistant_first", "ValidationException", 400, "ValidationException", "A conversation must start with a user message."},
			{"empty_content", "ValidationException", 400, "ValidationException", "The content field in the Message object at messages.0 is empty."},
			{"blank_text", "ValidationException", 400, "ValidationException", "at messages.0.content.0 is blank."},
			{"not_alternating", "ValidationException", 400, "ValidationException", "A conversation must alternate between user and assistant roles."},
			{"made_up_model", "ValidationException", 400, "ValidationException", "The provided model identifier is invalid."},
			{"foundation_model", "ValidationException", 400, "ValidationException", "with on-demand throughput isn’t supported"},
			{"retired_model", "ResourceNotFoundException", 404, "ResourceNotFoundException", "This model version has reached the end of its life."},
			{"malformed_policy", "MalformedPolicyDocument", 400, "MalformedPolicyDocumentException", "invalid Json"},
			{"audience_outside_policy", "AccessDenied", 403, "ClientError", "is not authorized to perform: sts:GetWebIdentityToken"},
			{"duration_outside_policy", "AccessDenied", 403, "ClientError", "is not authorized to perform: sts:GetWebIdentityToken"},
			{"access_denied", "AccessDeniedException", 403, "AccessDeniedException",
				"on resource: arn:aws:bedrock:us-east-1:" + account + ":inference-profile/" + profileID},
		})
	})
	t.Run("clock skew, per service", func(t *testing.T) {
		offset.Store(int64(10 * time.Minute))
		b.expectRefusals([]refusal{{"bedrock_call", "InvalidSignatureException", 403, "ClientError", "(" + time.Now().Add(10*time.Minute).UTC().Format("20060102T15")}})
		if got := b.run("bedrock_call"); !strings.Contains(got["message"].(string), " - 5 min.)") {
			t.Errorf("Bedrock's window is 5 minutes: %v", got)
		}
		if got := b.run("sts_call"); got["ok"] != true {
			t.Errorf("STS's window is 15 minutes, 10 passes: %v", got)
		}
		offset.Store(int64(20 * time.Minute))
		b.expectRefusals([]refusal{{"sts_call", "SignatureDoesNotMatch", 403, "ClientError", " - 15 min.)"}})
	})
	t.Run("an expired session stays expired after another is issued", func(t *testing.T) {
		offset.Store(int64(20 * time.Minute)) // the 900-second session from "assume" has ended
		expired := []refusal{
			{"short_sts", "ExpiredToken", 403, "ClientError", "The security token included in the request is expired"},
			{"short_bedrock", "ExpiredTokenException", 403, "ClientError", "The security token included in the request is expired"},
		}
		b.expectRefusals(expired)
		if got := b.run("reassume"); got["ok"] != true {
			t.Fatalf("reassume: %v", got)
		}
		b.expectRefusals(expired)
	})
}

// The AWS CLI v1 (python -m awscli, the same CLI as `aws` on PATH) with
// nothing but cloudsim's settings: web identity, then STS and Bedrock.
func TestAWSCLIAgainstCloudsim(t *testing.T) {
	python := awsPython(t)
	sim, _, tokenFile := startForPython(t)
	env := awsEnv(t, sim, tokenFile)
	aws := func(args ...string) (string, int) { return runCLI(t, python, env, args...) }
	messages := `[{"role":"user","content":[{"text":"What's the weather in Oslo?"}]}]`
	tools := `{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object"}}}}]}`
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"assume a role with the refresher's file", []string{"sts", "assume-role-with-web-identity", "--role-arn", sim.Env()["AWS_ROLE_ARN"],
			"--role-session-name", "cli", "--web-identity-token", "file://" + tokenFile},
			0, []string{`"Arn": "arn:aws:sts::111122223333:assumed-role/agentid-bedrock-invoke/cli"`, `"Provider": "arn:aws:iam::111122223333:oidc-provider/sts.windows.net/`}},
		{"who am I", []string{"sts", "get-caller-identity"}, 0, []string{`"Arn": "arn:aws:sts::111122223333:assumed-role/agentid-bedrock-invoke/python-client"`}},
		{"converse", []string{"bedrock-runtime", "converse", "--model-id", profileID, "--messages", messages, "--tool-config", tools},
			0, []string{`"stopReason": "tool_use"`, `"name": "get_weather"`}},
		{"an outbound token", []string{"sts", "get-web-identity-token", "--audience", "api://AzureADTokenExchange", "--signing-algorithm", "RS256"},
			0, []string{`"WebIdentityToken": "ey`}},
		{"a conversation that starts with the assistant", []string{"bedrock-runtime", "converse", "--model-id", profileID,
			"--messages", `[{"role":"assistant","content":[{"text":"Hi"}]}]`},
			255, []string{"An error occurred (ValidationException) when calling the Converse operation: A conversation must start with a user message."}},
		{"a model past its end of life", []string{"bedrock-runtime", "converse", "--model-id", "us.anthropic.claude-3-haiku-20240307-v1:0", "--messages", messages},
			255, []string{"An error occurred (ResourceNotFoundException) when calling the Converse operation: This model version has reached the end of its life."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := aws(c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d:\n%s", code, c.code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// A role allowed the inference profile but not the foundation model it
// routes to is refused by Bedrock: the policy needs both ("If you specify
// an inference profile in the Resource field, you must also specify the
// foundation model in each Region associated with it": Bedrock User Guide,
// "Prerequisites for inference profiles"). Through the AWS CLI, with the
// refresher's web identity token.
func TestAWSCLIBedrockNeedsTheFoundationModel(t *testing.T) {
	python := awsPython(t)
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		o.Tenant.AWS.Roles[0].Policies["bedrock-invoke"] = json.RawMessage(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
			"Action": "bedrock:InvokeModel", "Resource": "arn:aws:bedrock:us-east-1:111122223333:inference-profile/*"}]}`)
	})
	tokenFile := filepath.Join(t.TempDir(), "web-identity-token")
	if err := os.WriteFile(tokenFile, []byte(cloudsimtest.NewTokens(sim).STSApp(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, python, awsEnv(t, sim, tokenFile), "bedrock-runtime", "converse", "--model-id", profileID,
		"--messages", `[{"role":"user","content":[{"text":"What's the weather in Oslo?"}]}]`)
	if code == 0 || !strings.Contains(out, "(AccessDeniedException)") ||
		!strings.Contains(out, "on resource: arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
