// Package sdktest drives cloudsim's Microsoft Graph with Microsoft's Graph
// Go SDK (github.com/microsoftgraph/msgraph-sdk-go), unchanged: its
// default middleware (kiota's, which gzips request bodies), its request
// builders and its models (which send @odata.type). It is a module of its
// own so that the main module's go test ./... does not build the SDK,
// whose first build takes minutes and gigabytes (msgraph-sdk-go#243,
// #312); .ci/run runs it in a stage of its own.
//
// It does not import the SDK's root package: GraphServiceClient there
// only hands out request builders, but importing it compiles all of
// Graph's API packages, 14,761 files, where the four this test uses and
// the models are 4,797. graphClient hands out the same builders the same
// way, and newClient builds the adapter as the root package does.
package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/google/uuid"
	abs "github.com/microsoft/kiota-abstractions-go"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoft/kiota-abstractions-go/store"
	khttp "github.com/microsoft/kiota-http-go"
	serform "github.com/microsoft/kiota-serialization-form-go"
	serjson "github.com/microsoft/kiota-serialization-json-go"
	sermultipart "github.com/microsoft/kiota-serialization-multipart-go"
	sertext "github.com/microsoft/kiota-serialization-text-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

const admin = "admin@contoso.example"

// The delegated permissions the test's signed-in admin consents to: those
// of scripts/entra-setup.sh (no Directory.ReadWrite.All, which Graph's
// Agent ID writes refuse).
var scopes = []string{"User.Read", "Application.ReadWrite.All", "AgentIdentityBlueprint.Create", "AgentIdentityBlueprint.UpdateBranding.All",
	"AgentIdentityBlueprint.UpdateAuthProperties.All", "AgentIdentityBlueprint.AddRemoveCreds.All", "AgentIdentityBlueprintPrincipal.Create",
	"AgentIdentity.Create.All", "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"}

// staticToken is a kiota access token provider for one token.
type staticToken string

func (s staticToken) GetAuthorizationToken(context.Context, *url.URL, map[string]any) (string, error) {
	return string(s), nil
}

func (s staticToken) GetAllowedHostsValidator() *absauth.AllowedHostsValidator {
	v, _ := absauth.NewAllowedHostsValidatorErrorCheck(nil)
	return v
}

