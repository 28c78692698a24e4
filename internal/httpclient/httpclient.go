// Package httpclient gives the SDK clients that read answers from
// endpoints on the host (the managed identity endpoint, Entra) an HTTP
// client that bounds what it reads: MSAL Go reads an answer whole, so an
// endpoint that answers without end would take the process's memory.
package httpclient

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxAnswerBytes bounds an answer's body: a token answer is a few KiB.
const MaxAnswerBytes = 1 << 20

// Timeout bounds a whole exchange, body included.
const Timeout = 30 * time.Second

// Bounded returns a client like c (nil: a new one with Timeout) whose
// answers fail once their body passes maxBytes.
func Bounded(c *http.Client, maxBytes int64) *http.Client {
	out := &http.Client{Timeout: Timeout}
	if c != nil {
		copied := *c
		out = &copied
	}
	base := out.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = bounded{base: base, max: maxBytes}
	return out
}

type bounded struct {
	base http.RoundTripper
	max  int64
}

func (b bounded) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{r: resp.Body, left: b.max, max: b.max, host: r.URL.Host}
	return resp, nil
}

// limitedBody fails a read past its limit instead of truncating, so a
// cut answer is never parsed as a whole one.
type limitedBody struct {
	r    io.ReadCloser
	left int64
	max  int64
	host string
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, fmt.Errorf("the answer from %s is over %d bytes", l.host, l.max)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, fmt.Errorf("the answer from %s is over %d bytes", l.host, l.max)
	}
	return n, err
}

func (l *limitedBody) Close() error { return l.r.Close() }
