package awsiam

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

const allowAll = `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`

// serviceTrust is a trust policy with no principal cloudsim checks.
const serviceTrust = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}`

// refused checks one IAM answer: status, code and a part of the message.
func refused(t *testing.T, what string, status int, body string, wantStatus int, code, message string) {
	t.Helper()
	var e struct {
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
	}
	xml.Unmarshal([]byte(body), &e)
	if status != wantStatus || e.Code != code || !strings.Contains(e.Message, message) {
		t.Errorf("%s: %d %s\nwant %d %s containing %q", what, status, body, wantStatus, code, message)
	}
}

func ok(t *testing.T, what string, status int, body string, want ...string) {
	t.Helper()
	if status != http.StatusOK {
		t.Errorf("%s: %d %s", what, status, body)
		return
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s: the answer lacks %q:\n%s", what, w, body)
		}
	}
}

// A role keeps its Path; the path is in its ARN wherever an ARN is built
// or matched: CreateRole's and GetRole's answers, the resource a request
// is authorized against, RoleByARN (STS's lookup). Paths the model
// refuses are refused, the length with the model's words, the pattern with
// IAM's own.
func TestRolePathIsKeptAndInItsARN(t *testing.T) {
	const pathed = "arn:aws:iam::" + testAccount + ":role/agents/eu/worker"
	s, acct := iamServer(t, allowAll, `{"Statement": {"Effect": "Deny", "Action": "iam:PutRolePolicy", "Resource": "`+pathed+`"}}`)
	status, body := signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {"worker"}, "Path": {"/agents/eu/"}, "AssumeRolePolicyDocument": {serviceTrust}})
	ok(t, "CreateRole", status, body, "<Path>/agents/eu/</Path>", "<Arn>"+pathed+"</Arn>")
	status, body = signedCall(t, s, url.Values{"Action": {"GetRole"}, "RoleName": {"WORKER"}})
	ok(t, "GetRole", status, body, "<Path>/agents/eu/</Path>", "<Arn>"+pathed+"</Arn>")
	status, body = signedCall(t, s, url.Values{"Action": {"GetRole"}, "RoleName": {"agentid-bedrock-invoke"}})
	ok(t, "GetRole without a path", status, body, "<Path>/</Path>", "<Arn>arn:aws:iam::"+testAccount+":role/agentid-bedrock-invoke</Arn>")

	// A Deny on the ARN with its path holds.
	status, body = signedCall(t, s, url.Values{"Action": {"PutRolePolicy"}, "RoleName": {"worker"}, "PolicyName": {"p"}, "PolicyDocument": {allowAll}})
	refused(t, "PutRolePolicy on the denied ARN", status, body, http.StatusForbidden, "AccessDenied", "on resource: "+pathed+" ")

	if r, found := acct.RoleByARN(pathed); !found || r.Name != "worker" {
		t.Errorf("RoleByARN(%s) = %+v, %v", pathed, r, found)
	}
	for _, arn := range []string{"arn:aws:iam::" + testAccount + ":role/worker", "arn:aws:iam::" + testAccount + ":role/agents/worker",
		"arn:aws:iam::" + testAccount + ":role/agents/eu/other/worker"} {
		if _, found := acct.RoleByARN(arn); found {
			t.Errorf("RoleByARN(%s) found the role at /agents/eu/", arn)
		}
	}
	if r, _ := acct.Role("worker"); acct.RoleARN(r) != pathed {
		t.Errorf("RoleARN = %s", acct.RoleARN(r))
	}

	for _, c := range []struct{ path, message string }{
		{"agents/", "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters."},
		{"/agents", "The specified value for path is invalid."},
		{"/a b/", "The specified value for path is invalid."},
		{"/" + strings.Repeat("a", 511) + "/", "at 'path' failed to satisfy constraint: Member must have length less than or equal to 512"},
	} {
		status, body := signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {"bad-path"}, "Path": {c.path}, "AssumeRolePolicyDocument": {serviceTrust}})
		refused(t, "Path "+c.path[:min(len(c.path), 12)], status, body, http.StatusBadRequest, "ValidationError", c.message)
	}
	if _, found := acct.Role("bad-path"); found {
		t.Error("a role with an invalid path was created")
	}
}

// Tags given to CreateRole are kept, returned by GetRole and
// ListRoleTags, and changed by TagRole and UntagRole, keys without regard
// to case; the model's limits and IAM's duplicate-key and 50-tag refusals
// hold.
func TestRoleTags(t *testing.T) {
	s, acct := iamServer(t, allowAll)
	create := url.Values{"Action": {"CreateRole"}, "RoleName": {"tagged"}, "AssumeRolePolicyDocument": {serviceTrust},
		"Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"agents"}, "Tags.member.2.Key": {"Cost Center"}, "Tags.member.2.Value": {""}}
	status, body := signedCall(t, s, create)
	ok(t, "CreateRole with tags", status, body, "<Tags><member><Key>team</Key><Value>agents</Value></member><member><Key>Cost Center</Key><Value></Value></member></Tags>")
	status, body = signedCall(t, s, url.Values{"Action": {"GetRole"}, "RoleName": {"tagged"}})
	ok(t, "GetRole", status, body, "<Key>team</Key><Value>agents</Value>", "<Key>Cost Center</Key>")

	status, body = signedCall(t, s, url.Values{"Action": {"TagRole"}, "RoleName": {"tagged"},
		"Tags.member.1.Key": {"TEAM"}, "Tags.member.1.Value": {"platform"}, "Tags.member.2.Key": {"env"}, "Tags.member.2.Value": {"dev"}})
	ok(t, "TagRole", status, body)
	status, body = signedCall(t, s, url.Values{"Action": {"UntagRole"}, "RoleName": {"tagged"}, "TagKeys.member.1": {"cost center"}, "TagKeys.member.2": {"absent"}})
	ok(t, "UntagRole", status, body)
	status, body = signedCall(t, s, url.Values{"Action": {"ListRoleTags"}, "RoleName": {"tagged"}})
	ok(t, "ListRoleTags", status, body, "<Tags><member><Key>TEAM</Key><Value>platform</Value></member><member><Key>env</Key><Value>dev</Value></member></Tags><IsTruncated>false</IsTruncated>")
	status, body = signedCall(t, s, url.Values{"Action": {"ListRoleTags"}, "RoleName": {"tagged"}, "MaxItems": {"1"}})
	ok(t, "ListRoleTags, one at a time", status, body, "<Key>TEAM</Key>", "<IsTruncated>true</IsTruncated><Marker>1</Marker>")
	status, body = signedCall(t, s, url.Values{"Action": {"ListRoleTags"}, "RoleName": {"tagged"}, "MaxItems": {"1"}, "Marker": {"1"}})
	ok(t, "ListRoleTags, the second page", status, body, "<Key>env</Key>", "<IsTruncated>false</IsTruncated>")
	status, body = signedCall(t, s, url.Values{"Action": {"ListRoleTags"}, "RoleName": {"agentid-bedrock-invoke"}})
	ok(t, "ListRoleTags of a role without tags", status, body, "<Tags></Tags>")
	status, body = signedCall(t, s, url.Values{"Action": {"ListRoleTags"}, "RoleName": {"nobody"}})
	refused(t, "ListRoleTags of no role", status, body, http.StatusNotFound, "NoSuchEntity", "The role with name nobody cannot be found.")

	tags := func(n int, prefix string) url.Values {
		v := url.Values{}
		for i := 1; i <= n; i++ {
			v.Set("Tags.member."+strconv.Itoa(i)+".Key", prefix+strconv.Itoa(i))
			v.Set("Tags.member."+strconv.Itoa(i)+".Value", "v")
		}
		return v
	}
	with := func(base url.Values, more url.Values) url.Values {
		out := url.Values{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	newRole := url.Values{"Action": {"CreateRole"}, "RoleName": {"more"}, "AssumeRolePolicyDocument": {serviceTrust}}
	for _, c := range []struct {
		name   string
		params url.Values
		status int
		code   string
		msg    string
	}{
		{"51 tags on CreateRole", with(newRole, tags(51, "k")), 400, "ValidationError", "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"},
		{"51 tags on TagRole", with(url.Values{"Action": {"TagRole"}, "RoleName": {"tagged"}}, tags(51, "k")), 400, "ValidationError", "Member must have length less than or equal to 50"},
		{"two keys that differ in case", with(newRole, url.Values{"Tags.member.1.Key": {"Env"}, "Tags.member.1.Value": {"a"}, "Tags.member.2.Key": {"env"}, "Tags.member.2.Value": {"b"}}),
			400, "InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive."},
		{"a 129-character key", with(newRole, url.Values{"Tags.member.1.Key": {strings.Repeat("k", 129)}, "Tags.member.1.Value": {"v"}}),
			400, "ValidationError", "at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"a key with a character the pattern refuses", with(newRole, url.Values{"Tags.member.1.Key": {"a*b"}, "Tags.member.1.Value": {"v"}}),
			400, "ValidationError", `at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`},
		{"a 257-character value", with(newRole, url.Values{"Tags.member.1.Key": {"k"}, "Tags.member.1.Value": {strings.Repeat("v", 257)}}),
			400, "ValidationError", "at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"a value with a character the pattern refuses", with(newRole, url.Values{"Tags.member.1.Key": {"k"}, "Tags.member.1.Value": {"a&b"}}),
			400, "ValidationError", "at 'tags.1.member.value' failed to satisfy constraint"},
		{"TagRole to 51 tags", with(url.Values{"Action": {"TagRole"}, "RoleName": {"tagged"}}, tags(49, "k")), 409, "LimitExceeded", "Cannot exceed quota for TagsPerRole: 50"},
		{"UntagRole with 51 keys", func() url.Values {
			v := url.Values{"Action": {"UntagRole"}, "RoleName": {"tagged"}}
			for i := 1; i <= 51; i++ {
				v.Set("TagKeys.member."+strconv.Itoa(i), "k"+strconv.Itoa(i))
			}
			return v
		}(), 400, "ValidationError", "at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50"},
	} {
		status, body := signedCall(t, s, c.params)
		refused(t, c.name, status, body, c.status, c.code, c.msg)
	}
	if _, found := acct.Role("more"); found {
		t.Error("a role with refused tags was created")
	}
	if r, _ := acct.Role("tagged"); len(r.Tags) != 2 {
		t.Errorf("a refused TagRole changed the tags: %v", r.Tags)
	}
	// Replacing a tag on a role at 50 is no new tag.
	status, body = signedCall(t, s, with(url.Values{"Action": {"TagRole"}, "RoleName": {"tagged"}}, tags(48, "k")))
	ok(t, "TagRole to 50 tags", status, body)
	status, body = signedCall(t, s, url.Values{"Action": {"TagRole"}, "RoleName": {"tagged"}, "Tags.member.1.Key": {"K1"}, "Tags.member.1.Value": {"new"}})
	ok(t, "TagRole replacing a tag at 50", status, body)
	if r, _ := acct.Role("tagged"); len(r.Tags) != 50 || r.Tags[2] != (Tag{"K1", "new"}) {
		t.Errorf("tags after replacing k1: %d, %v", len(r.Tags), r.Tags[2])
	}
}

// The role trust policy quota (2,048 characters) and the role policy
// quota (10,240 characters, the role's inline policies together), white
// space not counted, with IAM's 409 LimitExceeded.
func TestRolePolicyQuotas(t *testing.T) {
	s, acct := iamServer(t, allowAll)
	// trustOf is a trust policy of exactly n characters without white space.
	trustOf := func(n int, pad string) string {
		base := `{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
		return strings.Replace(base, `"Sid":""`, `"Sid":"`+strings.Repeat("s", n-len(base))+`"`, 1) + pad
	}
	if policySize(trustOf(2048, "")) != 2048 {
		t.Fatalf("trustOf(2048) is %d", policySize(trustOf(2048, "")))
	}
	status, body := signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {"big"}, "AssumeRolePolicyDocument": {trustOf(2049, "")}})
	refused(t, "CreateRole, 2,049 characters", status, body, http.StatusConflict, "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")
	status, body = signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {"big"}, "AssumeRolePolicyDocument": {trustOf(2048, strings.Repeat(" \n\t\r", 500))}})
	ok(t, "CreateRole, 2,048 characters and 2,000 of white space", status, body)
	status, body = signedCall(t, s, url.Values{"Action": {"UpdateAssumeRolePolicy"}, "RoleName": {"big"}, "PolicyDocument": {trustOf(2049, "")}})
	refused(t, "UpdateAssumeRolePolicy, 2,049 characters", status, body, http.StatusConflict, "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")

	// policyOf is a permissions policy of n characters without white space.
	policyOf := func(n int) string {
		base := `{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
		return strings.Replace(base, `"Sid":""`, `"Sid":"`+strings.Repeat("s", n-len(base))+`"`, 1)
	}
	put := func(name, doc string) (int, string) {
		return signedCall(t, s, url.Values{"Action": {"PutRolePolicy"}, "RoleName": {"BIG"}, "PolicyName": {name}, "PolicyDocument": {doc}})
	}
	status, body = put("one", policyOf(6000))
	ok(t, "6,000 characters", status, body)
	status, body = put("two", policyOf(4241))
	refused(t, "6,000 and 4,241 characters", status, body, http.StatusConflict, "LimitExceeded", "Maximum policy size of 10240 bytes exceeded for role big")
	status, body = put("two", "\n"+strings.ReplaceAll(policyOf(4240), ",", ",\n    "))
	ok(t, "6,000 and 4,240 characters, indented", status, body)
	status, body = put("one", policyOf(6001))
	refused(t, "replacing one with 6,001 characters", status, body, http.StatusConflict, "LimitExceeded", "Maximum policy size of 10240 bytes exceeded for role big")
	if r, _ := acct.Role("big"); policySize(r.Policies["one"].Text) != 6000 {
		t.Error("a refused PutRolePolicy replaced the policy")
	}
}

// A trust policy naming a role of the account that does not exist is
// refused as IAM refuses it; the role's ARN must have its path.
func TestTrustPolicyNamingARoleThatDoesNotExist(t *testing.T) {
	s, acct := iamServer(t, allowAll)
	trusting := func(arn string) string {
		return `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::` + testAccount + `:root", "` + arn + `"]}, "Action": "sts:AssumeRole"}]}`
	}
	signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {"caller"}, "Path": {"/ci/"}, "AssumeRolePolicyDocument": {serviceTrust}})
	for _, arn := range []string{
		"arn:aws:iam::" + testAccount + ":role/nobody",
		"arn:aws:iam::" + testAccount + ":role/caller", // without its path
		"arn:aws:iam::" + testAccount + ":role/ci/*",
	} {
		status, body := signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {"callee"}, "AssumeRolePolicyDocument": {trusting(arn)}})
		refused(t, "CreateRole trusting "+arn, status, body, http.StatusBadRequest, "MalformedPolicyDocument", `Invalid principal in policy: "AWS":"`+arn+`"`)
		status, body = signedCall(t, s, url.Values{"Action": {"UpdateAssumeRolePolicy"}, "RoleName": {"agentid-bedrock-invoke"}, "PolicyDocument": {trusting(arn)}})
		refused(t, "UpdateAssumeRolePolicy trusting "+arn, status, body, http.StatusBadRequest, "MalformedPolicyDocument", `Invalid principal in policy: "AWS":"`+arn+`"`)
	}
	if _, found := acct.Role("callee"); found {
		t.Error("the role was created")
	}
	// The role that exists, by its ARN with its path; another account's
	// role is not this account's to check.
	status, body := signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {"callee"},
		"AssumeRolePolicyDocument": {trusting("arn:aws:iam::" + testAccount + ":role/ci/caller")}})
	ok(t, "CreateRole trusting ci/caller", status, body)
	status, body = signedCall(t, s, url.Values{"Action": {"UpdateAssumeRolePolicy"}, "RoleName": {"callee"},
		"PolicyDocument": {trusting("arn:aws:iam::444455556666:role/elsewhere")}})
	ok(t, "trusting another account's role", status, body)
}

