package awsiam

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Kind is where a policy document is attached, which decides the elements
// it must and must not have (IAM JSON policy element reference).
type Kind int

const (
	// Identity is a role's or user's inline permissions policy: no
	// Principal, Action and Resource required.
	Identity Kind = iota
	// Trust is a role's trust policy, a resource-based policy on the role:
	// a Principal, an Action, no Resource.
	Trust
	// Session is an inline session policy passed to AssumeRole*: the same
	// rules as Identity.
	Session
)

// Policy is a parsed policy document: the subset of the IAM policy
// language cloudsim evaluates. Parse refuses, with IAM's
// MalformedPolicyDocument, both malformed documents and the valid forms
// cloudsim does not evaluate (NotAction, NotResource, NotPrincipal, policy
// variables, operators outside its table), so nothing it cannot judge is
// silently allowed.
type Policy struct {
	Text       string
	statements []statement
}

type statement struct {
	effect     string
	principals map[string][]string // "AWS", "Federated", "Service"; "*" for everyone
	actions    []string
	resources  []string // nil in a trust policy: the role itself
	conditions []condition
}

// condition is one key under one operator: the key's context values must
// match one of values (IAM: values under a key are ORed, keys and
// operators ANDed).
type condition struct {
	operator string // the base operator, such as StringEquals
	set      string // "", "ForAllValues" or "ForAnyValue"
	ifExists bool
	key      string // lower case: condition keys are not case sensitive
	values   []string
}

// Request is what one policy evaluation is about.
type Request struct {
	// Principal is who asks, for trust policies: a type as the Principal
	// element names it ("Federated", "AWS", "Service") and its ID.
	Principal Principal
	Action    string // service:Action
	Resource  string // an ARN; ignored by trust policies
	// Context holds the request's condition keys (any case) and values.
	Context map[string][]string
}

// Principal is the caller as a trust policy's Principal element names it.
type Principal struct{ Type, ID string }

// Decision is one policy's verdict on a request.
type Decision int

const (
	NotApplicable Decision = iota // no statement matches: an implicit deny
	Allowed
	Denied // an explicit Deny: it wins over every Allow
)

// MalformedError is IAM's MalformedPolicyDocument. Its messages for
// invalid JSON and a principal in an identity policy are as reported from
// IAM (AWSCookbook/Security#2; the IAM troubleshooting page); the others'
// exact words are not verified.
type MalformedError struct{ Message string }

func (e *MalformedError) Error() string { return "MalformedPolicyDocument: " + e.Message }

func malformed(format string, args ...any) error {
	return &MalformedError{fmt.Sprintf(format, args...)}
}

// rawStatement is a statement as written: elements are a string or a list.
type rawStatement struct {
	Sid          string                                `json:"Sid"`
	Effect       string                                `json:"Effect"`
	Principal    json.RawMessage                       `json:"Principal"`
	Action       stringOrList                          `json:"Action"`
	Resource     stringOrList                          `json:"Resource"`
	Condition    map[string]map[string]json.RawMessage `json:"Condition"`
	NotAction    json.RawMessage                       `json:"NotAction"`
	NotResource  json.RawMessage                       `json:"NotResource"`
	NotPrincipal json.RawMessage                       `json:"NotPrincipal"`
}

type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
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

