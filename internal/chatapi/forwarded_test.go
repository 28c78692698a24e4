package chatapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Only the last entry of a forwarded header is the proxy's: the rest came
// from the client.
func TestForwardedTakesWhatTheProxyWrote(t *testing.T) {
	s := &Server{cfg: Config{TrustProxyHeaders: true, AllowedHosts: []string{"agent.example.com", "localhost"}}}
	cases := []struct {
		name    string
		headers map[string][]string
		client  string
		origin  string
	}{
		{"no proxy headers", nil, "192.0.2.1", "http://localhost:3000"},
		{"a forged first hop", map[string][]string{"X-Forwarded-For": {"10.0.0.1, 203.0.113.7"}}, "203.0.113.7", "http://localhost:3000"},
		{"two header lines", map[string][]string{"X-Forwarded-For": {"10.0.0.1", "198.51.100.2, 203.0.113.8"}}, "203.0.113.8", "http://localhost:3000"},
		{"the proxy's scheme", map[string][]string{"X-Forwarded-Proto": {"http, https"}}, "192.0.2.1", "https://localhost:3000"},
		{"a served forwarded host", map[string][]string{"X-Forwarded-Host": {"agent.example.com"}, "X-Forwarded-Proto": {"https"}}, "192.0.2.1", "https://agent.example.com"},
		{"a host this agent does not serve", map[string][]string{"X-Forwarded-Host": {"evil.example"}}, "192.0.2.1", "http://localhost:3000"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "http://localhost:3000/api/config", nil)
		r.RemoteAddr = "192.0.2.1:5555"
		for k, vs := range c.headers {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
		if got := s.clientOf(r); got != c.client {
			t.Errorf("%s: client %q, want %q", c.name, got, c.client)
		}
		if got := s.redirectURI(r); got != c.origin {
			t.Errorf("%s: origin %q, want %q", c.name, got, c.origin)
		}
	}
	untrusted := &Server{cfg: Config{AllowedHosts: []string{"localhost"}}}
	r := httptest.NewRequest(http.MethodGet, "http://localhost:3000/", nil)
	r.RemoteAddr = "192.0.2.1:5555"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	r.Header.Set("X-Forwarded-Proto", "https")
	if untrusted.clientOf(r) != "192.0.2.1" || untrusted.redirectURI(r) != "http://localhost:3000" {
		t.Error("forwarded headers were honoured without TRUST_PROXY_HEADERS")
	}
}
