package awssts_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/entra"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

type fixture struct {
	sim    *cloudsim.Sim
	tokens *cloudsimtest.Tokens
	env    map[string]string
	client *sts.Client
	logs   *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	logs := &bytes.Buffer{}
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	f := fixtureFor(sim)
	f.logs = logs
	return f
}

func fixtureFor(sim *cloudsim.Sim) *fixture {
	tokens := cloudsimtest.NewTokens(sim)
	env := tokens.Env
	// The real SDK client, pointed at cloudsim the way AWS_ENDPOINT_URL_STS
	// does, with no retries so a refusal is seen once.
	client := sts.New(sts.Options{
		Region:           env["AWS_REGION"],
		BaseEndpoint:     aws.String(env["AWS_ENDPOINT_URL_STS"]),
		HTTPClient:       tokens.HTTP,
		RetryMaxAttempts: 1,
	})
	return &fixture{sim: sim, tokens: tokens, env: env, client: client, logs: &bytes.Buffer{}}
}

func (f *fixture) assume(token string, edit func(*sts.AssumeRoleWithWebIdentityInput)) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(f.env["AWS_ROLE_ARN"]), RoleSessionName: aws.String("weather-agent"), WebIdentityToken: aws.String(token),
	}
	if edit != nil {
		edit(in)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.client.AssumeRoleWithWebIdentity(ctx, in)
}

