package entra

import (
	"fmt"
	"net/http"
)

// aadError is an Entra token endpoint error: an OAuth error value, an AADSTS
// code and the HTTP status Entra answers with. Codes and wording follow
// Entra's; where cloudsim had to choose, docs/cloudsim.md says so.
type aadError struct {
	status int
	oauth  string // invalid_request, invalid_client, invalid_grant, ...
	code   int
	desc   string
}

// Error is the description as Entra starts it. Code 0 marks an answer no
// source pins to an AADSTS number: cloudsim then gives none rather than
// invent one.
func (e *aadError) Error() string {
	if e.code == 0 {
		return e.desc
	}
	return fmt.Sprintf("AADSTS%d: %s", e.code, e.desc)
}

// statKey is the refusal's counter: its AADSTS code, or its OAuth error
// where it has none.
func (e *aadError) statKey() string {
	if e.code == 0 {
		return "entra.error." + e.oauth
	}
	return "entra.error.AADSTS" + itoa(e.code)
}

func newErr(status int, oauth string, code int, format string, args ...any) *aadError {
	return &aadError{status: status, oauth: oauth, code: code, desc: fmt.Sprintf(format, args...)}
}

const (
	oauthInvalidRequest     = "invalid_request"
	oauthInvalidClient      = "invalid_client"
	oauthInvalidGrant       = "invalid_grant"
	oauthUnauthorizedClient = "unauthorized_client"
	oauthInvalidScope       = "invalid_scope"
	oauthInvalidResource    = "invalid_resource"
	oauthUnsupportedGrant   = "unsupported_grant_type"
)

func errMissingParam(name string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidRequest, 900144, "The request body must contain the following parameter: '%s'.", name)
}

// errUserIDNotObjectID answers a UPN in user_fic's user_id. The agent user
// flow page gives user_id the object ID and username the UPN, but not
// Entra's answer to the mix: unverified, so no AADSTS code.
func errUserIDNotObjectID() *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidRequest, 0, "The parameter 'user_id' takes the agent user's object ID; pass a UPN as 'username'.")
}

// The cross-origin rules of the auth code flow page: SPA tokens only
// from a browser, and a browser redeems nothing else.
func errCrossOriginNotSPA(origin string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidRequest, 9002326, "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '%s'.", origin)
}

func errSPANeedsOrigin() *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidRequest, 9002327, "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.")
}

func errPKCERequired() *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidRequest, 9002325, "Proof Key for Code Exchange is required for cross-origin authorization code redemption.")
}

func errSPARefreshTokenExpired(issued string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidGrant, 700084, "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page. The token was issued on %s.", issued)
}

func errConsentDeclined() *aadError {
	return newErr(http.StatusBadRequest, "access_denied", 65004, "User declined to consent to access the app.")
}

func errMalformedRequest() *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidRequest, 9002313, "Invalid request. Request is malformed or invalid.")
}

