package bedrock_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/bedrock"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// planted stands for a secret a sender put in a body: it must reach the
// received-requests view only in a request Bedrock answered.
const planted = "eyJhbGciOiJSUzI1NiJ9.cGxhbnRlZC1ib2R5LXRva2Vu.c2lnbmF0dXJl"

// received reads GET /_cloudsim/bedrock/received as a leak scan does.
func (f *fixture) received(t *testing.T) (string, []bedrock.Received) {
	t.Helper()
	resp, err := cloudsimtest.Client(f.sim).Get(f.sim.URL + "/_cloudsim/bedrock/received")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var rec []bedrock.Received
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("received: %v: %.200s", err, raw)
	}
	return string(raw), rec
}

func (f *fixture) devClient(t *testing.T) *bedrockruntime.Client {
	dev := f.sim.Tenant.AWS.DevCredentials[0]
	return f.client(t, credentials.NewStaticCredentialsProvider(dev.AccessKeyID, dev.SecretAccessKey, ""), 1)
}

// Bedrock keeps nothing of a request it refuses, whoever sent it: an
// unsigned POST (what a cross-site no-cors fetch sends), a forged
// signature, a wrong API key, and a signed request refused for its model
// or its conversation. What it answered is kept, so the scan below can see
// a planted token at all.
func TestRefusedRequestsLeaveNothing(t *testing.T) {
	f := newFixture(t)
	url := f.env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] + "/model/" + model + "/converse"
	body := `{"messages":[{"role":"user","content":[{"text":"weather in Oslo? ` + planted + `"}]}]}`
	post := func(name string, header map[string]string, wantStatus int, wantType string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := cloudsimtest.Client(f.sim).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != wantStatus || resp.Header.Get("X-Amzn-ErrorType") != wantType {
			t.Errorf("%s: %d %s, want %d %s", name, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), wantStatus, wantType)
		}
	}
	post("a cross-site no-cors POST", map[string]string{"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://attacker.example"},
		http.StatusForbidden, "MissingAuthenticationTokenException")
	post("unsigned JSON", map[string]string{"Content-Type": "application/json"}, http.StatusForbidden, "MissingAuthenticationTokenException")
	post("a forged signature", map[string]string{"Content-Type": "application/json", "X-Amz-Date": "20260101T000000Z",
		"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAUNKNOWNUNKNOWN01/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"},
		http.StatusForbidden, "UnrecognizedClientException")
	post("a wrong API key", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer not-a-key-cloudsim-knows"},
		http.StatusForbidden, "AccessDeniedException")

	// Signed, by the real SDK, and refused.
	c := f.devClient(t)
	msg := []types.Message{userText("weather in Oslo? " + planted)}
	if _, err := c.Converse(t.Context(), &bedrockruntime.ConverseInput{ModelId: aws.String("not-a-model"), Messages: msg}); code(err) != "ValidationException" {
		t.Errorf("an unknown model: %v", err)
	}
	if _, err := c.Converse(t.Context(), &bedrockruntime.ConverseInput{ModelId: aws.String(model),
		Messages: []types.Message{{Role: types.ConversationRoleAssistant, Content: msg[0].Content}}}); code(err) != "ValidationException" {
		t.Errorf("a conversation starting with the assistant: %v", err)
	}
	if raw, rec := f.received(t); len(rec) != 0 || strings.Contains(raw, planted) {
		t.Fatalf("refused requests were kept: %s", raw)
	}
	if n := f.sim.Entra.Stats().Get("bedrock.error.MissingAuthenticationTokenException"); n != 2 {
		t.Errorf("stats count %d unsigned refusals, want 2", n)
	}

	// The same body, answered: kept, and the scan finds the token.
	if _, err := c.Converse(t.Context(), &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: msg}); err != nil {
		t.Fatal(err)
	}
	raw, rec := f.received(t)
	if len(rec) != 1 || rec[0].Seq != 1 || rec[0].Status != 200 || rec[0].Caller.Auth != "sigv4" || rec[0].Truncated || !strings.Contains(raw, planted) {
		t.Errorf("the answered request: %s", raw)
	}
}

