package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/crosscloud-agentid/agentid/deploy/models"
	"github.com/crosscloud-agentid/agentid/internal/mcptool"
	"github.com/crosscloud-agentid/agentid/internal/trace"
	"github.com/crosscloud-agentid/agentid/internal/weather"
)

// SystemPrompt tells the model what it is and how to use the tool. It never
// contains a token.
const SystemPrompt = "You are a weather assistant. For any question about the weather, call the get_weather tool " +
	"with the city, then answer in one or two sentences from its result, giving temperatures in °F and wind in mph. " +
	"If the tool reports an error, say so plainly."

// directoryPrompt is added when the turn offers the MCP server's tools.
const directoryPrompt = " You can also read the organization's directory through the Microsoft MCP Server for Enterprise tools, " +
	"as the signed-in user: for questions about who the user is, call microsoft_graph_get with relativeUrl /me; " +
	"for other people, /users or /users/{userPrincipalName}. Answer only from the tools' results."

// AWSInfo says where the agent's AWS credentials come from, for the trace:
// never key material.
type AWSInfo struct {
	Region          string
	Credentials     aws.CredentialsProvider // nil with an API key
	APIKey          bool                    // AWS_BEARER_TOKEN_BEDROCK is set
	WebIdentityFile string                  // AWS_WEB_IDENTITY_TOKEN_FILE
	RoleARN         string
	SessionName     string
}

// weatherTool is get_weather's specification, built once: the SDK only
// reads it when it serializes a request.
var weatherTool types.Tool = &types.ToolMemberToolSpec{Value: types.ToolSpecification{
	Name:        aws.String("get_weather"),
	Description: aws.String("Current weather for a city: temperature (°F), condition, humidity (%) and wind (mph)."),
	InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string", "description": "City name, optionally with country"}},
		"required":   []string{"city"},
	})},
}}

func toolConfig(force bool, directory []types.Tool) *types.ToolConfiguration {
	tc := &types.ToolConfiguration{Tools: append([]types.Tool{weatherTool}, directory...)}
	if force {
		tc.ToolChoice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String("get_weather")}}
	}
	return tc
}

// bedrockTurn runs Converse with the tool until the model answers, at most
// MaxToolRounds tool rounds.
func (a *Agent) bedrockTurn(ctx context.Context, t Turn, rec *trace.Recorder) (string, error) {
	if a.bedrock == nil {
		return "", &Error{Status: http.StatusServiceUnavailable, Message: "Bedrock is not configured: set AWS_REGION and AWS credentials (see docs/llm-agent.md, AWS credentials)"}
	}
	a.traceAWS(ctx, rec)
	m := a.mcpTurn(t, rec)
	defer m.close()
	directory, mcpTools, unavailable := a.directoryTools(ctx, m, rec)
	system := SystemPrompt
	if len(directory) > 0 {
		system += directoryPrompt
	}
	messages := []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: t.Message}}}}
	_, isWeather := weather.Question(t.Message)
	force, toolCalled := false, false
	for round := 1; round <= a.cfg.MaxToolRounds+1; round++ {
		in := &bedrockruntime.ConverseInput{
			ModelId:         aws.String(a.cfg.ModelID),
			Messages:        messages,
			System:          []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: system}},
			ToolConfig:      toolConfig(force, directory),
			InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(512), Temperature: aws.Float32(0.2)},
		}
		rec.AddHop("bedrock", "llm-agent", fmt.Sprintf("Converse round %d: the conversation and the tools, signed for %s", round, a.signedWith()),
			trace.Hop{From: trace.Agent, To: trace.Bedrock, Carries: "Converse"}, map[string]any{"model": a.cfg.ModelID, "round": round})
		reply, err := a.converse(ctx, in, t.Stream)
		if err != nil {
			berr := bedrockError(err, a.cfg.ModelID, a.aws.Region)
			recordBedrockRefusal(rec, err, berr)
			a.dropRefusedCredentials(err, rec)
			if ctx.Err() == nil {
				a.lastBedrock.Store(&BedrockCall{At: time.Now(), Err: berr})
			}
			return "", berr
		}
		a.lastBedrock.Store(&BedrockCall{At: time.Now()})
		data := map[string]any{"model": a.cfg.ModelID, "stop_reason": reply.stop, "round": round, "streamed": t.Stream != nil}
		if reply.usage != nil {
			data["input_tokens"], data["output_tokens"] = aws.ToInt32(reply.usage.InputTokens), aws.ToInt32(reply.usage.OutputTokens)
		}
		rec.AddHop("bedrock", "bedrock", "Converse: stop reason "+string(reply.stop),
			trace.Hop{From: trace.Bedrock, To: trace.Agent, Carries: string(reply.stop), Status: http.StatusOK}, data)
		if reply.stop != types.StopReasonToolUse || len(reply.uses) == 0 {
			if isWeather && !toolCalled && !force {
				// Once: the model answered a weather question from its own
				// guess; ask again, naming the tool.
				rec.Add("bedrock", "llm-agent", "The model answered a weather question without calling get_weather; retrying once with toolChoice naming it", nil)
				force = true
				continue
			}
			return strings.TrimSpace(reply.text), nil
		}
		if round > a.cfg.MaxToolRounds {
			break
		}
		messages = append(messages, reply.message)
		var results []types.ContentBlock
		for _, use := range reply.uses {
			var result types.ContentBlock
			var toolErr error
			switch name := aws.ToString(use.Name); {
			case name == directoryPlaceholder && unavailable != nil:
				rec.Add("tool", "bedrock", "The model asked for the directory, which is not available: "+unavailable.Error(), nil)
				return "", unavailable
			case hasTool(mcpTools, name):
				result, toolErr = a.runMCPTool(ctx, m, use, rec)
			default:
				result, toolErr = a.runTool(ctx, t, use, rec)
			}
			if toolErr != nil {
				return "", toolErr
			}
			results = append(results, result)
			toolCalled = true
		}
		messages = append(messages, types.Message{Role: types.ConversationRoleUser, Content: results})
		force = false
	}
	return "", &Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("the model was still calling tools after MAX_TOOL_ROUNDS (%d) rounds", a.cfg.MaxToolRounds)}
}

