package cloudsim_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// awsCLI runs the AWS CLI v1 as a profile of cloudsim's shared credentials
// file, with cloudsim.env's endpoints, and returns its output and exit code.
func awsCLI(t *testing.T, sim *cloudsim.Sim, profile string, extraEnv ...string) func(args ...string) (string, int) {
	python := awsPython(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(sim.Dir, cloudsim.AWSCredentialsFile), "AWS_PROFILE=" + profile}
	for k, v := range sim.Env() {
		if strings.HasPrefix(k, "AWS_") || k == "SSL_CERT_FILE" {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, extraEnv...)
	return func(args ...string) (string, int) {
		t.Helper()
		return runCLI(t, python, env, args...)
	}
}

// runCLI runs the AWS CLI v1 with exactly env and returns its output and
// exit code.
func runCLI(t *testing.T, python string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(python, append([]string{"-m", "awscli"}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return string(out), exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

type cliCase struct {
	name string
	args []string
	code int
	want []string
}

func runCLICases(t *testing.T, aws func(...string) (string, int), cases []cliCase) {
	t.Helper()
	for _, c := range cases {
		out, code := aws(c.args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d:\n%s", c.name, code, c.code, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
	}
}

// cloudsim's IAM through the AWS CLI: every operation the setup scripts
// use, in order, and IAM's refusals for each, with the error codes of
// botocore's IAM model. The cases run in sequence: each builds on the last.
func TestIAMThroughTheAWSCLI(t *testing.T) {
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		o.Tenant.AWS.OIDCProviders, o.Tenant.AWS.Roles, o.Tenant.AWS.OutboundIssuer = nil, nil, ""
	})
	aws := awsCLI(t, sim, "cloudsim-admin")
	const (
		provider = "arn:aws:iam::111122223333:oidc-provider/issuer.example/t/"
		trust    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + provider + `"},` +
			`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"issuer.example/t/:aud":"api://x"}}}]}`
		policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*"}]}`
	)
	runCLICases(t, aws, []cliCase{
		{"the caller", []string{"sts", "get-caller-identity", "--query", "Arn", "--output", "text"}, 0, []string{"arn:aws:iam::111122223333:user/cloudsim-admin"}},
		{"no provider yet", []string{"iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", provider}, 255,
			[]string{"(NoSuchEntity)", "OpenIDConnect Provider not found for arn " + provider}},
		{"a role trusting a provider that does not exist", []string{"iam", "create-role", "--role-name", "r", "--assume-role-policy-document", trust}, 255,
			[]string{"(MalformedPolicyDocument)", "Invalid principal in policy"}},
		{"a provider URL without https", []string{"iam", "create-open-id-connect-provider", "--url", "http://issuer.example/t/", "--client-id-list", "api://x"}, 255,
			[]string{"(InvalidInput)"}},
		{"create the provider", []string{"iam", "create-open-id-connect-provider", "--url", "https://issuer.example/t/", "--client-id-list", "api://x"}, 0,
			[]string{`"OpenIDConnectProviderArn": "` + provider + `"`}},
		{"create it again", []string{"iam", "create-open-id-connect-provider", "--url", "https://issuer.example/t/", "--client-id-list", "api://x"}, 255,
			[]string{"(EntityAlreadyExists)", "Provider with url https://issuer.example/t/ already exists."}},
		{"add a client ID", []string{"iam", "add-client-id-to-open-id-connect-provider", "--open-id-connect-provider-arn", provider, "--client-id", "api://y"}, 0, nil},
		{"a bad thumbprint", []string{"iam", "update-open-id-connect-provider-thumbprint", "--open-id-connect-provider-arn", provider, "--thumbprint-list", "not-hexadecimal-not-hexadecimal-not-hexa"}, 255,
			[]string{"(ValidationError)"}},
		{"a thumbprint", []string{"iam", "update-open-id-connect-provider-thumbprint", "--open-id-connect-provider-arn", provider,
			"--thumbprint-list", "0123456789abcdef0123456789abcdef01234567"}, 0, nil},
		{"read the provider", []string{"iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", provider}, 0,
			[]string{`"Url": "issuer.example/t/"`, `"api://x"`, `"api://y"`, `"0123456789abcdef0123456789abcdef01234567"`}},
		{"remove a client ID", []string{"iam", "remove-client-id-from-open-id-connect-provider", "--open-id-connect-provider-arn", provider, "--client-id", "api://y"}, 0, nil},
		{"list providers", []string{"iam", "list-open-id-connect-providers", "--query", "OpenIDConnectProviderList[].Arn", "--output", "text"}, 0, []string{provider}},
		{"a trust policy with a resource", []string{"iam", "create-role", "--role-name", "r", "--assume-role-policy-document",
			strings.Replace(trust, `"Action"`, `"Resource":"*","Action"`, 1)}, 255, []string{"(MalformedPolicyDocument)", "Has prohibited field Resource"}},
		{"a session longer than 12 hours", []string{"iam", "create-role", "--role-name", "r", "--assume-role-policy-document", trust, "--max-session-duration", "50000"}, 255,
			[]string{"(ValidationError)", "less than or equal to 43200"}},
		{"a role name with a space", []string{"iam", "create-role", "--role-name", "a role", "--assume-role-policy-document", trust}, 255,
			[]string{"(ValidationError)", "at 'roleName' failed to satisfy constraint"}},
		{"create the role", []string{"iam", "create-role", "--role-name", "r", "--assume-role-policy-document", trust, "--max-session-duration", "7200"}, 0,
			[]string{`"Arn": "arn:aws:iam::111122223333:role/r"`, `"MaxSessionDuration": 7200`, `"RoleId": "AROA`}},
		{"create it again, in another case", []string{"iam", "create-role", "--role-name", "R", "--assume-role-policy-document", trust}, 255,
			[]string{"(EntityAlreadyExists)", "Role with name R already exists."}},
		{"the trust policy comes back decoded", []string{"iam", "get-role", "--role-name", "r", "--query", "Role.AssumeRolePolicyDocument.Statement[0].Principal.Federated",
			"--output", "text"}, 0, []string{provider}},
		{"update the trust policy", []string{"iam", "update-assume-role-policy", "--role-name", "r", "--policy-document", strings.Replace(trust, "api://x", "api://y", 1)}, 0, nil},
		{"a policy that is not JSON", []string{"iam", "put-role-policy", "--role-name", "r", "--policy-name", "p", "--policy-document", "{not json"}, 255,
			[]string{"(MalformedPolicyDocument)", "This policy contains invalid Json"}},
		{"a policy with a principal", []string{"iam", "put-role-policy", "--role-name", "r", "--policy-name", "p", "--policy-document",
			strings.Replace(policy, `"Action"`, `"Principal":"*","Action"`, 1)}, 255, []string{"(MalformedPolicyDocument)", "should not specify a principal"}},
		{"a policy on a role that does not exist", []string{"iam", "put-role-policy", "--role-name", "nobody", "--policy-name", "p", "--policy-document", policy}, 255,
			[]string{"(NoSuchEntity)", "The role with name nobody cannot be found."}},
		{"a policy name with a space", []string{"iam", "put-role-policy", "--role-name", "r", "--policy-name", "a policy", "--policy-document", policy}, 255,
			[]string{"(ValidationError)", "at 'policyName' failed to satisfy constraint"}},
		{"put the policy", []string{"iam", "put-role-policy", "--role-name", "r", "--policy-name", "p", "--policy-document", policy}, 0, nil},
		{"read it back", []string{"iam", "get-role-policy", "--role-name", "r", "--policy-name", "p", "--query", "PolicyDocument.Statement[0].Action", "--output", "text"}, 0,
			[]string{"bedrock:InvokeModel"}},
		{"a policy that does not exist", []string{"iam", "get-role-policy", "--role-name", "r", "--policy-name", "q"}, 255,
			[]string{"(NoSuchEntity)", "The role policy with name q cannot be found."}},
		{"list policies", []string{"iam", "list-role-policies", "--role-name", "r", "--query", "PolicyNames", "--output", "text"}, 0, []string{"p"}},
		{"delete a role that has policies", []string{"iam", "delete-role", "--role-name", "r"}, 255,
			[]string{"(DeleteConflict)", "Cannot delete entity, must delete policies first."}},
		{"delete the policy", []string{"iam", "delete-role-policy", "--role-name", "r", "--policy-name", "p"}, 0, nil},
		{"update the role", []string{"iam", "update-role", "--role-name", "r", "--max-session-duration", "3600"}, 0, nil},
		{"delete the role", []string{"iam", "delete-role", "--role-name", "r"}, 0, nil},
		{"it is gone", []string{"iam", "get-role", "--role-name", "r"}, 255, []string{"(NoSuchEntity)"}},
		{"delete the provider", []string{"iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", provider}, 0, nil},
		{"federation is off", []string{"iam", "get-outbound-web-identity-federation-info"}, 255, []string{"(FeatureDisabled)"}},
		{"enable it", []string{"iam", "enable-outbound-web-identity-federation", "--query", "IssuerIdentifier", "--output", "text"}, 0,
			[]string{".tokens.sts.global.api.aws"}},
		{"enable it again", []string{"iam", "enable-outbound-web-identity-federation"}, 255, []string{"(FeatureEnabled)"}},
		{"it is on", []string{"iam", "get-outbound-web-identity-federation-info", "--query", "JwtVendingEnabled"}, 0, []string{"true"}},
		{"disable it", []string{"iam", "disable-outbound-web-identity-federation"}, 0, nil},
		{"an operation cloudsim does not serve", []string{"iam", "list-users"}, 255, []string{"(InvalidAction)", "Could not find operation ListUsers"}},
	})

	// A user without iam:* is refused every IAM call, reads included.
	dev := awsCLI(t, sim, "cloudsim-dev")
	runCLICases(t, dev, []cliCase{
		{"the dev user creates a provider", []string{"iam", "create-open-id-connect-provider", "--url", "https://issuer.example/u/", "--client-id-list", "api://x"}, 255,
			[]string{"(AccessDenied)", "User: arn:aws:iam::111122223333:user/cloudsim-dev is not authorized to perform: iam:CreateOpenIDConnectProvider on resource: arn:aws:iam::111122223333:oidc-provider/issuer.example/u/"}},
		{"the dev user reads a role", []string{"iam", "get-role", "--role-name", "r"}, 255, []string{"(AccessDenied)", "iam:GetRole"}},
	})
	// A key IAM never issued, and a wrong secret.
	stranger := awsCLI(t, sim, "cloudsim-admin", "AWS_ACCESS_KEY_ID=AKIAUNKNOWNUNKNOWN00", "AWS_SECRET_ACCESS_KEY=not-a-secret-not-a-secret")
	runCLICases(t, stranger, []cliCase{{"an unknown key", []string{"iam", "list-open-id-connect-providers"}, 255, []string{"(InvalidClientTokenId)"}}})
}

// With AWS_ENDPOINT_URL at cloudsim, STS and IAM answer at its root and
// every other service the scripts touch is refused with its protocol's
// unknown-operation error: nothing leaves the machine.
func TestAWSEndpointURLReachesOnlyCloudsim(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	aws := awsCLI(t, sim, "cloudsim-admin", "AWS_ENDPOINT_URL="+sim.URL, "AWS_ENDPOINT_URL_STS=", "AWS_ENDPOINT_URL_IAM=")
	runCLICases(t, aws, []cliCase{
		{"STS at the root", []string{"sts", "get-caller-identity", "--query", "Account", "--output", "text"}, 0, []string{"111122223333"}},
		{"IAM at the root", []string{"iam", "list-role-policies", "--role-name", "agentid-bedrock-invoke", "--output", "text"}, 0, []string{"bedrock-invoke"}},
		{"S3", []string{"s3api", "head-bucket", "--bucket", "artifacts"}, 255, nil},
		{"S3 mb", []string{"s3", "mb", "s3://artifacts"}, 1, []string{"UnknownOperationException", "cloudsim does not emulate"}},
		{"ECR", []string{"ecr", "describe-repositories"}, 255, []string{"(UnknownOperationException)", "cloudsim does not emulate this AWS service (ecr)"}},
		{"CloudFormation", []string{"cloudformation", "describe-stacks", "--stack-name", "agentid"}, 255, []string{"(InvalidAction)", "cloudformation"}},
		{"AgentCore control", []string{"bedrock-agentcore-control", "get-agent-runtime", "--agent-runtime-id", "x"}, 255,
			[]string{"(UnknownOperationException)", "bedrock-agentcore"}},
	})
}
