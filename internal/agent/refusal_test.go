package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/mcptool"
	"github.com/crosscloud-agentid/agentid/internal/secret"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// chattyModel answers every turn with text, or with err.
type chattyModel struct{ err error }

func (m chattyModel) Converse(context.Context, *bedrockruntime.ConverseInput, ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseOutput, error) {
	if m.err != nil {
		return nil, m.err
	}
	return &bedrockruntime.ConverseOutput{StopReason: types.StopReasonEndTurn, Output: &types.ConverseOutputMemberMessage{Value: types.Message{
		Role: types.ConversationRoleAssistant, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Hello."}}}}}, nil
}

func (chattyModel) ConverseStream(context.Context, *bedrockruntime.ConverseStreamInput, ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseStreamOutput, error) {
	return nil, errors.New("not used")
}

// noConsent refuses every MCP token with AADSTS65001, counting requests.
type noConsent struct{ asked atomic.Int32 }

func (*noConsent) Name() string                { return "msal" }
func (*noConsent) Check(context.Context) error { return nil }
func (p *noConsent) AuthorizationHeader(_ context.Context, r identity.Request) (*identity.Result, error) {
	if r.Target != identity.MCPServer {
		return &identity.Result{Header: secret.New("Bearer x.y.z"), Facts: identity.Facts{Provider: "msal", Flow: r.Flow}}, nil
	}
	p.asked.Add(1)
	return nil, &identity.Error{Provider: "msal", Flow: r.Flow, Code: 65001, Status: 400, Message: "AADSTS65001: The user or administrator has not consented"}
}

// A refused MCP token is remembered per user: the tool list that every
// delegated Bedrock turn offers is not asked for again, while a turn that
// needs the directory (Direct mode's "who am I?") and one sent again after
// consent ask Entra; another user asks for their own.
func TestRefusedMCPTokenIsRemembered(t *testing.T) {
	ids := &noConsent{}
	a := New(Config{WeatherAPIURL: weatherStub(t), ModelID: "m", MCP: mcptool.New("http://127.0.0.1:1/mcp", nil),
		Consent: identity.ConsentRequest{AuthorityHost: "https://login.example", TenantID: "t", AgentID: "a", Scopes: []string{"x/MCP.User.Read.All"}}},
		ids, chattyModel{}, AWSInfo{}, http.DefaultClient, slog.New(slog.DiscardHandler))
	turn := func(user, message string, mode Mode, afterConsent bool) *trace.Recorder {
		t.Helper()
		rec := trace.New(nil)
		_, err := a.Run(t.Context(), Turn{Message: message, Mode: mode, Flow: identity.OnBehalfOf, UserToken: secret.New("tc-" + user), UserID: user, AfterConsent: afterConsent}, rec)
		var ce *ConsentError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("%s %q: %v", user, message, err)
		}
		return rec
	}
	steps := []struct {
		user, message string
		mode          Mode
		afterConsent  bool
		asked         int32
	}{
		{"alice", "hello", Bedrock, false, 1},
		{"alice", "hello again", Bedrock, false, 1},
		{"alice", "and again", Bedrock, false, 1},
		{"alice", "Who am I?", Direct, false, 2},
		{"alice", "hello", Bedrock, true, 3},
		{"alice", "hello", Bedrock, false, 3},
		{"bob", "hello", Bedrock, false, 4},
	}
	for i, st := range steps {
		rec := turn(st.user, st.message, st.mode, st.afterConsent)
		if n := ids.asked.Load(); n != st.asked {
			t.Fatalf("step %d (%s, %q, after consent %t): Entra asked %d times in all, want %d", i+1, st.user, st.message, st.afterConsent, n, st.asked)
		}
		if i == 1 {
			var said bool
			for _, e := range rec.Events() {
				said = said || (strings.Contains(e.Message, "not asked again") && e.Hop == nil)
			}
			if !said {
				t.Errorf("the trace does not say the refusal was remembered: %+v", rec.Events())
			}
		}
	}
}

// countingCreds hands out temporary credentials, a new key each time.
type countingCreds struct{ n atomic.Int32 }

func (c *countingCreds) Retrieve(context.Context) (aws.Credentials, error) {
	n := c.n.Add(1)
	return aws.Credentials{AccessKeyID: "ASIA" + strings.Repeat("X", int(n)), SecretAccessKey: "s", SessionToken: "t", Source: "WebIdentityCredentials",
		CanExpire: true, Expires: time.Now().Add(time.Hour)}, nil
}

// When Bedrock refuses the agent's STS credentials as expired or unknown,
// the agent drops its cached credentials: the next turn gets new ones
// instead of the cached ones until they near expiry. Other refusals keep
// them.
func TestRefusedAWSCredentialsAreDropped(t *testing.T) {
	for _, c := range []struct {
		code string
		drop bool
	}{{"ExpiredTokenException", true}, {"UnrecognizedClientException", true}, {"InvalidSignatureException", true}, {"ThrottlingException", false}, {"AccessDeniedException", false}} {
		provider := &countingCreds{}
		cache := aws.NewCredentialsCache(provider)
		a := New(Config{WeatherAPIURL: weatherStub(t), ModelID: "m"}, fixedIdentity{}, chattyModel{err: &smithy.GenericAPIError{Code: c.code, Message: "m"}},
			AWSInfo{Region: "us-east-1", Credentials: cache, RoleARN: "arn:aws:iam::1:role/r"}, http.DefaultClient, slog.New(slog.DiscardHandler))
		for range 2 {
			if _, err := a.Run(t.Context(), Turn{Message: "hello", Mode: Bedrock, Flow: identity.Autonomous}, trace.New(nil)); err == nil {
				t.Fatalf("%s: the turn succeeded", c.code)
			}
		}
		want := int32(1)
		if c.drop {
			want = 2
		}
		if n := provider.n.Load(); n != want {
			t.Errorf("%s: credentials retrieved %d times over two turns, want %d", c.code, n, want)
		}
	}
}