// directoryTools are the MCP server's tools for this turn, as Bedrock
// tool specs. When they cannot be listed, the placeholder tool stands in,
// and unavailable is why: the turn ends with it only if the model needs
// the directory.
func (a *Agent) directoryTools(ctx context.Context, m *mcpTurn, rec *trace.Recorder) (specs []types.Tool, tools []*mcp.Tool, unavailable error) {
	if a.cfg.MCP == nil {
		return nil, nil, nil
	}
	if m == nil {
		rec.Add("mcp", "llm-agent", noMCPForAutonomous, nil)
		return nil, nil, nil
	}
	tools, err := m.tools(ctx, false)
	if err != nil {
		rec.Add("mcp", "llm-agent", "MCP tools could not be listed; offering a placeholder that says why if the model needs the directory: "+err.Error(), map[string]any{"status": http.StatusBadGateway})
		return []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
			Name: aws.String(directoryPlaceholder),
			Description: aws.String("The user's organization directory (who they are, their colleagues), read through the Microsoft MCP Server for Enterprise. " +
				"It is not available yet. Call it when the question needs the directory: the user is then told what to do."),
			InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{"type": "object", "properties": map[string]any{}})},
		}}}, nil, err
	}
	for _, tool := range tools {
		var schema map[string]any
		raw, _ := json.Marshal(tool.InputSchema)
		if json.Unmarshal(raw, &schema) != nil || schema == nil {
			schema = map[string]any{"type": "object"}
		}
		desc := tool.Description
		if desc == "" {
			desc = tool.Name
		}
		specs = append(specs, &types.ToolMemberToolSpec{Value: types.ToolSpecification{Name: aws.String(tool.Name), Description: aws.String(desc),
			InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(schema)}}})
	}
	return specs, tools, nil
}

