package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/secret"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// loopingModel calls the tool on every round, as a confused model might.
type loopingModel struct{ calls int }

func (m *loopingModel) Converse(context.Context, *bedrockruntime.ConverseInput, ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseOutput, error) {
	m.calls++
	return &bedrockruntime.ConverseOutput{StopReason: types.StopReasonToolUse, Output: &types.ConverseOutputMemberMessage{Value: types.Message{
		Role: types.ConversationRoleAssistant, Content: []types.ContentBlock{&types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
			ToolUseId: aws.String("t"), Name: aws.String("get_weather"), Input: document.NewLazyDocument(map[string]any{"city": "Oslo"})}}}}}}, nil
}

func (m *loopingModel) ConverseStream(context.Context, *bedrockruntime.ConverseStreamInput, ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseStreamOutput, error) {
	return nil, errors.New("not used")
}

// fixedIdentity hands out a fixed header.
type fixedIdentity struct{}

func (fixedIdentity) Name() string                { return "fixed" }
func (fixedIdentity) Check(context.Context) error { return nil }
func (fixedIdentity) AuthorizationHeader(_ context.Context, r identity.Request) (*identity.Result, error) {
	return &identity.Result{Header: secret.New("Bearer x.y.z"), Token: identity.DecodedToken{Name: r.Flow.TokenName()}, Facts: identity.Facts{Provider: "fixed", Flow: r.Flow}}, nil
}

func weatherStub(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"city":"Oslo","temperature":35,"condition":"Overcast","humidity":80,"wind_speed":5}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestToolRoundsAreBounded(t *testing.T) {
	model := &loopingModel{}
	a := New(Config{WeatherAPIURL: weatherStub(t), ModelID: "us.anthropic.claude-haiku-4-5-20251001-v1:0", MaxToolRounds: 3}, fixedIdentity{}, model, AWSInfo{}, http.DefaultClient, slog.New(slog.DiscardHandler))
	_, err := a.Run(t.Context(), Turn{Message: "weather in Oslo", Mode: Bedrock, Flow: identity.Autonomous}, trace.New(nil))
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || !strings.Contains(ae.Message, "MAX_TOOL_ROUNDS (3)") {
		t.Fatalf("err = %v", err)
	}
	if model.calls != 4 {
		t.Errorf("%d model calls for 3 tool rounds, want 4", model.calls)
	}
}

func TestDirectMode(t *testing.T) {
	a := New(Config{WeatherAPIURL: weatherStub(t)}, fixedIdentity{}, nil, AWSInfo{}, http.DefaultClient, slog.New(slog.DiscardHandler))
	rec := trace.New(nil)
	got, err := a.Run(t.Context(), Turn{Message: "weather in Oslo?", Mode: Direct, Flow: identity.Autonomous}, rec)
	if err != nil || got != "In Oslo it is 35°F and overcast, with humidity at 80% and wind at 5 mph." {
		t.Errorf("%q %v", got, err)
	}
	got, _ = a.Run(t.Context(), Turn{Message: "hello", Mode: Direct, Flow: identity.Autonomous}, rec)
	if !strings.Contains(got, "weather agent") {
		t.Errorf("a non-weather message: %q", got)
	}
	if _, err := a.Run(t.Context(), Turn{Message: " ", Mode: Direct}, rec); err == nil {
		t.Error("an empty message was answered")
	}
	if _, err := a.Run(t.Context(), Turn{Message: "weather in Oslo", Mode: Bedrock}, rec); err == nil || !strings.Contains(err.Error(), "Bedrock is not configured") {
		t.Errorf("Bedrock mode without Bedrock: %v", err)
	}
}

