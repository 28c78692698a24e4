package bedrock_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/sdkbody"
)

const model = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

type fixture struct {
	sim *cloudsim.Sim
	env map[string]string
}

func newFixture(t *testing.T) *fixture {
	sim := cloudsimtest.Start(t, nil)
	return &fixture{sim: sim, env: sim.Env()}
}

// client is the real SDK client with static credentials, pointed at
// cloudsim the way AWS_ENDPOINT_URL_BEDROCK_RUNTIME does.
func (f *fixture) client(t *testing.T, creds aws.CredentialsProvider, attempts int) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region: f.env["AWS_REGION"], BaseEndpoint: aws.String(f.env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"]),
		HTTPClient: sdkbody.Buffered(cloudsimtest.Client(f.sim)), Credentials: creds, RetryMaxAttempts: attempts,
	})
}

// webIdentityCreds are tier C's: the STS app's v1 token exchanged at
// cloudsim STS.
func (f *fixture) webIdentityCreds(t *testing.T) aws.CredentialsProvider {
	tokens := cloudsimtest.NewTokens(f.sim)
	stsClient := sts.New(sts.Options{Region: f.env["AWS_REGION"], BaseEndpoint: aws.String(f.env["AWS_ENDPOINT_URL_STS"]), HTTPClient: tokens.HTTP})
	out, err := stsClient.AssumeRoleWithWebIdentity(t.Context(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(f.env["AWS_ROLE_ARN"]), RoleSessionName: aws.String("weather-agent"), WebIdentityToken: aws.String(tokens.STSApp(t))})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	return credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
}

func weatherTool() *types.ToolConfiguration {
	return &types.ToolConfiguration{Tools: []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
		Name: aws.String("get_weather"), Description: aws.String("Current weather for a city"),
		InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{
			"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}})},
	}}}}
}

func userText(s string) types.Message {
	return types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}}
}

func TestToolRoundTripWithWebIdentityCredentials(t *testing.T) {
	f := newFixture(t)
	c := f.client(t, f.webIdentityCreds(t), 1)
	ctx := t.Context()
	msgs := []types.Message{userText("What's the weather in Oslo?")}
	out, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: msgs, ToolConfig: weatherTool()})
	if err != nil {
		t.Fatal(err)
	}
	if out.StopReason != types.StopReasonToolUse {
		t.Fatalf("stop reason %s", out.StopReason)
	}
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	var use *types.ToolUseBlock
	for _, b := range msg.Content {
		if u, ok := b.(*types.ContentBlockMemberToolUse); ok {
			use = &u.Value
		}
	}
	var input map[string]string
	if use == nil || *use.Name != "get_weather" || use.Input.UnmarshalSmithyDocument(&input) != nil || input["city"] != "Oslo" {
		t.Fatalf("tool use: %+v %v", use, input)
	}
	msgs = append(msgs, msg, types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
		ToolUseId: use.ToolUseId, Status: types.ToolResultStatusSuccess,
		Content: []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberJson{Value: document.NewLazyDocument(map[string]any{
			"city": "Oslo", "temperature": 35.2, "condition": "Overcast", "humidity": 81, "wind_speed": 6.5})}},
	}}}})
	out, err = c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: msgs, ToolConfig: weatherTool()})
	if err != nil {
		t.Fatal(err)
	}
	answer := out.Output.(*types.ConverseOutputMemberMessage).Value.Content[0].(*types.ContentBlockMemberText).Value
	if out.StopReason != types.StopReasonEndTurn || !strings.Contains(answer, "35.2°F") || !strings.Contains(answer, "overcast") {
		t.Errorf("answer %q (%s)", answer, out.StopReason)
	}
	got := f.sim.Bedrock.Received()
	if len(got) != 2 || got[0].Caller.Auth != "sigv4" || !strings.HasPrefix(got[0].Caller.AccessKeyID, "ASIA") || got[0].ModelID != model {
		t.Errorf("received: %+v", got)
	}
}

