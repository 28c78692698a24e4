package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
	"github.com/aws/smithy-go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/secret"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// vaultFake is AgentCore Identity's data plane as the SDK client sees it:
// a workload access token names a user (as the one minted from that
// user's token does); a session is bound only with exactly the user token
// whose workload access token started it.
type vaultFake struct {
	mu sync.Mutex
	// watOf is the workload access token each user token mints.
	watOf    map[string]string
	vaulted  map[string]bool   // by workload access token (the user)
	sessions map[string]string // session → the workload access token that started it
	calls    []string
}

func newVaultFake() *vaultFake {
	return &vaultFake{watOf: map[string]string{"tc-alice": "wat-alice", "tc-alice-renewed": "wat-alice", "tc-bob": "wat-bob"},
		vaulted: map[string]bool{}, sessions: map[string]string{}}
}

func (f *vaultFake) GetResourceOauth2Token(_ context.Context, in *bedrockagentcore.GetResourceOauth2TokenInput, _ ...func(*bedrockagentcore.Options)) (*bedrockagentcore.GetResourceOauth2TokenOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wat := aws.ToString(in.WorkloadIdentityToken)
	f.calls = append(f.calls, fmt.Sprintf("GetResourceOauth2Token %s session=%s return=%s", wat, aws.ToString(in.SessionUri), aws.ToString(in.ResourceOauth2ReturnUrl)))
	if in.Oauth2Flow != types.Oauth2FlowTypeUserFederation || aws.ToString(in.ResourceCredentialProviderName) != "entra-weather-api" {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "bad request"}
	}
	if f.vaulted[wat] {
		return &bedrockagentcore.GetResourceOauth2TokenOutput{AccessToken: aws.String(tvFor(wat))}, nil
	}
	s := fmt.Sprintf("urn:ietf:params:oauth:request_uri:s%d", len(f.sessions)+1)
	f.sessions[s] = wat
	return &bedrockagentcore.GetResourceOauth2TokenOutput{AuthorizationUrl: aws.String("https://agentcore.example/identities/oauth2/authorize?request_uri=" + s),
		SessionUri: aws.String(s), SessionStatus: types.SessionStatusInProgress}, nil
}

func (f *vaultFake) CompleteResourceTokenAuth(_ context.Context, in *bedrockagentcore.CompleteResourceTokenAuthInput, _ ...func(*bedrockagentcore.Options)) (*bedrockagentcore.CompleteResourceTokenAuthOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := in.UserIdentifier.(*types.UserIdentifierMemberUserToken).Value
	f.calls = append(f.calls, "CompleteResourceTokenAuth "+aws.ToString(in.SessionUri)+" "+tok)
	started, ok := f.sessions[aws.ToString(in.SessionUri)]
	// The exact token: a renewed one of the same user mints the same
	// user's workload access token but is refused.
	if !ok || f.watOf[tok] != started || tok != "tc-"+strings.TrimPrefix(started, "wat-") {
		return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "Invalid or expired session"}
	}
	f.vaulted[started] = true
	delete(f.sessions, aws.ToString(in.SessionUri))
	return &bedrockagentcore.CompleteResourceTokenAuthOutput{}, nil
}

func (f *vaultFake) took() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

// tvFor is the vault app's delegated token for the user of wat.
func tvFor(wat string) string {
	claims, _ := json.Marshal(map[string]any{"aud": "api://weather", "azp": "vault-app", "oid": strings.TrimPrefix(wat, "wat-"), "scp": "Weather.Read", "exp": 4102444800})
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(claims) + ".c2ln"
}

// countingIdentity is the Entra provider, counting what it is asked.
type countingIdentity struct{ asked atomic.Int32 }

func (*countingIdentity) Name() string                { return "msal" }
func (*countingIdentity) Check(context.Context) error { return nil }
func (p *countingIdentity) AuthorizationHeader(_ context.Context, r identity.Request) (*identity.Result, error) {
	p.asked.Add(1)
	return &identity.Result{Header: secret.New("Bearer entra.token.x"), Token: identity.DecodedToken{Name: r.Flow.TokenName()}, Facts: identity.Facts{Provider: "msal", Flow: r.Flow}}, nil
}

