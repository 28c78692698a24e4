package agentid

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/httpclient"
)

// discoveryTTL is how long the authority's OpenID configuration is reused.
// MSAL keeps it for its client's lifetime; Entra's changes with its
// endpoints, which is rarely.
const discoveryTTL = 24 * time.Hour

// discoveryCache answers a GET of the authority's OpenID configuration
// (…/v2.0/.well-known/openid-configuration, MSAL's tenant discovery) from
// one fetch for every MSAL client of a blueprint. MSAL caches it per
// client, and the on-behalf-of cache makes a client per user token
// (oboPartitions): without this, each new user token would cost a
// discovery request to Entra besides its token request. Only successful
// answers are kept; nothing secret is in them.
type discoveryCache struct {
	next  http.RoundTripper
	mu    sync.Mutex
	docs  map[string]discoveryDoc
	fetch Flight[discoveryDoc]
}

type discoveryDoc struct {
	status int
	header http.Header
	body   []byte
	at     time.Time
}

// discoveryClient is httpclient.Bounded(c) with the OpenID configuration
// shared by the clients that use it.
func discoveryClient(c *http.Client) *http.Client {
	out := httpclient.Bounded(c, httpclient.MaxAnswerBytes)
	out.Transport = &discoveryCache{next: out.Transport, docs: map[string]discoveryDoc{}}
	return out
}

func (d *discoveryCache) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
		return d.next.RoundTrip(r)
	}
	key := r.URL.String()
	d.mu.Lock()
	doc, ok := d.docs[key]
	d.mu.Unlock()
	if ok && time.Since(doc.at) < discoveryTTL {
		return doc.response(r), nil
	}
	doc, err, _ := d.fetch.Do(r.Context(), key, func(ctx context.Context) (discoveryDoc, error) {
		resp, err := d.next.RoundTrip(r.Clone(ctx))
		if err != nil {
			return discoveryDoc{}, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return discoveryDoc{}, err
		}
		doc := discoveryDoc{status: resp.StatusCode, header: resp.Header, body: body, at: time.Now()}
		if resp.StatusCode == http.StatusOK {
			d.mu.Lock()
			d.docs[key] = doc
			d.mu.Unlock()
		}
		return doc, nil
	})
	if err != nil {
		return nil, err
	}
	return doc.response(r), nil
}

// response is a fresh answer carrying the document.
func (doc discoveryDoc) response(r *http.Request) *http.Response {
	return &http.Response{Status: http.StatusText(doc.status), StatusCode: doc.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: doc.header.Clone(), Body: io.NopCloser(bytes.NewReader(doc.body)), ContentLength: int64(len(doc.body)), Request: r}
}
