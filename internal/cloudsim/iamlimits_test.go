package cloudsim_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// What IAM keeps and refuses beyond the setup scripts' calls, through the
// AWS CLI and boto3: a role's Path (in its ARN), its tags (TagRole,
// UntagRole, ListRoleTags), the trust policy and inline policy quotas
// (characters without white space), a trust policy naming a role that does
// not exist, and a role name over its length.

const serviceTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// sized pads base, a compact policy document with an empty Sid, to n
// characters without white space.
func sized(base string, n int) string {
	return strings.Replace(base, `"Sid":""`, `"Sid":"`+strings.Repeat("s", n-len(base))+`"`, 1)
}

func trustOf(n int) string {
	return sized(`{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, n)
}

func policyOf(n int) string {
	return sized(`{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`, n)
}

func tagsJSON(n int) string {
	var tags []map[string]string
	for i := 1; i <= n; i++ {
		tags = append(tags, map[string]string{"Key": fmt.Sprintf("k%d", i), "Value": "v"})
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

func TestIAMLimitsThroughTheAWSCLI(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	aws := awsCLI(t, sim, "cloudsim-admin")
	const pathed = "arn:aws:iam::111122223333:role/agents/eu/worker"
	long := strings.Repeat("r", 65)
	runCLICases(t, aws, []cliCase{
		// Path.
		{"create a role with a path and tags", []string{"iam", "create-role", "--role-name", "worker", "--path", "/agents/eu/",
			"--assume-role-policy-document", serviceTrust, "--tags", `[{"Key":"team","Value":"agents"},{"Key":"Cost Center","Value":""}]`}, 0,
			[]string{`"Path": "/agents/eu/"`, `"Arn": "` + pathed + `"`, `"Key": "team"`, `"Key": "Cost Center"`}},
		{"read its path and ARN", []string{"iam", "get-role", "--role-name", "WORKER", "--query", "Role.[Path,Arn]", "--output", "text"}, 0,
			[]string{"/agents/eu/\t" + pathed}},
		{"a path without its leading slash", []string{"iam", "create-role", "--role-name", "bad-path", "--path", "agents/", "--assume-role-policy-document", serviceTrust}, 255,
			[]string{"(ValidationError)", "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters."}},
		{"a 513-character path", []string{"iam", "create-role", "--role-name", "bad-path", "--path", "/" + strings.Repeat("a", 511) + "/", "--assume-role-policy-document", serviceTrust}, 255,
			[]string{"(ValidationError)", "at 'path' failed to satisfy constraint: Member must have length less than or equal to 512"}},
		// Tags.
		{"the tags GetRole returns", []string{"iam", "get-role", "--role-name", "worker", "--query", "Role.Tags[].[Key,Value]", "--output", "text"}, 0,
			[]string{"team\tagents", "Cost Center\t"}},
		{"tag it, a key in another case", []string{"iam", "tag-role", "--role-name", "worker", "--tags", `[{"Key":"TEAM","Value":"platform"},{"Key":"env","Value":"dev"}]`}, 0, nil},
		{"untag it", []string{"iam", "untag-role", "--role-name", "worker", "--tag-keys", "cost center", "absent"}, 0, nil},
		{"list its tags", []string{"iam", "list-role-tags", "--role-name", "worker", "--query", "Tags[].[Key,Value]", "--output", "text"}, 0,
			[]string{"TEAM\tplatform\nenv\tdev"}},
		{"51 tags", []string{"iam", "create-role", "--role-name", "many-tags", "--assume-role-policy-document", serviceTrust, "--tags", tagsJSON(51)}, 255,
			[]string{"(ValidationError)", "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"}},
		{"two keys that differ in case", []string{"iam", "create-role", "--role-name", "many-tags", "--assume-role-policy-document", serviceTrust,
			"--tags", `[{"Key":"Env","Value":"a"},{"Key":"env","Value":"b"}]`}, 255,
			[]string{"(InvalidInput)", "Duplicate tag keys found. Please note that Tag keys are case insensitive."}},
		{"tags past 50 on the role", []string{"iam", "tag-role", "--role-name", "worker", "--tags", tagsJSON(49)}, 255,
			[]string{"(LimitExceeded)", "Cannot exceed quota for TagsPerRole: 50"}},
		// Quotas.
		{"a trust policy of 2,049 characters", []string{"iam", "create-role", "--role-name", "big", "--assume-role-policy-document", trustOf(2049)}, 255,
			[]string{"An error occurred (LimitExceeded) when calling the CreateRole operation: Cannot exceed quota for ACLSizePerRole: 2048"}},
		{"updated to 2,049 characters", []string{"iam", "update-assume-role-policy", "--role-name", "worker", "--policy-document", trustOf(2049)}, 255,
			[]string{"An error occurred (LimitExceeded) when calling the UpdateAssumeRolePolicy operation: Cannot exceed quota for ACLSizePerRole: 2048"}},
		{"2,048 characters and 2,000 of white space", []string{"iam", "create-role", "--role-name", "spacious", "--assume-role-policy-document",
			trustOf(2048) + strings.Repeat(" \n\t\r", 500)}, 0, nil},
		{"an inline policy of 6,000 characters", []string{"iam", "put-role-policy", "--role-name", "worker", "--policy-name", "one", "--policy-document", policyOf(6000)}, 0, nil},
		{"and one of 4,241", []string{"iam", "put-role-policy", "--role-name", "worker", "--policy-name", "two", "--policy-document", policyOf(4241)}, 255,
			[]string{"An error occurred (LimitExceeded) when calling the PutRolePolicy operation: Maximum policy size of 10240 bytes exceeded for role worker"}},
		// Principals.
		{"a trust policy naming a role that does not exist", []string{"iam", "create-role", "--role-name", "trusting", "--assume-role-policy-document",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/nobody"},"Action":"sts:AssumeRole"}]}`}, 255,
			[]string{"(MalformedPolicyDocument)", `Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:role/nobody"`}},
		{"the role without its path", []string{"iam", "create-role", "--role-name", "trusting", "--assume-role-policy-document",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/worker"},"Action":"sts:AssumeRole"}]}`}, 255,
			[]string{"(MalformedPolicyDocument)", `Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:role/worker"`}},
		{"the role with its path", []string{"iam", "create-role", "--role-name", "trusting", "--assume-role-policy-document",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + pathed + `"},"Action":"sts:AssumeRole"}]}`}, 0, nil},
		// Names.
		{"a 65-character role name", []string{"iam", "create-role", "--role-name", long, "--assume-role-policy-document", serviceTrust}, 255,
			[]string{"(ValidationError)", "Value '" + long + "' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64"}},
	})
	out, _ := aws("iam", "create-role", "--role-name", long, "--assume-role-policy-document", serviceTrust)
	if strings.Contains(out, "regular expression") {
		t.Errorf("the 65-character name's refusal names the pattern:\n%s", out)
	}
}