// runMCPTool answers a toolUse for one of the MCP server's tools. The
// tool's own failure goes back to the model; a refused token or missing
// consent ends the turn.
func (a *Agent) runMCPTool(ctx context.Context, m *mcpTurn, use types.ToolUseBlock, rec *trace.Recorder) (types.ContentBlock, error) {
	var input map[string]any
	if use.Input != nil {
		_ = use.Input.UnmarshalSmithyDocument(&input)
	}
	name := aws.ToString(use.Name)
	rec.Add("tool", "bedrock", "The model called the MCP tool "+name, map[string]any{"tool": name, "arguments": input})
	res, err := m.call(ctx, name, input)
	if err != nil {
		return nil, err
	}
	block := types.ToolResultBlock{ToolUseId: use.ToolUseId, Status: types.ToolResultStatusSuccess}
	if res.IsError {
		block.Status = types.ToolResultStatusError
	}
	if res.StructuredContent != nil && !res.IsError {
		var doc any
		raw, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(raw, &doc)
		if obj, ok := doc.(map[string]any); ok {
			block.Content = []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberJson{Value: document.NewLazyDocument(obj)}}
		}
	}
	if block.Content == nil {
		block.Content = []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: mcptool.ResultText(res)}}
	}
	return &types.ContentBlockMemberToolResult{Value: block}, nil
}

// runTool answers one toolUse. Failures the model can explain (a refused
// city, an unknown tool) go back as an error result; a consent the user
// must give ends the turn, since the model cannot give it.
func (a *Agent) runTool(ctx context.Context, t Turn, use types.ToolUseBlock, rec *trace.Recorder) (types.ContentBlock, error) {
	errResult := func(msg string) types.ContentBlock {
		return &types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{ToolUseId: use.ToolUseId, Status: types.ToolResultStatusError,
			Content: []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: msg}}}}
	}
	// A map, not a struct: documents the SDK decoded and documents built
	// from a stream decode struct fields differently.
	var input map[string]any
	if use.Input != nil {
		_ = use.Input.UnmarshalSmithyDocument(&input)
	}
	city, _ := input["city"].(string)
	if aws.ToString(use.Name) != "get_weather" || strings.TrimSpace(city) == "" {
		rec.Add("tool", "llm-agent", "The model asked for an unknown tool or gave no city", map[string]any{"tool": aws.ToString(use.Name)})
		return errResult("get_weather needs a city"), nil
	}
	rec.Add("tool", "bedrock", "The model called get_weather for "+city, map[string]any{"city": city})
	result, err := a.callWeather(ctx, t, city, rec)
	var consent *ConsentError
	if errors.As(err, &consent) {
		return nil, err
	}
	if err != nil {
		return errResult("the weather service could not be called: " + err.Error()), nil
	}
	if _, failed := result["error"]; failed {
		return errResult(Describe(result)), nil
	}
	return &types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{ToolUseId: use.ToolUseId, Status: types.ToolResultStatusSuccess,
		Content: []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberJson{Value: document.NewLazyDocument(map[string]any(result))}}}}, nil
}

// traceAWS records where the Bedrock credentials come from: the web
// identity file's token card and the role, or the tier; never keys.
func (a *Agent) traceAWS(ctx context.Context, rec *trace.Recorder) {
	info := a.aws
	if info.APIKey {
		rec.Add("aws", "llm-agent", "Bedrock is called with a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK, tier B)", map[string]any{"region": info.Region})
		return
	}
	if info.Credentials == nil {
		return
	}
	creds, err := info.Credentials.Retrieve(ctx)
	if err != nil {
		rec.Add("aws", "llm-agent", "AWS credentials could not be resolved: "+err.Error(), nil)
		return
	}
	data := map[string]any{"region": info.Region, "source": creds.Source}
	if last := a.awsKeyID.Swap(&creds.AccessKeyID); creds.CanExpire && last != nil && *last == creds.AccessKeyID {
		data["expires"] = creds.Expires.UTC().Format(time.RFC3339)
		rec.Add("aws", "llm-agent", "The AWS SDK reuses the temporary credentials it got earlier, until they near expiry: no STS call this turn", data)
		return
	}
	if info.WebIdentityFile != "" && strings.Contains(creds.Source, "WebIdentity") {
		if raw, err := os.ReadFile(info.WebIdentityFile); err == nil {
			if card, err := a.awsCards.Decode("AWS", strings.TrimSpace(string(raw))); err == nil {
				rec.AddTokenHop("aws", "llm-agent", "AssumeRoleWithWebIdentity with the web identity file's token, the STS app's v1 token (written by token-refresher)",
					trace.CardOf("AWS", card, ""), trace.Hop{From: trace.Agent, To: trace.STS, Carries: "the web identity token"}, map[string]any{"file": info.WebIdentityFile})
			}
		}
		data["role_arn"], data["session_name"] = info.RoleARN, info.SessionName
		rec.AddHop("aws", "aws-sts", "AssumeRoleWithWebIdentity: temporary credentials for the role (tier C)",
			trace.Hop{From: trace.STS, To: trace.Agent, Carries: "temporary AWS credentials", Status: http.StatusOK}, data)
		return
	}
	rec.Add("aws", "llm-agent", "Bedrock is called with static AWS keys (tier A)", data)
}