// A user's first on-behalf-of turn with the vault as the source ends with
// the vault's authorization URL; the turn sent back with the session binds
// it with exactly the turn's token, then calls the Weather API with TV;
// the next turn gets TV with one vault call. Another user's session, or a
// renewed token, is refused, and the turn starts a new consent and says
// so. Entra's provider is never asked for the Weather API's token.
func TestVaultTurns(t *testing.T) {
	fake := newVaultFake()
	ids := &countingIdentity{}
	var sent []string
	var mu sync.Mutex
	weather := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, `{"city":"Oslo","temperature":35,"condition":"Overcast","humidity":80,"wind_speed":5,"caller":{"app_id":"vault-app","flow":"delegated"}}`)
	}))
	t.Cleanup(weather.Close)
	a := New(Config{WeatherAPIURL: weather.URL, Vault: identity.NewVault(fake, "entra-weather-api", []string{"api://weather/Weather.Read"})},
		ids, &loopingModel{}, AWSInfo{}, http.DefaultClient, slog.New(slog.DiscardHandler))
	const page = "https://chat.example/consent.html"
	turn := func(user, tc, session string, flow identity.Flow, mode Mode) Turn {
		return Turn{Message: "weather in Oslo?", Mode: mode, Flow: flow, UserToken: secret.New(tc), UserID: user,
			WorkloadToken: secret.New(fake.watOf[tc]), VaultSession: session, ConsentRedirectURI: page}
	}
	type step struct {
		name    string
		turn    Turn
		consent string   // in the consent message; empty: answered
		calls   []string // the vault calls, in order
		hops    []string // the vault lane's arrows, in order
		weather string   // the Authorization the Weather API got ("": none)
	}
	steps := []step{
		{name: "alice's first turn: consent", turn: turn("alice", "tc-alice", "", identity.OnBehalfOf, Direct),
			consent: "grant it Weather.Read",
			calls:   []string{"GetResourceOauth2Token wat-alice session= return=" + page},
			hops:    []string{"llm-agent→agentcore-identity GetResourceOauth2Token (workload access token)", "agentcore-identity→llm-agent an authorization URL 200"}},
		{name: "bob's first turn: his own consent", turn: turn("bob", "tc-bob", "", identity.OnBehalfOf, Direct), consent: "grant it Weather.Read",
			calls: []string{"GetResourceOauth2Token wat-bob session= return=" + page}},
		{name: "alice cannot bind bob's session: a new consent for her", turn: turn("alice", "tc-alice", "urn:ietf:params:oauth:request_uri:s2", identity.OnBehalfOf, Direct),
			consent: "refused to bind the consent you came back with (AccessDeniedException)",
			calls: []string{"CompleteResourceTokenAuth urn:ietf:params:oauth:request_uri:s2 tc-alice",
				"GetResourceOauth2Token wat-alice session= return=" + page},
			hops: []string{"llm-agent→agentcore-identity CompleteResourceTokenAuth (session, Tc)", "agentcore-identity→llm-agent session binding refused 0 AccessDeniedException failed",
				"llm-agent→agentcore-identity GetResourceOauth2Token (workload access token)", "agentcore-identity→llm-agent an authorization URL 200"}},
		{name: "a renewed token cannot bind alice's session", turn: turn("alice", "tc-alice-renewed", "urn:ietf:params:oauth:request_uri:s1", identity.OnBehalfOf, Direct),
			consent: "AccessDeniedException",
			calls: []string{"CompleteResourceTokenAuth urn:ietf:params:oauth:request_uri:s1 tc-alice-renewed",
				"GetResourceOauth2Token wat-alice session= return=" + page}},
		{name: "alice binds her session with the token that started it, and the turn is answered",
			turn:  turn("alice", "tc-alice", "urn:ietf:params:oauth:request_uri:s1", identity.OnBehalfOf, Direct),
			calls: []string{"CompleteResourceTokenAuth urn:ietf:params:oauth:request_uri:s1 tc-alice", "GetResourceOauth2Token wat-alice session=urn:ietf:params:oauth:request_uri:s1 return=" + page},
			hops: []string{"llm-agent→agentcore-identity CompleteResourceTokenAuth (session, Tc)", "agentcore-identity→llm-agent session bound 200",
				"agentcore-identity→entra the code + the vault app's secret", "entra→agentcore-identity TV 200",
				"llm-agent→agentcore-identity GetResourceOauth2Token (workload access token)", "agentcore-identity→llm-agent TV 200"},
			weather: "Bearer " + tvFor("wat-alice")},
		{name: "alice's next turn: one vault call", turn: turn("alice", "tc-alice", "", identity.OnBehalfOf, Direct),
			calls:   []string{"GetResourceOauth2Token wat-alice session= return=" + page},
			hops:    []string{"llm-agent→agentcore-identity GetResourceOauth2Token (workload access token)", "agentcore-identity→llm-agent TV 200"},
			weather: "Bearer " + tvFor("wat-alice")},
		{name: "alice's renewed token: the vault still holds her token", turn: turn("alice", "tc-alice-renewed", "", identity.OnBehalfOf, Direct),
			calls:   []string{"GetResourceOauth2Token wat-alice session= return=" + page},
			weather: "Bearer " + tvFor("wat-alice")},
		{name: "bob still needs his own consent, in Bedrock mode too", turn: turn("bob", "tc-bob", "", identity.OnBehalfOf, Bedrock), consent: "grant it Weather.Read",
			calls: []string{"GetResourceOauth2Token wat-bob session= return=" + page}},
		{name: "an autonomous turn does not use the vault", turn: turn("alice", "tc-alice", "", identity.Autonomous, Direct), weather: "Bearer entra.token.x"},
	}
	for _, s := range steps {
		mu.Lock()
		sent = nil
		mu.Unlock()
		rec := trace.New(nil)
		answer, err := a.Run(t.Context(), s.turn, rec)
		var ce *ConsentError
		switch {
		case s.consent == "" && err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case s.consent != "" && !errors.As(err, &ce):
			t.Fatalf("%s: answer %q, error %v; want consent", s.name, answer, err)
		case s.consent != "":
			n := ce.Needed
			if n.Source != "agentcore-vault" || n.Reason != "consent_required" || !strings.HasPrefix(n.URL, "https://agentcore.example/identities/oauth2/authorize?request_uri=") ||
				!strings.HasSuffix(n.URL, n.SessionURI) || !strings.Contains(n.Message, s.consent) || n.AADSTS != 0 || !slices.Equal(n.Scopes, []string{"api://weather/Weather.Read"}) {
				t.Errorf("%s: consent %+v", s.name, n)
			}
		case !strings.Contains(answer, "In Oslo"):
			t.Errorf("%s: answer %q", s.name, answer)
		}
		if calls := fake.took(); s.calls != nil && !slices.Equal(calls, s.calls) {
			t.Errorf("%s: vault calls\n%s\nwant\n%s", s.name, strings.Join(calls, "\n"), strings.Join(s.calls, "\n"))
		}
		var hops []string
		for _, e := range rec.Events() {
			if h := e.Hop; h != nil && (h.From == trace.AgentCoreIdentity || h.To == trace.AgentCoreIdentity) {
				d := h.From + "→" + h.To + " " + h.Carries
				if h.Status != 0 || h.Code != "" {
					d += fmt.Sprintf(" %d", h.Status)
				}
				if h.Code != "" {
					d += " " + h.Code
				}
				if h.Failed {
					d += " failed"
				}
				hops = append(hops, d)
			}
			if e.Token != nil && e.Token.Kind == "TV" && (e.Token.Claims["azp"] != "vault-app" || e.Token.Claims["xms_act_fct"] != nil) {
				t.Errorf("%s: TV card %+v", s.name, e.Token)
			}
			raw, _ := json.Marshal(e)
			for _, secretText := range []string{"tc-alice", "tc-bob", "wat-alice", "wat-bob", tvFor("wat-alice")} {
				if strings.Contains(string(raw), secretText) {
					t.Errorf("%s: the trace holds %q: %s", s.name, secretText, raw)
				}
			}
		}
		if s.hops != nil && !slices.Equal(hops, s.hops) {
			t.Errorf("%s: the vault lane\n%s\nwant\n%s", s.name, strings.Join(hops, "\n"), strings.Join(s.hops, "\n"))
		}
		mu.Lock()
		got := strings.Join(sent, ",")
		mu.Unlock()
		if got != s.weather {
			t.Errorf("%s: the Weather API got %q, want %q", s.name, got, s.weather)
		}
	}
	if n := ids.asked.Load(); n != 1 {
		t.Errorf("Entra's provider was asked %d times, want once (the autonomous turn)", n)
	}
}

