package awssts_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// signedClient is the real STS client signing with creds.
func (f *fixture) signedClient(creds aws.CredentialsProvider) *sts.Client {
	return sts.New(sts.Options{
		Region: f.env["AWS_REGION"], BaseEndpoint: aws.String(f.env["AWS_ENDPOINT_URL_STS"]),
		HTTPClient: f.tokens.HTTP, RetryMaxAttempts: 1, Credentials: creds,
	})
}

// roleSession is the agent role's session, as chain B gets it.
func (f *fixture) roleSession(t *testing.T, seconds int32) aws.CredentialsProvider {
	out, err := f.assume(f.tokens.STSApp(t), func(in *sts.AssumeRoleWithWebIdentityInput) {
		if seconds > 0 {
			in.DurationSeconds = aws.Int32(seconds)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	return credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
}

func (f *fixture) webIdentityToken(creds aws.CredentialsProvider, edit func(*sts.GetWebIdentityTokenInput)) (*sts.GetWebIdentityTokenOutput, error) {
	in := &sts.GetWebIdentityTokenInput{Audience: []string{tenant.TokenExchangeURI}, SigningAlgorithm: aws.String("RS256")}
	if edit != nil {
		edit(in)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.signedClient(creds).GetWebIdentityToken(ctx, in)
}

// A role session gets a token about its role from the account's issuer,
// which go-oidc verifies through the issuer's published keys.
func TestGetWebIdentityToken(t *testing.T) {
	f := newFixture(t)
	out, err := f.webIdentityToken(f.roleSession(t, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	issuer := f.sim.Tenant.AWS.OutboundIssuer
	ctx := oidc.ClientContext(t.Context(), f.tokens.HTTP)

	resp, err := f.tokens.HTTP.Get(f.sim.URL + "/aws-outbound/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	json.NewDecoder(resp.Body).Decode(&discovery)
	resp.Body.Close()
	if discovery.Issuer != issuer {
		t.Fatalf("discovery issuer %q, want %q", discovery.Issuer, issuer)
	}
	verifier := oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(ctx, discovery.JWKSURI), &oidc.Config{ClientID: tenant.TokenExchangeURI})
	tok, err := verifier.Verify(ctx, *out.WebIdentityToken)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.env["AWS_ROLE_ARN"]; tok.Subject != want {
		t.Errorf("sub %q, want the role's ARN %q", tok.Subject, want)
	}
	if d := tok.Expiry.Sub(tok.IssuedAt); d != 5*time.Minute || !out.Expiration.Equal(tok.Expiry) {
		t.Errorf("lifetime %s (want the default 5m), Expiration %s vs exp %s", d, out.Expiration, tok.Expiry)
	}
	if leaks := leakcheck.Find(f.logs.String(), *out.WebIdentityToken); len(leaks) > 0 {
		t.Errorf("STS logged the token it issued: %v", leaks)
	}
	// Entra's keys must not verify it: the account issuer signs with its own.
	if _, err := f.sim.Keys.Verify(*out.WebIdentityToken); err == nil {
		t.Error("the outbound token verifies with Entra's keys")
	}
}

// anyOutboundToken lets the role ask for any audience and duration, so the
// checks STS makes after the role's policy can be reached.
func anyOutboundToken(o *cloudsim.Options) {
	o.Tenant.AWS.Roles[0].Policies["prove-the-blueprint"] = json.RawMessage(`{"Version": "2012-10-17",
		"Statement": [{"Effect": "Allow", "Action": "sts:GetWebIdentityToken", "Resource": "*"}]}`)
}

func TestGetWebIdentityTokenRefusals(t *testing.T) {
	f := newFixtureWith(t, anyOutboundToken)
	session := f.roleSession(t, 900)
	dev := f.sim.Tenant.AWS.DevCredentials[0]
	cases := []struct {
		name      string
		creds     aws.CredentialsProvider
		edit      func(*sts.GetWebIdentityTokenInput)
		code, msg string
	}{
		{"unsigned", aws.AnonymousCredentials{}, nil, "MissingAuthenticationToken", "missing Authentication Token"},
		{"a key STS never issued", credentials.NewStaticCredentialsProvider("ASIAUNKNOWN0000000000", "secret", "token"), nil, "InvalidClientTokenId", "security token included in the request is invalid"},
		{"the wrong secret", credentials.NewStaticCredentialsProvider(dev.AccessKeyID, "not-the-secret-at-all-000", ""), nil, "SignatureDoesNotMatch", "does not match"},
		{"a dev key pair, not a role", credentials.NewStaticCredentialsProvider(dev.AccessKeyID, dev.SecretAccessKey, ""), nil, "AccessDenied", "role sessions only"},
		{"eleven audiences", session, func(in *sts.GetWebIdentityTokenInput) {
			in.Audience = strings.Split("a b c d e f g h i j k", " ")
		}, "ValidationError", "less than or equal to 10"},
		{"too short", session, func(in *sts.GetWebIdentityTokenInput) { in.DurationSeconds = aws.Int32(30) }, "ValidationError", "between 60 and 3600"},
		{"past the session's end", session, func(in *sts.GetWebIdentityTokenInput) { in.DurationSeconds = aws.Int32(3600) }, "SessionDurationEscalationException", "beyond its original expiration"},
		{"an unknown algorithm", session, func(in *sts.GetWebIdentityTokenInput) { in.SigningAlgorithm = aws.String("HS256") }, "ValidationError", "[RS256, ES384]"},
		{"ES384", session, func(in *sts.GetWebIdentityTokenInput) { in.SigningAlgorithm = aws.String("ES384") }, "ValidationError", "RS256 only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.webIdentityToken(c.creds, c.edit)
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != c.code || !strings.Contains(api.ErrorMessage(), c.msg) {
				t.Fatalf("got %v, want %s containing %q", err, c.code, c.msg)
			}
		})
	}
}

// What the account and role must have: outbound federation enabled, and
// the action in the role's permissions.
func TestGetWebIdentityTokenNeedsTheAccountAndRole(t *testing.T) {
	for _, c := range []struct {
		name      string
		edit      func(*tenant.AWSAccount)
		code, msg string
	}{
		{"federation not enabled", func(a *tenant.AWSAccount) { a.OutboundIssuer = "" }, "OutboundWebIdentityFederationDisabledException", "not enabled"},
		{"the role lacks the action", func(a *tenant.AWSAccount) { delete(a.Roles[0].Policies, "prove-the-blueprint") }, "AccessDenied", "not authorized to perform: sts:GetWebIdentityToken"},
		{"an explicit deny", func(a *tenant.AWSAccount) {
			a.Roles[0].Policies["deny"] = json.RawMessage(`{"Statement": {"Effect": "Deny", "Action": "sts:*", "Resource": "*"}}`)
		}, "AccessDenied", "not authorized to perform: sts:GetWebIdentityToken"},
		// The role's policy allows api://AzureADTokenExchange for up to 300 s.
		{"an audience outside sts:IdentityTokenAudience", nil, "AccessDenied", "not authorized to perform: sts:GetWebIdentityToken"},
		{"a second audience outside it (ForAllValues)", nil, "AccessDenied", "not authorized to perform: sts:GetWebIdentityToken"},
		{"longer than sts:DurationSeconds allows", nil, "AccessDenied", "not authorized to perform: sts:GetWebIdentityToken"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixtureWith(t, func(o *cloudsim.Options) {
				if c.edit != nil {
					c.edit(o.Tenant.AWS)
				}
			})
			_, err := f.webIdentityToken(f.roleSession(t, 0), func(in *sts.GetWebIdentityTokenInput) {
				switch c.name {
				case "an audience outside sts:IdentityTokenAudience":
					in.Audience = []string{"https://example.test"}
				case "a second audience outside it (ForAllValues)":
					in.Audience = []string{tenant.TokenExchangeURI, "https://example.test"}
				case "longer than sts:DurationSeconds allows":
					in.DurationSeconds = aws.Int32(301)
				}
			})
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != c.code || !strings.Contains(api.ErrorMessage(), c.msg) {
				t.Fatalf("got %v, want %s containing %q", err, c.code, c.msg)
			}
		})
	}
}

// Entra trusts the token as the blueprint's client assertion through the
// federated credential for the role, and only that.
func TestEntraTrustsTheOutboundToken(t *testing.T) {
	f := newFixtureWith(t, anyOutboundToken)
	session := f.roleSession(t, 0)
	token := func(aud string) string {
		out, err := f.webIdentityToken(session, func(in *sts.GetWebIdentityTokenInput) { in.Audience = []string{aud} })
		if err != nil {
			t.Fatal(err)
		}
		return *out.WebIdentityToken
	}
	t1 := func(assertion string) (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {f.env["BLUEPRINT_APP_ID"]},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
			"scope": {tenant.TokenExchangeURI + "/.default"}, "fmi_path": {f.env["AGENT_CLIENT_ID"]}}
		resp, err := f.tokens.HTTP.PostForm(f.sim.URL+"/"+f.env["TENANT_ID"]+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if status, body := t1(token(tenant.TokenExchangeURI)); status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("T1 with the role's token: %d %v", status, body)
	}
	if n := f.sim.Entra.Stats().Get("entra.client_auth.external_issuer." + f.sim.Tenant.AWS.OutboundIssuer); n != 1 {
		t.Errorf("external issuer counted %d times", n)
	}

	foreign, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	forged, _ := signing.SignWith(foreign, "forged", map[string]any{"iss": f.sim.Tenant.AWS.OutboundIssuer, "sub": f.env["AWS_ROLE_ARN"],
		"aud": tenant.TokenExchangeURI, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}, false)
	for _, c := range []struct{ name, assertion, code string }{
		{"another audience", token("api://someone-else"), "AADSTS700212"},
		{"forged with another key", forged, "AADSTS700027"},
	} {
		status, body := t1(c.assertion)
		if status != http.StatusUnauthorized && status != http.StatusBadRequest || !strings.HasPrefix(body["error_description"].(string), c.code) {
			t.Errorf("%s: %d %v", c.name, status, body["error_description"])
		}
	}
}

func newFixtureWith(t *testing.T, edit func(*cloudsim.Options)) *fixture {
	sim := cloudsimtest.Start(t, edit)
	tokens := cloudsimtest.NewTokens(sim)
	client := sts.New(sts.Options{Region: tokens.Env["AWS_REGION"], BaseEndpoint: aws.String(tokens.Env["AWS_ENDPOINT_URL_STS"]),
		HTTPClient: tokens.HTTP, RetryMaxAttempts: 1})
	return &fixture{sim: sim, tokens: tokens, env: tokens.Env, client: client}
}
