package entra

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/deploy/local"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// FuzzTokenEndpoint throws arbitrary bodies, content types and methods at
// the token endpoint: it must never panic, and every answer must be a
// 2xx or an Entra-shaped 4xx.
func FuzzTokenEndpoint(f *testing.F) {
	dir, err := tenant.Parse("tenant.jsonc", local.TenantFile)
	if err != nil {
		f.Fatal(err)
	}
	keys, err := signing.Open(filepath.Join(f.TempDir(), "keys.json"))
	if err != nil {
		f.Fatal(err)
	}
	s := New(Options{Directory: dir, Keys: keys})
	mux := http.NewServeMux()
	s.Register(mux)
	tokenPath := "/" + dir.Tenant.ID + "/oauth2/v2.0/token"

	f.Add("POST", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=6a7f0937-6749-4a53-b866-c424b6e0824d&client_secret=cloudsim-local-blueprint-secret-do-not-reuse&scope=api://AzureADTokenExchange/.default&fmi_path=5b4418ec-1653-479f-96f7-3f28255917c7")
	f.Add("POST", "application/x-www-form-urlencoded", "grant_type=password&client_id=5e4b9291-798c-43f9-a8b2-d712c6e87186&username=alice@contoso.example&password=alice-local-demo-password&scope=openid+offline_access+api://6a7f0937-6749-4a53-b866-c424b6e0824d/access_as_user")
	f.Add("POST", "application/x-www-form-urlencoded", "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&client_id=5b4418ec-1653-479f-96f7-3f28255917c7&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=eyJhbGciOiJub25lIn0.e30.&assertion=a.b.c&requested_token_use=on_behalf_of&scope=x")
	f.Add("POST", "application/json", `{"grant_type":"client_credentials"}`)
	f.Add("POST", "application/x-www-form-urlencoded", "%zz=%%&&=&scope=%20/%20")
	f.Add("GET", "", "")
	f.Add("POST", "multipart/form-data; boundary=x", "--x\r\n")
	f.Fuzz(func(t *testing.T, method, contentType, body string) {
		switch method {
		case "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD":
		default:
			method = "POST"
		}
		req := httptest.NewRequest(method, tokenPath, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			return
		}
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("status %d for %q %q", rec.Code, contentType, body)
		}
		if method == "HEAD" {
			return
		}
		var e struct {
			Error string `json:"error"`
			Codes []int  `json:"error_codes"`
		}
		if err := json.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode(&e); err != nil || e.Error == "" || len(e.Codes) != 1 {
			t.Fatalf("not an Entra error body (%d): %q", rec.Code, rec.Body.String())
		}
	})
}

// Every URL cloudsim publishes follows the host the request came to, while
// the issuer stays the real Entra string.
func TestPublishedURLsFollowRequestHost(t *testing.T) {
	dir, err := tenant.Parse("tenant.jsonc", local.TenantFile)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	New(Options{Directory: dir, Keys: keys}).Register(mux)
	for _, host := range []string{"127.0.0.1:8443", "cloudsim:8443", "localhost:9443"} {
		for path, issuer := range map[string]string{
			"/" + dir.Tenant.ID + "/v2.0/.well-known/openid-configuration": IssuerV2(dir.Tenant.ID),
			"/" + dir.Tenant.Domain + "/.well-known/openid-configuration":  IssuerV1(dir.Tenant.ID),
		} {
			req := httptest.NewRequest("GET", path, nil)
			req.Host = host
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			var doc map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if doc["issuer"] != issuer {
				t.Errorf("%s issuer = %v, want %s", path, doc["issuer"], issuer)
			}
			for _, k := range []string{"token_endpoint", "jwks_uri", "authorization_endpoint"} {
				if u, _ := doc[k].(string); !strings.HasPrefix(u, "https://"+host+"/"+dir.Tenant.ID+"/") {
					t.Errorf("%s %s = %q, want it on https://%s", path, k, u, host)
				}
			}
		}
	}
}
