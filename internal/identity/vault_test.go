package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"

	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// fakeJWT is an unsigned JWT with claims: the vault source decodes, never
// verifies (the Weather API does).
func fakeJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "RS256", "typ": "JWT", "kid": "k1"}) + "." + enc(claims) + ".c2lnbmF0dXJl"
}

// fakeVault is AgentCore Identity's data plane as far as the vault source
// uses it, over its REST-JSON wire protocol, answering from a table.
type fakeVault struct {
	mu       sync.Mutex
	requests []vaultCall
	// answer gives the status, error type and body for an operation.
	answer func(op string, body map[string]any) (int, string, any)
}

type vaultCall struct {
	Op   string
	Body map[string]any
	Auth string // the SigV4 Authorization header's first word
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := map[string]string{"/identities/oauth2/token": "GetResourceOauth2Token", "/identities/CompleteResourceTokenAuth": "CompleteResourceTokenAuth"}[r.URL.Path]
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	f.mu.Lock()
	f.requests = append(f.requests, vaultCall{Op: op, Body: body, Auth: strings.Fields(r.Header.Get("Authorization") + " ")[0]})
	f.mu.Unlock()
	status, errType, out := f.answer(op, body)
	w.Header().Set("Content-Type", "application/json")
	if errType != "" {
		w.Header().Set("X-Amzn-ErrorType", errType)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeVault) calls() []vaultCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]vaultCall(nil), f.requests...)
}

// newVault serves f and returns the vault source on the SDK's client.
func newVault(t *testing.T, f *fakeVault) *identity.Vault {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := bedrockagentcore.New(bedrockagentcore.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Source: "test"}, nil
		})),
		RetryMaxAttempts: 1})
	return identity.NewVault(client, "entra-weather-api", []string{"api://weather/Weather.Read"})
}

