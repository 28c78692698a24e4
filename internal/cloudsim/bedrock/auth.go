package bedrock

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
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
	algo, rest, _ := strings.Cut(auth, " ")
	if algo != "AWS4-HMAC-SHA256" {
		return caller{}, &apiError{http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token"}
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return caller{}, &apiError{http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires a valid Credential."}
	}
	akid, region, service := scope[0], scope[2], scope[3]
	secret, token, expires, principal, ok := s.creds.Secret(akid)
	if !ok {
		return caller{}, &apiError{http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	if r.Header.Get("X-Amz-Security-Token") != token {
		return caller{}, &apiError{http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	now := s.now()
	if !expires.IsZero() && now.After(expires) {
		return caller{}, &apiError{http.StatusForbidden, "ExpiredTokenException", "The security token included in the request is expired"}
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return caller{}, &apiError{http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."}
	}
	if d := now.Sub(signedAt); d > 5*time.Minute || d < -5*time.Minute {
		return caller{}, &apiError{http.StatusForbidden, "InvalidSignatureException", "Signature expired: " + r.Header.Get("X-Amz-Date") + " is now earlier or later than 5 minutes from the current time."}
	}
	if service != "bedrock" || region != s.region {
		return caller{}, &apiError{http.StatusForbidden, "InvalidSignatureException", "Credential should be scoped to a valid region and service 'bedrock'."}
	}

	// Rebuild the request with only the headers the client signed, and
	// sign it again with the same key, time and payload.
	check, _ := http.NewRequest(r.Method, "https://"+r.Host+r.URL.RequestURI(), nil)
	check.URL.RawPath = r.URL.RawPath
	check.Host = r.Host
	check.ContentLength = int64(len(body))
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" && h != "content-length" {
			check.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token},
		check, hex.EncodeToString(sum[:]), service, region, signedAt)
	want := signatureOf(check.Header.Get("Authorization"))
	if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(fields["Signature"])) != 1 {
		return caller{}, &apiError{http.StatusForbidden, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	}
	return caller{AccessKeyID: akid, Auth: "sigv4", Principal: principal}, nil
}

func signatureOf(auth string) string {
	_, sig, _ := strings.Cut(auth, "Signature=")
	return sig
}
