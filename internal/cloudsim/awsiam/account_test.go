package awsiam

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// The tenant file's aws section is parsed as IAM would take it through
// CreateRole and PutRolePolicy: a bad document stops cloudsim at start,
// naming where it is.
func TestNewAccountRefusesWhatIAMWouldRefuse(t *testing.T) {
	trust := func(provider string) json.RawMessage {
		return json.RawMessage(`{"Statement": {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/` + provider +
			`"}, "Action": "sts:AssumeRoleWithWebIdentity"}}`)
	}
	account := func() *tenant.AWSAccount {
		return &tenant.AWSAccount{AccountID: "111122223333", Region: "us-east-1",
			OIDCProviders: []*tenant.OIDCProvider{{URL: "issuer.example/t/", ClientIDs: []string{"api://x"}}},
			Roles:         []*tenant.Role{{Name: "r", MaxSessionDuration: 3600, TrustPolicy: trust("issuer.example/t/")}}}
	}
	if _, err := NewAccount(account(), nil); err != nil {
		t.Fatalf("a valid account: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*tenant.AWSAccount)
		want []string
	}{
		{"a trust policy naming a provider the account lacks", func(a *tenant.AWSAccount) { a.Roles[0].TrustPolicy = trust("issuer.example/t") },
			[]string{"aws.roles[0].trustPolicy", "Invalid principal in policy", "oidc-provider/issuer.example/t"}},
		{"a permissions policy with a principal", func(a *tenant.AWSAccount) {
			a.Roles[0].Policies = map[string]json.RawMessage{"p": json.RawMessage(`{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}`)}
		}, []string{"aws.roles[0].policies.p", "should not specify a principal"}},
		{"a user's policy that is not a policy", func(a *tenant.AWSAccount) {
			a.DevCredentials = []tenant.DevCredential{{AccessKeyID: "AKIAEXAMPLEEXAMPLE01", SecretAccessKey: "s",
				Policies: map[string]json.RawMessage{"admin": json.RawMessage(`{"Statement": []}`)}}}
		}, []string{"aws.devCredentials[0].policies.admin", "Statement"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := account()
			c.edit(a)
			_, err := NewAccount(a, nil)
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}
