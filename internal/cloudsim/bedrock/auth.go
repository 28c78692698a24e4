package bedrock

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sigv4"
)

// Credentials finds the secret of an access key: the ones cloudsim STS
// issued, or the tenant file's dev key pair.
type Credentials interface {
	Secret(accessKeyID string) (secret, sessionToken string, expires time.Time, principal string, ok bool)
	// Allowed says whether the identity behind the key may perform an IAM
	// action, such as bedrock:InvokeModel.
	Allowed(accessKeyID, action string) bool
}

// caller is who signed a request.
type caller struct {
	AccessKeyID string `json:"access_key_id,omitempty"`
	Auth        string `json:"auth"`                // sigv4 or api-key
	Principal   string `json:"principal,omitempty"` // the assumed-role ARN, for STS credentials
}

// authenticate checks SigV4 (with the SDK's own signer, recomputing the
// signature from the signed headers) or a Bedrock API key, and answers as
// AWS does when either fails.
func (s *Server) authenticate(r *http.Request, body []byte) (caller, *apiError) {
	auth := r.Header.Get("Authorization")
	if key, ok := strings.CutPrefix(auth, "Bearer "); ok {
		if slices.ContainsFunc(s.apiKeys, func(k string) bool { return subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 }) {
			return caller{Auth: "api-key"}, nil
		}
		return caller{}, &apiError{http.StatusForbidden, "AccessDeniedException", "Authentication failed: the Bedrock API key is not valid."}
	}
	signer, failure := sigv4.Verify(r, body, s.creds, "bedrock", s.region, s.now())
	switch failure {
	case 0:
		return caller{AccessKeyID: signer.AccessKeyID, Auth: "sigv4", Principal: signer.Principal}, nil
	case sigv4.Missing:
		return caller{}, &apiError{http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token"}
	case sigv4.BadCredential:
		return caller{}, &apiError{http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires a valid Credential."}
	case sigv4.NoDate:
		return caller{}, &apiError{http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."}
	case sigv4.UnknownKey:
		return caller{}, &apiError{http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid."}
	case sigv4.Expired:
		return caller{}, &apiError{http.StatusForbidden, "ExpiredTokenException", "The security token included in the request is expired"}
	case sigv4.Skewed:
		return caller{}, &apiError{http.StatusForbidden, "InvalidSignatureException", "Signature expired: " + r.Header.Get("X-Amz-Date") + " is now earlier or later than 5 minutes from the current time."}
	case sigv4.WrongScope:
		return caller{}, &apiError{http.StatusForbidden, "InvalidSignatureException", "Credential should be scoped to a valid region and service 'bedrock'."}
	default:
		return caller{}, &apiError{http.StatusForbidden, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	}
}
