package correlation_test

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/correlation"
)

func TestFromRequest(t *testing.T) {
	for _, c := range []struct {
		header, want string
		ok           bool
	}{
		{"5E4B9291-798C-43F9-A8B2-D712C6E87186", "5e4b9291-798c-43f9-a8b2-d712c6e87186", true},
		{"deadbeef", "deadbeef", true},
		{"", "", false},
		{"abc", "", false}, // too short to tell turns apart
		{strings.Repeat("a", 65), "", false},
		{"5e4b9291 798c", "", false},
		{"id=1\nlevel=ERROR", "", false}, // no log injection
		{"ghijklmnop", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.header != "" {
			r.Header.Set(correlation.Header, c.header)
		}
		if got, ok := correlation.FromRequest(r); got != c.want || ok != c.ok {
			t.Errorf("%q: %q %v, want %q %v", c.header, got, ok, c.want, c.ok)
		}
	}
}

func TestNewTraceIDIsAW3CTraceID(t *testing.T) {
	traceID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	a, b := correlation.NewTraceID(), correlation.NewTraceID()
	if !traceID.MatchString(a) || a == b {
		t.Fatalf("%q, %q", a, b)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set(correlation.Header, a)
	if got, ok := correlation.FromRequest(r); !ok || got != a {
		t.Fatalf("a new ID is not accepted back: %q %v", got, ok)
	}
}

func TestContextCarriesTheID(t *testing.T) {
	ctx := correlation.WithID(t.Context(), "4bf92f3577b34da6a3ce929d0e0e4736")
	if got := correlation.FromContext(ctx); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("FromContext = %q", got)
	}
	if got := correlation.FromContext(t.Context()); got != "" {
		t.Errorf("FromContext of a bare context = %q", got)
	}
}