func TestBedrockErrors(t *testing.T) {
	cases := map[string]int{
		"ThrottlingException": 503, "ServiceUnavailableException": 503, "ValidationException": 502,
		"AccessDeniedException": 502, "ExpiredTokenException": 502, "ModelErrorException": 502,
	}
	for code, status := range cases {
		err := bedrockError(&smithy.GenericAPIError{Code: code, Message: "m"}, "model", "us-east-1")
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != status || !strings.Contains(ae.Message, code) {
			t.Errorf("%s: %v", code, err)
		}
	}
	eol := bedrockError(&smithy.GenericAPIError{Code: "ResourceNotFoundException",
		Message: "This model version has reached the end of its life. Please refer to the AWS documentation for more details."},
		"us.anthropic.claude-3-haiku-20240307-v1:0", "us-east-1")
	if want := "model us.anthropic.claude-3-haiku-20240307-v1:0 reached end of life on Bedrock on 2026-09-10 in us-east-1: set BEDROCK_MODEL_ID to an active model"; !strings.Contains(eol.Error(), want) {
		t.Errorf("end of life: %v, want it to say %q", eol, want)
	}
	legacy := bedrockError(&smithy.GenericAPIError{Code: "ResourceNotFoundException",
		Message: "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 30 days."},
		"us.anthropic.claude-opus-4-20250514-v1:0", "us-east-1")
	if !strings.Contains(legacy.Error(), "is Legacy and this account has not used it lately: set BEDROCK_MODEL_ID") {
		t.Errorf("legacy: %v", legacy)
	}
	if _, err := ParseMode("gpt"); err == nil {
		t.Error("ParseMode accepted gpt")
	}
}

// The turn's status comes from the error's type and cause, never its
// wording: rewording a message must not move a failure between the
// caller's 401 and upstream's 502.
func TestIdentityErrorStatus(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"no user token, any wording", &identity.Error{Message: "reworded: a user must be present", Err: identity.ErrNoUserToken}, http.StatusUnauthorized},
		{"no user token, wrapped", fmt.Errorf("turn: %w", &identity.Error{Message: "x", Err: identity.ErrNoUserToken}), http.StatusUnauthorized},
		{"Entra refused, with 'sign in' in the hint", &identity.Error{Message: "the user's token expired: sign in again", Code: 500133}, http.StatusBadGateway},
		{"the sidecar refused, with 'sign in' in the hint", &identity.Error{Message: "sign in again", Status: 401}, http.StatusBadGateway},
		{"an identity error with no cause, saying 'sign in'", &identity.Error{Message: "please sign in"}, http.StatusBadGateway},
		{"not an identity error", errors.New("sign in"), http.StatusBadGateway},
	} {
		var ae *Error
		if !errors.As(identityError(c.err), &ae) || ae.Status != c.want {
			t.Errorf("%s: %+v, want status %d", c.name, ae, c.want)
		}
	}
}

// A refused token request is drawn from whoever answered it, with its
// AADSTS code; one refused before it was sent (no user token) is no hop.
func TestRecordRefusal(t *testing.T) {
	for _, c := range []struct {
		name, provider string
		err            error
		want           *trace.Hop
	}{
		{"Entra to MSAL", "msal", &identity.Error{Message: "consent", Code: 65001, Status: 400},
			&trace.Hop{From: trace.Entra, To: trace.MSAL, Carries: "TU for the MCP server refused", Status: 400, Code: "AADSTS65001", Failed: true}},
		{"through the sidecar", "sidecar", &identity.Error{Message: "consent", Code: 65001, Status: 401},
			&trace.Hop{From: trace.Sidecar, To: trace.Agent, Carries: "TU for the MCP server refused", Status: 401, Code: "AADSTS65001", Failed: true}},
		{"no answer from the sidecar", "sidecar", &identity.Error{Message: "the sidecar did not answer"},
			&trace.Hop{From: trace.Agent, To: trace.Sidecar, Carries: "TU for the MCP server: no answer", Failed: true}},
		{"no answer from Entra", "msal", errors.New("connection refused"),
			&trace.Hop{From: trace.MSAL, To: trace.Entra, Carries: "TU for the MCP server: no answer", Failed: true}},
		{"no user token", "msal", &identity.Error{Message: "sign in first", Err: identity.ErrNoUserToken}, nil},
	} {
		rec := trace.New(nil)
		recordRefusal(rec, c.provider, "TU", "MCP server", c.err)
		events := rec.Events()
		switch {
		case c.want == nil && len(events) != 0:
			t.Errorf("%s: %d events, want none", c.name, len(events))
		case c.want != nil && (len(events) != 1 || events[0].Hop == nil || *events[0].Hop != *c.want):
			t.Errorf("%s: %+v, want one hop %+v", c.name, events, *c.want)
		}
	}
}
