package cloudsim_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// IAM role names are unique without regard to case ("Names are not
// distinguished by case", CreateRole's RoleName in the IAM API reference),
// and IAM evaluates a request against the role's ARN as created. Through
// the AWS CLI, a role session explicitly denied iam:* on its own role,
// agentid-bedrock-invoke, is refused under every spelling of the name and
// adds no policy to it; a role it may manage answers to any spelling.
func TestAWSCLIRoleNamesIgnoreCaseForPolicies(t *testing.T) {
	python := awsPython(t)
	const roleARN = "arn:aws:iam::111122223333:role/agentid-bedrock-invoke"
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		p := o.Tenant.AWS.Roles[0].Policies
		p["iam-admin"] = json.RawMessage(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}`)
		p["not-itself"] = json.RawMessage(`{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "` + roleARN + `"}]}`)
	})
	tokenFile := filepath.Join(t.TempDir(), "web-identity-token")
	if err := os.WriteFile(tokenFile, []byte(cloudsimtest.NewTokens(sim).STSApp(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := awsEnv(t, sim, tokenFile)
	session := func(args ...string) (string, int) { return runCLI(t, python, env, args...) }
	allowAll := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	denied := []string{"(AccessDenied)", "assumed-role/agentid-bedrock-invoke/python-client is not authorized", "on resource: " + roleARN + " "}
	var cases []cliCase
	for _, name := range []string{"agentid-bedrock-invoke", "AGENTID-BEDROCK-INVOKE", "Agentid-Bedrock-Invoke"} {
		cases = append(cases,
			cliCase{"put an Allow * policy on " + name, []string{"iam", "put-role-policy", "--role-name", name, "--policy-name", "all", "--policy-document", allowAll}, 255, denied},
			cliCase{"delete the Deny from " + name, []string{"iam", "delete-role-policy", "--role-name", name, "--policy-name", "not-itself"}, 255, denied},
			cliCase{"read " + name, []string{"iam", "get-role", "--role-name", name}, 255, denied},
			cliCase{"lengthen " + name + "'s sessions", []string{"iam", "update-role", "--role-name", name, "--max-session-duration", "43200"}, 255, denied},
		)
	}
	cases = append(cases,
		cliCase{"create a role it may manage", []string{"iam", "create-role", "--role-name", "Other-Role", "--assume-role-policy-document", trust}, 0,
			[]string{`"Arn": "arn:aws:iam::111122223333:role/Other-Role"`}},
		cliCase{"read it in another case", []string{"iam", "get-role", "--role-name", "OTHER-ROLE", "--query", "Role.[RoleName,Arn]", "--output", "text"}, 0,
			[]string{"Other-Role\tarn:aws:iam::111122223333:role/Other-Role"}},
		cliCase{"put a policy on it in a third case", []string{"iam", "put-role-policy", "--role-name", "other-role", "--policy-name", "p", "--policy-document", allowAll}, 0, nil},
	)
	runCLICases(t, session, cases)

	// The account's administrator sees the role unchanged.
	admin := awsCLI(t, sim, "cloudsim-admin")
	runCLICases(t, admin, []cliCase{
		{"the denied role's policies", []string{"iam", "list-role-policies", "--role-name", "agentid-bedrock-invoke", "--query", "PolicyNames", "--output", "text"}, 0, nil},
		{"the denied role's session limit", []string{"iam", "get-role", "--role-name", "agentid-bedrock-invoke", "--query", "Role.MaxSessionDuration"}, 0, []string{"3600"}},
		{"the managed role's policy", []string{"iam", "list-role-policies", "--role-name", "OTHER-ROLE", "--query", "PolicyNames", "--output", "text"}, 0, []string{"p"}},
	})
	out, _ := admin("iam", "list-role-policies", "--role-name", "agentid-bedrock-invoke", "--query", "PolicyNames", "--output", "text")
	if got := strings.Fields(out); strings.Join(got, " ") != "agentcore-vault bedrock-invoke iam-admin not-itself prove-the-blueprint" {
		t.Errorf("agentid-bedrock-invoke's policies are %v", got)
	}
}
