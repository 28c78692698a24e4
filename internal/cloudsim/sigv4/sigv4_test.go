package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sigv4"
)

const (
	keyID   = "ASIATESTTESTTESTTEST"
	secret  = "test-secret-key-000000000000000000000000"
	session = "test-session-token"
	region  = "us-east-1"
)

type staticCreds struct{}

func (staticCreds) Secret(id string) (string, string, time.Time, string, bool) {
	return secret, session, time.Time{}, "test principal", id == keyID
}

// request is one signed request, sent byte for byte over a socket so the
// server sees exactly the headers and framing the client chose.
type request struct {
	Name    string      `json:"name"`
	Method  string      `json:"method"`
	URL     string      `json:"url"`
	Headers [][2]string `json:"headers"`
	Body    string      `json:"body"`
	Chunked bool        `json:"chunked"`
	SignAll bool        `json:"sign_all"`
	Service string      `json:"service"`
	Region  string      `json:"region"`
	Key     string      `json:"key"`
	Secret  string      `json:"secret"`
	Token   string      `json:"token"`
	// Unsigned lets the server honour UNSIGNED-PAYLOAD.
	Unsigned bool `json:"-"`
}

// verdict is what the server's Verify said.
type verdict struct {
	Failure sigv4.Failure
	Message string
}

// verifier is a loopback server that checks each request's signature.
type verifier struct {
	addr string
	mu   sync.Mutex
	// rules for the next request; the test sends one at a time.
	rules sigv4.Rules
	now   time.Time
}

func newVerifier(t *testing.T) *verifier {
	v := &verifier{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		rules, now := v.rules, v.now
		v.mu.Unlock()
		_, refusal := sigv4.Verify(r, body, staticCreds{}, rules, now)
		var out verdict
		if refusal != nil {
			out = verdict{refusal.Failure, refusal.Message}
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	v.addr = srv.Listener.Addr().String()
	return v
}

func (v *verifier) check(t *testing.T, r request, now time.Time) verdict {
	t.Helper()
	v.mu.Lock()
	v.rules = sigv4.Rules{Service: "bedrock", Region: region, MaxSkew: 5 * time.Minute, UnsignedPayload: r.Unsigned}
	v.now = now
	v.mu.Unlock()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nConnection: close\r\n", r.Method, u.RequestURI())
	hasHost := false
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], "Host") {
			hasHost = true
		}
		if strings.EqualFold(h[0], "Content-Length") || strings.EqualFold(h[0], "Transfer-Encoding") {
			continue
		}
		fmt.Fprintf(&raw, "%s: %s\r\n", h[0], h[1])
	}
	if !hasHost {
		fmt.Fprintf(&raw, "Host: %s\r\n", u.Host)
	}
	if r.Chunked {
		// Two chunks, so the server must undo the framing to hash the body.
		half := len(r.Body) / 2
		fmt.Fprintf(&raw, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", half, r.Body[:half], len(r.Body)-half, r.Body[half:])
	} else {
		fmt.Fprintf(&raw, "Content-Length: %d\r\n\r\n%s", len(r.Body), r.Body)
	}
	conn, err := net.DialTimeout("tcp", v.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode == http.StatusContinue {
		resp, err = http.ReadResponse(br, nil) // Expect: 100-continue
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out verdict
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %s %v", r.Name, resp.Status, err)
	}
	return out
}

// templates are the shapes of request the table covers; each is signed by
// botocore and by the Go SDK.
func templates(addr string) []request {
	base := "http://" + addr
	json := [][2]string{{"Content-Type", "application/json"}}
	return []request{
		{Name: "Converse, encoded model ID", Method: "POST", URL: base + "/bedrock/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse",
			Headers: json, Body: `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`},
		{Name: "STS form", Method: "POST", URL: base + "/sts",
			Headers: [][2]string{{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}, Body: "Action=GetCallerIdentity&Version=2011-06-15"},
		{Name: "query string", Method: "GET", URL: base + "/bedrock/list?b=2&a=1&a=0&space=a%20b&slash=x%2Fy&empty=&tilde=~"},
		{Name: "encoded path", Method: "POST", URL: base + "/bedrock/model/caf%C3%A9%20x/converse", Headers: json, Body: `{}`},
		{Name: "chunked body", Method: "POST", URL: base + "/bedrock/model/m/converse", Headers: json, Body: `{"messages":"a chunked body, framed in two"}`, Chunked: true},
		{Name: "header with runs of spaces", Method: "POST", URL: base + "/bedrock/x", Headers: [][2]string{{"Content-Type", "application/json"}, {"X-Custom", "  a   b  "}}, Body: `{}`},
	}
}

func botocoreSigned(t *testing.T, reqs []request) []request {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import botocore").CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the python3 on PATH lacks botocore (the machine's pyenv Python has it; PyPI is unreachable): %v %s", err, out)
		}
		t.Skip("botocore is not importable from the python3 on PATH")
	}
	for i := range reqs {
		reqs[i].Service, reqs[i].Region, reqs[i].Key, reqs[i].Secret, reqs[i].Token = "bedrock", region, keyID, secret, session
		if reqs[i].Headers == nil {
			reqs[i].Headers = [][2]string{}
		}
	}
	in, _ := json.Marshal(reqs)
	cmd := exec.Command("python3", filepath.Join("testdata", "botocore_sign.py"))
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = t.Output()
	signed, err := cmd.Output()
	if err != nil {
		t.Fatalf("botocore signer: %v", err)
	}
	var res []request
	if err := json.Unmarshal(signed, &res); err != nil {
		t.Fatal(err)
	}
	for i := range res {
		res[i].Name = "botocore: " + res[i].Name
		res[i].Chunked, res[i].Unsigned = reqs[i].Chunked, reqs[i].Unsigned
	}
	return res
}

