package bedrock_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/crosscloud-agentid/agentid/deploy/models"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/bedrock"
	"github.com/crosscloud-agentid/agentid/internal/sdkbody"
)

// anyKey is an account where one static key may do anything: the lifecycle
// is what these tests look at, not IAM.
type anyKey struct{}

const keyID, keySecret = "AKIALIFECYCLE0000001", "lifecycle-secret-lifecycle-secret"

func (anyKey) Secret(id string) (string, string, time.Time, string, bool) {
	return keySecret, "", time.Time{}, "arn:aws:iam::111122223333:user/lifecycle", id == keyID
}
func (anyKey) Allowed(string, string, string) bool { return true }

// signedAt signs with the SDK's own SigV4 signer at cloudsim's clock, so
// a request made "on" another date is in date for the server.
type signedAt struct {
	*v4.Signer
	now time.Time
}

func (s signedAt) SignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, hash, service, region string, _ time.Time, opts ...func(*v4.SignerOptions)) error {
	return s.Signer.SignHTTP(ctx, creds, r, hash, service, region, s.now, opts...)
}

// bedrockIn serves cloudsim's Bedrock for one Region at a fixed date and
// returns the Go SDK's client for it.
func bedrockIn(t *testing.T, region, date string) *bedrockruntime.Client {
	now, err := time.Parse(time.DateOnly, date)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(12 * time.Hour)
	mux := http.NewServeMux()
	bedrock.New(bedrock.Options{Region: region, Account: "111122223333", Credentials: anyKey{},
		Now: func() time.Time { return now }}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return bedrockruntime.New(bedrockruntime.Options{Region: region, BaseEndpoint: aws.String(srv.URL + bedrock.Path),
		HTTPClient: sdkbody.Buffered(srv.Client()), RetryMaxAttempts: 1, HTTPSignerV4: signedAt{v4.NewSigner(), now},
		Credentials: credentials.NewStaticCredentialsProvider(keyID, keySecret, "")})
}

// A model past its end of life in the caller's Region, by cloudsim's
// clock, is refused as Bedrock refuses it, through its inference profile,
// the profile's ARN, the foundation model and its ARN alike, for Converse
// and ConverseStream; where the model card says it is still served, or
// Legacy, it answers.
func TestRetiredModelRefusedPerRegion(t *testing.T) {
	const haiku3 = "anthropic.claude-3-haiku-20240307-v1:0"
	const eolMessage = "This model version has reached the end of its life. Please refer to the AWS documentation for more details."
	cases := []struct {
		name, region, date, model string
		code                      string // "" when answered
	}{
		{"the profile, before its end of life", "us-east-1", "2026-09-09", "us." + haiku3, ""},
		{"the profile, on its end-of-life day", "us-east-1", "2026-09-10", "us." + haiku3, "ResourceNotFoundException"},
		{"the profile's ARN", "us-east-1", "2026-12-06", "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us." + haiku3, "ResourceNotFoundException"},
		{"the foundation model", "us-east-1", "2026-12-06", haiku3, "ResourceNotFoundException"},
		{"the foundation model's ARN", "us-east-1", "2026-12-06", "arn:aws:bedrock:us-east-1::foundation-model/" + haiku3, "ResourceNotFoundException"},
		{"an EU profile in eu-west-1", "eu-west-1", "2026-12-06", "eu." + haiku3, "ResourceNotFoundException"},
		{"in-Region in ca-central-1, still served", "ca-central-1", "2026-12-06", haiku3, ""},
		{"in-Region in sa-east-1, still served", "sa-east-1", "2026-12-06", haiku3, ""},
		{"in-Region in ap-northeast-2, Legacy", "ap-northeast-2", "2026-12-06", haiku3, ""},
		{"Claude 3.5 Haiku after 2026-06-19", "us-east-1", "2026-12-06", "us.anthropic.claude-3-5-haiku-20241022-v1:0", "ResourceNotFoundException"},
		{"the default model", "us-east-1", models.AsOf().Format(time.DateOnly), models.DefaultID, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client := bedrockIn(t, c.region, c.date)
			_, err := client.Converse(t.Context(), &bedrockruntime.ConverseInput{ModelId: aws.String(c.model),
				Messages: []types.Message{userText("What's the weather in Oslo?")}, ToolConfig: weatherTool()})
			stream, streamErr := client.ConverseStream(t.Context(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String(c.model),
				Messages: []types.Message{userText("What's the weather in Oslo?")}, ToolConfig: weatherTool()})
			if streamErr == nil {
				for range stream.GetStream().Events() {
				}
				streamErr = stream.GetStream().Err()
			}
			for api, err := range map[string]error{"Converse": err, "ConverseStream": streamErr} {
				if got := code(err); got != c.code {
					t.Errorf("%s: %v, want %q", api, err, c.code)
				} else if c.code != "" && !strings.Contains(err.Error(), eolMessage) {
					t.Errorf("%s: %v, want Bedrock's message %q", api, err, eolMessage)
				}
			}
		})
	}
}
