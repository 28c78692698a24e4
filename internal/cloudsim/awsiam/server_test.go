package awsiam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

const (
	testKey     = "AKIATESTTESTTEST0001"
	testSecret  = "test-secret-test-secret-test-secret"
	testAccount = "111122223333"
)

// policyAuthorizer is one IAM user, judged by its policies with the
// account's evaluation logic, as cloudsim's STS judges its users.
type policyAuthorizer struct{ policies []*Policy }

func (a policyAuthorizer) Secret(id string) (string, string, time.Time, string, bool) {
	return testSecret, "", time.Time{}, "arn:aws:iam::" + testAccount + ":user/tester", id == testKey
}

func (a policyAuthorizer) Authorize(_ string, r Request) (string, bool) {
	return "arn:aws:iam::" + testAccount + ":user/tester", Permitted(r, a.policies, nil)
}

// iamServer is IAM over an account with the role agentid-bedrock-invoke
// and one OIDC provider, for a user with policies.
func iamServer(t *testing.T, policies ...string) (*Server, *Account) {
	t.Helper()
	provider := "issuer.example/t/"
	trust := `{"Statement": {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::` + testAccount + `:oidc-provider/` + provider +
		`"}, "Action": "sts:AssumeRoleWithWebIdentity"}}`
	acct, err := NewAccount(&tenant.AWSAccount{AccountID: testAccount, Region: "us-east-1",
		OIDCProviders: []*tenant.OIDCProvider{{URL: provider, ClientIDs: []string{"api://x"}}},
		Roles: []*tenant.Role{{Name: "agentid-bedrock-invoke", MaxSessionDuration: 3600, TrustPolicy: json.RawMessage(trust),
			Policies: map[string]json.RawMessage{"bedrock-invoke": json.RawMessage(`{"Statement": {"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "*"}}`)}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ps []*Policy
	for _, p := range policies {
		ps = append(ps, mustParse(t, p, Identity))
	}
	return NewServer(Options{Account: acct, Authorizer: policyAuthorizer{ps}}), acct
}

// signedCall sends one SigV4-signed IAM query request and returns the status and
// body.
func signedCall(t *testing.T, s *Server, params url.Values) (int, string) {
	t.Helper()
	params.Set("Version", apiVersion)
	body := params.Encode()
	r := httptest.NewRequest(http.MethodPost, "https://iam.cloudsim.test"+Path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret},
		r, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// IAM role names are unique without regard to case, and a request about a
// role is authorized against the role's ARN as created: a user denied
// iam:* on agentid-bedrock-invoke is denied it under every spelling, and
// changes nothing.
func TestRoleIsAuthorizedByItsCanonicalARN(t *testing.T) {
	const roleARN = "arn:aws:iam::" + testAccount + ":role/agentid-bedrock-invoke"
	s, acct := iamServer(t,
		`{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`,
		`{"Statement": {"Effect": "Deny", "Action": "iam:*", "Resource": "`+roleARN+`"}}`)
	allowAll := `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`
	trust := `{"Statement": {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::` + testAccount +
		`:oidc-provider/issuer.example/t/"}, "Action": "sts:AssumeRoleWithWebIdentity"}}`
	for _, name := range []string{"agentid-bedrock-invoke", "AGENTID-BEDROCK-INVOKE", "Agentid-Bedrock-Invoke"} {
		for _, op := range []url.Values{
			{"Action": {"GetRole"}},
			{"Action": {"PutRolePolicy"}, "PolicyName": {"all"}, "PolicyDocument": {allowAll}},
			{"Action": {"DeleteRolePolicy"}, "PolicyName": {"bedrock-invoke"}},
			{"Action": {"ListRolePolicies"}},
			{"Action": {"UpdateAssumeRolePolicy"}, "PolicyDocument": {trust}},
			{"Action": {"UpdateRole"}, "MaxSessionDuration": {"43200"}},
			{"Action": {"DeleteRole"}},
			{"Action": {"CreateRole"}, "AssumeRolePolicyDocument": {trust}},
		} {
			op.Set("RoleName", name)
			status, body := signedCall(t, s, op)
			if status != http.StatusForbidden || !strings.Contains(body, "<Code>AccessDenied</Code>") ||
				!strings.Contains(body, "on resource: "+roleARN+" ") {
				t.Errorf("%s as %s: %d %s, want AccessDenied on %s", op.Get("Action"), name, status, body, roleARN)
			}
		}
	}
	role, ok := acct.Role("agentid-bedrock-invoke")
	if !ok || role.Name != "agentid-bedrock-invoke" || !slices.Equal(slices.Sorted(maps.Keys(role.Policies)), []string{"bedrock-invoke"}) || role.MaxSessionDuration != 3600 {
		t.Errorf("the denied role changed: %+v", role)
	}

	// A role the user may manage answers to any spelling, as itself.
	status, body := signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {"Other-Role"}, "AssumeRolePolicyDocument": {trust}})
	if status != http.StatusOK {
		t.Fatalf("CreateRole Other-Role: %d %s", status, body)
	}
	status, body = signedCall(t, s, url.Values{"Action": {"GetRole"}, "RoleName": {"OTHER-role"}})
	if status != http.StatusOK || !strings.Contains(body, "<RoleName>Other-Role</RoleName>") ||
		!strings.Contains(body, "<Arn>arn:aws:iam::"+testAccount+":role/Other-Role</Arn>") {
		t.Errorf("GetRole OTHER-role: %d %s", status, body)
	}
	status, body = signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {"other-ROLE"}, "AssumeRolePolicyDocument": {trust}})
	if status != http.StatusConflict || !strings.Contains(body, "EntityAlreadyExists") {
		t.Errorf("CreateRole other-ROLE: %d %s", status, body)
	}
	// A role that does not exist is named as the request spells it.
	status, body = signedCall(t, s, url.Values{"Action": {"GetRole"}, "RoleName": {"Nobody"}})
	if status != http.StatusNotFound || !strings.Contains(body, "The role with name Nobody cannot be found.") {
		t.Errorf("GetRole Nobody: %d %s", status, body)
	}
}

// A provider is authorized by the parameter the operation acts on: an
// OpenIDConnectProviderArn sent beside CreateOpenIDConnectProvider's Url
// does not stand in for the provider being created.
func TestProviderIsAuthorizedByWhatTheOperationActsOn(t *testing.T) {
	allowed := "arn:aws:iam::" + testAccount + ":oidc-provider/issuer.example/t/"
	s, acct := iamServer(t, `{"Statement": {"Effect": "Allow", "Action": "iam:*", "Resource": "`+allowed+`"}}`)
	status, body := signedCall(t, s, url.Values{"Action": {"CreateOpenIDConnectProvider"}, "Url": {"https://attacker.example"},
		"ClientIDList.member.1": {"api://x"}, "OpenIDConnectProviderArn": {allowed}})
	if status != http.StatusForbidden || !strings.Contains(body, "on resource: arn:aws:iam::"+testAccount+":oidc-provider/attacker.example ") {
		t.Errorf("create with a borrowed ARN: %d %s", status, body)
	}
	if _, ok := acct.Provider("attacker.example"); ok {
		t.Error("the provider was created")
	}
	// The allowed provider itself, by its ARN.
	if status, body := signedCall(t, s, url.Values{"Action": {"GetOpenIDConnectProvider"}, "OpenIDConnectProviderArn": {allowed}}); status != http.StatusOK {
		t.Errorf("GetOpenIDConnectProvider: %d %s", status, body)
	}
}