func TestConverseStream(t *testing.T) {
	f := newFixture(t)
	c := f.client(t, f.webIdentityCreds(t), 1)
	out, err := c.ConverseStream(t.Context(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String(model),
		Messages: []types.Message{userText("Weather in São Paulo please")}, ToolConfig: weatherTool()})
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var text, toolInput, stop string
	var events []string
	for ev := range stream.Events() {
		switch e := ev.(type) {
		case *types.ConverseStreamOutputMemberMessageStart:
			events = append(events, "start")
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			switch d := e.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				text += d.Value
			case *types.ContentBlockDeltaMemberToolUse:
				toolInput += *d.Value.Input
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			stop = string(e.Value.StopReason)
		case *types.ConverseStreamOutputMemberMetadata:
			events = append(events, "metadata")
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if stop != "tool_use" || toolInput != `{"city":"São Paulo"}` || !strings.Contains(text, "São Paulo") || strings.Join(events, ",") != "start,metadata" {
		t.Errorf("stream: text %q, tool input %q, stop %q, events %v", text, toolInput, stop, events)
	}
}

func TestCredentialTiersAndRefusals(t *testing.T) {
	f := newFixture(t)
	dev := f.sim.Tenant.AWS.DevCredentials[0]
	ask := func(c *bedrockruntime.Client, modelID string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(modelID), Messages: []types.Message{userText("hello")}})
		return err
	}
	// Tier A: static keys.
	if err := ask(f.client(t, credentials.NewStaticCredentialsProvider(dev.AccessKeyID, dev.SecretAccessKey, ""), 1), model); err != nil {
		t.Errorf("tier A (env keys): %v", err)
	}
	// Tier B: a Bedrock API key, read by the SDK from AWS_BEARER_TOKEN_BEDROCK.
	for key, want := range map[string]string{f.sim.Tenant.AWS.BedrockAPIKeys[0]: "", "not-a-key-cloudsim-knows-at-all": "AccessDeniedException"} {
		t.Run("tier B "+want, func(t *testing.T) { // the environment is restored after each
			t.Setenv("AWS_BEARER_TOKEN_BEDROCK", key)
			t.Setenv("AWS_CA_BUNDLE", f.env["AWS_CA_BUNDLE"])
			cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion(f.env["AWS_REGION"]), config.WithBaseEndpoint(f.env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"]),
				config.WithRetryMaxAttempts(1), config.WithCredentialsProvider(aws.AnonymousCredentials{}))
			if err != nil {
				t.Fatal(err)
			}
			err = ask(bedrockruntime.NewFromConfig(cfg), model)
			if got := code(err); got != want {
				t.Errorf("tier B with key %q: %v, want %q", key, err, want)
			}
			if rec := f.sim.Bedrock.Received(); rec[len(rec)-1].Caller.Auth != "api-key" && want == "" {
				t.Errorf("the SDK did not send the API key: %+v", rec[len(rec)-1].Caller)
			}
		})
	}
	cases := []struct {
		name  string
		creds aws.CredentialsProvider
		model string
		code  string
		msg   string
	}{
		{"wrong secret", credentials.NewStaticCredentialsProvider(dev.AccessKeyID, "not-the-secret-not-the-secret", ""), model, "InvalidSignatureException", "does not match"},
		{"unknown key", credentials.NewStaticCredentialsProvider("AKIAUNKNOWNUNKNOWN01", dev.SecretAccessKey, ""), model, "UnrecognizedClientException", "invalid"},
		{"session token not issued", credentials.NewStaticCredentialsProvider(dev.AccessKeyID, dev.SecretAccessKey, "forged-session"), model, "UnrecognizedClientException", "invalid"},
		{"a bare model ID", credentials.NewStaticCredentialsProvider(dev.AccessKeyID, dev.SecretAccessKey, ""), "anthropic.claude-haiku-4-5-20251001-v1:0", "ValidationException", "inference profile"},
		{"an EU profile in us-east-1", credentials.NewStaticCredentialsProvider(dev.AccessKeyID, dev.SecretAccessKey, ""), "eu.anthropic.claude-haiku-4-5-20251001-v1:0", "ValidationException", "invalid"},
	}
	for _, c := range cases {
		err := ask(f.client(t, c.creds, 1), c.model)
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != c.code || !strings.Contains(api.ErrorMessage(), c.msg) {
			t.Errorf("%s: %v, want %s %q", c.name, err, c.code, c.msg)
		}
	}
}

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestFaultsAndToolChoice(t *testing.T) {
	f := newFixture(t)
	dev := f.sim.Tenant.AWS.DevCredentials[0]
	creds := credentials.NewStaticCredentialsProvider(dev.AccessKeyID, dev.SecretAccessKey, "")
	retrying := f.client(t, creds, 3)
	ask := func(c *bedrockruntime.Client, choice types.ToolChoice) (*bedrockruntime.ConverseOutput, error) {
		tools := weatherTool()
		tools.ToolChoice = choice
		return c.Converse(t.Context(), &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: []types.Message{userText("Is it raining in Lima?")}, ToolConfig: tools})
	}
	f.sim.Bedrock.Throttle(1)
	if _, err := ask(retrying, nil); err != nil {
		t.Errorf("one throttle with retries: %v", err)
	}
	f.sim.Bedrock.Throttle(5)
	if _, err := ask(retrying, nil); code(err) != "ThrottlingException" {
		t.Errorf("persistent throttling: %v", err)
	}
	f.sim.Bedrock.Throttle(0)
	f.sim.Bedrock.Fail(1)
	if _, err := ask(f.client(t, creds, 1), nil); code(err) != "InternalServerException" {
		t.Errorf("a 500 without retries: %v", err)
	}
	f.sim.Bedrock.SkipToolOnAuto(true)
	out, err := ask(retrying, nil)
	if err != nil || out.StopReason != types.StopReasonEndTurn {
		t.Errorf("auto with the skip switch: %v %v", err, out)
	}
	out, err = ask(retrying, &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String("get_weather")}})
	if err != nil || out.StopReason != types.StopReasonToolUse {
		t.Errorf("toolChoice naming the tool: %v %v", err, out)
	}
}