// countingBody counts what the server read of a request body.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// An unauthenticated request is refused without its body being read: a
// 4 MiB no-cors POST costs cloudsim nothing but the refusal.
func TestUnauthenticatedBodyIsNotRead(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	f.sim.Bedrock.Register(mux)
	for _, auth := range []string{"", "Basic Zm9vOmJhcg==", "AWS4-HMAC-SHA256"} {
		body := &countingBody{r: bytes.NewReader(make([]byte, 4<<20))}
		req := httptest.NewRequest(http.MethodPost, bedrock.Path+"/model/"+model+"/converse", body)
		req.Header.Set("Content-Type", "text/plain")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code/100 != 4 || w.Header().Get("X-Amzn-ErrorType") == "" || body.read.Load() != 0 {
			t.Errorf("Authorization %q: %d %s, %d bytes of the body read, want a refusal and none", auth, w.Code, w.Header().Get("X-Amzn-ErrorType"), body.read.Load())
		}
	}
	if _, rec := f.received(t); len(rec) != 0 {
		t.Errorf("kept %d refused requests", len(rec))
	}
}

// What Bedrock keeps of the requests it answered is bounded: the most
// recent MaxReceived, each body cut at MaxReceivedBody (as a JSON string,
// so the view stays JSON and a scan still reads the start), MaxReceivedBytes
// in all. Through the real SDK.
func TestReceivedIsBounded(t *testing.T) {
	f := newFixture(t)
	c := f.devClient(t)
	ask := func(text string) {
		t.Helper()
		if _, err := c.Converse(t.Context(), &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: []types.Message{userText(text)}}); err != nil {
			t.Fatal(err)
		}
	}
	// A body past the cut: its start is kept, marked.
	big := "weather in Oslo? " + planted + " " + strings.Repeat("é", bedrock.MaxReceivedBody)
	ask(big)
	_, rec := f.received(t)
	if len(rec) != 1 || !rec[0].Truncated || rec[0].BodyBytes <= bedrock.MaxReceivedBody || len(rec[0].Body) > bedrock.MaxReceivedBody+bedrock.MaxReceivedBody/8 {
		t.Fatalf("a %d-byte body: truncated %v, kept %d bytes, body_bytes %d", len(big), rec[0].Truncated, len(rec[0].Body), rec[0].BodyBytes)
	}
	var kept string
	if err := json.Unmarshal(rec[0].Body, &kept); err != nil || !strings.Contains(kept, planted) || !strings.HasPrefix(kept, `{"messages":`) {
		t.Errorf("the kept start of the body: %v %.80q", err, kept)
	}

	// Many large bodies: the total stays under the byte cap.
	for range bedrock.MaxReceivedBytes/bedrock.MaxReceivedBody + 4 {
		ask(big)
	}
	_, rec = f.received(t)
	total := 0
	for _, r := range rec {
		total += len(r.Body)
	}
	if total > bedrock.MaxReceivedBytes || len(rec) == 0 {
		t.Errorf("%d bodies of %d bytes in all, want at most %d", len(rec), total, bedrock.MaxReceivedBytes)
	}

	// Many small ones: the most recent MaxReceived, numbered on.
	sent := 1 + bedrock.MaxReceivedBytes/bedrock.MaxReceivedBody + 4
	for range bedrock.MaxReceived + 3 {
		ask("weather in Lima?")
		sent++
	}
	_, rec = f.received(t)
	if len(rec) != bedrock.MaxReceived || rec[len(rec)-1].Seq != uint64(sent) || rec[0].Seq != uint64(sent-bedrock.MaxReceived+1) {
		t.Errorf("%d kept, seq %d to %d, want the last %d of %d", len(rec), rec[0].Seq, rec[len(rec)-1].Seq, bedrock.MaxReceived, sent)
	}
}
