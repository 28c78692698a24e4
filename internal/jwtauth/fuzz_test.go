package jwtauth

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

type noKeys struct{}

func (noKeys) VerifySignature(context.Context, string) ([]byte, error) { return nil, ErrUnknownKey }

// FuzzAuthenticate feeds arbitrary Authorization headers through both the
// verifying path and the signature-skipping path: never a panic, never an
// acceptance without a signature check, always a 401 or 403.
func FuzzAuthenticate(f *testing.F) {
	f.Add("Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJpc3MiOiJ4In0.c2ln")
	f.Add("bearer eyJhbGciOiJub25lIn0.e30.")
	f.Add("Bearer ....")
	f.Add("Basic dXNlcjpwYXNz")
	f.Add("Bearer eyJhbGciOiJSUzI1NiIsImp3ayI6e319.e30.AA")
	policy := Policy{TenantID: "t", Audiences: []string{"a"}, Versions: []int{1, 2}, Now: func() time.Time { return time.Unix(1e9, 0) }}
	strict, _ := New(policy, noKeys{})
	policy.SkipSignature = true
	lax, _ := New(policy, noKeys{})
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/weather", nil)
		req.Header.Set("Authorization", header)
		if c, e := strict.Authenticate(req); c != nil || e == nil || e.Status != 401 {
			t.Fatalf("strict validator: caller %v, error %v", c, e)
		}
		if c, e := lax.Authenticate(req); c == nil && (e == nil || (e.Status != 401 && e.Status != 403)) {
			t.Fatalf("lax validator: error %v", e)
		}
	})
}