func TestAssumeRoleWithTheSTSAppToken(t *testing.T) {
	f := newFixture(t)
	token := f.tokens.STSApp(t)
	out, err := f.assume(token, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || *c.SecretAccessKey == "" || *c.SessionToken == "" || time.Until(*c.Expiration) < 50*time.Minute {
		t.Errorf("credentials: %+v", c)
	}
	if want := "arn:aws:sts::111122223333:assumed-role/agentid-bedrock-invoke/weather-agent"; *out.AssumedRoleUser.Arn != want {
		t.Errorf("assumed role ARN %s, want %s", *out.AssumedRoleUser.Arn, want)
	}
	if !strings.HasPrefix(*out.AssumedRoleUser.AssumedRoleId, "AROA") || !strings.HasSuffix(*out.AssumedRoleUser.AssumedRoleId, ":weather-agent") {
		t.Errorf("assumed role ID %s", *out.AssumedRoleUser.AssumedRoleId)
	}
	// Provider is the OIDC provider's ARN, as in real answers; no session
	// policy was passed, so there is no PackedPolicySize.
	wantProvider := "arn:aws:iam::111122223333:oidc-provider/sts.windows.net/" + f.env["TENANT_ID"] + "/"
	//lint:ignore SA1019 deprecated in the SDK's model, but the element STS sends when a session policy is passed
	if *out.Audience != f.env["STS_APP_URI"] || *out.Provider != wantProvider || *out.SubjectFromWebIdentityToken == "" || out.PackedPolicySize != nil {
		t.Errorf("audience %s, provider %s, subject %s", *out.Audience, *out.Provider, *out.SubjectFromWebIdentityToken)
	}
	got, ok := f.sim.STS.Lookup(*c.AccessKeyId)
	if !ok || got.SecretAccessKey != *c.SecretAccessKey || got.AssumedRoleARN != *out.AssumedRoleUser.Arn {
		t.Errorf("the issued credential is not remembered: %+v", got)
	}
	if leaks := leakcheck.Find(f.logs.String(), token, *c.SecretAccessKey, *c.SessionToken); len(leaks) > 0 {
		t.Errorf("cloudsim's log holds a secret: %v", leaks)
	}
}

func TestAssumeRoleRefusals(t *testing.T) {
	f := newFixture(t)
	tid := f.env["TENANT_ID"]
	v1 := f.tokens.STSApp(t)
	claims := jwtauthtest.Claims(t, v1)
	sign := func(changes map[string]any) string {
		tok, err := f.sim.Keys.Sign(jwtauthtest.Edit(claims, changes), true)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	foreign, _ := rsa.GenerateKey(rand.Reader, 2048)
	unpublished, _ := signing.SignWith(foreign, "cloudsim-never-published", claims, false)
	forged, _ := signing.SignWith(foreign, f.sim.Keys.ActiveID(), claims, false)
	now := time.Now()

	cases := []struct {
		name, token string
		edit        func(*sts.AssumeRoleWithWebIdentityInput)
		code, msg   string
	}{
		{"the raw managed identity token (v2)", f.tokens.ManagedIdentity(t), nil, "InvalidIdentityToken", "Incorrect token audience"},
		// The right issuer and audience, but another client: the trust
		// policy's sub condition is what stops it.
		{"the agent identity's own token for the STS app", f.tokens.App(t, f.env["STS_APP_URI"]), nil, "AccessDenied", "Not authorized"},
		{"a v1 token for another API", sign(map[string]any{"aud": "api://" + f.env["WEATHER_API_APP_ID"]}), nil, "InvalidIdentityToken", "Incorrect token audience"},
		{"another tenant's issuer", sign(map[string]any{"iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"}), nil, "InvalidIdentityToken", "No OpenIDConnect provider found in your account for https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"},
		{"issuer without the trailing slash", sign(map[string]any{"iss": strings.TrimSuffix(entra.IssuerV1(tid), "/")}), nil, "InvalidIdentityToken", "No OpenIDConnect provider found"},
		{"re-signed by a key cloudsim never published", unpublished, nil, "InvalidIdentityToken", "verification key"},
		{"a published kid, forged signature", forged, nil, "InvalidIdentityToken", "signature"},
		{"not a JWT", "not-a-jwt", nil, "InvalidIdentityToken", "not a valid JWT"},
		{"no aud", sign(map[string]any{"aud": nil}), nil, "InvalidIdentityToken", "Missing a required claim: aud"},
		{"expired beyond the 5-minute skew", sign(map[string]any{"exp": now.Add(-6 * time.Minute).Unix()}), nil, "ExpiredTokenException", "Token expired"},
		{"another subject", sign(map[string]any{"sub": "00000000-0000-0000-0000-00000000beef"}), nil, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"},
		{"a role that does not exist", v1, func(in *sts.AssumeRoleWithWebIdentityInput) {
			in.RoleArn = aws.String("arn:aws:iam::111122223333:role/admin")
		}, "AccessDenied", "Not authorized"},
		{"a role in another account", v1, func(in *sts.AssumeRoleWithWebIdentityInput) {
			in.RoleArn = aws.String(strings.Replace(f.env["AWS_ROLE_ARN"], "111122223333", "444455556666", 1))
		}, "AccessDenied", "Not authorized"},
		{"a session name with a space", v1, func(in *sts.AssumeRoleWithWebIdentityInput) { in.RoleSessionName = aws.String("weather agent") },
			"ValidationError", "roleSessionName"},
		{"longer than the role allows", v1, func(in *sts.AssumeRoleWithWebIdentityInput) { in.DurationSeconds = aws.Int32(7200) },
			"ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{"shorter than STS allows", v1, func(in *sts.AssumeRoleWithWebIdentityInput) { in.DurationSeconds = aws.Int32(60) },
			"ValidationError", "durationSeconds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.assume(c.token, c.edit)
			var api smithy.APIError
			if !errors.As(err, &api) {
				t.Fatalf("err = %v, want an AWS API error", err)
			}
			if api.ErrorCode() != c.code || !strings.Contains(api.ErrorMessage(), c.msg) {
				t.Fatalf("got %s %q, want %s containing %q", api.ErrorCode(), api.ErrorMessage(), c.code, c.msg)
			}
		})
	}

	// Inside the skew an expired token still works, as on AWS.
	if _, err := f.assume(sign(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}), nil); err != nil {
		t.Errorf("a token expired 2 minutes ago: %v", err)
	}
}

// The protocol errors a hand-written client meets (the SDK checks these
// itself before sending).
func TestQueryProtocolErrors(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		form   url.Values
		status int
		code   string
	}{
		{url.Values{"Action": {"GetSessionTokens"}, "Version": {"2011-06-15"}}, 400, "<Code>InvalidAction</Code>"},
		{url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}, 403, "<Code>MissingAuthenticationToken</Code>"},
		{url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2010-01-01"}}, 400, "<Code>InvalidAction</Code>"},
		{url.Values{"Version": {"2011-06-15"}}, 400, "<Code>MissingAction</Code>"},
		{url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {f.env["AWS_ROLE_ARN"]}}, 400,
			"Value null at &#39;webIdentityToken&#39; failed to satisfy constraint"},
	}
	for _, c := range cases {
		resp, err := f.tokens.HTTP.PostForm(f.env["AWS_ENDPOINT_URL_STS"], c.form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.code) || !strings.Contains(string(body), `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`) {
			t.Errorf("%v: %d %s, want %d with %s", c.form, resp.StatusCode, body, c.status, c.code)
		}
		if resp.Header.Get("x-amzn-RequestId") == "" {
			t.Errorf("%v: no x-amzn-RequestId", c.form)
		}
	}
	resp, err := f.tokens.HTTP.Get(f.env["AWS_ENDPOINT_URL_STS"])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

