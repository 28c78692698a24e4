package chatapi

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/crosscloud-agentid/agentid/internal/config"
)

// The browser-facing guards: which Host names llm-agent answers (DNS
// rebinding) and which Origins may send it turns (cross-site requests).
// llm-agent serves no CORS: the page calls its own origin only, and with
// AGENTCORE_INVOCATION_URL that origin relays (relay.go).

// loopbackHosts are the names a loopback listener answers besides
// PUBLIC_ORIGIN's: a rebinding attacker's name is never one of them.
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// IsLoopbackAddr reports whether a listen address binds loopback only.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadOrigins reads a comma-separated list of origins (scheme://host[:port],
// nothing else) from setting.
func loadOrigins(r *config.Reader, setting string) []string {
	var out []string
	for _, o := range r.List(setting, nil) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			r.Problem(setting, "%q is not an origin such as https://agent.example.com or http://localhost:3001", o)
			continue
		}
		out = append(out, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	return out
}

// allowedHosts is the Host allowlist: PUBLIC_ORIGIN's hosts, plus the
// loopback names when listening on loopback.
func allowedHosts(publicOrigins []string, loopback bool) []string {
	var hosts []string
	for _, o := range publicOrigins {
		u, _ := url.Parse(o)
		hosts = append(hosts, u.Hostname())
		// A loopback origin (compose on a laptop) stands for this machine,
		// by any of its loopback names.
		loopback = loopback || slices.Contains(loopbackHosts, u.Hostname())
	}
	if loopback {
		hosts = append(hosts, loopbackHosts...)
	}
	return hosts
}

// hostAllowed checks a request's Host (port ignored) against the allowlist.
func (s *Server) hostAllowed(r *http.Request) bool { return s.allowedHost(r.Host) }

// allowedHost says whether a host[:port] is one this agent serves.
func (s *Server) allowedHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(host), "["), "]")
	return slices.Contains(s.cfg.AllowedHosts, host)
}

// guardHost answers 421 Misdirected Request to a Host not on the
// allowlist, so a page that rebinds its own name to this address reads
// nothing and sends no turn. Health checks are exempt: platform probes
// address the container by IP.
func (s *Server) guardHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" || r.URL.Path == "/healthz" || s.hostAllowed(r) {
			next.ServeHTTP(w, r)
			return
		}
		s.log.Info("refused a request for another host", "path", r.URL.Path, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusMisdirectedRequest, map[string]string{"error": "misdirected_request",
			"message": "this llm-agent does not serve that host name; set PUBLIC_ORIGIN to the origin browsers use"})
	})
}

// originAllowed accepts a request with no Origin (not a browser's
// cross-origin request) or one from this page: PUBLIC_ORIGIN, or this
// request's own origin when its Host passed the allowlist.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	o := strings.ToLower(u.Scheme + "://" + u.Host)
	return slices.Contains(s.cfg.PublicOrigins, o) || o == strings.ToLower(s.redirectURI(r))
}