// Without the workload access token AgentCore Runtime passes, the vault is
// not asked, and the turn fails naming it.
func TestVaultNeedsWorkloadToken(t *testing.T) {
	fake := newVaultFake()
	a := New(Config{WeatherAPIURL: weatherStub(t), Vault: identity.NewVault(fake, "entra-weather-api", []string{"s"})},
		&countingIdentity{}, nil, AWSInfo{}, http.DefaultClient, slog.New(slog.DiscardHandler))
	_, err := a.Run(t.Context(), Turn{Message: "weather in Oslo?", Mode: Direct, Flow: identity.OnBehalfOf, UserToken: secret.New("tc-alice")}, trace.New(nil))
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || !strings.Contains(ae.Message, "workload access token") {
		t.Fatalf("err = %v", err)
	}
	if calls := fake.took(); len(calls) != 0 {
		t.Errorf("the vault was asked: %v", calls)
	}
}

func TestValidSessionURI(t *testing.T) {
	for s, want := range map[string]bool{
		"urn:ietf:params:oauth:request_uri:ZjQ0Y2I2ODQtNzc0YS00OGRi":     true,
		"urn:ietf:params:oauth:request_uri:":                             false,
		"urn:ietf:params:oauth:request_uri:a b":                          false,
		"https://evil.example/":                                          false,
		"urn:ietf:params:oauth:request_uri:" + strings.Repeat("a", 1000): false,
	} {
		if ValidSessionURI(s) != want {
			t.Errorf("ValidSessionURI(%.60q) = %v", s, !want)
		}
	}
}

