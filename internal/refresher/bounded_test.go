package refresher_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/refresher"
)

// A managed identity endpoint that answers without end (here 16 MiB; 400
// MiB once took the refresher to 2.2 GB) fails the refresh with a clear
// line instead of being read whole.
func TestManagedIdentityAnswerIsBounded(t *testing.T) {
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"`))
		chunk := []byte(strings.Repeat("a", 64<<10))
		for range 256 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer endpoint.Close()
	// cloudsim is the authority; the managed identity endpoint is the fake.
	// A client ID no other test uses: MSAL caches managed identity tokens
	// process-wide.
	f := newFixture(t, nil, map[string]string{"MANAGED_IDENTITY_CLIENT_ID": "0bdd7b1e-5b1c-4a5e-9a3f-1d3b6c9e0f42"})
	t.Setenv("IDENTITY_ENDPOINT", endpoint.URL+"/msi/token")
	src, err := refresher.NewMSALSource(f.settings, cloudsimtest.Client(f.sim))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := src.Token(ctx); err == nil || !strings.Contains(err.Error(), "is over 1048576 bytes") {
		t.Fatalf("err = %v, want the answer refused as over 1 MiB", err)
	}
}

// A token file path that is a directory is a setting to fix, not a
// transient failure to retry.
func TestTokenFileThatIsADirectoryIsPermanent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "token")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil, map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": dir})
	_, err := f.refresher(t, refresher.Config{}).Attempt(t.Context())
	failure := refresher.Classify(err)
	if err == nil || !failure.Permanent || !strings.Contains(failure.Summary, "is a directory") {
		t.Fatalf("err = %v, permanent %v", err, failure.Permanent)
	}
}
