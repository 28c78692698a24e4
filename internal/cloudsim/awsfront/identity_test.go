package awsfront_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
	dptypes "github.com/aws/aws-sdk-go-v2/service/bedrockagentcore/types"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/agentcoreid"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsfront"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// identityFront is runtimeFront with the runtime's workload identity in
// the sim's AgentCore Identity (nil: none).
func identityFront(t *testing.T, sim *cloudsim.Sim, src []byte, id awsfront.WorkloadIdentities) (string, *container, *awsfront.Runtime) {
	box := &container{}
	target, rt := frontBefore(t, sim, src, box, id)
	return target, box, rt
}

// The runtime's workload identity: the front mints a workload access
// token from each inbound JWT and hands it to the container in both
// headers, never the client's own copies; the token works with the vault;
// the identity is named after the runtime and refuses direct minting.
func TestAgentCoreFrontPassesWorkloadAccessToken(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	tc := cloudsimtest.NewTokens(sim).User(t)
	target, box, rt := identityFront(t, sim, templateFile(t), sim.AgentCoreIdentity)
	if rt.WorkloadIdentity != "weather_agent-XYZ" || rt.WorkloadIdentity != agentcoreid.RuntimeWorkloadName(awsfront.LocalRuntimeARN) {
		t.Fatalf("workload identity %q", rt.WorkloadIdentity)
	}
	status, _, body := invoke(t, target, "Bearer "+tc, map[string]string{awsfront.WATHeader: "forged", awsfront.IdentityHeader: "forged"})
	got := box.last()
	if status != 200 || got == nil {
		t.Fatalf("invoke: %d %s", status, body)
	}
	wat := got.Get(awsfront.WATHeader)
	if wat == "" || wat == "forged" || got.Get(awsfront.IdentityHeader) != wat {
		t.Fatalf("the container got %q and %q", wat, got.Get(awsfront.IdentityHeader))
	}

	// The WAT is the vault's: with a return URL allowed on the runtime's
	// identity, it starts the user's flow.
	cfg := aws.Config{Region: "us-east-1", HTTPClient: cloudsimtest.Client(sim), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIACLOUDSIMIAMADMIN1", "cloudsim-local-iam-admin-key-do-not-reuse", "")}
	ctl := bedrockagentcorecontrol.NewFromConfig(cfg, func(o *bedrockagentcorecontrol.Options) { o.BaseEndpoint = aws.String(sim.URL) })
	dp := bedrockagentcore.NewFromConfig(cfg, func(o *bedrockagentcore.Options) { o.BaseEndpoint = aws.String(sim.URL) })
	ctx := context.Background()
	const back = "http://localhost:3000/consent.html"
	if _, err := ctl.UpdateWorkloadIdentity(ctx, &bedrockagentcorecontrol.UpdateWorkloadIdentityInput{Name: aws.String(rt.WorkloadIdentity),
		AllowedResourceOauth2ReturnUrls: []string{back}}); err != nil {
		t.Fatal(err)
	}
	out, err := dp.GetResourceOauth2Token(ctx, &bedrockagentcore.GetResourceOauth2TokenInput{WorkloadIdentityToken: aws.String(wat),
		ResourceCredentialProviderName: aws.String("entra-weather-api"), Scopes: []string{"api://" + sim.Env()["WEATHER_API_APP_ID"] + "/Weather.Read"},
		Oauth2Flow: dptypes.Oauth2FlowTypeUserFederation, ResourceOauth2ReturnUrl: aws.String(back)})
	if err != nil || out.AuthorizationUrl == nil {
		t.Fatalf("vault with the runtime's WAT: %+v %v", out, err)
	}
	// A runtime's identity is not minted for directly (DG-WAT).
	_, err = dp.GetWorkloadAccessTokenForJWT(ctx, &bedrockagentcore.GetWorkloadAccessTokenForJWTInput{WorkloadName: aws.String(rt.WorkloadIdentity), UserToken: aws.String(tc)})
	if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), "managed by AgentCore Runtime") {
		t.Errorf("direct minting: %v", err)
	}
}

// Without an identity, and even when the template allowlists it, a
// client's WorkloadAccessToken never reaches the container.
func TestAgentCoreFrontStripsClientWorkloadAccessTokens(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	tc := cloudsimtest.NewTokens(sim).User(t)
	src := templateFile(t, "RequestHeaderAllowlist: [Authorization, ", "RequestHeaderAllowlist: [Authorization, WorkloadAccessToken, ")
	target, box, _ := identityFront(t, sim, src, nil)
	status, _, body := invoke(t, target, "Bearer "+tc, map[string]string{awsfront.WATHeader: "forged"})
	got := box.last()
	if status != 200 || got == nil || got.Get(awsfront.WATHeader) != "" {
		t.Fatalf("%d %s; the container got %v", status, body, got)
	}
}