func TestVaultToken(t *testing.T) {
	const wat, returnURL, session = "opaque-workload-access-token-0123456789", "https://chat.example/consent.html", "urn:ietf:params:oauth:request_uri:YWJj"
	tv := fakeJWT(map[string]any{"aud": "api://weather", "azp": "vault-app", "oid": "alice", "scp": "Weather.Read", "exp": 4102444800})
	cases := []struct {
		name      string
		req       identity.VaultRequest
		status    int
		errType   string
		answer    any
		wantToken bool
		wantURL   string
		wantErr   []string // in the error's message, in order of appearance
		wantCode  string
		noRequest bool
	}{
		{name: "vaulted", req: identity.VaultRequest{WorkloadToken: secret.New(wat), ReturnURL: returnURL}, status: 200,
			answer: map[string]any{"accessToken": tv}, wantToken: true},
		{name: "vaulted after binding, with the session", req: identity.VaultRequest{WorkloadToken: secret.New(wat), ReturnURL: returnURL, SessionURI: session},
			status: 200, answer: map[string]any{"accessToken": tv}, wantToken: true},
		{name: "consent first", req: identity.VaultRequest{WorkloadToken: secret.New(wat), ReturnURL: returnURL}, status: 200,
			answer:  map[string]any{"authorizationUrl": "https://agentcore.example/identities/oauth2/authorize?request_uri=x", "sessionUri": session, "sessionStatus": "IN_PROGRESS"},
			wantURL: "https://agentcore.example/identities/oauth2/authorize?request_uri=x"},
		{name: "no workload access token", req: identity.VaultRequest{ReturnURL: returnURL}, noRequest: true,
			wantErr: []string{"workload access token", "WorkloadAccessToken"}},
		{name: "unknown provider", req: identity.VaultRequest{WorkloadToken: secret.New(wat), ReturnURL: returnURL}, status: 404, errType: "ResourceNotFoundException",
			answer: map[string]any{"message": "Credential provider not found"}, wantCode: "ResourceNotFoundException",
			wantErr: []string{"GetResourceOauth2Token", "ResourceNotFoundException", "Credential provider not found", "AGENTCORE_VAULT_PROVIDER"}},
		{name: "return URL not allowed", req: identity.VaultRequest{WorkloadToken: secret.New(wat), ReturnURL: returnURL}, status: 400, errType: "ValidationException",
			answer: map[string]any{"message": "ResourceOauth2ReturnUrl is not allowed for the workload identity"}, wantCode: "ValidationException",
			wantErr: []string{"ValidationException", "allowedResourceOauth2ReturnUrls"}},
		{name: "a message that echoes the token is scrubbed", req: identity.VaultRequest{WorkloadToken: secret.New(wat), ReturnURL: returnURL}, status: 403,
			errType: "AccessDeniedException", answer: map[string]any{"message": "denied for " + wat + " and " + tv}, wantCode: "AccessDeniedException",
			wantErr: []string{"AccessDeniedException", "[redacted]", "bedrock-agentcore:GetResourceOauth2Token"}},
		{name: "an expired workload access token", req: identity.VaultRequest{WorkloadToken: secret.New(wat), ReturnURL: returnURL}, status: 401,
			errType: "UnauthorizedException", answer: map[string]any{"message": "Token has expired"}, wantCode: "UnauthorizedException",
			wantErr: []string{"Token has expired", "sign in again"}},
		{name: "neither token nor URL", req: identity.VaultRequest{WorkloadToken: secret.New(wat), ReturnURL: returnURL}, status: 200,
			answer: map[string]any{}, wantErr: []string{"neither a token nor an authorization URL"}},
		{name: "failed session", req: identity.VaultRequest{WorkloadToken: secret.New(wat), ReturnURL: returnURL, SessionURI: session}, status: 200,
			answer: map[string]any{"sessionStatus": "FAILED"}, wantCode: "FAILED", wantErr: []string{"session failed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeVault{answer: func(string, map[string]any) (int, string, any) { return c.status, c.errType, c.answer }}
			v := newVault(t, f)
			res, auth, err := v.Token(t.Context(), c.req)
			calls := f.calls()
			if c.noRequest != (len(calls) == 0) {
				t.Fatalf("requests: %+v", calls)
			}
			if len(calls) == 1 {
				got := calls[0]
				want := map[string]any{"workloadIdentityToken": wat, "resourceCredentialProviderName": "entra-weather-api",
					"scopes": []any{"api://weather/Weather.Read"}, "oauth2Flow": "USER_FEDERATION", "resourceOauth2ReturnUrl": returnURL}
				if c.req.SessionURI != "" {
					want["sessionUri"] = c.req.SessionURI
				}
				if g, w := mustJSON(got.Body), mustJSON(want); got.Op != "GetResourceOauth2Token" || g != w || got.Auth != "AWS4-HMAC-SHA256" {
					t.Errorf("request %s %s (%s), want %s signed with SigV4", got.Op, g, got.Auth, w)
				}
			}
			switch {
			case c.wantToken:
				if err != nil || res == nil || res.Header.Reveal() != "Bearer "+tv || res.Token.Name != "TV" || res.Token.Client() != "vault-app" ||
					res.Facts.Provider != "agentcore-vault" || res.Facts.CredentialProvider != "entra-weather-api" {
					t.Fatalf("got %+v %v %v", res, auth, err)
				}
			case c.wantURL != "":
				if err != nil || res != nil || auth == nil || auth.URL != c.wantURL || auth.SessionURI != session {
					t.Fatalf("got %+v %+v %v", res, auth, err)
				}
			default:
				var ie *identity.Error
				if res != nil || auth != nil || !errors.As(err, &ie) {
					t.Fatalf("got %+v %+v %v", res, auth, err)
				}
				msg, rest := err.Error(), err.Error()
				for _, w := range c.wantErr {
					i := strings.Index(rest, w)
					if i < 0 {
						t.Fatalf("error %q lacks %q (in order)", msg, w)
					}
					rest = rest[i+len(w):]
				}
				if ie.AWSCode != c.wantCode || (c.status >= 400 && ie.Status != c.status) {
					t.Errorf("code %q status %d, want %q %d", ie.AWSCode, ie.Status, c.wantCode, c.status)
				}
				if strings.Contains(msg, wat) || strings.Contains(msg, tv) || (ie.Err != nil && strings.Contains(ie.Err.Error(), wat)) {
					t.Errorf("a token in the error: %q", msg)
				}
				if c.noRequest != errors.Is(err, identity.ErrNoWorkloadToken) {
					t.Errorf("ErrNoWorkloadToken: %v", err)
				}
			}
		})
	}
}

func TestVaultComplete(t *testing.T) {
	const session = "urn:ietf:params:oauth:request_uri:YWJj"
	alice := fakeJWT(map[string]any{"sub": "alice", "exp": 4102444800})
	cases := []struct {
		name        string
		token       string
		status      int
		errType     string
		wantRefused bool
		wantErr     string
	}{
		{name: "bound", token: alice, status: 200},
		{name: "another user's session, or another token", token: alice, status: 403, errType: "AccessDeniedException", wantRefused: true,
			wantErr: "AgentCore Identity refused CompleteResourceTokenAuth: AccessDeniedException: Invalid or expired session (a session is bound only by the user who started it, with exactly the token that started it)"},
		{name: "no user token", token: "", wantErr: "session binding needs the signed-in user's token"},
		{name: "throttled", token: alice, status: 429, errType: "ThrottlingException", wantErr: "send the message again in a moment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeVault{answer: func(string, map[string]any) (int, string, any) {
				if c.errType != "" {
					return c.status, c.errType, map[string]any{"message": "Invalid or expired session"}
				}
				return c.status, "", map[string]any{}
			}}
			err := newVault(t, f).Complete(t.Context(), session, secret.New(c.token))
			if identity.SessionRefused(err) != c.wantRefused {
				t.Errorf("SessionRefused(%v) = %v", err, !c.wantRefused)
			}
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), alice) {
				t.Errorf("the token in the error: %v", err)
			}
			calls := f.calls()
			if c.token == "" {
				if len(calls) != 0 {
					t.Errorf("asked AWS without a token: %+v", calls)
				}
				return
			}
			// Exactly the token, as userIdentifier.userToken (the SDK's
			// request snapshot), no retry of a refusal.
			want := mustJSON(map[string]any{"sessionUri": session, "userIdentifier": map[string]any{"userToken": alice}})
			if len(calls) < 1 || calls[0].Op != "CompleteResourceTokenAuth" || mustJSON(calls[0].Body) != want {
				t.Errorf("requests %+v, want %s", calls, want)
			}
		})
	}
}