func goSigned(t *testing.T, reqs []request, signedAt time.Time) []request {
	t.Helper()
	var out []request
	for _, r := range reqs {
		hr, err := http.NewRequest(r.Method, r.URL, strings.NewReader(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		if r.Chunked {
			hr.ContentLength = -1
		}
		for _, h := range r.Headers {
			hr.Header.Add(h[0], h[1])
		}
		sum := sha256.Sum256([]byte(r.Body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: session},
			hr, hex.EncodeToString(sum[:]), "bedrock", region, signedAt); err != nil {
			t.Fatal(err)
		}
		r.Name = "Go SDK: " + r.Name
		r.Headers = nil
		for k, vs := range hr.Header {
			for _, v := range vs {
				r.Headers = append(r.Headers, [2]string{k, v})
			}
		}
		out = append(out, r)
	}
	return out
}

// tampered is r with one signed part changed after signing.
func tampered(r request) request {
	r.Name += ", tampered"
	switch {
	case len(r.Body) > 0:
		r.Body = r.Body[:len(r.Body)-1] + "!"
	case strings.Contains(r.URL, "?"):
		r.URL = strings.Replace(r.URL, "b=2", "b=3", 1)
	default:
		r.URL += "x"
	}
	return r
}

func TestVerifyRequestsSignedByBotocoreAndTheGoSDK(t *testing.T) {
	v := newVerifier(t)
	now := time.Now()
	extra := []request{{Name: "User-Agent, X-Amzn-Trace-Id and Expect signed", Method: "POST", URL: "http://" + v.addr + "/bedrock/y",
		Headers: [][2]string{{"Content-Type", "application/json"}, {"User-Agent", "another-sdk/1.0"}, {"X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"},
			{"Expect", "100-continue"}}, Body: `{"a":1}`, SignAll: true}}
	signed := append(botocoreSigned(t, append(templates(v.addr), extra...)), goSigned(t, templates(v.addr), now)...)
	for _, r := range signed {
		if got := v.check(t, r, now); got.Failure != 0 {
			t.Errorf("%s: refused: %v %s", r.Name, got.Failure, got.Message)
		}
		if got := v.check(t, tampered(r), now); got.Failure != sigv4.Mismatch {
			t.Errorf("%s: tampered twin gave %v, want Mismatch", r.Name, got.Failure)
		}
	}
}

// A body framed as aws-chunked is never decoded, and UNSIGNED-PAYLOAD is
// honoured only where the service model allows it.
func TestPayloadHashRules(t *testing.T) {
	v := newVerifier(t)
	body := `{"messages":[]}`
	reqs := []request{
		{Name: "aws-chunked", Method: "POST", URL: "http://" + v.addr + "/bedrock/z", Body: body,
			Headers: [][2]string{{"Content-Encoding", "aws-chunked"}, {"X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, {"X-Amz-Decoded-Content-Length", "15"}}},
		{Name: "unsigned payload, not allowed", Method: "POST", URL: "http://" + v.addr + "/bedrock/z", Body: body,
			Headers: [][2]string{{"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}}},
		{Name: "unsigned payload, allowed", Method: "POST", URL: "http://" + v.addr + "/bedrock/z", Body: body,
			Headers: [][2]string{{"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}}, Unsigned: true},
	}
	want := []sigv4.Failure{sigv4.Mismatch, sigv4.Mismatch, 0}
	for i, r := range botocoreSigned(t, reqs) {
		if got := v.check(t, r, time.Now()); got.Failure != want[i] {
			t.Errorf("%s: %v %s, want %v", r.Name, got.Failure, got.Message, want[i])
		}
	}
}

// Each refusal, with AWS's words for it.
func TestRefusalMessages(t *testing.T) {
	v := newVerifier(t)
	now := time.Date(2026, 11, 30, 5, 8, 20, 0, time.UTC)
	sign := func(service, reg string, at time.Time, edit func(*http.Request)) request {
		hr, _ := http.NewRequest("POST", "http://"+v.addr+"/bedrock/q", strings.NewReader("{}"))
		sum := sha256.Sum256([]byte("{}"))
		v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: session},
			hr, hex.EncodeToString(sum[:]), service, reg, at)
		if edit != nil {
			edit(hr)
		}
		r := request{Method: "POST", URL: hr.URL.String(), Body: "{}"}
		for k, vs := range hr.Header {
			r.Headers = append(r.Headers, [2]string{k, vs[0]})
		}
		return r
	}
	cases := []struct {
		name    string
		r       request
		failure sigv4.Failure
		message string
	}{
		{"no signature", request{Method: "POST", URL: "http://" + v.addr + "/bedrock/q", Body: "{}"}, sigv4.Missing, "Missing Authentication Token"},
		{"another service", sign("sts", region, now, nil), sigv4.WrongScope, "Credential should be scoped to correct service: 'bedrock'. "},
		{"another region", sign("bedrock", "eu-west-1", now, nil), sigv4.WrongScope, "Credential should be scoped to a valid region, not 'eu-west-1'. "},
		{"signed too long ago", sign("bedrock", region, now.Add(-6*time.Minute), nil), sigv4.Skewed,
			"Signature expired: 20261130T050220Z is now earlier than 20261130T050320Z (20261130T050820Z - 5 min.)"},
		{"signed in the future", sign("bedrock", region, now.Add(6*time.Minute), nil), sigv4.Skewed,
			"Signature not yet current: 20261130T051420Z is still later than 20261130T051320Z (20261130T050820Z + 5 min.)"},
		{"scope date not the request's", sign("bedrock", region, now, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20261130/", "/20261129/", 1))
		}), sigv4.WrongScope, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261129' != '20261130', from '20261130T050820Z'."},
		{"host not signed", sign("bedrock", region, now, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
		}), sigv4.BadCredential, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{"no X-Amz-Date", sign("bedrock", region, now, func(r *http.Request) { r.Header.Del("X-Amz-Date") }), sigv4.NoDate,
			"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."},
		{"an unknown key", sign("bedrock", region, now, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), keyID, "ASIAUNKNOWNUNKNOWN00", 1))
		}), sigv4.UnknownKey, "The security token included in the request is invalid."},
	}
	for _, c := range cases {
		if got := v.check(t, c.r, now); got.Failure != c.failure || got.Message != c.message {
			t.Errorf("%s: %v %q, want %v %q", c.name, got.Failure, got.Message, c.failure, c.message)
		}
	}
}

// A global service's rules: the endpoint's region and the others a client
// with an endpoint override may sign for; any other region is refused.
func TestOtherRegions(t *testing.T) {
	now := time.Now()
	rules := sigv4.Rules{Service: "iam", Region: "us-east-1", OtherRegions: []string{"eu-west-1"}, MaxSkew: 15 * time.Minute}
	for reg, want := range map[string]sigv4.Failure{"us-east-1": 0, "eu-west-1": 0, "ap-south-1": sigv4.WrongScope} {
		r, _ := http.NewRequest("POST", "http://iam.test/", strings.NewReader("{}"))
		sum := sha256.Sum256([]byte("{}"))
		v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: session},
			r, hex.EncodeToString(sum[:]), "iam", reg, now)
		_, refusal := sigv4.Verify(r, []byte("{}"), staticCreds{}, rules, now)
		var got sigv4.Failure
		if refusal != nil {
			got = refusal.Failure
		}
		if got != want {
			t.Errorf("signed for %s: %v, want %v", reg, refusal, want)
		}
	}
}
