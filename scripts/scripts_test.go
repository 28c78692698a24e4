// Package scripts_test runs the setup scripts against fake az, aws and curl
// that record their arguments and answer from canned files, and compares
// the calls, in order, with golden logs (UPDATE_GOLDEN=1 rewrites them).
package scripts_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const fake = `#!/usr/bin/env bash
name=$(basename "$0")
{ printf '%s' "$name"; for a in "$@"; do printf ' %q' "$a"; done; printf '\n'; } >>"$FAKE_LOG"
key=$(printf '%s_%s_%s' "$name" "${1:-}" "${2:-}" | tr -c 'A-Za-z0-9_.-' '_')
if [ -f "$FAKE_RESPONSES/$key.fail" ]; then cat "$FAKE_RESPONSES/$key.fail" >&2; exit 254; fi
if [ -f "$FAKE_RESPONSES/$key" ]; then cat "$FAKE_RESPONSES/$key"; fi
`

type run struct {
	stdout, stderr string
	calls          string
	err            error
}

// runScript runs script with args; responses maps "<cli>_<arg1>_<arg2>"
// to its output, a key ending in .fail to a failure.
func runScript(t *testing.T, script string, responses map[string]string, args ...string) run {
	t.Helper()
	dir := t.TempDir()
	bin, resp := filepath.Join(dir, "bin"), filepath.Join(dir, "responses")
	os.MkdirAll(bin, 0o755)
	os.MkdirAll(resp, 0o755)
	for _, cli := range []string{"aws", "az", "curl"} {
		os.WriteFile(filepath.Join(bin, cli), []byte(fake), 0o755)
	}
	for k, v := range responses {
		os.WriteFile(filepath.Join(resp, k), []byte(v), 0o644)
	}
	log := filepath.Join(dir, "calls.log")
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "FAKE_LOG=" + log, "FAKE_RESPONSES=" + resp, "HOME=" + dir}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	calls, _ := os.ReadFile(log)
	return run{stdout: stdout.String(), stderr: stderr.String(), calls: string(calls), err: err}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
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
	account := map[string]string{"aws_sts_get-caller-identity": "111122223333\n", "aws_bedrock-runtime_converse": "end_turn\n"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range account {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	cases := []struct {
		name      string
		responses map[string]string
		extra     []string
		wantOut   string
		wantFail  string
	}{
		{"fresh-account", with(map[string]string{"aws_iam_get-open-id-connect-provider.fail": "NoSuchEntity", "aws_iam_get-role.fail": "NoSuchEntity"}), nil,
			"AWS_ROLE_ARN=arn:aws:iam::111122223333:role/agentid-bedrock-invoke", ""},
		{"existing-provider-and-role", with(map[string]string{"aws_iam_get-open-id-connect-provider": "api://other\n", "aws_iam_get-role": "arn:aws:iam::111122223333:role/agentid-bedrock-invoke\n"}), nil,
			"AWS_ROLE_ARN=", ""},
		{"already-done", with(map[string]string{"aws_iam_get-open-id-connect-provider": "api://241e239b-367f-411d-9291-4ad052b57982\n", "aws_iam_get-role": "arn\n"}), nil,
			"AWS_ROLE_ARN=", ""},
		{"dry-run", with(map[string]string{"aws_iam_get-open-id-connect-provider.fail": "NoSuchEntity", "aws_iam_get-role.fail": "NoSuchEntity"}), []string{"--dry-run"},
			"would run: aws iam create-open-id-connect-provider", ""},
		{"model-not-enabled", map[string]string{"aws_sts_get-caller-identity": "111122223333\n", "aws_iam_get-role": "arn\n", "aws_iam_get-open-id-connect-provider": "api://241e239b-367f-411d-9291-4ad052b57982\n",
			"aws_bedrock-runtime_converse.fail": "AccessDeniedException"}, nil, "", "enable model access"},
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