// Vault acquisitions are counted beside the others: kind TV, provider
// agentcore-vault, and whether the vault answered with a token, an
// authorization URL or a refusal.
func TestVaultAcquisitionsCounted(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	counter, err := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("t").Int64Counter("agentid.token.acquisitions")
	if err != nil {
		t.Fatal(err)
	}
	fake := newVaultFake()
	fake.vaulted["wat-bob"] = true
	a := New(Config{WeatherAPIURL: weatherStub(t), Acquisitions: counter, Vault: identity.NewVault(fake, "entra-weather-api", []string{"s"})},
		&countingIdentity{}, nil, AWSInfo{}, http.DefaultClient, slog.New(slog.DiscardHandler))
	for _, who := range []string{"alice", "bob", "bob"} {
		_, _ = a.Run(t.Context(), Turn{Message: "weather in Oslo?", Mode: Direct, Flow: identity.OnBehalfOf, UserToken: secret.New("tc-" + who),
			WorkloadToken: secret.New("wat-" + who), ConsentRedirectURI: "https://chat.example/consent.html"}, trace.New(nil))
	}
	_, _ = a.Run(t.Context(), Turn{Message: "weather in Oslo?", Mode: Direct, Flow: identity.OnBehalfOf, UserToken: secret.New("tc-x")}, trace.New(nil))
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				kind, _ := p.Attributes.Value("kind")
				provider, _ := p.Attributes.Value("provider")
				result, _ := p.Attributes.Value("result")
				got[kind.AsString()+" "+provider.AsString()+" "+result.AsString()] += p.Value
			}
		}
	}
	want := map[string]int64{"TV agentcore-vault consent": 1, "TV agentcore-vault issued": 2, "TV agentcore-vault refused": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counted %v, want %v", got, want)
	}
}
