package awssts

import (
	"encoding/json"
	"net/http"
	"strings"
)

// maxSessionPolicy is the model's sessionPolicyDocumentType maximum.
const maxSessionPolicy = 2048

// sessionPolicy is an inline session policy: the subset cloudsim
// evaluates (Allow and Deny statements with Action and Resource, each a
// string or a list, with * and ? wildcards). An explicit Deny wins; the
// session may do only what some Allow matches.
type sessionPolicy struct {
	statements []policyStatement
	packedSize int // PackedPolicySize, a percentage of the packed limit
}

type policyStatement struct {
	Effect   string      `json:"Effect"`
	Action   stringOrSet `json:"Action"`
	Resource stringOrSet `json:"Resource"`
	// Forms cloudsim does not evaluate; refused rather than ignored.
	NotAction   json.RawMessage `json:"NotAction"`
	NotResource json.RawMessage `json:"NotResource"`
	Condition   json.RawMessage `json:"Condition"`
	Principal   json.RawMessage `json:"Principal"`
}

type stringOrSet []string

func (s *stringOrSet) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

func malformedPolicy(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "MalformedPolicyDocument", msg}
}

// parseSessionPolicy reads a Policy parameter. IAM words invalid JSON as
// "This policy contains invalid Json" (CreateRole, as reported in
// AWSCookbook/Security#2); STS's own wording is not verified.
func parseSessionPolicy(text string) (*sessionPolicy, error) {
	var doc struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, malformedPolicy("This policy contains invalid Json")
	}
	var statements []policyStatement
	var one policyStatement
	switch {
	case len(doc.Statement) == 0:
		return nil, malformedPolicy("Policy document should not specify a principal or be missing a Statement.")
	case json.Unmarshal(doc.Statement, &statements) == nil:
	case json.Unmarshal(doc.Statement, &one) == nil:
		statements = []policyStatement{one}
	default:
		return nil, malformedPolicy("This policy contains invalid Json")
	}
	for _, st := range statements {
		switch {
		case st.Effect != "Allow" && st.Effect != "Deny":
			return nil, malformedPolicy("Policy statement must contain an Effect of Allow or Deny.")
		case st.Principal != nil:
			return nil, malformedPolicy("Policy document should not specify a principal.")
		case len(st.Action) == 0 || len(st.Resource) == 0:
			return nil, malformedPolicy("Policy statement must contain actions and resources.")
		case st.NotAction != nil || st.NotResource != nil || st.Condition != nil:
			return nil, malformedPolicy("cloudsim evaluates session policies with Effect, Action and Resource only; NotAction, NotResource and Condition are not emulated")
		}
	}
	// AWS packs the policy in a compressed binary form whose size is not
	// documented; cloudsim reports the plain text's share of 2048 bytes.
	size := (len(text)*100 + maxSessionPolicy - 1) / maxSessionPolicy
	return &sessionPolicy{statements: statements, packedSize: size}, nil
}

// allows reports whether the session policy permits action on resource.
// A nil policy (none was passed) leaves the role's permissions as they are.
func (p *sessionPolicy) allows(action, resource string) bool {
	if p == nil {
		return true
	}
	allowed := false
	for _, st := range p.statements {
		if !matchAny(st.Action, action, true) || !matchAny(st.Resource, resource, false) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		allowed = true
	}
	return allowed
}

// matchAny matches value against IAM patterns (* and ?); actions compare
// without regard to case, as IAM compares them.
func matchAny(patterns []string, value string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase {
			p, value = strings.ToLower(p), strings.ToLower(value)
		}
		if glob(p, value) {
			return true
		}
	}
	return false
}

// glob matches s against p, where * is any run of characters and ? one.
func glob(p, s string) bool {
	star, resume := -1, 0
	for i, j := 0, 0; j < len(s); {
		switch {
		case i < len(p) && p[i] == '*':
			star, resume = i, j
			i++
		case i < len(p) && (p[i] == '?' || p[i] == s[j]):
			i++
			j++
		case star >= 0:
			resume++
			i, j = star+1, resume
		default:
			return false
		}
		if j == len(s) {
			return strings.Trim(p[i:], "*") == ""
		}
	}
	return strings.Trim(p, "*") == ""
}