func TestWorkloadToken(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"the newer header", map[string]string{"X-Amz-Bedrock-AgentCore-Identity-WAT": "new"}, "new"},
		{"the older header", map[string]string{"WorkloadAccessToken": "old"}, "old"},
		{"both: the newer wins", map[string]string{"X-Amz-Bedrock-AgentCore-Identity-WAT": "new", "WorkloadAccessToken": "old"}, "new"},
		{"neither", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.headers {
				h.Set(k, v)
			}
			if got := identity.WorkloadToken(h); got.Reveal() != c.want || got.String() != "[redacted]" {
				t.Errorf("got %q (%s), want %q", got.Reveal(), got, c.want)
			}
		})
	}
}

func TestLoadTokenSource(t *testing.T) {
	cases := []struct {
		name      string
		agentCore bool
		env       map[string]string
		problem   string // in the reader's error; empty: none
		check     func(identity.Settings) bool
	}{
		{name: "default: Entra's on-behalf-of", check: func(s identity.Settings) bool { return s.UserTokenSource == "entra-obo" }},
		{name: "the vault off AgentCore Runtime is refused", env: map[string]string{"USER_TOKEN_SOURCE": "agentcore-vault"},
			problem: "USER_TOKEN_SOURCE: agentcore-vault needs the workload access token AgentCore Runtime passes with each invocation: use it with AGENTCORE_RUNTIME=true"},
		{name: "an unknown source", env: map[string]string{"USER_TOKEN_SOURCE": "vault"}, problem: "USER_TOKEN_SOURCE"},
		{name: "the vault on AgentCore Runtime, with its defaults", agentCore: true, env: map[string]string{"USER_TOKEN_SOURCE": "agentcore-vault"},
			check: func(s identity.Settings) bool {
				return s.UserTokenSource == "agentcore-vault" && s.Vault.Provider == "entra-weather-api" &&
					strings.Join(s.Vault.Scopes, " ") == "api://weather/Weather.Read" && s.Vault.ReturnURL == ""
			}},
		{name: "the vault's settings", agentCore: true, env: map[string]string{"USER_TOKEN_SOURCE": "agentcore-vault", "AGENTCORE_VAULT_PROVIDER": "my-vault",
			"AGENTCORE_VAULT_SCOPES": "api://w/Weather.Read offline_access", "AGENTCORE_VAULT_RETURN_URL": "https://chat.example/consent.html"},
			check: func(s identity.Settings) bool {
				return s.Vault.Provider == "my-vault" && strings.Join(s.Vault.Scopes, "|") == "api://w/Weather.Read|offline_access" &&
					s.Vault.ReturnURL == "https://chat.example/consent.html"
			}},
		{name: "a provider name AWS refuses", agentCore: true, env: map[string]string{"USER_TOKEN_SOURCE": "agentcore-vault", "AGENTCORE_VAULT_PROVIDER": "my vault"},
			problem: "AGENTCORE_VAULT_PROVIDER"},
		{name: "a scope too long", agentCore: true, env: map[string]string{"USER_TOKEN_SOURCE": "agentcore-vault", "AGENTCORE_VAULT_SCOPES": strings.Repeat("s", 129)},
			problem: "128 characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := config.New(func(k string) string { return c.env[k] })
			s := identity.Settings{UserScopes: []string{"api://weather/Weather.Read"}}
			identity.LoadTokenSource(r, &s, c.agentCore)
			err := r.Err()
			switch {
			case c.problem == "" && err != nil:
				t.Fatalf("problem: %v", err)
			case c.problem != "" && (err == nil || !strings.Contains(err.Error(), c.problem)):
				t.Fatalf("error %v, want %q", err, c.problem)
			case c.check != nil && !c.check(s):
				t.Errorf("settings %+v", s)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