// adminEnv is the environment of a Python client signed in as the
// account's administrator (cloudsim-admin's profile), as the setup
// scripts are, with what boto3_client.py reads at start.
func adminEnv(t *testing.T, sim *cloudsim.Sim) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(sim.Dir, cloudsim.AWSCredentialsFile), "AWS_PROFILE=cloudsim-admin",
		"BEDROCK_MODEL_ID=" + profileID}
	for k, v := range sim.Env() {
		if strings.HasPrefix(k, "AWS_") || k == "SSL_CERT_FILE" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func TestIAMLimitsThroughBoto3(t *testing.T) {
	python := awsPython(t)
	sim := cloudsimtest.Start(t, nil)
	b := startBoto3(t, python, adminEnv(t, sim))

	t.Run("a path", func(t *testing.T) {
		got := b.run("iam_path")
		const arn = "arn:aws:iam::111122223333:role/agents/eu/boto3-pathed"
		if got["path"] != "/agents/eu/" || got["arn"] != arn || got["get_path"] != "/agents/eu/" || got["get_arn"] != arn {
			t.Errorf("got %v", got)
		}
	})
	t.Run("tags", func(t *testing.T) {
		got := b.run("iam_tags")
		created, _ := json.Marshal(got["created"])
		listed, _ := json.Marshal(got["listed"])
		if string(created) != `[{"Key":"team","Value":"agents"},{"Key":"Cost Center","Value":""}]` ||
			string(listed) != `[{"Key":"TEAM","Value":"platform"},{"Key":"env","Value":"dev"}]` || got["truncated"] != false {
			t.Errorf("got %v", got)
		}
	})
	t.Run("white space is not counted", func(t *testing.T) {
		if got := b.run("iam_quota_white_space"); got["ok"] != true {
			t.Errorf("got %v", got)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		b.expectRefusals([]refusal{
			{"iam_bad_path", "ValidationError", 400, "ClientError", "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters."},
			{"iam_long_path", "ValidationError", 400, "ClientError", "at 'path' failed to satisfy constraint: Member must have length less than or equal to 512"},
			{"iam_51_tags", "ValidationError", 400, "ClientError", "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"},
			{"iam_duplicate_tags", "InvalidInput", 400, "InvalidInputException", "Duplicate tag keys found. Please note that Tag keys are case insensitive."},
			{"iam_tags_past_50", "LimitExceeded", 409, "LimitExceededException", "Cannot exceed quota for TagsPerRole: 50"},
			{"iam_big_trust", "LimitExceeded", 409, "LimitExceededException", "Cannot exceed quota for ACLSizePerRole: 2048"},
			{"iam_big_trust_update", "LimitExceeded", 409, "LimitExceededException", "Cannot exceed quota for ACLSizePerRole: 2048"},
			{"iam_big_inline", "LimitExceeded", 409, "LimitExceededException", "Maximum policy size of 10240 bytes exceeded for role boto3-tagged"},
			{"iam_unknown_principal", "MalformedPolicyDocument", 400, "MalformedPolicyDocumentException",
				`Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:role/nobody"`},
			{"iam_long_name", "ValidationError", 400, "ClientError",
				"at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		})
	})
}

// The tenant file's role with a path: cloudsim.env's AWS_ROLE_ARN has the
// path, STS finds the role by it, the session's ARN has none, and the
// outbound token's sub is the role's ARN with it; through the AWS CLI and
// boto3 with the refresher's web identity token.
func TestAWSClientsWithARoleWithAPath(t *testing.T) {
	python := awsPython(t)
	const pathed = "arn:aws:iam::111122223333:role/agents/agentid-bedrock-invoke"
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) { o.Tenant.AWS.Roles[0].Path = "/agents/" })
	if sim.Env()["AWS_ROLE_ARN"] != pathed {
		t.Fatalf("AWS_ROLE_ARN is %s, want %s", sim.Env()["AWS_ROLE_ARN"], pathed)
	}
	tokenFile := filepath.Join(t.TempDir(), "web-identity-token")
	if err := os.WriteFile(tokenFile, []byte(cloudsimtest.NewTokens(sim).STSApp(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := awsEnv(t, sim, tokenFile)
	runCLICases(t, func(args ...string) (string, int) { return runCLI(t, python, env, args...) }, []cliCase{
		{"assume it by its ARN", []string{"sts", "assume-role-with-web-identity", "--role-arn", pathed, "--role-session-name", "cli",
			"--web-identity-token", "file://" + tokenFile, "--query", "AssumedRoleUser.Arn", "--output", "text"}, 0,
			[]string{"arn:aws:sts::111122223333:assumed-role/agentid-bedrock-invoke/cli"}},
		{"its ARN without the path names no role", []string{"sts", "assume-role-with-web-identity", "--role-arn", "arn:aws:iam::111122223333:role/agentid-bedrock-invoke",
			"--role-session-name", "cli", "--web-identity-token", "file://" + tokenFile}, 255, []string{"(AccessDenied)"}},
	})
	b := startBoto3(t, python, env)
	if got := b.run("caller"); got["arn"] != "arn:aws:sts::111122223333:assumed-role/agentid-bedrock-invoke/python-client" {
		t.Errorf("caller: %v", got)
	}
	if got := b.run("web_identity_token"); got["sub"] != pathed {
		t.Errorf("the outbound token's sub: %v, want %s", got, pathed)
	}
}