// A source identity claim needs sts:SetSourceIdentity in the trust
// statement; with it, STS returns the value and keeps it on the session.
func TestSourceIdentity(t *testing.T) {
	claim := map[string]any{"https://aws.amazon.com/source_identity": "alice@contoso.example"}
	for _, allowed := range []bool{false, true} {
		t.Run(fmt.Sprintf("SetSourceIdentity allowed: %v", allowed), func(t *testing.T) {
			sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
				if allowed {
					for _, r := range o.Tenant.AWS.Roles {
						r.TrustPolicy = json.RawMessage(strings.Replace(string(r.TrustPolicy),
							`"sts:AssumeRoleWithWebIdentity"`, `["sts:AssumeRoleWithWebIdentity", "sts:SetSourceIdentity"]`, 1))
					}
				}
			})
			f := fixtureFor(sim)
			tok, err := sim.Keys.Sign(jwtauthtest.Edit(jwtauthtest.Claims(t, f.tokens.STSApp(t)), claim), true)
			if err != nil {
				t.Fatal(err)
			}
			out, err := f.assume(tok, nil)
			if !allowed {
				var api smithy.APIError
				if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
					t.Fatalf("err = %v, want AccessDenied", err)
				}
				return
			}
			if err != nil || aws.ToString(out.SourceIdentity) != "alice@contoso.example" {
				t.Fatalf("out %+v, err %v", out, err)
			}
			if c, _ := sim.STS.Lookup(*out.Credentials.AccessKeyId); c.SourceIdentity != "alice@contoso.example" {
				t.Errorf("the session does not keep its source identity: %+v", c)
			}
		})
	}
}

// A session policy narrows the role's permissions, is refused when
// malformed, and is reported as PackedPolicySize.
func TestSessionPolicy(t *testing.T) {
	f := newFixture(t)
	token := f.tokens.STSApp(t)
	profile := "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"
	withPolicy := func(p string) (*sts.AssumeRoleWithWebIdentityOutput, error) {
		return f.assume(token, func(in *sts.AssumeRoleWithWebIdentityInput) { in.Policy = aws.String(p) })
	}
	cases := []struct {
		name, policy string
		invoke       bool // whether bedrock:InvokeModel on the profile is allowed
	}{
		{"allow everything", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, true},
		{"allow the profile by ARN wildcard", `{"Statement":[{"Effect":"Allow","Action":["bedrock:Invoke*"],"Resource":"arn:aws:bedrock:*:*:inference-profile/us.anthropic.*"}]}`, true},
		{"another resource only", `{"Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"arn:aws:bedrock:*::foundation-model/*"}]}`, false},
		{"an explicit deny wins", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"bedrock:InvokeModel","Resource":"*"}]}`, false},
	}
	for _, c := range cases {
		out, err := withPolicy(c.policy)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		//lint:ignore SA1019 deprecated in the SDK's model, but the element STS sends when a session policy is passed
		if size := out.PackedPolicySize; size == nil || *size <= 0 {
			t.Errorf("%s: PackedPolicySize %v", c.name, size)
		}
		if got := f.sim.STS.Allowed(*out.Credentials.AccessKeyId, "bedrock:InvokeModel", profile); got != c.invoke {
			t.Errorf("%s: InvokeModel allowed %v, want %v", c.name, got, c.invoke)
		}
	}
	for _, bad := range []string{`{not json`, `{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`, `{"Version":"2012-10-17"}`,
		`{"Statement":{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}}`} {
		_, err := withPolicy(bad)
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "MalformedPolicyDocument" {
			t.Errorf("%s: err = %v, want MalformedPolicyDocument", bad, err)
		}
	}
}