// A role whose policy lacks bedrock:InvokeModel gets AWS's AccessDenied.
func TestRolePolicy(t *testing.T) {
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		o.Tenant.AWS.Roles[0].Policies["bedrock-invoke"] = json.RawMessage(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
			"Action": "bedrock:InvokeModelWithResponseStream", "Resource": "*"}]}`)
	})
	f := &fixture{sim: sim, env: sim.Env()}
	c := f.client(t, f.webIdentityCreds(t), 1)
	_, err := c.Converse(t.Context(), &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: []types.Message{userText("hello")}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" || !strings.Contains(api.ErrorMessage(), "is not authorized to perform: bedrock:InvokeModel") ||
		!strings.Contains(api.ErrorMessage(), "assumed-role/agentid-bedrock-invoke/weather-agent") {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.ConverseStream(t.Context(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String(model), Messages: []types.Message{userText("hello")}}); err != nil {
		t.Errorf("the allowed action: %v", err)
	}
}

// A wrong endpoint path gets an error the SDK can read, not a
// deserialization failure.
func TestUnknownPathIsAnAWSError(t *testing.T) {
	f := newFixture(t)
	c := bedrockruntime.New(bedrockruntime.Options{
		Region: f.env["AWS_REGION"], BaseEndpoint: aws.String(f.env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] + "/nowhere"),
		HTTPClient: sdkbody.Buffered(cloudsimtest.Client(f.sim)), Credentials: f.webIdentityCreds(t), RetryMaxAttempts: 1,
	})
	_, err := c.Converse(t.Context(), &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: []types.Message{userText("hello")}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" || !strings.Contains(api.ErrorMessage(), "/nowhere/model/") {
		t.Fatalf("got %v", err)
	}
}
