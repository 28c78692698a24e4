package httpclient_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/httpclient"
)

func TestBoundedFailsPastTheLimit(t *testing.T) {
	const limit = 1 << 10
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := limit
		if r.URL.Path == "/big" {
			n = 64 * limit // sent in full: the client must stop reading, not the server
		}
		w.Write([]byte(strings.Repeat("x", n)))
	}))
	defer srv.Close()
	c := httpclient.Bounded(srv.Client(), limit)
	for path, wantErr := range map[string]bool{"/exact": false, "/big": true} {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if (err != nil) != wantErr || (!wantErr && len(body) != limit) || (wantErr && len(body) > limit) {
			t.Errorf("%s: read %d bytes, err %v", path, len(body), err)
		}
	}
}