// graphToken signs admin in with MSAL Go's device code flow for the
// Microsoft Graph Command Line Tools, cloudsim's switch answering for the
// person at /devicelogin.
func graphToken(t *testing.T, ctx context.Context, sim *cloudsim.Sim) string {
	t.Helper()
	hc := cloudsimtest.Client(sim)
	app, err := public.New(tenant.GraphCLIAppID, public.WithAuthority(sim.URL+"/"+sim.Tenant.Tenant.ID), public.WithHTTPClient(hc),
		public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	var full []string
	for _, s := range scopes {
		full = append(full, tenant.GraphResource+"/"+s)
	}
	dc, err := app.AcquireTokenByDeviceCode(ctx, full)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.PostForm(sim.URL+"/_cloudsim/devicecode/approve", url.Values{"user_code": {dc.Result.UserCode}, "user": {admin}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("approving the device code: %d", resp.StatusCode)
	}
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res.AccessToken
}

// clientOptions are msgraph-sdk-go v1.89.0's (GetDefaultClientOptions in
// graph_request_adapter.go): they name the SDK in the SdkVersion header.
var clientOptions = core.GraphClientOptions{GraphServiceLibraryVersion: "1.89.0"}

// graphClient hands out request builders as the root package's
// GraphBaseServiceClient does (graph_base_service_client.go, v1.89.0):
// each from the base URL's path parameters and the adapter.
type graphClient struct {
	adapter abs.RequestAdapter
	params  map[string]string
}

func (c graphClient) Me() *users.UserItemRequestBuilder {
	params := map[string]string{"user%2Did": "me-token-to-replace"} // the middleware's UrlReplaceHandler makes it /me
	for k, v := range c.params {
		params[k] = v
	}
	return users.NewUserItemRequestBuilderInternal(params, c.adapter)
}

func (c graphClient) Applications() *applications.ApplicationsRequestBuilder {
	return applications.NewApplicationsRequestBuilderInternal(c.params, c.adapter)
}

func (c graphClient) ServicePrincipals() *serviceprincipals.ServicePrincipalsRequestBuilder {
	return serviceprincipals.NewServicePrincipalsRequestBuilderInternal(c.params, c.adapter)
}

func (c graphClient) Oauth2PermissionGrants() *oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilder {
	return oauth2permissiongrants.NewOauth2PermissionGrantsRequestBuilderInternal(c.params, c.adapter)
}

// newClient is the SDK's client with its default middleware
// (core.GetDefaultMiddlewaresWithOptions, what NewGraphRequestAdapter
// uses) over a transport that trusts cloudsim's dev CA, at cloudsim's
// Graph: the serializers and the backing store NewGraphServiceClient
// registers, and the adapter its NewGraphRequestAdapter... makes.
func newClient(t *testing.T, sim *cloudsim.Sim, token string) (graphClient, abs.RequestAdapter) {
	t.Helper()
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return serjson.NewJsonSerializationWriterFactory() })
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return sertext.NewTextSerializationWriterFactory() })
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return serform.NewFormSerializationWriterFactory() })
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return sermultipart.NewMultipartSerializationWriterFactory() })
	abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return serjson.NewJsonParseNodeFactory() })
	abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return sertext.NewTextParseNodeFactory() })
	abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return serform.NewFormParseNodeFactory() })
	parent := cloudsimtest.Client(sim).Transport.(*http.Transport)
	opts := clientOptions
	httpClient := &http.Client{Timeout: 30 * time.Second,
		Transport: khttp.NewCustomTransportWithParentTransport(parent, core.GetDefaultMiddlewaresWithOptions(&opts)...)}
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		absauth.NewBaseBearerTokenAuthenticationProvider(staticToken(token)), clientOptions, nil, nil, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(sim.URL + "/graph/v1.0")
	adapter.EnableBackingStore(store.BackingStoreFactoryInstance)
	return graphClient{adapter: adapter, params: map[string]string{"baseurl": adapter.GetBaseUrl()}}, adapter
}

