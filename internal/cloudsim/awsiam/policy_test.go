package awsiam

import (
	"errors"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string, kind Kind) *Policy {
	t.Helper()
	p, err := Parse(text, kind)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return p
}

// The evaluator against the rules and examples of AWS's IAM User Guide:
// "Policy evaluation logic" (explicit deny, implicit deny, session
// policies), "IAM JSON policy elements: Condition operators" (absent keys,
// negated operators, ...IfExists) and "Single-valued vs. multivalued
// context keys" (ForAllValues and ForAnyValue, with its aws:TagKeys
// examples).
func TestPermittedFollowsTheEvaluationLogic(t *testing.T) {
	allowS3Read := `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}}`
	denyBucket := `{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::secret-bucket/*"}}`
	tags := func(op string) string {
		return `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*",
			"Condition": {"` + op + `": {"aws:TagKeys": ["Key1", "Key2"]}}}}`
	}
	get := Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::reports/q3.csv"}
	tagRequest := func(keys ...string) Request {
		r := Request{Action: "ec2:CreateTags", Resource: "arn:aws:ec2:us-east-1:111122223333:instance/i-1"}
		if keys != nil {
			r.Context = map[string][]string{"aws:TagKeys": keys}
		}
		return r
	}
	cases := []struct {
		name     string
		identity []string
		session  string
		request  Request
		want     bool
	}{
		{"an Allow that matches", []string{allowS3Read}, "", get, true},
		{"no statement matches: implicit deny", []string{allowS3Read}, "", Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::reports/q3.csv"}, false},
		{"no policy at all: implicit deny", nil, "", get, false},
		{"an explicit Deny in another policy overrides the Allow", []string{allowS3Read, denyBucket}, "",
			Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::secret-bucket/key"}, false},
		{"the Deny's resource does not match: the Allow stands", []string{allowS3Read, denyBucket}, "", get, true},
		{"actions match without regard to case", []string{allowS3Read}, "", Request{Action: "S3:getobject", Resource: "x"}, true},
		{"resources match with regard to case", []string{strings.Replace(allowS3Read, `"*"}`, `"arn:aws:s3:::Reports/*"}`, 1)}, "", get, false},
		{"a session policy narrows the role: both must allow", []string{allowS3Read},
			`{"Statement": {"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}}`, get, false},
		{"a session policy cannot grant what the role lacks", []string{allowS3Read},
			`{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}`, Request{Action: "s3:PutObject", Resource: "x"}, false},
		{"within both: allowed", []string{allowS3Read}, `{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}`, get, true},
		{"a Deny in the session policy", []string{allowS3Read}, denyBucket, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::secret-bucket/k"}, false},
		// The multivalued context key examples (aws:TagKeys).
		{"ForAllValues: every key is in the set", []string{tags("ForAllValues:StringEquals")}, "", tagRequest("Key1"), true},
		{"ForAllValues: a key outside the set", []string{tags("ForAllValues:StringEquals")}, "", tagRequest("Key1", "Key3"), false},
		{"ForAllValues: no keys in the request matches", []string{tags("ForAllValues:StringEquals")}, "", tagRequest(), true},
		{"ForAnyValue: one key in the set", []string{tags("ForAnyValue:StringEquals")}, "", tagRequest("Key1", "Key3"), true},
		{"ForAnyValue: no keys in the request does not match", []string{tags("ForAnyValue:StringEquals")}, "", tagRequest(), false},
		// Condition operators: an absent key fails a positive operator,
		// passes a negated one, and passes anything with IfExists.
		{"StringEquals on an absent key", []string{tags("StringEquals")}, "", tagRequest(), false},
		{"StringNotEquals on an absent key", []string{tags("StringNotEquals")}, "", tagRequest(), true},
		{"StringEqualsIfExists on an absent key", []string{tags("StringEqualsIfExists")}, "", tagRequest(), true},
		{"StringNotEquals on a listed value", []string{tags("StringNotEquals")}, "", tagRequest("Key2"), false},
		{"StringLike with a wildcard", []string{strings.Replace(tags("StringLike"), `"Key2"`, `"Team*"`, 1)}, "", tagRequest("TeamA"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var identity []*Policy
			for _, text := range c.identity {
				identity = append(identity, mustParse(t, text, Identity))
			}
			var session *Policy
			if c.session != "" {
				session = mustParse(t, c.session, Session)
			}
			if got := Permitted(c.request, identity, session); got != c.want {
				t.Errorf("Permitted = %v, want %v", got, c.want)
			}
		})
	}
}

// The conditions deploy/aws/template.yaml puts on sts:GetWebIdentityToken,
// and the trust policy scripts/aws-federation.sh writes, decide as IAM
// would: numbers compare as numbers, and a trust policy needs its
// principal and every condition.
func TestConditionsOfTheProjectsPolicies(t *testing.T) {
	outbound := mustParse(t, `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetWebIdentityToken", "Resource": "*",
		"Condition": {"ForAllValues:StringEquals": {"sts:IdentityTokenAudience": "api://AzureADTokenExchange"},
		"NumericLessThanEquals": {"sts:DurationSeconds": 300}}}]}`, Identity)
	token := func(duration string, audiences ...string) Request {
		return Request{Action: "sts:GetWebIdentityToken", Resource: "*",
			Context: map[string][]string{"sts:IdentityTokenAudience": audiences, "sts:DurationSeconds": {duration}}}
	}
	provider := "arn:aws:iam::111122223333:oidc-provider/sts.windows.net/t/"
	trust := mustParse(t, `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "`+provider+`"},
		"Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"sts.windows.net/t/:aud": "api://sts", "sts.windows.net/t/:sub": "sp"}}}]}`, Trust)
	assume := func(principal, aud, sub string) Request {
		return Request{Principal: Principal{"Federated", principal}, Action: "sts:AssumeRoleWithWebIdentity",
			Context: map[string][]string{"sts.windows.net/t/:aud": {aud}, "sts.windows.net/t/:sub": {sub}}}
	}
	cases := []struct {
		name    string
		policy  *Policy
		request Request
		want    Decision
	}{
		{"the agent's request", outbound, token("300", "api://AzureADTokenExchange"), Allowed},
		{"a shorter token", outbound, token("60", "api://AzureADTokenExchange"), Allowed},
		{"301 seconds is over 300 (not compared as text)", outbound, token("301", "api://AzureADTokenExchange"), NotApplicable},
		{"1000 seconds is over 300", outbound, token("1000", "api://AzureADTokenExchange"), NotApplicable},
		{"another audience", outbound, token("300", "https://example.test"), NotApplicable},
		{"a second audience", outbound, token("300", "api://AzureADTokenExchange", "https://example.test"), NotApplicable},
		{"the STS app's token", trust, assume(provider, "api://sts", "sp"), Allowed},
		{"another subject", trust, assume(provider, "api://sts", "someone-else"), NotApplicable},
		{"another audience", trust, assume(provider, "api://other", "sp"), NotApplicable},
		{"another provider", trust, assume("arn:aws:iam::111122223333:oidc-provider/other/", "api://sts", "sp"), NotApplicable},
		{"condition keys ignore case", trust, Request{Principal: Principal{"Federated", provider}, Action: "sts:AssumeRoleWithWebIdentity",
			Context: map[string][]string{"STS.windows.net/t/:AUD": {"api://sts"}, "sts.windows.net/t/:sub": {"sp"}}}, Allowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.policy.Decide(c.request); got != c.want {
				t.Errorf("Decide = %v, want %v", got, c.want)
			}
		})
	}
}

// Parse refuses what IAM refuses, and what cloudsim does not evaluate,
// with MalformedPolicyDocument: nothing it cannot judge is accepted.
func TestParseRefusesWithMalformedPolicyDocument(t *testing.T) {
	cases := []struct {
		name, text string
		kind       Kind
		want       string
	}{
		{"not JSON", `{not json`, Identity, "This policy contains invalid Json"},
		{"no statement", `{"Version": "2012-10-17"}`, Identity, "must contain a Statement"},
		{"an unknown version", `{"Version": "2020-01-01", "Statement": []}`, Identity, "valid version string"},
		{"an effect that is neither", `{"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}}`, Identity, "Effect of Allow or Deny"},
		{"no action", `{"Statement": {"Effect": "Allow", "Resource": "*"}}`, Identity, "must contain actions"},
		{"no resource", `{"Statement": {"Effect": "Allow", "Action": "*"}}`, Identity, "must contain resources"},
		{"a principal in an identity policy", `{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}`, Identity, "should not specify a principal"},
		{"a resource in a trust policy", `{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*"}}`, Trust, "Has prohibited field Resource"},
		{"a trust policy with no principal", `{"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole"}}`, Trust, "invalid principal"},
		{"an unknown principal type", `{"Statement": {"Effect": "Allow", "Principal": {"Robot": "x"}, "Action": "sts:AssumeRole"}}`, Trust, "Invalid principal"},
		{"an unknown condition operator", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringSortOf": {"k": "v"}}}}`, Identity, "Invalid Condition type : StringSortOf"},
		{"an operator cloudsim does not evaluate", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}}`, Identity, "DateGreaterThan"},
		{"NotAction", `{"Statement": {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}}`, Identity, "NotAction"},
		{"a policy variable", `{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::home/${aws:username}/*"}}`, Identity, "policy variables"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.text, c.kind)
			var m *MalformedError
			if !errors.As(err, &m) || !strings.Contains(m.Message, c.want) {
				t.Fatalf("err = %v, want MalformedPolicyDocument containing %q", err, c.want)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"a*", "a", true}, {"a?", "a", false}, {"a?", "ab", true},
		{"arn:aws:bedrock:*::foundation-model/*", "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude", true},
		{"arn:aws:bedrock:*::foundation-model/*", "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.x", false},
		{"*-profile/us.*", "arn:inference-profile/us.anthropic", true}, {"ab*cd", "abxcdxcd", true}, {"ab*cd", "abxcdx", false},
	} {
		if got := Glob(c.p, c.s); got != c.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}
