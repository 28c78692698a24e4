package agentcoreid_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol"
	ctltypes "github.com/aws/aws-sdk-go-v2/service/bedrockagentcorecontrol/types"
)

// TestWorkloadIdentityLifecycle drives create, get, update, list (paged)
// and delete with the Go SDK's control plane client.
func TestWorkloadIdentityLifecycle(t *testing.T) {
	e := start(t, nil)
	created, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{
		Name: aws.String("agent-one"), AllowedResourceOauth2ReturnUrls: []string{"http://localhost:3000/vault"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:bedrock-agentcore:us-east-1:111122223333:workload-identity-directory/default/workload-identity/agent-one"; aws.ToString(created.WorkloadIdentityArn) != want {
		t.Errorf("ARN %s, want %s", aws.ToString(created.WorkloadIdentityArn), want)
	}
	got, err := e.ctl.GetWorkloadIdentity(ctx, &bedrockagentcorecontrol.GetWorkloadIdentityInput{Name: aws.String("agent-one")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.AllowedResourceOauth2ReturnUrls, []string{"http://localhost:3000/vault"}) || got.CreatedTime == nil || got.LastUpdatedTime == nil {
		t.Errorf("get: %+v", got)
	}
	// Update replaces the list.
	up, err := e.ctl.UpdateWorkloadIdentity(ctx, &bedrockagentcorecontrol.UpdateWorkloadIdentityInput{
		Name: aws.String("agent-one"), AllowedResourceOauth2ReturnUrls: []string{"https://app.example/a", "https://app.example/b"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(up.AllowedResourceOauth2ReturnUrls, []string{"https://app.example/a", "https://app.example/b"}) {
		t.Errorf("update: %v", up.AllowedResourceOauth2ReturnUrls)
	}
	for _, n := range []string{"agent-two", "agent-three"} {
		if _, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{Name: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	var token *string
	for range 5 {
		page, err := e.ctl.ListWorkloadIdentities(ctx, &bedrockagentcorecontrol.ListWorkloadIdentitiesInput{MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range page.WorkloadIdentities {
			names = append(names, aws.ToString(w.Name))
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	if !slices.Equal(names, []string{"agent-one", "agent-three", "agent-two"}) {
		t.Errorf("listed %v", names)
	}
	if _, err := e.ctl.DeleteWorkloadIdentity(ctx, &bedrockagentcorecontrol.DeleteWorkloadIdentityInput{Name: aws.String("agent-one")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.ctl.GetWorkloadIdentity(ctx, &bedrockagentcorecontrol.GetWorkloadIdentityInput{Name: aws.String("agent-one")})
	wantError(t, err, "ResourceNotFoundException", "agent-one")
}

// TestWorkloadIdentityRefusals: every check of the workload identity
// operations has its refusal, in the model's error shape.
func TestWorkloadIdentityRefusals(t *testing.T) {
	e := start(t, nil)
	if _, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{Name: aws.String("taken")}); err != nil {
		t.Fatal(err)
	}
	devCtl, _ := e.clients(devKey, devSecret, "")
	cases := []struct {
		name       string
		call       func() error
		code, text string
	}{
		{"name too short", func() error {
			_, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{Name: aws.String("ab")})
			return err
		}, "ValidationException", "Member must have length greater than or equal to 3"},
		{"name too long, length before pattern", func() error {
			_, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{Name: aws.String(strings.Repeat("!", 256))})
			return err
		}, "ValidationException", "Member must have length less than or equal to 255"},
		{"name pattern", func() error {
			_, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{Name: aws.String("has space")})
			return err
		}, "ValidationException", "Member must satisfy regular expression pattern: [A-Za-z0-9_.-]+"},
		{"return URL pattern", func() error {
			_, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{Name: aws.String("good"),
				AllowedResourceOauth2ReturnUrls: []string{"not a url"}})
			return err
		}, "ValidationException", "allowedResourceOauth2ReturnUrls.1.member"},
		{"too many tags", func() error {
			tags := map[string]string{}
			for i := range 51 {
				tags[strings.Repeat("k", i+1)] = "v"
			}
			_, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{Name: aws.String("good"), Tags: tags})
			return err
		}, "ValidationException", "less than or equal to 50"},
		{"name in use", func() error {
			_, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{Name: aws.String("taken")})
			return err
		}, "ValidationException", "already exists"},
		{"update unknown", func() error {
			_, err := e.ctl.UpdateWorkloadIdentity(ctx, &bedrockagentcorecontrol.UpdateWorkloadIdentityInput{Name: aws.String("nobody")})
			return err
		}, "ResourceNotFoundException", "nobody"},
		{"delete unknown", func() error {
			_, err := e.ctl.DeleteWorkloadIdentity(ctx, &bedrockagentcorecontrol.DeleteWorkloadIdentityInput{Name: aws.String("nobody")})
			return err
		}, "ResourceNotFoundException", "nobody"},
		{"maxResults above 20", func() error {
			_, err := e.ctl.ListWorkloadIdentities(ctx, &bedrockagentcorecontrol.ListWorkloadIdentitiesInput{MaxResults: aws.Int32(21)})
			return err
		}, "ValidationException", "less than or equal to 20"},
		{"bad nextToken", func() error {
			_, err := e.ctl.ListWorkloadIdentities(ctx, &bedrockagentcorecontrol.ListWorkloadIdentitiesInput{NextToken: aws.String("!!")})
			return err
		}, "ValidationException", "nextToken"},
		{"maxResults below 1", func() error {
			_, err := e.ctl.ListWorkloadIdentities(ctx, &bedrockagentcorecontrol.ListWorkloadIdentitiesInput{MaxResults: aws.Int32(0)})
			return err
		}, "ValidationException", "greater than or equal to 1"},
		{"an identity operation cloudsim does not emulate", func() error {
			_, err := e.ctl.GetTokenVault(ctx, &bedrockagentcorecontrol.GetTokenVaultInput{})
			return err
		}, "UnknownOperationException", "does not emulate"},
		{"IAM: a policy without the action", func() error {
			_, err := devCtl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{Name: aws.String("good")})
			return err
		}, "AccessDeniedException", "is not authorized to perform: bedrock-agentcore:CreateWorkloadIdentity on resource: arn:aws:bedrock-agentcore:us-east-1:111122223333:workload-identity-directory/default"},
		{"IAM: list", func() error {
			_, err := devCtl.ListWorkloadIdentities(ctx, &bedrockagentcorecontrol.ListWorkloadIdentitiesInput{})
			return err
		}, "AccessDeniedException", "bedrock-agentcore:ListWorkloadIdentities"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantError(t, c.call(), c.code, c.text) })
	}
	// The ValidationException carries reason and fieldList.
	_, err := e.ctl.CreateWorkloadIdentity(ctx, &bedrockagentcorecontrol.CreateWorkloadIdentityInput{Name: aws.String("x")})
	var ve *ctltypes.ValidationException
	if !errors.As(err, &ve) || ve.Reason != ctltypes.ValidationExceptionReasonFieldValidationFailed || len(ve.FieldList) != 1 || aws.ToString(ve.FieldList[0].Name) != "name" {
		t.Errorf("validation exception: %#v", err)
	}
}

// TestProviderLifecycle: a MicrosoftOauth2 provider's create (201 with
// its callback URL and secret ARN), get, update, list and delete; the
// secret never comes back.
func TestProviderLifecycle(t *testing.T) {
	e := start(t, nil)
	tid := e.sim.Tenant.Tenant.ID
	created, err := e.ctl.CreateOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.CreateOauth2CredentialProviderInput{
		Name: aws.String("entra"), CredentialProviderVendor: ctltypes.CredentialProviderVendorTypeMicrosoftOauth2,
		Oauth2ProviderConfigInput: microsoft("11111111-2222-3333-4444-555555555555", "s3cret-value", tid)})
	if err != nil {
		t.Fatal(err)
	}
	callback := regexp.MustCompile(`^` + regexp.QuoteMeta(e.sim.URL) + `/identities/oauth2/callback/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !callback.MatchString(aws.ToString(created.CallbackUrl)) {
		t.Errorf("callback URL %s", aws.ToString(created.CallbackUrl))
	}
	secretARN := regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:111122223333:secret:bedrock-agentcore-identity!default/oauth2/entra-[A-Za-z0-9]{6}$`)
	if created.ClientSecretArn == nil || !secretARN.MatchString(aws.ToString(created.ClientSecretArn.SecretArn)) {
		t.Errorf("secret ARN %+v", created.ClientSecretArn)
	}
	if want := "arn:aws:bedrock-agentcore:us-east-1:111122223333:token-vault/default/oauth2credentialprovider/entra"; aws.ToString(created.CredentialProviderArn) != want {
		t.Errorf("provider ARN %s", aws.ToString(created.CredentialProviderArn))
	}
	got, err := e.ctl.GetOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.GetOauth2CredentialProviderInput{Name: aws.String("entra")})
	if err != nil {
		t.Fatal(err)
	}
	out, ok := got.Oauth2ProviderConfigOutput.(*ctltypes.Oauth2ProviderConfigOutputMemberMicrosoftOauth2ProviderConfig)
	if !ok {
		t.Fatalf("config output %T", got.Oauth2ProviderConfigOutput)
	}
	disc, _ := out.Value.OauthDiscovery.(*ctltypes.Oauth2DiscoveryMemberDiscoveryUrl)
	if disc == nil || disc.Value != e.sim.URL+"/"+tid+"/v2.0/.well-known/openid-configuration" || aws.ToString(out.Value.ClientId) != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("config %+v %+v", out.Value, disc)
	}
	if got.CredentialProviderVendor != ctltypes.CredentialProviderVendorTypeMicrosoftOauth2 || got.Status != ctltypes.StatusReady ||
		aws.ToString(got.CallbackUrl) != aws.ToString(created.CallbackUrl) {
		t.Errorf("get %+v", got)
	}
	up, err := e.ctl.UpdateOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.UpdateOauth2CredentialProviderInput{
		Name: aws.String("entra"), CredentialProviderVendor: ctltypes.CredentialProviderVendorTypeMicrosoftOauth2,
		Oauth2ProviderConfigInput: microsoft("66666666-2222-3333-4444-555555555555", "new-secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.CallbackUrl) != aws.ToString(created.CallbackUrl) {
		t.Errorf("update changed the callback URL: %s", aws.ToString(up.CallbackUrl))
	}
	list, err := e.ctl.ListOauth2CredentialProviders(ctx, &bedrockagentcorecontrol.ListOauth2CredentialProvidersInput{})
	if err != nil {
		t.Fatal(err)
	}
	// The tenant file's provider, and this one.
	if len(list.CredentialProviders) != 2 || aws.ToString(list.CredentialProviders[0].Name) != "entra" ||
		aws.ToString(list.CredentialProviders[1].Name) != "entra-weather-api" {
		t.Errorf("list %+v", list.CredentialProviders)
	}
	if _, err := e.ctl.DeleteOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.DeleteOauth2CredentialProviderInput{Name: aws.String("entra")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.ctl.GetOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.GetOauth2CredentialProviderInput{Name: aws.String("entra")})
	wantError(t, err, "ResourceNotFoundException", "entra")
}

// TestProviderRefusals: other vendors, bad configurations, a name in use,
// unknown providers and IAM.
func TestProviderRefusals(t *testing.T) {
	e := start(t, nil)
	create := func(name string, vendor ctltypes.CredentialProviderVendorType, cfg ctltypes.Oauth2ProviderConfigInput) error {
		_, err := e.ctl.CreateOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.CreateOauth2CredentialProviderInput{
			Name: aws.String(name), CredentialProviderVendor: vendor, Oauth2ProviderConfigInput: cfg})
		return err
	}
	if err := create("taken", ctltypes.CredentialProviderVendorTypeMicrosoftOauth2, microsoft("c", "s", "")); err != nil {
		t.Fatal(err)
	}
	devCtl, _ := e.clients(devKey, devSecret, "")
	ms := ctltypes.CredentialProviderVendorTypeMicrosoftOauth2
	cases := []struct {
		name       string
		err        func() error
		code, text string
	}{
		{"another vendor", func() error {
			return create("google", ctltypes.CredentialProviderVendorTypeGoogleOauth2, &ctltypes.Oauth2ProviderConfigInputMemberGoogleOauth2ProviderConfig{
				Value: ctltypes.GoogleOauth2ProviderConfigInput{ClientId: aws.String("c"), ClientSecret: aws.String("s")}})
		}, "ValidationException", "only the MicrosoftOauth2"},
		{"unknown vendor", func() error { return create("x", "NoSuchOauth2", microsoft("c", "s", "")) }, "ValidationException", "enum value set"},
		{"config of another vendor", func() error {
			return create("x", ms, &ctltypes.Oauth2ProviderConfigInputMemberGoogleOauth2ProviderConfig{
				Value: ctltypes.GoogleOauth2ProviderConfigInput{ClientId: aws.String("c"), ClientSecret: aws.String("s")}})
		}, "ValidationException", "microsoftOauth2ProviderConfig"},
		{"no client secret", func() error {
			return create("x", ms, &ctltypes.Oauth2ProviderConfigInputMemberMicrosoftOauth2ProviderConfig{
				Value: ctltypes.MicrosoftOauth2ProviderConfigInput{ClientId: aws.String("c")}})
		}, "ValidationException", "clientSecret' failed to satisfy constraint: Member must not be null"},
		{"external secret", func() error {
			return create("x", ms, &ctltypes.Oauth2ProviderConfigInputMemberMicrosoftOauth2ProviderConfig{
				Value: ctltypes.MicrosoftOauth2ProviderConfigInput{ClientId: aws.String("c"), ClientSecretSource: ctltypes.SecretSourceTypeExternal}})
		}, "ValidationException", "service-managed"},
		{"client ID too long", func() error { return create("x", ms, microsoft(strings.Repeat("c", 257), "s", "")) }, "ValidationException", "less than or equal to 256"},
		{"name pattern", func() error { return create("no.dots", ms, microsoft("c", "s", "")) }, "ValidationException", `[a-zA-Z0-9\-_]+`},
		{"name too long", func() error { return create(strings.Repeat(".", 129), ms, microsoft("c", "s", "")) }, "ValidationException", "less than or equal to 128"},
		{"name in use", func() error { return create("taken", ms, microsoft("c", "s", "")) }, "ConflictException", "taken"},
		{"get unknown", func() error {
			_, err := e.ctl.GetOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.GetOauth2CredentialProviderInput{Name: aws.String("nobody")})
			return err
		}, "ResourceNotFoundException", "nobody"},
		{"update unknown", func() error {
			_, err := e.ctl.UpdateOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.UpdateOauth2CredentialProviderInput{Name: aws.String("nobody"),
				CredentialProviderVendor: ms, Oauth2ProviderConfigInput: microsoft("c", "s", "")})
			return err
		}, "ResourceNotFoundException", "nobody"},
		{"delete unknown", func() error {
			_, err := e.ctl.DeleteOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.DeleteOauth2CredentialProviderInput{Name: aws.String("nobody")})
			return err
		}, "ResourceNotFoundException", "nobody"},
		{"IAM: create", func() error {
			_, err := devCtl.CreateOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.CreateOauth2CredentialProviderInput{Name: aws.String("x"),
				CredentialProviderVendor: ms, Oauth2ProviderConfigInput: microsoft("c", "s", "")})
			return err
		}, "AccessDeniedException", "bedrock-agentcore:CreateOauth2CredentialProvider on resource: arn:aws:bedrock-agentcore:us-east-1:111122223333:token-vault/default"},
		{"IAM: get", func() error {
			_, err := devCtl.GetOauth2CredentialProvider(ctx, &bedrockagentcorecontrol.GetOauth2CredentialProviderInput{Name: aws.String("taken")})
			return err
		}, "AccessDeniedException", "bedrock-agentcore:GetOauth2CredentialProvider"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantError(t, c.err(), c.code, c.text) })
	}
}
