// Package awsfront is cloudsim's stand-in for the two AWS components that
// stand before the binaries in the AWS deployment and decide what reaches
// them: AgentCore Runtime's invocation endpoint, with its inbound JWT
// authorizer and request header allowlist, and API Gateway's HTTP API
// with its JWT authorizer before the Lambda. Both are configured from
// deploy/aws/template.yaml itself, so a template that would refuse every
// real user is refused here too.
package awsfront

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/crosscloud-agentid/agentid/deploy/models"
)

// Stack is what CloudFormation would know when it resolves the template:
// parameter values (defaults fill the rest), the pseudo parameters, and
// the physical IDs and attributes of the resources it created.
type Stack struct {
	Params    map[string]string
	Region    string
	AccountID string
	StackName string
	// Refs are resources' Ref values (an API's ID, say), Attrs their
	// Fn::GetAtt values, by "LogicalId.Attribute".
	Refs  map[string]string
	Attrs map[string]string
}

// Template is a parsed template whose resources' properties can be read
// with the intrinsics the template uses resolved.
type Template struct {
	stack     Stack
	params    map[string]string
	resources map[string]*yaml.Node // logical ID -> the resource mapping
	outputs   map[string]*yaml.Node // output name -> the output mapping
}

// Load parses a template for a stack.
func Load(src []byte, stack Stack) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("template: not a mapping")
	}
	t := &Template{stack: stack, params: map[string]string{}, resources: map[string]*yaml.Node{}, outputs: map[string]*yaml.Node{}}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		section := root.Content[i+1]
		for j := 0; section.Kind == yaml.MappingNode && j+1 < len(section.Content); j += 2 {
			name, body := section.Content[j].Value, section.Content[j+1]
			switch root.Content[i].Value {
			case "Parameters":
				if v, ok := stack.Params[name]; ok {
					t.params[name] = v
				} else if d := child(body, "Default"); d != nil {
					t.params[name] = d.Value
				} else {
					return nil, fmt.Errorf("template: parameter %s has no value and no default", name)
				}
			case "Resources":
				t.resources[name] = body
			case "Outputs":
				t.outputs[name] = body
			}
		}
	}
	return t, nil
}

// OfType returns the logical IDs of the resources of a type.
func (t *Template) OfType(typ string) []string {
	var ids []string
	for id, r := range t.resources {
		if n := child(r, "Type"); n != nil && n.Value == typ {
			ids = append(ids, id)
		}
	}
	return ids
}

// Property resolves a resource's property at a path of keys: a string, a
// []any or a map[string]any. ok is false when it is absent.
func (t *Template) Property(id string, path ...string) (any, bool, error) {
	n := child(t.resources[id], "Properties")
	for _, k := range path {
		n = child(n, k)
	}
	if n == nil {
		return nil, false, nil
	}
	v, err := t.resolve(n)
	return v, err == nil, err
}

// InlinePolicies are an AWS::IAM::Role's Policies as IAM's PutRolePolicy
// would receive them from CloudFormation: each PolicyDocument as JSON, by
// PolicyName.
func (t *Template) InlinePolicies(roleID string) (map[string]string, error) {
	raw, ok, err := t.Property(roleID, "Policies")
	list, _ := raw.([]any)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s's inline policies: %w", roleID, err)
	case !ok || len(list) == 0:
		return nil, fmt.Errorf("%s has no inline policies", roleID)
	}
	policies := map[string]string{}
	for i, p := range list {
		policy, _ := p.(map[string]any)
		name, _ := policy["PolicyName"].(string)
		doc, err := json.Marshal(policy["PolicyDocument"])
		if name == "" || policy["PolicyDocument"] == nil || err != nil {
			return nil, fmt.Errorf("%s.Policies[%d] needs a PolicyName and a PolicyDocument", roleID, i)
		}
		policies[name] = string(doc)
	}
	return policies, nil
}