// odataCode is Graph's error code in an SDK error ("" if none).
func odataCode(err error) string {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.GetErrorEscaped() != nil && oe.GetErrorEscaped().GetCode() != nil {
		return *oe.GetErrorEscaped().GetCode()
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

// gzipBodies is how many gzip request bodies cloudsim's Graph took.
func gzipBodies(t *testing.T, sim *cloudsim.Sim) int64 {
	t.Helper()
	resp, err := cloudsimtest.Client(sim).Get(sim.URL + "/_cloudsim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct {
		Counts map[string]int64 `json:"counts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatalf("stats: %v", err)
	}
	return stats.Counts["graph.request_gzip"]
}

// TestGraphThroughTheGoSDK: everything entra-setup.sh does, and what every
// Graph client does besides, through msgraph-sdk-go as its users write it,
// against cloudsim's Graph on the fresh tenant. The Agent ID paths, which
// this SDK version has no request builders for, go through its raw-URL
// builders with its models (their @odata.type set to the type the path
// creates), as the SDK's documentation has callers reach paths it lacks.
func TestGraphThroughTheGoSDK(t *testing.T) {
	sim := cloudsimtest.Start(t, cloudsimtest.FreshTenant(t))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	client, adapter := newClient(t, sim, graphToken(t, ctx, sim))
	base := sim.URL + "/graph/v1.0"
	me, err := client.Me().Get(ctx, nil)
	if err != nil {
		t.Fatalf("me: %v", err)
	}
	sponsor := []string{base + "/users/" + *me.GetId()}

	// An application: created (the SDK gzips the body and sends
	// @odata.type #microsoft.graph.application), updated, found by appId.
	api := models.NewApplication()
	api.SetDisplayName(ptr("sdk weather api"))
	api.SetSignInAudience(ptr("AzureADMyOrg"))
	apiApp := models.NewApiApplication()
	scope := models.NewPermissionScope()
	scope.SetId(ptr(uuid.MustParse("11111111-2222-4333-8444-555555555555")))
	scope.SetValue(ptr("Weather.Read"))
	scope.SetTypeEscaped(ptr("User"))
	scope.SetIsEnabled(ptr(true))
	apiApp.SetOauth2PermissionScopes([]models.PermissionScopeable{scope})
	api.SetApi(apiApp)
	role := models.NewAppRole()
	role.SetId(ptr(uuid.MustParse("66666666-7777-4888-8999-aaaaaaaaaaaa")))
	role.SetValue(ptr("Weather.Read"))
	role.SetDisplayName(ptr("Weather.Read"))
	role.SetAllowedMemberTypes([]string{"Application"})
	role.SetIsEnabled(ptr(true))
	api.SetAppRoles([]models.AppRoleable{role})
	created, err := client.Applications().Post(ctx, api, nil)
	if err != nil {
		t.Fatalf("create an application: %v (%s)", err, odataCode(err))
	}
	if n := gzipBodies(t, sim); n == 0 {
		t.Error("the SDK's default middleware sent no gzip body (kiota's CompressionHandler): the test no longer covers Graph's gzip bodies")
	}
	if created.GetSignInAudience() == nil || *created.GetSignInAudience() != "AzureADMyOrg" {
		t.Errorf("signInAudience: %v", created.GetSignInAudience())
	}
	update := models.NewApplication()
	update.SetIdentifierUris([]string{"api://" + *created.GetAppId()})
	if _, err := client.Applications().ByApplicationId(*created.GetId()).Patch(ctx, update, nil); err != nil {
		t.Fatalf("update the application: %v (%s)", err, odataCode(err))
	}
	byAppID, err := client.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: ptr("appId eq '" + *created.GetAppId() + "'")}})
	if err != nil || len(byAppID.GetValue()) != 1 || byAppID.GetValue()[0].GetIdentifierUris()[0] != "api://"+*created.GetAppId() {
		t.Fatalf("the application by appId: %v (%s)", err, odataCode(err))
	}
	apiSP := models.NewServicePrincipal()
	apiSP.SetAppId(created.GetAppId())
	apiPrincipal, err := client.ServicePrincipals().Post(ctx, apiSP, nil)
	if err != nil {
		t.Fatalf("the application's principal: %v (%s)", err, odataCode(err))
	}
	sps, err := client.ServicePrincipals().Get(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Filter: ptr("appId eq '" + *created.GetAppId() + "'")}})
	if err != nil || len(sps.GetValue()) != 1 || *sps.GetValue()[0].GetId() != *apiPrincipal.GetId() {
		t.Fatalf("service principals by appId: %v (%s)", err, odataCode(err))
	}

	// A blueprint at its cast, with a sponsor, updated at its cast; its
	// principal; an agent identity.
	bp := models.NewApplication()
	bp.SetOdataType(ptr("#microsoft.graph.agentIdentityBlueprint"))
	bp.SetDisplayName(ptr("sdk blueprint"))
	bp.SetAdditionalData(map[string]any{"sponsors@odata.bind": sponsor})
	blueprint, err := applications.NewApplicationsRequestBuilder(base+"/applications/microsoft.graph.agentIdentityBlueprint", adapter).Post(ctx, bp, nil)
	if err != nil {
		t.Fatalf("create a blueprint: %v (%s)", err, odataCode(err))
	}
	rename := models.NewApplication()
	rename.SetOdataType(ptr("#microsoft.graph.agentIdentityBlueprint"))
	rename.SetDisplayName(ptr("sdk blueprint, renamed"))
	if _, err := applications.NewApplicationItemRequestBuilder(base+"/applications/"+*blueprint.GetId()+"/microsoft.graph.agentIdentityBlueprint",
		adapter).Patch(ctx, rename, nil); err != nil {
		t.Fatalf("update the blueprint: %v (%s)", err, odataCode(err))
	}
	bpSP := models.NewServicePrincipal()
	bpSP.SetOdataType(ptr("#microsoft.graph.agentIdentityBlueprintPrincipal"))
	bpSP.SetAppId(blueprint.GetAppId())
	if _, err := serviceprincipals.NewServicePrincipalsRequestBuilder(base+"/servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal", adapter).
		Post(ctx, bpSP, nil); err != nil {
		t.Fatalf("the blueprint's principal: %v (%s)", err, odataCode(err))
	}
	ag := models.NewServicePrincipal()
	ag.SetOdataType(ptr("#microsoft.graph.agentIdentity"))
	ag.SetDisplayName(ptr("sdk agent"))
	ag.SetAdditionalData(map[string]any{"agentIdentityBlueprintId": *blueprint.GetAppId(), "sponsors@odata.bind": sponsor})
	agent, err := serviceprincipals.NewServicePrincipalsRequestBuilder(base+"/servicePrincipals/microsoft.graph.agentIdentity", adapter).Post(ctx, ag, nil)
	if err != nil {
		t.Fatalf("create an agent identity: %v (%s)", err, odataCode(err))
	}

	// A federated credential: added, read by id and by name, listed with a
	// filter on its subject, deleted.
	fic := models.NewFederatedIdentityCredential()
	fic.SetName(ptr("sdk-fic"))
	fic.SetIssuer(ptr("https://token.actions.githubusercontent.com"))
	fic.SetSubject(ptr("repo:contoso/agent:environment:prod"))
	fic.SetAudiences([]string{"api://AzureADTokenExchange"})
	fics := client.Applications().ByApplicationId(*created.GetId()).FederatedIdentityCredentials()
	added, err := fics.Post(ctx, fic, nil)
	if err != nil {
		t.Fatalf("add a federated credential: %v (%s)", err, odataCode(err))
	}
	if got, err := fics.ByFederatedIdentityCredentialId(*added.GetId()).Get(ctx, nil); err != nil || *got.GetSubject() != *fic.GetSubject() {
		t.Fatalf("the credential by id: %v (%s)", err, odataCode(err))
	}
	if got, err := client.Applications().ByApplicationId(*created.GetId()).FederatedIdentityCredentialsWithName(ptr("sdk-fic")).Get(ctx, nil); err != nil ||
		*got.GetId() != *added.GetId() {
		t.Fatalf("the credential by name: %v (%s)", err, odataCode(err))
	}
	filtered, err := fics.Get(ctx, &applications.ItemFederatedIdentityCredentialsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ItemFederatedIdentityCredentialsRequestBuilderGetQueryParameters{Filter: ptr("subject eq 'repo:contoso/agent:environment:prod'")}})
	if err != nil || len(filtered.GetValue()) != 1 {
		t.Fatalf("credentials by subject: %v (%s)", err, odataCode(err))
	}
	none, err := fics.Get(ctx, &applications.ItemFederatedIdentityCredentialsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ItemFederatedIdentityCredentialsRequestBuilderGetQueryParameters{Filter: ptr("subject eq 'someone else'")}})
	if err != nil || len(none.GetValue()) != 0 {
		t.Fatalf("a filter matching nothing must not be ignored: %v, %d", err, len(none.GetValue()))
	}
	if err := fics.ByFederatedIdentityCredentialId(*added.GetId()).Delete(ctx, nil); err != nil {
		t.Fatalf("delete the credential: %v (%s)", err, odataCode(err))
	}
	if _, err := fics.ByFederatedIdentityCredentialId(*added.GetId()).Get(ctx, nil); odataCode(err) != "Request_ResourceNotFound" {
		t.Errorf("a deleted credential: %v, want Request_ResourceNotFound", err)
	}

	// A secret with an end date: both dates come back.
	end := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	pc := models.NewPasswordCredential()
	pc.SetDisplayName(ptr("sdk secret"))
	pc.SetEndDateTime(&end)
	pw := applications.NewItemAddPasswordPostRequestBody()
	pw.SetPasswordCredential(pc)
	secret, err := client.Applications().ByApplicationId(*created.GetId()).AddPassword().Post(ctx, pw, nil)
	if err != nil {
		t.Fatalf("addPassword: %v (%s)", err, odataCode(err))
	}
	if secret.GetSecretText() == nil || secret.GetEndDateTime() == nil || !secret.GetEndDateTime().Equal(end) || secret.GetStartDateTime() == nil {
		t.Errorf("addPassword's answer: end %v (want %v), start %v", secret.GetEndDateTime(), end, secret.GetStartDateTime())
	}

	// A grant and an app role assignment for the agent identity.
	grant := models.NewOAuth2PermissionGrant()
	grant.SetClientId(agent.GetId())
	grant.SetConsentType(ptr("AllPrincipals"))
	grant.SetResourceId(apiPrincipal.GetId())
	grant.SetScope(ptr("Weather.Read"))
	if _, err := client.Oauth2PermissionGrants().Post(ctx, grant, nil); err != nil {
		t.Fatalf("grant: %v (%s)", err, odataCode(err))
	}
	assignment := models.NewAppRoleAssignment()
	assignment.SetPrincipalId(ptr(uuid.MustParse(*agent.GetId())))
	assignment.SetResourceId(ptr(uuid.MustParse(*apiPrincipal.GetId())))
	assignment.SetAppRoleId(role.GetId())
	if _, err := client.ServicePrincipals().ByServicePrincipalId(*agent.GetId()).AppRoleAssignments().Post(ctx, assignment, nil); err != nil {
		t.Fatalf("app role assignment: %v (%s)", err, odataCode(err))
	}

	// Paging: three more applications, then every application two at a
	// time through the SDK's page iterator (@odata.nextLink).
	for _, name := range []string{"sdk page a", "sdk page b", "sdk page c"} {
		a := models.NewApplication()
		a.SetDisplayName(ptr(name))
		if _, err := client.Applications().Post(ctx, a, nil); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	first, err := client.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Top: ptr(int32(2))}})
	if err != nil {
		t.Fatalf("the first page: %v (%s)", err, odataCode(err))
	}
	if len(first.GetValue()) != 2 || first.GetOdataNextLink() == nil {
		t.Fatalf("the first page: %d items, nextLink %v", len(first.GetValue()), first.GetOdataNextLink())
	}
	it, err := core.NewPageIterator[models.Applicationable](first, adapter, models.CreateApplicationCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	if err := it.Iterate(ctx, func(a models.Applicationable) bool {
		seen = append(seen, *a.GetDisplayName())
		return len(seen) < 50 // bounded
	}); err != nil {
		t.Fatalf("paging: %v (%s)", err, odataCode(err))
	}
	if len(seen) != 5 { // the api, the blueprint and three more
		t.Errorf("paged through %d applications, want 5: %v", len(seen), seen)
	}
}

// TestGraphRefusesThroughTheGoSDK: what Graph refuses, the SDK's caller
// sees as Graph's error: a body whose @odata.type is not the path's type,
// a filter Graph does not serve, a page size over Graph's.
func TestGraphRefusesThroughTheGoSDK(t *testing.T) {
	sim := cloudsimtest.Start(t, cloudsimtest.FreshTenant(t))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	client, _ := newClient(t, sim, graphToken(t, ctx, sim))
	wrong := models.NewApplication()
	wrong.SetOdataType(ptr("#microsoft.graph.user"))
	wrong.SetDisplayName(ptr("not an application"))
	_, err := client.Applications().Post(ctx, wrong, nil)
	if odataCode(err) != "BadRequest" || !strings.Contains(err.Error()+messageOf(err), "not assignable") {
		t.Errorf("a user's @odata.type at /applications: %v (%s)", err, messageOf(err))
	}
	_, err = client.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: ptr("startswith(displayName,'sdk')")}})
	if odataCode(err) != "Request_UnsupportedQuery" {
		t.Errorf("startswith: %v, want Request_UnsupportedQuery", err)
	}
	_, err = client.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Top: ptr(int32(1000))}})
	if odataCode(err) != "Request_UnsupportedQuery" || !strings.Contains(messageOf(err), "Invalid page size") {
		t.Errorf("$top=1000: %v (%s)", err, messageOf(err))
	}
}

func messageOf(err error) string {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.GetErrorEscaped() != nil && oe.GetErrorEscaped().GetMessage() != nil {
		return *oe.GetErrorEscaped().GetMessage()
	}
	return ""
}