// Parse reads a policy document for where it is attached.
func Parse(text string, kind Kind) (*Policy, error) {
	var doc struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, malformed("This policy contains invalid Json")
	}
	if doc.Version != "" && doc.Version != "2012-10-17" && doc.Version != "2008-10-17" {
		return nil, malformed("The policy must contain a valid version string")
	}
	var raws []rawStatement
	var one rawStatement
	switch {
	case len(doc.Statement) == 0:
		return nil, malformed("Policy document must contain a Statement")
	case json.Unmarshal(doc.Statement, &raws) == nil:
	case json.Unmarshal(doc.Statement, &one) == nil:
		raws = []rawStatement{one}
	default:
		return nil, malformed("This policy contains invalid Json")
	}
	if len(raws) == 0 {
		return nil, malformed("Policy document must contain a Statement")
	}
	p := &Policy{Text: text}
	for _, raw := range raws {
		st, err := parseStatement(raw, kind)
		if err != nil {
			return nil, err
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func parseStatement(raw rawStatement, kind Kind) (statement, error) {
	st := statement{effect: raw.Effect, actions: raw.Action, resources: raw.Resource}
	switch {
	case raw.Effect != "Allow" && raw.Effect != "Deny":
		return st, malformed("Policy statement must contain an Effect of Allow or Deny.")
	case raw.NotAction != nil || raw.NotResource != nil || raw.NotPrincipal != nil:
		return st, malformed("cloudsim does not evaluate NotAction, NotResource or NotPrincipal; write the statement with Action, Resource and Principal")
	case len(raw.Action) == 0:
		return st, malformed("Policy statement must contain actions.")
	case kind == Trust && raw.Resource != nil:
		return st, malformed("Has prohibited field Resource")
	case kind == Trust && raw.Principal == nil:
		return st, malformed("AssumeRolepolicy contained an invalid principal")
	case kind != Trust && raw.Principal != nil:
		return st, malformed("Policy document should not specify a principal.")
	case kind != Trust && len(raw.Resource) == 0:
		return st, malformed("Policy statement must contain resources.")
	}
	for _, s := range slices.Concat(raw.Action, raw.Resource) {
		if strings.Contains(s, "${") {
			return st, malformed("cloudsim does not evaluate policy variables such as %s; write the value out", s)
		}
	}
	if raw.Principal != nil {
		principals, err := parsePrincipal(raw.Principal)
		if err != nil {
			return st, err
		}
		st.principals = principals
	}
	for op, keys := range raw.Condition {
		for key, rawValues := range keys {
			c, err := parseCondition(op, key, rawValues)
			if err != nil {
				return st, err
			}
			st.conditions = append(st.conditions, c)
		}
	}
	return st, nil
}

func parsePrincipal(raw json.RawMessage) (map[string][]string, error) {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, malformed("Invalid principal in policy: %q", star)
		}
		return map[string][]string{"*": {"*"}}, nil
	}
	var byType map[string]stringOrList
	if err := json.Unmarshal(raw, &byType); err != nil {
		return nil, malformed("Invalid principal in policy")
	}
	out := map[string][]string{}
	for typ, ids := range byType {
		switch typ {
		case "AWS", "Federated", "Service":
			out[typ] = ids
		default:
			return nil, malformed("Invalid principal in policy: %q", typ)
		}
	}
	return out, nil
}

// operators are the condition operators cloudsim evaluates (IAM JSON
// policy elements: Condition operators), with whether each negates.
var operators = map[string]struct {
	negated bool
	match   func(pattern, value string) bool
}{
	"StringEquals":              {false, func(p, v string) bool { return p == v }},
	"StringNotEquals":           {true, func(p, v string) bool { return p == v }},
	"StringEqualsIgnoreCase":    {false, strings.EqualFold},
	"StringNotEqualsIgnoreCase": {true, strings.EqualFold},
	"StringLike":                {false, Glob},
	"StringNotLike":             {true, Glob},
	// ArnEquals and ArnLike behave alike: wildcards in each segment.
	"ArnEquals":                {false, Glob},
	"ArnLike":                  {false, Glob},
	"ArnNotEquals":             {true, Glob},
	"ArnNotLike":               {true, Glob},
	"NumericEquals":            {false, numeric(func(p, v float64) bool { return v == p })},
	"NumericNotEquals":         {true, numeric(func(p, v float64) bool { return v == p })},
	"NumericLessThan":          {false, numeric(func(p, v float64) bool { return v < p })},
	"NumericLessThanEquals":    {false, numeric(func(p, v float64) bool { return v <= p })},
	"NumericGreaterThan":       {false, numeric(func(p, v float64) bool { return v > p })},
	"NumericGreaterThanEquals": {false, numeric(func(p, v float64) bool { return v >= p })},
	"Bool":                     {false, strings.EqualFold},
}

func numeric(cmp func(p, v float64) bool) func(string, string) bool {
	return func(p, v string) bool {
		pf, err1 := strconv.ParseFloat(p, 64)
		vf, err2 := strconv.ParseFloat(v, 64)
		return err1 == nil && err2 == nil && cmp(pf, vf)
	}
}

