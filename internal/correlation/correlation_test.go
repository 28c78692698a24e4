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

func TestNewIsAUUID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := correlation.New(), correlation.New()
	if !uuid.MatchString(a) || a == b {
		t.Fatalf("%q, %q", a, b)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set(correlation.Header, a)
	if got, ok := correlation.FromRequest(r); !ok || got != a {
		t.Fatalf("a new ID is not accepted back: %q %v", got, ok)
	}
}