// A name over its length gets the length message, not the pattern's:
// lengths are checked first, as the model's validation does.
func TestNameLengthIsCheckedBeforeItsPattern(t *testing.T) {
	s, _ := iamServer(t, allowAll)
	long := strings.Repeat("r", 65)
	status, body := signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {long}, "AssumeRolePolicyDocument": {serviceTrust}})
	refused(t, "a 65-character role name", status, body, http.StatusBadRequest, "ValidationError",
		"1 validation error detected: Value '"+long+"' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64")
	if strings.Contains(body, "regular expression") {
		t.Errorf("the length refusal names the pattern: %s", body)
	}
	status, body = signedCall(t, s, url.Values{"Action": {"CreateRole"}, "RoleName": {strings.Repeat("r", 64)}, "AssumeRolePolicyDocument": {serviceTrust}})
	ok(t, "a 64-character role name", status, body)
	status, body = signedCall(t, s, url.Values{"Action": {"PutRolePolicy"}, "RoleName": {"agentid-bedrock-invoke"}, "PolicyName": {strings.Repeat("p", 129)}, "PolicyDocument": {allowAll}})
	refused(t, "a 129-character policy name", status, body, http.StatusBadRequest, "ValidationError", "at 'policyName' failed to satisfy constraint: Member must have length less than or equal to 128")
	status, body = signedCall(t, s, url.Values{"Action": {"GetRole"}, "RoleName": {"a role"}})
	refused(t, "a role name with a space", status, body, http.StatusBadRequest, "ValidationError", `Member must satisfy regular expression pattern: [\w+=,.@-]+`)
}

