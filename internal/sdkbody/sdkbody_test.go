package sdkbody_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/sdkbody"
)

// closable is the SDK's request stream: once closed, reads fail.
type closable struct {
	r      io.Reader
	closed bool
}

func (c *closable) Read(p []byte) (int, error) {
	if c.closed {
		return 0, errors.New("read on a closed body")
	}
	return c.r.Read(p)
}

func (c *closable) Close() error { c.closed = true; return nil }

// doer plays the transport: the SDK closes its stream before the
// transport's last read, which must still succeed.
type doer struct {
	original *closable
	got      string
	length   int64
}

func (d *doer) Do(r *http.Request) (*http.Response, error) {
	d.original.Close()
	if r.Body == nil {
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if r.GetBody != nil {
		again, _ := r.GetBody()
		if b2, _ := io.ReadAll(again); string(b2) != string(b) {
			return nil, errors.New("GetBody differs")
		}
	}
	d.got, d.length = string(b), r.ContentLength
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestTheTransportReadsItsOwnCopy(t *testing.T) {
	for _, body := range []string{`{"messages":[]}`, strings.Repeat("x", 100<<10)} {
		original := &closable{r: strings.NewReader(body)}
		req, _ := http.NewRequest("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse-stream", original)
		req.ContentLength = int64(len(body))
		d := &doer{original: original}
		if _, err := sdkbody.Buffered(d).Do(req); err != nil {
			t.Fatal(err)
		}
		if d.got != body || d.length != int64(len(body)) {
			t.Errorf("the transport read %d bytes (length %d), want %d", len(d.got), d.length, len(body))
		}
	}
	// Without the wrapper the same sequence fails, as the SDK's race does.
	original := &closable{r: strings.NewReader("x")}
	req, _ := http.NewRequest("POST", "https://example.invalid/", original)
	if _, err := (&doer{original: original}).Do(req); err == nil {
		t.Fatal("the unwrapped body survived its close: the test proves nothing")
	}
	// No body passes through untouched.
	req, _ = http.NewRequest("GET", "https://example.invalid/", nil)
	if _, err := sdkbody.Buffered(&doer{original: &closable{r: strings.NewReader("")}}).Do(req); err != nil {
		t.Fatal(err)
	}
}
