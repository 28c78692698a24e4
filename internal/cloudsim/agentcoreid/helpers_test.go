package agentcoreid_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol"
	ctltypes "github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol/types"
	"github.com/aws/smithy-go"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// The tenant file's IAM users (deploy/local/tenant.jsonc): an
// administrator, and a developer whose policy allows Bedrock only.
const (
	adminKey, adminSecret = "AKIACLOUDSIMIAMADMIN1", "cloudsim-local-iam-admin-key-do-not-reuse"
	devKey, devSecret     = "AKIACLOUDSIMLOCALDEV1", "cloudsim-local-dev-secret-key-do-not-reuse"
)

// env is one cloudsim with a movable clock and SDK clients signed as the
// administrator.
type env struct {
	sim    *cloudsim.Sim
	offset *atomic.Int64
	ctl    *bedrockagentcorecontrol.Client
	dp     *bedrockagentcore.Client
}

func start(t *testing.T, edit func(*cloudsim.Options)) *env {
	t.Helper()
	offset := &atomic.Int64{}
	sim := cloudsimtest.Start(t, func(o *cloudsim.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		withAgentCoreOnlyUser(o)
		if edit != nil {
			edit(o)
		}
	})
	e := &env{sim: sim, offset: offset}
	e.ctl, e.dp = e.clients(adminKey, adminSecret, "")
	return e
}

// clients are the two planes' SDK clients, pointed at cloudsim as
// AWS_ENDPOINT_URL_BEDROCK_AGENTCORE(_CONTROL) would.
func (e *env) clients(key, secret, session string) (*bedrockagentcorecontrol.Client, *bedrockagentcore.Client) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(key, secret, session),
		HTTPClient: cloudsimtest.Client(e.sim), RetryMaxAttempts: 1}
	env := e.sim.Env()
	ctl := bedrockagentcorecontrol.NewFromConfig(cfg, func(o *bedrockagentcorecontrol.Options) {
		o.BaseEndpoint = aws.String(env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL"])
		o.HTTPSignerV4 = clockSigner{v4.NewSigner(), e.offset}
	})
	dp := bedrockagentcore.NewFromConfig(cfg, func(o *bedrockagentcore.Options) {
		o.BaseEndpoint = aws.String(env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"])
		// The client signs on cloudsim's clock, which a test moves.
		o.HTTPSignerV4 = clockSigner{v4.NewSigner(), e.offset}
	})
	return ctl, dp
}

func (e *env) advance(d time.Duration) { e.offset.Add(int64(d)) }

// clockSigner signs at the time cloudsim's moved clock says.
type clockSigner struct {
	signer *v4.Signer
	offset *atomic.Int64
}

func (c clockSigner) SignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, at time.Time, opts ...func(*v4.SignerOptions)) error {
	return c.signer.SignHTTP(ctx, creds, r, payloadHash, service, region, at.Add(time.Duration(c.offset.Load())), opts...)
}

// apiError is the code and message of an SDK error, or fails the test.
func apiError(t *testing.T, err error) (string, string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an AWS API error, got %v", err)
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

func wantError(t *testing.T, err error, code, contains string) {
	t.Helper()
	got, msg := apiError(t, err)
	if got != code || !containsFold(msg, contains) {
		t.Fatalf("want %s containing %q, got %s: %s", code, contains, got, msg)
	}
}

func containsFold(s, sub string) bool {
	return sub == "" || len(s) >= len(sub) && (indexFold(s, sub) >= 0)
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// microsoft is a MicrosoftOauth2 provider's configuration.
func microsoft(clientID, secret, tenantID string) ctltypes.Oauth2ProviderConfigInput {
	cfg := ctltypes.MicrosoftOauth2ProviderConfigInput{ClientId: aws.String(clientID), ClientSecret: aws.String(secret)}
	if tenantID != "" {
		cfg.TenantId = aws.String(tenantID)
	}
	return &ctltypes.Oauth2ProviderConfigInputMemberMicrosoftOauth2ProviderConfig{Value: cfg}
}

var ctx = context.Background()