// The tenant file's roles may have a path and tags, checked as CreateRole
// checks them, as are their quotas; a trust policy may name a role the
// file lists after it, not one it lacks.
func TestNewAccountTakesPathsAndTags(t *testing.T) {
	role := func(name, path string, trust string) *tenant.Role {
		return &tenant.Role{Name: name, Path: path, MaxSessionDuration: 3600, TrustPolicy: json.RawMessage(trust)}
	}
	trusting := func(arn string) string {
		return `{"Statement": {"Effect": "Allow", "Principal": {"AWS": "` + arn + `"}, "Action": "sts:AssumeRole"}}`
	}
	account := func(roles ...*tenant.Role) *tenant.AWSAccount {
		return &tenant.AWSAccount{AccountID: testAccount, Region: "us-east-1", Roles: roles}
	}
	first := role("first", "", trusting("arn:aws:iam::"+testAccount+":role/team/second"))
	second := role("second", "/team/", serviceTrust)
	second.Tags = []tenant.RoleTag{{Key: "team", Value: "agents"}}
	acct, err := NewAccount(account(first, second), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, found := acct.RoleByARN("arn:aws:iam::" + testAccount + ":role/team/second")
	if !found || r.Path != "/team/" || len(r.Tags) != 1 || r.Tags[0] != (Tag{"team", "agents"}) {
		t.Errorf("second: %+v, %v", r, found)
	}
	if a := account(second); a.ARN(second) != "arn:aws:iam::"+testAccount+":role/team/second" {
		t.Errorf("the tenant file's ARN for second is %s", a.ARN(second))
	}

	big := `{"Statement": {"Sid": "` + strings.Repeat("s", 2048) + `", "Effect": "Allow", "Principal": {"Service": "x.amazonaws.com"}, "Action": "sts:AssumeRole"}}`
	for _, c := range []struct {
		name  string
		roles []*tenant.Role
		want  string
	}{
		{"a role it lacks", []*tenant.Role{first}, `aws.roles[0].trustPolicy: MalformedPolicyDocument: Invalid principal in policy: "AWS":"arn:aws:iam::` + testAccount + `:role/team/second"`},
		{"an invalid path", []*tenant.Role{role("r", "team", serviceTrust)}, "aws.roles[0].path: ValidationError: The specified value for path is invalid."},
		{"a trust policy over the quota", []*tenant.Role{role("r", "", big)}, "aws.roles[0].trustPolicy: LimitExceeded: Cannot exceed quota for ACLSizePerRole: 2048"},
		{"duplicate tag keys", []*tenant.Role{func() *tenant.Role {
			r := role("r", "", serviceTrust)
			r.Tags = []tenant.RoleTag{{Key: "a", Value: "1"}, {Key: "A", Value: "2"}}
			return r
		}()}, "aws.roles[0].tags: InvalidInput: Duplicate tag keys found."},
		{"inline policies over the quota", []*tenant.Role{func() *tenant.Role {
			r := role("r", "", serviceTrust)
			doc := `{"Statement": {"Sid": "` + strings.Repeat("s", 5200) + `", "Effect": "Allow", "Action": "*", "Resource": "*"}}`
			r.Policies = map[string]json.RawMessage{"a": json.RawMessage(doc), "b": json.RawMessage(doc)}
			return r
		}()}, "aws.roles[0].policies: LimitExceeded: Maximum policy size of 10240 bytes exceeded for role r"},
	} {
		if _, err := NewAccount(account(c.roles...), nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}