func errTransient() *aadError {
	return newErr(http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
}

func errTenantNotFound(tenant string) *aadError {
	return newErr(http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant)
}

func errUnknownClient(client, tenant string) *aadError {
	return newErr(http.StatusBadRequest, oauthUnauthorizedClient, 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", client, tenant)
}

func errWrongSecret(client string) *aadError {
	return newErr(http.StatusUnauthorized, oauthInvalidClient, 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", client)
}

// errSecretExpired is Entra's answer to a client secret past its
// endDateTime. The text is the one Entra returned in 2023-2025 (quoted in
// github.com/dotnet/sign/issues/849, 2025-04-10, and
// github.com/Budibase/budibase/issues/15843, 2025-03-30); its status and
// error match 7000215's, as MSAL reports invalid_client for both.
func errSecretExpired(appID string) *aadError {
	return newErr(http.StatusUnauthorized, oauthInvalidClient, 7000222, "The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", appID)
}

func errNoCredential(grant string) *aadError {
	if grant == "client_credentials" {
		return newErr(http.StatusUnauthorized, oauthInvalidClient, 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
	}
	return newErr(http.StatusUnauthorized, oauthInvalidClient, 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
}

func errMalformedJWT() *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidRequest, 50027, "JWT token is invalid or malformed.")
}

func errAssertionSignature(reason string) *aadError {
	return newErr(http.StatusUnauthorized, oauthInvalidClient, 700027, "Client assertion contains an invalid signature. [Reason - %s]", reason)
}

func errAssertionTime(now, nbf, exp string) *aadError {
	return newErr(http.StatusUnauthorized, oauthInvalidClient, 700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .", now, nbf, exp)
}

func errNoFICForIssuer(issuer string) *aadError {
	return newErr(http.StatusUnauthorized, oauthInvalidClient, 700211, "No matching federated identity record found for presented assertion issuer '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", issuer)
}

func errNoFICForAudience(aud string) *aadError {
	return newErr(http.StatusUnauthorized, oauthInvalidClient, 700212, "No matching federated identity record found for presented assertion audience '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", aud)
}

func errNoFICForSubject(sub string) *aadError {
	return newErr(http.StatusUnauthorized, oauthInvalidClient, 700213, "No matching federated identity record found for presented assertion subject '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", sub)
}

func errEntraTokenNotFederatable() *aadError {
	return newErr(http.StatusUnauthorized, oauthInvalidClient, 700222, "AAD-issued tokens may not be used for federated identity flows.")
}

func errMissingFMIPath() *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidRequest, 82008, "All agentic applications requesting a token exchange token must include the fmipath parameter on the token request.")
}

func errNotOwnAgent(fmiPath, client, tenant string) *aadError {
	return newErr(http.StatusBadRequest, oauthUnauthorizedClient, 700016, "Application with identifier '%s' was not found in the directory '%s' as an agent identity of the agent identity blueprint '%s'. A blueprint can only request tokens for its own agent identities.", fmiPath, tenant, client)
}

func errAgenticAppOnly(client, resource string) *aadError {
	return newErr(http.StatusBadRequest, oauthUnauthorizedClient, 82001, "Agentic application '%s' is not permitted to request app-only tokens for resource '%s'.", client, resource)
}

func errAgenticOBO(client string) *aadError {
	return newErr(http.StatusBadRequest, oauthUnauthorizedClient, 82002, "Agentic application '%s' is not permitted to request on-behalf-of tokens; use its agent identity.", client)
}

func errUserAssertionSignature() *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidGrant, 50013, "Assertion failed signature validation. [Reason - The key was not found.]")
}

func errUserAssertionAudience(got, want string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidGrant, 50013, "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '%s' and the expected audience is '%s' or one of the Application Ids of the app presenting the assertion.", got, want)
}

func errUserAssertionExpired(now, exp string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidGrant, 500133, "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: %s, expiry time of assertion %s.", now, exp)
}

func errUserNotFound(user, tenant string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidGrant, 50034, "The user account %s does not exist in the %s directory. To sign into this application, the account must be added to the directory.", user, tenant)
}

func errWrongPassword() *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidGrant, 50126, "Error validating credentials due to invalid username or password.")
}

func errConsent(client, name string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidGrant, 65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", client, name)
}

func errInvalidScope(scope string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidScope, 70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope)
}

func errNeedsDotDefault(scope string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidScope, 1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
}

func errManyResources(scope string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidScope, 28000, "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", scope)
}

func errUnknownResource(resource, tenant string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidResource, 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, tenant)
}

func errUnsupportedGrant(grant string) *aadError {
	return newErr(http.StatusBadRequest, oauthUnsupportedGrant, 70003, "The app requested an unsupported grant type '%s'.", grant)
}

func errBadRefreshToken() *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidGrant, 9002313, "Invalid request. Request is malformed or invalid.")
}

func errRefreshTokenOtherClient() *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidGrant, 70000, "Provided grant is invalid or malformed. The refresh token was issued to a different client.")
}

func errRefreshTokenExpired(issued string) *aadError {
	return newErr(http.StatusBadRequest, oauthInvalidGrant, 700082, "The refresh token has expired due to inactivity. The token was issued on %s.", issued)
}

func errMethod(method string) *aadError {
	return newErr(http.StatusMethodNotAllowed, oauthInvalidRequest, 900561, "The endpoint only accepts POST, OPTIONS requests. Received a %s request.", method)
}

func errBodyTooLarge() *aadError {
	return newErr(http.StatusRequestEntityTooLarge, oauthInvalidRequest, 9002313, "Invalid request. Request is malformed or invalid. The request body is over %d bytes.", maxFormBytes)
}
