package awsiam

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsquery"
)

// The constraints of botocore's IAM model (botocore/data/iam/2010-05-08,
// read 2026-12-06) that cloudsim checks, and IAM's quotas on what a role
// holds. Lengths are checked before patterns, as botocore validates a
// shape (length, then pattern), so a 65-character role name is refused
// with the length it exceeds, which is the constraint AWS's message names
// ("Member must have length less than or equal to 64", as IAM answered in
// NixOS/nixops#328).

var (
	// roleNameType and policyNameType: [\w+=,.@-]+, 1–64 and 1–128.
	namePattern = regexp.MustCompile(`^[\w+=,.@-]+$`)
	// pathType: (\u002F)|(\u002F[\u0021-\u007E]+\u002F), 1–512.
	pathPattern = regexp.MustCompile(`^(?:/|/[\x{21}-\x{7E}]+/)$`)
	// tagKeyType and tagValueType: [\p{L}\p{Z}\p{N}_.:/=+\-@]+ (1–128) and
	// the same with * (0–256).
	tagPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

const (
	maxRoleName   = 64
	maxPolicyName = 128
	maxPath       = 512
	// maxTags is tagListType's and tagKeyListType's maximum, and the
	// number of tags an IAM role may have (IAM User Guide, "IAM and AWS
	// STS quotas").
	maxTags     = 50
	maxTagKey   = 128
	maxTagValue = 256

	// trustPolicyQuota is "Role trust policy length" and
	// rolePoliciesQuota "Role policy size" (the role's inline policies
	// together) on the IAM User Guide's quotas page (reference_iam-quotas,
	// read 2026-12-06): characters, white space not counted. The trust
	// policy's is a default AWS raises to 4,096 on request; cloudsim
	// keeps the default.
	trustPolicyQuota  = 2048
	rolePoliciesQuota = 10240
)

func limitExceeded(format string, args ...any) *awsquery.Error {
	return awsquery.Errorf(http.StatusConflict, "LimitExceeded", format, args...)
}

// tooLong is the model's maximum length constraint, as AWS words it.
func tooLong(field, value string, max int) error {
	return validation(field, fmt.Sprintf("Member must have length less than or equal to %d", max), value)
}

// checkName checks a name parameter against its model shape: its length
// first, then its pattern.
func checkName(field, name string, max int) error {
	if utf8.RuneCountInString(name) > max {
		return tooLong(field, name, max)
	}
	if !namePattern.MatchString(name) {
		return validation(field, `Member must satisfy regular expression pattern: [\w+=,.@-]+`, name)
	}
	return nil
}

// checkPath checks a role's Path. Past its length, IAM answers a path the
// pattern refuses in words of its own, as reported from CreateRole and
// CreateUser ("The specified value for path is invalid. It must begin and
// end with / and contain only alphanumeric characters and/or /
// characters.": serverless/serverless#3802, aws-cloudformation/cfn-lint#722,
// ministryofjustice/cloud-platform-environments#1726).
func checkPath(path string) error {
	switch n := utf8.RuneCountInString(path); {
	case n == 0:
		return validation("path", "Member must have length greater than or equal to 1", path)
	case n > maxPath:
		return tooLong("path", path, maxPath)
	case !pathPattern.MatchString(path):
		return awsquery.Errorf(http.StatusBadRequest, "ValidationError",
			"The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.")
	}
	return nil
}

// rolePath reads CreateRole's optional Path: "/" when absent.
func rolePath(form url.Values) (string, error) {
	if !form.Has("Path") {
		return "/", nil
	}
	path := form.Get("Path")
	return path, checkPath(path)
}

// checkTagKey checks one tag key against tagKeyType.
func checkTagKey(field, key string) error {
	switch n := utf8.RuneCountInString(key); {
	case n == 0:
		return validation(field, "Member must have length greater than or equal to 1", key)
	case n > maxTagKey:
		return tooLong(field, key, maxTagKey)
	case !tagPattern.MatchString(key):
		return validation(field, `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`, key)
	}
	return nil
}

// checkTags checks a list of tags against tagListType and Tag, then
// refuses two keys that differ only in case: IAM's tag keys ignore case,
// and it answers 400 InvalidInput "Duplicate tag keys found. Please note
// that Tag keys are case insensitive." (serverless/serverless#7885,
// terraform-aws-modules/terraform-aws-rds-aurora#189).
//
// A list longer than the model's 50 is refused as the model's constraint
// (ValidationError), before anything is looked up; a role that would end
// up with more than 50 tags is TagRole's LimitExceeded (mergeTags).
func checkTags(tags []Tag) error {
	if len(tags) > maxTags {
		return listTooLong("tags", maxTags)
	}
	for i, t := range tags {
		field := "tags." + strconv.Itoa(i+1) + ".member"
		if err := checkTagKey(field+".key", t.Key); err != nil {
			return err
		}
		if utf8.RuneCountInString(t.Value) > maxTagValue {
			return tooLong(field+".value", t.Value, maxTagValue)
		}
		if !tagPattern.MatchString(t.Value) {
			return validation(field+".value", `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`, t.Value)
		}
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if seen[strings.ToLower(t.Key)] {
			return awsquery.Errorf(http.StatusBadRequest, "InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[strings.ToLower(t.Key)] = true
	}
	return nil
}

// listTooLong is a list parameter over its model maximum. The message
// leaves the list's value out (its form in AWS's answer is not verified).
func listTooLong(field string, max int) error {
	return awsquery.Errorf(http.StatusBadRequest, "ValidationError",
		"1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, max)
}

// formTags reads a query-protocol list of tags: Tags.member.N.Key and
// Tags.member.N.Value.
func formTags(form url.Values) ([]Tag, error) {
	var tags []Tag
	for i := 1; ; i++ {
		prefix := "Tags.member." + strconv.Itoa(i) + "."
		if !form.Has(prefix+"Key") && !form.Has(prefix+"Value") {
			return tags, nil
		}
		for _, part := range []string{"Key", "Value"} {
			if !form.Has(prefix + part) {
				return nil, awsquery.Errorf(http.StatusBadRequest, "ValidationError",
					"1 validation error detected: Value null at 'tags.%d.member.%s' failed to satisfy constraint: Member must not be null", i, strings.ToLower(part))
			}
		}
		tags = append(tags, Tag{Key: form.Get(prefix + "Key"), Value: form.Get(prefix + "Value")})
	}
}

// mergeTags is TagRole: a key the role has (in any case) takes the new
// value and the new spelling, as IAM does (aws/aws-cdk#26253: tagging
// "test" after "Test" leaves one tag, "test"); others are added. A role
// may hold 50 tags: past that, 409 LimitExceeded. The message is in the
// form of IAM's other quota refusals ("Cannot exceed quota for
// PoliciesPerRole: 10", aws/eks-hybrid#741); the quota's name in it is
// not verified.
func mergeTags(have, add []Tag) ([]Tag, error) {
	out := append([]Tag(nil), have...)
	for _, t := range add {
		i := tagIndex(out, t.Key)
		if i < 0 {
			out = append(out, t)
			continue
		}
		out[i] = t
	}
	if len(out) > maxTags {
		return nil, limitExceeded("Cannot exceed quota for TagsPerRole: %d", maxTags)
	}
	return out, nil
}

func tagIndex(tags []Tag, key string) int {
	for i, t := range tags {
		if strings.EqualFold(t.Key, key) {
			return i
		}
	}
	return -1
}

// policySize is a policy document's size as IAM counts it against its
// quotas: characters, white space (space, tab, line feed, carriage
// return, the white space a policy document may hold) not counted.
func policySize(text string) int {
	n := 0
	for _, r := range text {
		switch r {
		case ' ', '\t', '\n', '\r':
		default:
			n++
		}
	}
	return n
}

// checkTrustSize refuses a trust policy over the role trust policy
// quota, with IAM's answer to CreateRole and UpdateAssumeRolePolicy (409
// LimitExceeded "Cannot exceed quota for ACLSizePerRole: 2048":
// kubeflow/kubeflow#6687; kubernetes-sigs/aws-load-balancer-controller#2718
// shows the raised quota's 4096 in the same words).
func checkTrustSize(p *Policy) error {
	if policySize(p.Text) > trustPolicyQuota {
		return limitExceeded("Cannot exceed quota for ACLSizePerRole: %d", trustPolicyQuota)
	}
	return nil
}

// checkRolePoliciesSize refuses inline policies over the role policy
// quota, all of the role's together, with IAM's answer to PutRolePolicy
// (409 LimitExceeded "Maximum policy size of 10240 bytes exceeded for role
// <name>": serverless/serverless#7643, aws/aws-cdk#12403). The message
// says bytes; the quotas page counts characters, and so does cloudsim.
func checkRolePoliciesSize(roleName string, policies map[string]*Policy) error {
	total := 0
	for _, p := range policies {
		total += policySize(p.Text)
	}
	if total > rolePoliciesQuota {
		return limitExceeded("Maximum policy size of %d bytes exceeded for role %s", rolePoliciesQuota, roleName)
	}
	return nil
}
