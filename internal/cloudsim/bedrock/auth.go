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
	// action, such as bedrock:InvokeModel, on a resource (an ARN).
	Allowed(accessKeyID, action, resource string) bool
}

// caller is who signed a request.
type caller struct {
	AccessKeyID string `json:"access_key_id,omitempty"`
	Auth        string `json:"auth"`                // sigv4 or api-key
	Principal   string `json:"principal,omitempty"` // the assumed-role ARN, for STS credentials
}

// signingRules are Bedrock's. Its refusal reads "Signature expired: … (…
// - 5 min.)" with status 403 (anthropics/anthropic-sdk-go#122).
func (s *Server) signingRules() sigv4.Rules {
	return sigv4.Rules{Service: "bedrock", Region: s.region, MaxSkew: 5 * time.Minute}
}

// authenticate checks SigV4 or a Bedrock API key, and answers as AWS does
// when either fails.
func (s *Server) authenticate(r *http.Request, body []byte) (caller, *apiError) {
	auth := r.Header.Get("Authorization")
	if key, ok := strings.CutPrefix(auth, "Bearer "); ok {
		if slices.ContainsFunc(s.apiKeys, func(k string) bool { return subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 }) {
			return caller{Auth: "api-key"}, nil
		}
		return caller{}, &apiError{http.StatusForbidden, "AccessDeniedException", "Authentication failed: the Bedrock API key is not valid."}
	}
	signer, refusal := sigv4.Verify(r, body, s.creds, s.signingRules(), s.now())
	if refusal == nil {
		return caller{AccessKeyID: signer.AccessKeyID, Auth: "sigv4", Principal: signer.Principal}, nil
	}
	switch refusal.Failure {
	case sigv4.Missing:
		return caller{}, &apiError{http.StatusForbidden, "MissingAuthenticationTokenException", refusal.Message}
	case sigv4.BadCredential, sigv4.NoDate:
		return caller{}, &apiError{http.StatusBadRequest, "IncompleteSignatureException", refusal.Message}
	case sigv4.UnknownKey:
		return caller{}, &apiError{http.StatusForbidden, "UnrecognizedClientException", refusal.Message}
	case sigv4.Expired:
		return caller{}, &apiError{http.StatusForbidden, "ExpiredTokenException", refusal.Message}
	default:
		return caller{}, &apiError{http.StatusForbidden, "InvalidSignatureException", refusal.Message}
	}
}
