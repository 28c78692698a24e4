// Package sigv4 checks AWS Signature Version 4 on requests to cloudsim's
// AWS services. It is the server side of the protocol, so it is written
// here rather than borrowed from an SDK's signer: a signer decides which
// headers to sign (the Go SDK adds content-length, botocore does not), and
// a verifier must instead rebuild the canonical request from exactly the
// headers the client listed in SignedHeaders, whatever they are.
//
// The algorithm is AWS's "Create a signed AWS API request" (IAM User
// Guide, reference_sigv4-create-signed-request): canonical request, string
// to sign, the derived signing key, HMAC-SHA256. Each service turns a
// Refusal into its own error shape; the messages are the ones AWS's
// front end gives, quoted where they were seen.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
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
	BadCredential                    // a malformed Authorization or Credential scope
	UnknownKey                       // a key or session token STS never issued
	Expired                          // the session has expired
	NoDate                           // no parseable X-Amz-Date or Date
	Skewed                           // signed too far from the server's clock
	WrongScope                       // scoped to another date, region or service
	Mismatch                         // the signature does not match
)

// Refusal is a refused signature: why, and AWS's words for it.
type Refusal struct {
	Failure Failure
	Message string
}

// Rules are one service's SigV4 rules.
type Rules struct {
	Service string // the signing name: "sts", "bedrock"
	Region  string
	// OtherRegions are accepted in the scope too: a global service's
	// endpoint signs for one region, while a client with an endpoint
	// override signs for its own.
	OtherRegions []string
	// MaxSkew is how far the signing time may be from the server's clock.
	// It differs by service: STS answers "… (… - 15 min.)", Bedrock
	// "… (… - 5 min.)" (both as quoted in public bug reports; AWS's
	// SigV4 page says only "in most cases, five minutes").
	MaxSkew time.Duration
	// UnsignedPayload honours x-amz-content-sha256: UNSIGNED-PAYLOAD, which
	// AWS accepts only where the service model marks an operation
	// v4-unsigned-body (or for S3). Neither STS nor Bedrock Runtime does.
	UnsignedPayload bool
}

const (
	algorithm     = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
	unsigned      = "UNSIGNED-PAYLOAD"
)

const mismatchMessage = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// authorization is the parsed Authorization header.
type authorization struct {
	accessKeyID, date, region, service string
	signedHeaders                      []string
	signature                          string
}

// Verify checks r's signature under rules. body is the request's payload,
// already read whole (net/http has already removed any chunked framing).
func Verify(r *http.Request, body []byte, creds Credentials, rules Rules, now time.Time) (Signer, *Refusal) {
	algo, rest, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if algo != algorithm {
		// Query-string (presigned) authentication is not emulated: such a
		// request is answered as one with no signature.
		return Signer{}, &Refusal{Missing, "Missing Authentication Token"}
	}
	auth, refusal := parseAuthorization(rest)
	if refusal != nil {
		return Signer{}, refusal
	}
	secret, token, expires, principal, ok := creds.Secret(auth.accessKeyID)
	if !ok || r.Header.Get("X-Amz-Security-Token") != token {
		return Signer{}, &Refusal{UnknownKey, "The security token included in the request is invalid."}
	}
	if !expires.IsZero() && now.After(expires) {
		return Signer{}, &Refusal{Expired, "The security token included in the request is expired"}
	}
	signedAt, amzDate, ok := requestTime(r)
	if !ok {
		return Signer{}, &Refusal{NoDate, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."}
	}
	if refusal := checkSkew(signedAt, now, rules.MaxSkew); refusal != nil {
		return Signer{}, refusal
	}
	if refusal := checkScope(auth, amzDate, rules); refusal != nil {
		return Signer{}, refusal
	}
	canonical, ok := canonicalRequest(r, auth.signedHeaders, payloadHash(r, body, rules))
	if !ok {
		return Signer{}, &Refusal{Mismatch, mismatchMessage}
	}
	scope := strings.Join([]string{auth.date, auth.region, auth.service, "aws4_request"}, "/")
	want := signature(secret, auth.date, auth.region, auth.service, stringToSign(amzDate, scope, canonical))
	if subtle.ConstantTimeCompare([]byte(want), []byte(auth.signature)) != 1 {
		return Signer{}, &Refusal{Mismatch, mismatchMessage}
	}
	return Signer{AccessKeyID: auth.accessKeyID, Principal: principal}, nil
}

// parseAuthorization reads "Credential=…, SignedHeaders=…, Signature=…".
func parseAuthorization(s string) (authorization, *Refusal) {
	fields := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	var missing []string
	for _, name := range []string{"Credential", "Signature", "SignedHeaders"} {
		if fields[name] == "" {
			missing = append(missing, "Authorization header requires '"+name+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return authorization{}, &Refusal{BadCredential, strings.Join(missing, " ")}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || scope[0] == "" {
		return authorization{}, &Refusal{BadCredential, "Authorization header requires a valid Credential."}
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !slices.Contains(signed, "host") {
		return authorization{}, &Refusal{BadCredential, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."}
	}
	return authorization{accessKeyID: scope[0], date: scope[1], region: scope[2], service: scope[3],
		signedHeaders: signed, signature: fields["Signature"]}, nil
}

// requestTime is the signing time: X-Amz-Date, else the Date header.
func requestTime(r *http.Request) (time.Time, string, bool) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(amzDateFormat, v)
		return t, v, err == nil
	}
	t, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return time.Time{}, "", false
	}
	return t.UTC(), t.UTC().Format(amzDateFormat), true
}

func checkSkew(signedAt, now time.Time, maxSkew time.Duration) *Refusal {
	minutes := int(maxSkew / time.Minute)
	f := func(t time.Time) string { return t.UTC().Format(amzDateFormat) }
	switch {
	case now.Sub(signedAt) > maxSkew:
		return &Refusal{Skewed, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.)",
			f(signedAt), f(now.Add(-maxSkew)), f(now), minutes)}
	case signedAt.Sub(now) > maxSkew:
		return &Refusal{Skewed, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)",
			f(signedAt), f(now.Add(maxSkew)), f(now), minutes)}
	}
	return nil
}