// credentialRefusals are AWS's codes for credentials it does not honour:
// expired, unknown to it (STS no longer knows the session, or the keys
// were revoked), or signed with a secret it does not hold.
var credentialRefusals = []string{"ExpiredTokenException", "ExpiredToken", "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException"}

// dropRefusedCredentials invalidates the SDK's cached AWS credentials when
// AWS refused them as expired or unknown: the credentials cache would
// otherwise hand the same temporary credentials to every turn until they
// near their own expiry, and the agent would keep failing until it
// restarts. The next turn asks STS for new ones. Static keys (tier A)
// are read again, unchanged; a Bedrock API key has no cache.
func (a *Agent) dropRefusedCredentials(err error, rec *trace.Recorder) {
	var api smithy.APIError
	if !errors.As(err, &api) || !slices.Contains(credentialRefusals, api.ErrorCode()) {
		return
	}
	inv, ok := a.aws.Credentials.(interface{ Invalidate() })
	if !ok {
		return
	}
	inv.Invalidate()
	a.awsKeyID.Store(nil)
	a.log.Warn("AWS refused the agent's credentials; dropped them, the next turn gets new ones", "code", api.ErrorCode())
	rec.Add("aws", "llm-agent", "AWS refused the credentials ("+api.ErrorCode()+"): the agent dropped its cached AWS credentials, and the next turn gets new ones", map[string]any{"code": api.ErrorCode()})
}

// signedWith names the credential Bedrock requests carry.
func (a *Agent) signedWith() string {
	switch {
	case a.aws.APIKey:
		return "a Bedrock API key"
	case a.aws.RoleARN != "":
		return "the role's temporary credentials (SigV4)"
	}
	return "the agent's AWS credentials (SigV4)"
}

// recordBedrockRefusal draws Bedrock's refusal with its AWS error code.
func recordBedrockRefusal(rec *trace.Recorder, err, mapped error) {
	h := trace.Hop{From: trace.Bedrock, To: trace.Agent, Carries: "a refusal", Failed: true}
	var api smithy.APIError
	if errors.As(err, &api) {
		h.Code = api.ErrorCode()
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		h.Status = re.HTTPStatusCode()
	}
	rec.AddHop("bedrock", "bedrock", mapped.Error(), h, nil)
}

// BedrockCall is the outcome of the agent's last Bedrock call, which
// /api/status reports: a model past its end of life, credentials STS no
// longer honours or a missing permission all show there, not only in the
// turns that met them.
type BedrockCall struct {
	At  time.Time
	Err error // nil when Bedrock answered
}

// LastBedrockCall returns the last Bedrock call's outcome; false before
// the first.
func (a *Agent) LastBedrockCall() (BedrockCall, bool) {
	c := a.lastBedrock.Load()
	if c == nil {
		return BedrockCall{}, false
	}
	return *c, true
}

// EndOfLife is the line that says a model is past its end of life on
// Bedrock and what to do, with the date when deploy/models records it.
func EndOfLife(model, region string, st models.Status) string {
	when := ""
	if !st.EOL.IsZero() {
		when = " on " + st.EOL.Format(time.DateOnly)
	}
	return fmt.Sprintf("model %s reached end of life on Bedrock%s in %s: set BEDROCK_MODEL_ID to an active model, such as %s", model, when, region, models.DefaultID)
}