// Output resolves an output's Value. ok is false when there is no such
// output.
func (t *Template) Output(name string) (any, bool, error) {
	n := child(t.outputs[name], "Value")
	if n == nil {
		return nil, false, nil
	}
	v, err := t.resolve(n)
	return v, err == nil, err
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var subVar = regexp.MustCompile(`\$\{([^}]+)\}`)

// resolve evaluates a node: the short (!Ref) and long (Fn::Join) forms of
// the intrinsics Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::Split and
// Fn::Select (CloudFormation's intrinsic function reference). Anything
// else is refused, never guessed.
func (t *Template) resolve(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	// Short-form intrinsics are local tags (!Ref); YAML's own resolved
	// tags (!!str, !!map) are not.
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return t.intrinsic(n.Tag[1:], n)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := t.resolve(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		if len(n.Content) == 2 {
			if k := n.Content[0].Value; k == "Ref" || strings.HasPrefix(k, "Fn::") {
				return t.intrinsic(strings.TrimPrefix(k, "Fn::"), n.Content[1])
			}
		}
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := t.resolve(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[n.Content[i].Value] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("template: cannot read line %d", n.Line)
}

// intrinsic evaluates one function on its argument node.
func (t *Template) intrinsic(fn string, arg *yaml.Node) (any, error) {
	args := func(want int) ([]*yaml.Node, error) {
		if arg.Kind != yaml.SequenceNode || len(arg.Content) != want {
			return nil, fmt.Errorf("template: line %d: %s takes %d arguments", arg.Line, fn, want)
		}
		return arg.Content, nil
	}
	switch fn {
	case "Ref":
		return t.ref(arg.Value)
	case "GetAtt":
		name := arg.Value
		if arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 {
			name = arg.Content[0].Value + "." + arg.Content[1].Value
		}
		v, ok := t.stack.Attrs[name]
		if !ok {
			return nil, fmt.Errorf("template: no value for Fn::GetAtt %s", name)
		}
		return v, nil
	case "Sub":
		text, vars := arg.Value, map[string]string{}
		if arg.Kind == yaml.SequenceNode {
			a, err := args(2)
			if err != nil {
				return nil, err
			}
			text = a[0].Value
			for i := 0; i+1 < len(a[1].Content); i += 2 {
				s, err := t.str(a[1].Content[i+1])
				if err != nil {
					return nil, err
				}
				vars[a[1].Content[i].Value] = s
			}
		}
		var failed error
		out := subVar.ReplaceAllStringFunc(text, func(m string) string {
			name := m[2 : len(m)-1]
			if v, ok := vars[name]; ok {
				return v
			}
			if strings.Contains(name, ".") {
				v, ok := t.stack.Attrs[name]
				if !ok {
					failed = fmt.Errorf("template: no value for ${%s}", name)
				}
				return v
			}
			v, err := t.ref(name)
			if err != nil {
				failed = err
			}
			return v
		})
		return out, failed
	case "Join":
		a, err := args(2)
		if err != nil {
			return nil, err
		}
		list, err := t.strings(a[1])
		if err != nil {
			return nil, err
		}
		return strings.Join(list, a[0].Value), nil
	case "Split":
		a, err := args(2)
		if err != nil {
			return nil, err
		}
		s, err := t.str(a[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, part := range strings.Split(s, a[0].Value) {
			out = append(out, part)
		}
		return out, nil
	case "Select":
		a, err := args(2)
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(a[0].Value)
		list, lerr := t.strings(a[1])
		if err != nil || lerr != nil || i < 0 || i >= len(list) {
			return nil, fmt.Errorf("template: line %d: bad Fn::Select", arg.Line)
		}
		return list[i], nil
	}
	return nil, fmt.Errorf("template: line %d: %s is not emulated", arg.Line, fn)
}

// ref is Ref: a parameter, a pseudo parameter or a resource's Ref value.
func (t *Template) ref(name string) (string, error) {
	if v, ok := t.params[name]; ok {
		return v, nil
	}
	switch name {
	case "AWS::Region":
		return t.stack.Region, nil
	case "AWS::AccountId":
		return t.stack.AccountID, nil
	case "AWS::StackName":
		return t.stack.StackName, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	}
	if v, ok := t.stack.Refs[name]; ok {
		return v, nil
	}
	return "", fmt.Errorf("template: no value for Ref %s", name)
}

func (t *Template) str(n *yaml.Node) (string, error) {
	v, err := t.resolve(n)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("template: line %d: not a string", n.Line)
	}
	return s, nil
}

func (t *Template) strings(n *yaml.Node) ([]string, error) {
	v, err := t.resolve(n)
	if err != nil {
		return nil, err
	}
	return StringList(v)
}

// StringList reads a resolved list of strings.
func StringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("template: not a list")
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("template: not a list of strings")
		}
		out = append(out, s)
	}
	return out, nil
}

// LocalRuntimeARN is the AgentCore Runtime ARN a local stack stands for.
const LocalRuntimeARN = "arn:aws:bedrock-agentcore:us-east-1:111122223333:runtime/weather_agent-XYZ"

// LocalStack is the template's stack for cloudsim's tenant (env is
// cloudsim.env's values): its parameters, the tenant file's account, and
// made-up physical IDs for what CloudFormation would have created.
func LocalStack(env map[string]string) Stack {
	return Stack{
		Params: map[string]string{"TenantId": env["TENANT_ID"], "BlueprintAppId": env["BLUEPRINT_APP_ID"], "AgentClientId": env["AGENT_CLIENT_ID"],
			"ClientSpaAppId": env["CLIENT_SPA_APP_ID"], "WeatherApiAppId": env["WEATHER_API_APP_ID"], "AgentUserUpn": env["AGENT_USER_UPN"],
			"LambdaCodeBucket": "agentid-artifacts", "LambdaCodeKey": "weather-api.zip",
			"AgentImageUri": "111122223333.dkr.ecr.us-east-1.amazonaws.com/agentid/llm-agent:v1",
			// As scripts/aws-agentcore.sh passes it.
			"BedrockModelId": cmp.Or(env["BEDROCK_MODEL_ID"], models.DefaultID)},
		Region: "us-east-1", AccountID: "111122223333", StackName: "agentid",
		Refs:  map[string]string{"WeatherApi": "abc123", "WeatherAuthorizer": "auth01", "WeatherIntegration": "int01"},
		Attrs: map[string]string{"AgentRuntime.AgentRuntimeArn": LocalRuntimeARN},
	}
}
