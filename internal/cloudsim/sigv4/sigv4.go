// Package sigv4 checks AWS Signature Version 4 on requests to cloudsim's
// AWS services, with the SDK's own signer: the signature is recomputed
// from the headers the client signed and compared. Each service turns a
// Failure into its own error shape.
package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Credentials finds the secret of an access key.
type Credentials interface {
	Secret(accessKeyID string) (secret, sessionToken string, expires time.Time, principal string, ok bool)
}

// Signer is who signed a request.
type Signer struct {
	AccessKeyID string
	Principal   string // what Credentials said of the key (an assumed-role ARN, say)
}

// Failure says why a signature was refused.
type Failure int

// The ways a request fails, in the order they are checked.
const (
	Missing       Failure = iota + 1 // no AWS4-HMAC-SHA256 Authorization
	BadCredential                    // a malformed Credential scope
	NoDate                           // no parseable X-Amz-Date
	UnknownKey                       // a key or session token STS never issued
	Expired                          // the session has expired
	Skewed                           // signed more than 5 minutes from now
	WrongScope                       // scoped to another region or service
	Mismatch                         // the signature does not match
)

// MaxSkew is how far the signing time may be from the server's clock.
const MaxSkew = 5 * time.Minute

// Verify checks r's signature for service in region. body is the request's
// payload, already read.
func Verify(r *http.Request, body []byte, creds Credentials, service, region string, now time.Time) (Signer, Failure) {
	algo, rest, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if algo != "AWS4-HMAC-SHA256" {
		return Signer{}, Missing
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return Signer{}, BadCredential
	}
	akid, scopeRegion, scopeService := scope[0], scope[2], scope[3]
	secret, token, expires, principal, ok := creds.Secret(akid)
	if !ok || r.Header.Get("X-Amz-Security-Token") != token {
		return Signer{}, UnknownKey
	}
	if !expires.IsZero() && now.After(expires) {
		return Signer{}, Expired
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return Signer{}, NoDate
	}
	if d := now.Sub(signedAt); d > MaxSkew || d < -MaxSkew {
		return Signer{}, Skewed
	}
	if scopeService != service || scopeRegion != region {
		return Signer{}, WrongScope
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
	_, want, _ := strings.Cut(check.Header.Get("Authorization"), "Signature=")
	if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(fields["Signature"])) != 1 {
		return Signer{}, Mismatch
	}
	return Signer{AccessKeyID: akid, Principal: principal}, 0
}