// checkScope compares the credential scope with the request and service.
// The trailing spaces are AWS's own.
func checkScope(auth authorization, amzDate string, rules Rules) *Refusal {
	switch {
	case auth.date != amzDate[:8]:
		return &Refusal{WrongScope, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			auth.date, amzDate[:8], amzDate)}
	case auth.service != rules.Service:
		return &Refusal{WrongScope, fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", rules.Service)}
	case auth.region != rules.Region && !slices.Contains(rules.OtherRegions, auth.region):
		return &Refusal{WrongScope, fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", auth.region)}
	}
	return nil
}

// payloadHash is the canonical request's last line: the body's SHA-256,
// or UNSIGNED-PAYLOAD where the service honours it. A body framed as
// aws-chunked (x-amz-content-sha256: STREAMING-…) is hashed as sent, as by
// a service that does not decode it, so its signature cannot match.
func payloadHash(r *http.Request, body []byte, rules Rules) string {
	if rules.UnsignedPayload && r.Header.Get("X-Amz-Content-Sha256") == unsigned {
		return unsigned
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// canonicalRequest builds the canonical request from what the client
// signed. ok is false when a signed header is absent or the query cannot
// be decoded: nothing could match.
func canonicalRequest(r *http.Request, signed []string, payloadHash string) (string, bool) {
	query, ok := canonicalQuery(r.URL.RawQuery)
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteString(r.Method + "\n" + canonicalURI(r.URL) + "\n" + query + "\n")
	for _, name := range signed {
		values, ok := headerValues(r, name)
		if !ok {
			return "", false
		}
		for i, v := range values {
			values[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(name + ":" + strings.Join(values, ",") + "\n")
	}
	b.WriteString("\n" + strings.Join(signed, ";") + "\n" + payloadHash)
	return b.String(), true
}

// canonicalURI is the path as sent, URI-encoded once more: every service
// but S3 signs each segment encoded twice (so "%3A" is signed as "%253A"),
// after removing dot segments.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return uriEncode(clean, false)
}

// canonicalQuery sorts the decoded parameters by name, then value, each
// URI-encoded (slashes too), as "name=value" joined by "&".
func canonicalQuery(raw string) (string, bool) {
	type pair struct{ k, v string }
	var pairs []pair
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return "", false
		}
		pairs = append(pairs, pair{uriEncode(dk, true), uriEncode(dv, true)})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&"), true
}

// headerValues returns a signed header's values as the client sent them.
// net/http moves Host and Transfer-Encoding out of Header, so they are
// read from where it puts them.
func headerValues(r *http.Request, name string) ([]string, bool) {
	switch name {
	case "host":
		return []string{r.Host}, r.Host != ""
	case "transfer-encoding":
		return slices.Clone(r.TransferEncoding), len(r.TransferEncoding) > 0
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return slices.Clone(v), true
		}
		return []string{strconv.FormatInt(r.ContentLength, 10)}, r.ContentLength >= 0
	}
	v := r.Header.Values(name)
	return slices.Clone(v), len(v) > 0
}

func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// signature is HMAC-SHA256 of the string to sign with the key derived
// from the secret through the scope's date, region and service.
func signature(secret, date, region, service, toSign string) string {
	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// uriEncode percent-encodes every byte but A–Z, a–z, 0–9, '-', '.', '_',
// '~' (and '/' unless encodeSlash), in upper-case hex, as SigV4 requires.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}
