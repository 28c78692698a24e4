package awssts_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
)

// A role with a path is found by its ARN with the path, and only by it;
// its session's ARN has no path, and GetWebIdentityToken's sub is the
// role's ARN with it.
func TestRoleWithAPath(t *testing.T) {
	const pathed = "arn:aws:iam::111122223333:role/agents/eu/agentid-bedrock-invoke"
	f := newFixtureWith(t, func(o *cloudsim.Options) {
		o.Tenant.AWS.Roles[0].Path = "/agents/eu/"
		anyOutboundToken(o)
	})
	if f.env["AWS_ROLE_ARN"] != pathed {
		t.Fatalf("cloudsim.env's AWS_ROLE_ARN is %s, want %s", f.env["AWS_ROLE_ARN"], pathed)
	}
	out, err := f.assume(f.tokens.STSApp(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := *out.AssumedRoleUser.Arn; got != "arn:aws:sts::111122223333:assumed-role/agentid-bedrock-invoke/weather-agent" {
		t.Errorf("AssumedRoleUser.Arn = %s", got)
	}
	for _, arn := range []string{"arn:aws:iam::111122223333:role/agentid-bedrock-invoke", "arn:aws:iam::111122223333:role/agents/agentid-bedrock-invoke"} {
		_, err := f.assume(f.tokens.STSApp(t), func(in *sts.AssumeRoleWithWebIdentityInput) { in.RoleArn = aws.String(arn) })
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
			t.Errorf("%s: %v, want AccessDenied", arn, err)
		}
	}
	token, err := f.webIdentityToken(f.roleSession(t, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(*token.WebIdentityToken, ".")[1])
	var claims struct {
		Sub string `json:"sub"`
	}
	json.Unmarshal(payload, &claims)
	if claims.Sub != pathed {
		t.Errorf("sub %q, want %q", claims.Sub, pathed)
	}
}
