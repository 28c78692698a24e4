// Package sdkbody works around a race in the AWS SDK for Go v2
// (aws/aws-sdk-go-v2#2737): smithy-go closes a request's body as soon as
// client.Do returns, while net/http's write loop may still be making its
// last read of that body (the one that confirms EOF). That read fails, and
// the transport closes the connection under the response still being read:
// "use of closed network connection". A streamed answer (ConverseStream)
// is the most exposed; on loopback it failed about 2 runs in 100. Giving
// the transport its own copy of the body removes the race.
package sdkbody

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Doer is the SDK's HTTP client interface (bedrockruntime.HTTPClient and
// the other services' alike).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Buffered returns c with each request's body read into memory first, so
// the SDK closing its own stream cannot reach the transport.
func Buffered(c Doer) Doer { return buffered{c} }

type buffered struct{ next Doer }

func (b buffered) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.next.Do(r)
	}
	data, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the request body: %w", err)
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	r.ContentLength = int64(len(data))
	return b.next.Do(r)
}
