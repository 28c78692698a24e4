package refresher

import (
	"context"
	"fmt"
	"net/http"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/crosscloud-agentid/agentid/internal/httpclient"
)

// TokenExchangeResource is the audience of a managed identity token used as
// a federated credential.
const TokenExchangeResource = "api://AzureADTokenExchange"

// MSALSource is chain B's first two hops through MSAL Go: the managed
// identity's token for api://AzureADTokenExchange, used as the client
// assertion of the STS app's client credentials request.
type MSALSource struct {
	mi        managedidentity.Client
	authority string
	clientID  string
	scope     string
	http      *http.Client
}

// NewMSALSource uses the user-assigned identity in s, or the
// system-assigned one when it names none. MSAL finds the managed identity
// endpoint itself (IDENTITY_ENDPOINT and IDENTITY_HEADER on Container Apps
// and App Service). httpClient is nil in production (MSAL's default);
// tests pass one that trusts their cloudsim.
func NewMSALSource(s Settings, httpClient *http.Client) (*MSALSource, error) {
	id := managedidentity.SystemAssigned()
	if s.ManagedIdentityClientID != "" {
		id = managedidentity.UserAssignedClientID(s.ManagedIdentityClientID)
	}
	// MSAL reads the managed identity endpoint's and Entra's answers
	// whole: bound them, with a timeout.
	httpClient = httpclient.Bounded(httpClient, httpclient.MaxAnswerBytes)
	mi, err := managedidentity.New(id, managedidentity.WithHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("managed identity client: %w", err)
	}
	return &MSALSource{mi: mi, authority: s.AuthorityHost + "/" + s.TenantID, clientID: s.STSAppID, scope: s.STSAppURI + "/.default", http: httpClient}, nil
}

// Token implements Source. Each call builds a new confidential client, so
// MSAL's token cache cannot hand back the token already in the file: a
// refresh ahead of expiry must really get a new one. The managed identity
// token is cached by MSAL and reused while it is valid.
func (s *MSALSource) Token(ctx context.Context) (string, error) {
	cred := confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
		r, err := s.mi.AcquireToken(ctx, TokenExchangeResource)
		if err != nil {
			return "", fmt.Errorf("managed identity token: %w", err)
		}
		return r.AccessToken, nil
	})
	// Instance discovery is for multi-cloud aliases; the authority here is
	// always the tenant's own, and cloudsim's host is unknown to it.
	opts := []confidential.Option{confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(s.http)}
	client, err := confidential.New(s.authority, s.clientID, cred, opts...)
	if err != nil {
		return "", &Failure{Permanent: true, Summary: "AZURE_AUTHORITY_HOST or TENANT_ID: " + err.Error(), Err: err}
	}
	res, err := client.AcquireTokenByCredential(ctx, []string{s.scope})
	if err != nil {
		return "", err
	}
	return res.AccessToken, nil
}