func parseCondition(op, key string, raw json.RawMessage) (condition, error) {
	c := condition{key: strings.ToLower(key)}
	name := op
	if set, rest, ok := strings.Cut(name, ":"); ok {
		if set != "ForAllValues" && set != "ForAnyValue" {
			return c, malformed("Invalid Condition type : %s", op)
		}
		c.set, name = set, rest
	}
	name, c.ifExists = strings.CutSuffix(name, "IfExists")
	if _, ok := operators[name]; !ok && name != "Null" {
		return c, malformed("Invalid Condition type : %s (or one cloudsim does not evaluate)", op)
	}
	c.operator = name
	// Values are a string, a number, a boolean or a list of them.
	var list []any
	if json.Unmarshal(raw, &list) != nil {
		var one any
		if err := json.Unmarshal(raw, &one); err != nil {
			return c, malformed("This policy contains invalid Json")
		}
		list = []any{one}
	}
	for _, v := range list {
		switch v := v.(type) {
		case string:
			if strings.Contains(v, "${") {
				return c, malformed("cloudsim does not evaluate policy variables such as %s; write the value out", v)
			}
			c.values = append(c.values, v)
		case float64:
			c.values = append(c.values, strconv.FormatFloat(v, 'f', -1, 64))
		case bool:
			c.values = append(c.values, strconv.FormatBool(v))
		default:
			return c, malformed("Condition values must be strings, numbers or booleans")
		}
	}
	return c, nil
}

// Decide is the policy's verdict: Denied when a matching statement
// denies, Allowed when one allows, NotApplicable when none matches.
func (p *Policy) Decide(r Request) Decision {
	if p == nil {
		return NotApplicable
	}
	context := map[string][]string{}
	for k, v := range r.Context {
		context[strings.ToLower(k)] = v
	}
	d := NotApplicable
	for _, st := range p.statements {
		if !st.matches(r, context) {
			continue
		}
		if st.effect == "Deny" {
			return Denied
		}
		d = Allowed
	}
	return d
}

func (st statement) matches(r Request, context map[string][]string) bool {
	if st.principals != nil && !slices.Contains(st.principals["*"], "*") &&
		!slices.Contains(st.principals[r.Principal.Type], r.Principal.ID) &&
		!(r.Principal.Type == "AWS" && slices.Contains(st.principals["AWS"], "*")) {
		return false
	}
	if !slices.ContainsFunc(st.actions, func(a string) bool { return Glob(strings.ToLower(a), strings.ToLower(r.Action)) }) {
		return false
	}
	if st.resources != nil && !slices.ContainsFunc(st.resources, func(p string) bool { return Glob(p, r.Resource) }) {
		return false
	}
	for _, c := range st.conditions {
		if !c.holds(context[c.key]) {
			return false
		}
	}
	return true
}

// holds evaluates one condition against the request's values for its key
// (IAM User Guide: condition operators, ...IfExists, and "Single-valued vs.
// multivalued context keys"):
//   - an absent key fails a positive operator and passes a negated one;
//     IfExists makes it pass either; ForAllValues passes an absent key
//     (an empty set), ForAnyValue fails it;
//   - ForAllValues needs every value to match, ForAnyValue one;
//   - a plain operator on several values needs one to match (negated: none).
func (c condition) holds(values []string) bool {
	if c.operator == "Null" {
		want := len(c.values) == 1 && strings.EqualFold(c.values[0], "true")
		return (len(values) == 0) == want
	}
	op := operators[c.operator]
	if len(values) == 0 {
		switch {
		case c.ifExists:
			return true
		case c.set == "ForAllValues":
			return true
		case c.set == "ForAnyValue":
			return false
		}
		return op.negated
	}
	// one reports whether a single context value satisfies the operator.
	one := func(v string) bool {
		hit := slices.ContainsFunc(c.values, func(p string) bool { return op.match(p, v) })
		return hit != op.negated
	}
	switch c.set {
	case "ForAllValues":
		return !slices.ContainsFunc(values, func(v string) bool { return !one(v) })
	case "ForAnyValue":
		return slices.ContainsFunc(values, one)
	}
	if op.negated {
		return !slices.ContainsFunc(values, func(v string) bool { return !one(v) })
	}
	return slices.ContainsFunc(values, one)
}

// Permitted applies the policy evaluation logic within one account to an
// identity's request (IAM User Guide, "Policy evaluation logic"): an
// explicit Deny in any policy denies; otherwise an identity-based policy
// must allow it and, when the session has a session policy, so must that.
// Anything else is an implicit deny.
func Permitted(r Request, identity []*Policy, session *Policy) bool {
	allowed := false
	for _, p := range identity {
		switch p.Decide(r) {
		case Denied:
			return false
		case Allowed:
			allowed = true
		}
	}
	if session != nil {
		switch session.Decide(r) {
		case Denied, NotApplicable:
			return false
		}
	}
	return allowed
}

// Glob matches s against an IAM pattern, where * is any run of characters
// and ? one.
func Glob(p, s string) bool {
	star, resume := -1, 0
	i, j := 0, 0
	for j < len(s) {
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
	}
	return strings.Trim(p[i:], "*") == ""
}