// bedrockError maps Bedrock's errors to the turn's status and a clear line.
func bedrockError(err error, model, region string) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return &Error{Status: http.StatusBadGateway, Message: "Bedrock did not answer: " + rootCause(err).Error(), Err: err}
	}
	code, msg := api.ErrorCode(), api.ErrorMessage()
	switch code {
	case "ThrottlingException", "ServiceUnavailableException", "ModelNotReadyException":
		return &Error{Status: http.StatusServiceUnavailable, Message: "Bedrock is throttling or unavailable after retries (" + code + "): try again shortly", Err: err}
	case "ResourceNotFoundException":
		// The model card's "This model version has reached the end of its
		// life.", or a Legacy model refused to an account that has not used
		// it lately ("Access denied. This Model is marked by provider as
		// Legacy…", as reported in gsd-build/gsd-2#5425).
		switch {
		case strings.Contains(msg, "end of its life"):
			return &Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("Bedrock refused the request (%s: %s): %s", code, msg,
				EndOfLife(model, region, models.Lifecycle(model, region, time.Now()))), Err: err}
		case strings.Contains(msg, "Legacy"):
			return &Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("Bedrock refused the request (%s: %s): model %s is Legacy and this account has not used it lately: set BEDROCK_MODEL_ID to an active model, such as %s", code, msg, model, models.DefaultID), Err: err}
		}
	case "ValidationException":
		return &Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("Bedrock refused the request (%s: %s); check BEDROCK_MODEL_ID %s, an inference profile such as us.… for this region", code, msg, model), Err: err}
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
		return &Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("Bedrock refused the agent's AWS credentials (%s: %s); check the credential tier and the role's bedrock:InvokeModel permission", code, msg), Err: err}
	}
	return &Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("Bedrock failed (%s: %s)", code, msg), Err: err}
}

// modelReply is one Converse or ConverseStream answer, assembled.
type modelReply struct {
	message types.Message
	text    string
	uses    []types.ToolUseBlock
	stop    types.StopReason
	usage   *types.TokenUsage
}

// converse calls Converse, or ConverseStream when the turn streams, and
// assembles the reply the same way for both.
func (a *Agent) converse(ctx context.Context, in *bedrockruntime.ConverseInput, streamTo func(string)) (modelReply, error) {
	var r modelReply
	if streamTo == nil {
		out, err := a.bedrock.Converse(ctx, in)
		if err != nil {
			return r, err
		}
		msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
		if !ok {
			return r, errors.New("the model answered without a message")
		}
		r.message, r.stop, r.usage = msg.Value, out.StopReason, out.Usage
		for _, b := range msg.Value.Content {
			switch c := b.(type) {
			case *types.ContentBlockMemberText:
				r.text += c.Value
			case *types.ContentBlockMemberToolUse:
				r.uses = append(r.uses, c.Value)
			}
		}
		return r, nil
	}
	out, err := a.bedrock.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: in.Messages,
		System: in.System, ToolConfig: in.ToolConfig, InferenceConfig: in.InferenceConfig})
	if err != nil {
		return r, err
	}
	events := out.GetStream()
	defer events.Close()
	type pending struct {
		id, name string
		input    strings.Builder
	}
	var tools []*pending
	var current *pending
	for ev := range events.Events() {
		switch e := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockStart:
			if start, ok := e.Value.Start.(*types.ContentBlockStartMemberToolUse); ok {
				current = &pending{id: aws.ToString(start.Value.ToolUseId), name: aws.ToString(start.Value.Name)}
				tools = append(tools, current)
			}
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			switch d := e.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				r.text += d.Value
				streamTo(d.Value)
			case *types.ContentBlockDeltaMemberToolUse:
				if current != nil {
					current.input.WriteString(aws.ToString(d.Value.Input))
				}
			}
		case *types.ConverseStreamOutputMemberContentBlockStop:
			current = nil
		case *types.ConverseStreamOutputMemberMessageStop:
			r.stop = e.Value.StopReason
		case *types.ConverseStreamOutputMemberMetadata:
			r.usage = e.Value.Usage
		}
	}
	if err := events.Err(); err != nil {
		return r, err
	}
	r.message = types.Message{Role: types.ConversationRoleAssistant}
	if r.text != "" {
		r.message.Content = append(r.message.Content, &types.ContentBlockMemberText{Value: r.text})
	}
	for _, p := range tools {
		var input map[string]any
		if err := json.Unmarshal([]byte(p.input.String()), &input); err != nil {
			input = map[string]any{}
		}
		use := types.ToolUseBlock{ToolUseId: aws.String(p.id), Name: aws.String(p.name), Input: document.NewLazyDocument(input)}
		r.uses = append(r.uses, use)
		r.message.Content = append(r.message.Content, &types.ContentBlockMemberToolUse{Value: use})
	}
	return r, nil
}
