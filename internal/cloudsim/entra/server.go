// Package entra is cloudsim's stand-in for Microsoft Entra ID: OpenID
// discovery and signing keys for the v1 and v2 endpoints, the v2 token
// endpoint with the Agent ID grants, and the managed identity endpoint. Real
// clients (MSAL Go, go-oidc, the AWS SDK) use it unchanged; it refuses what
// Entra refuses, with Entra's error codes.
package entra

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// Real Entra issuer strings: cloudsim signs with these so validation settings
// are the same against cloudsim and a real tenant.
const (
	loginHost = "https://login.microsoftonline.com"
)

// IssuerV2 is the iss of v2 tokens for a tenant.
func IssuerV2(tenantID string) string { return loginHost + "/" + tenantID + "/v2.0" }

// IssuerV1 is the iss of v1 tokens for a tenant (the trailing slash matters).
func IssuerV1(tenantID string) string { return "https://sts.windows.net/" + tenantID + "/" }

// Server serves the Entra endpoints for one tenant.
type Server struct {
	live     *tenant.Live
	keys     *signing.Keys
	lifetime time.Duration
	now      func() time.Time
	log      *slog.Logger
	stats    *Stats
	refresh  *refreshStore
	codes    codeStore
	sessions sessions
	consents userConsents
	devices  deviceCodes
	// deviceInterval is the polling interval /devicecode gives clients.
	deviceInterval time.Duration
	// federated verifies tokens from issuers outside this tenant that
	// federated credentials may name, by issuer.
	federated map[string]func(token string) ([]byte, error)

	faultMu     sync.Mutex
	outageUntil time.Time // the token endpoint answers 503 until then
}

// Options configure a Server.
type Options struct {
	// Directory is the tenant, or Live the tenant as Microsoft Graph
	// changes it (Directory is then ignored).
	Directory *tenant.Directory
	Live      *tenant.Live
	Keys      *signing.Keys
	// TokenLifetime fixes every access token's lifetime; zero means a random
	// 60 to 90 minutes, as Entra does.
	TokenLifetime time.Duration
	Now           func() time.Time
	// DeviceCodeInterval is the device code flow's polling interval; zero
	// means Entra's 5 seconds.
	DeviceCodeInterval time.Duration
	// DeviceCodesPerMinute is how many device codes one client address
	// may start a minute; zero means DefaultDeviceCodesPerMinute.
	DeviceCodesPerMinute int
	Logger               *slog.Logger
	Stats                *Stats
	// Federated are the external issuers whose tokens a federated
	// credential may trust, each with a function that verifies a token's
	// signature and returns its payload. Entra fetches an issuer's keys
	// through its discovery document; cloudsim's issuers are in-process.
	Federated map[string]func(token string) ([]byte, error)
}

// New returns a Server.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stats == nil {
		o.Stats = NewStats()
	}
	if o.DeviceCodeInterval <= 0 {
		o.DeviceCodeInterval = 5 * time.Second
	}
	if o.Live == nil {
		o.Live = tenant.NewLive(o.Directory, o.Now, 0)
	}
	return &Server{
		deviceInterval: o.DeviceCodeInterval,
		devices:        deviceCodes{perMinute: o.DeviceCodesPerMinute},
		live:           o.Live,
		keys:           o.Keys,
		lifetime:       o.TokenLifetime,
		now:            o.Now,
		log:            o.Logger,
		stats:          o.Stats,
		refresh:        newRefreshStore(),
		federated:      o.Federated,
	}
}

// dir is the tenant as the token endpoint sees it now: one snapshot per
// call, without objects still replicating.
func (s *Server) dir() *tenant.Directory { return s.live.ForTokens() }

// Stats returns the request counters.
func (s *Server) Stats() *Stats { return s.stats }

// Register adds the Entra routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/{tenant}/v2.0/.well-known/openid-configuration", s.cors(s.discovery(2), false))
	mux.HandleFunc("/{tenant}/.well-known/openid-configuration", s.cors(s.discovery(1), false))
	mux.HandleFunc("/{tenant}/discovery/v2.0/keys", s.cors(s.jwks(2), false))
	mux.HandleFunc("/{tenant}/discovery/keys", s.cors(s.jwks(1), false))
	mux.HandleFunc("/{tenant}/oauth2/v2.0/token", s.cors(s.token, true))
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.authorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/authorize", s.authorize)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/logout", s.logout)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", s.deviceCode)
	mux.HandleFunc("GET /devicelogin", s.deviceLogin)
	mux.HandleFunc("POST /devicelogin", s.deviceLogin)
	mux.HandleFunc("POST /_cloudsim/devicecode/approve", s.approveDeviceCode)
	mux.HandleFunc("GET /{tenant}/v2.0/adminconsent", s.adminConsent)
	mux.HandleFunc("POST /{tenant}/v2.0/adminconsent", s.adminConsent)
	mux.HandleFunc("/common/discovery/instance", s.cors(s.instanceDiscovery, false))
	// The multi-tenant endpoints' metadata and keys, with the issuer
	// template {tenantid} (Microsoft identity platform: "OpenID Connect on
	// the Microsoft identity platform", fetching the metadata document).
	for _, t := range multiTenant {
		mux.HandleFunc("/"+t+"/v2.0/.well-known/openid-configuration", s.cors(s.discovery(2), false))
		mux.HandleFunc("/"+t+"/.well-known/openid-configuration", s.cors(s.discovery(1), false))
		mux.HandleFunc("/"+t+"/discovery/v2.0/keys", s.cors(s.jwks(2), false))
		mux.HandleFunc("/"+t+"/discovery/keys", s.cors(s.jwks(1), false))
	}
	mux.HandleFunc("GET /oidc/userinfo", s.userinfo)
	// Entra's paths are case-insensitive: MSAL Go asks for UserRealm, MSAL
	// Python for userrealm.
	mux.HandleFunc("GET /common/UserRealm/{user}", s.userRealm)
	mux.HandleFunc("GET /common/userrealm/{user}", s.userRealm)
	mux.HandleFunc("GET /_cloudsim/stats", s.stats.serve)
	mux.HandleFunc("POST /_cloudsim/keys/rotate", s.rotateKeys)
	mux.HandleFunc("POST /_cloudsim/faults/token-outage", s.outage)
}

// FailTokenRequests makes the token endpoint answer 503
// temporarily_unavailable for d, as during an Entra incident, so clients'
// backoff can be tested and shown. d <= 0 ends an outage.
func (s *Server) FailTokenRequests(d time.Duration) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.outageUntil = s.now().Add(d)
}

func (s *Server) inOutage() bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.now().Before(s.outageUntil)
}

// outage is POST /_cloudsim/faults/token-outage?seconds=N.
func (s *Server) outage(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("seconds"))
	if err != nil || n < 0 || n > 3600 {
		http.Error(w, "seconds must be 0 to 3600", http.StatusBadRequest)
		return
	}
	s.FailTokenRequests(time.Duration(n) * time.Second)
	s.log.Warn("token endpoint outage started", "seconds", n)
	w.WriteHeader(http.StatusNoContent)
}

// tenantOf resolves the {tenant} path segment: the tenant ID or its domain.
func (s *Server) tenantOf(r *http.Request) (string, *aadError) {
	t := strings.ToLower(r.PathValue("tenant"))
	if t == s.dir().Tenant.ID || t == strings.ToLower(s.dir().Tenant.Domain) {
		return s.dir().Tenant.ID, nil
	}
	return "", errTenantNotFound(r.PathValue("tenant"))
}

// baseURL is where this request reached cloudsim: every published URL is
// built from it, so one cloudsim serves 127.0.0.1 and a compose service name.
func baseURL(r *http.Request) string { return "https://" + r.Host }

// multiTenant are the authorities that stand for any tenant: their
// metadata names the issuer with the template {tenantid}.
var multiTenant = []string{"common", "organizations"}

// tenantOrTemplate is the {tenant} segment's tenant, or for a multi-tenant
// authority itself and the issuer's {tenantid} template.
func (s *Server) tenantOrTemplate(r *http.Request) (segment, issuerTenant string, aerr *aadError) {
	if first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/"); slices.Contains(multiTenant, first) {
		return first, "{tenantid}", nil
	}
	tid, aerr := s.tenantOf(r)
	return tid, tid, aerr
}

// discovery serves the OpenID metadata of the v1 or v2 endpoint. Entra
// lets clients cache it for a day (Cache-Control: max-age=86400, private).
func (s *Server) discovery(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.stats.Add("entra.discovery.v" + itoa(version))
		segment, tid, aerr := s.tenantOrTemplate(r)
		if aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		base := baseURL(r) + "/" + segment
		doc := map[string]any{
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"response_modes_supported":              []string{"query", "fragment", "form_post"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"tenant_region_scope":                   "NA",
			"cloud_instance_name":                   "microsoftonline.com",
		}
		if version == 1 {
			doc["issuer"] = IssuerV1(tid)
			doc["token_endpoint"] = base + "/oauth2/token"
			doc["authorization_endpoint"] = base + "/oauth2/authorize"
			doc["jwks_uri"] = base + "/discovery/keys"
			doc["response_types_supported"] = []string{"code", "id_token", "code id_token", "token id_token", "token"}
			doc["scopes_supported"] = []string{"openid"}
		} else {
			doc["issuer"] = IssuerV2(tid)
			doc["token_endpoint"] = base + "/oauth2/v2.0/token"
			doc["authorization_endpoint"] = base + "/oauth2/v2.0/authorize"
			doc["end_session_endpoint"] = base + "/oauth2/v2.0/logout"
			doc["device_authorization_endpoint"] = base + "/oauth2/v2.0/devicecode"
			doc["jwks_uri"] = base + "/discovery/v2.0/keys"
			doc["response_types_supported"] = []string{"code", "id_token", "code id_token", "id_token token"}
			doc["scopes_supported"] = []string{"openid", "profile", "email", "offline_access"}
			doc["request_uri_parameter_supported"] = false
			doc["http_logout_supported"] = true
			doc["frontchannel_logout_supported"] = true
			doc["claims_supported"] = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "preferred_username", "name", "tid", "ver", "oid"}
			// Every address a client may follow stays on this machine:
			// userinfo is answered here (with Graph's refusal: Graph is
			// not emulated), and msgraph_host is cloudsim's own host.
			doc["userinfo_endpoint"] = baseURL(r) + "/oidc/userinfo"
			doc["kerberos_endpoint"] = base + "/kerberos"
			doc["msgraph_host"] = r.Host
			doc["cloud_graph_host_name"] = "graph.windows.net"
			doc["rbac_url"] = "https://pas.windows.net"
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=86400, private")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(doc)
	}
}

// userinfo is the address discovery advertises. Its real answerer is
// Microsoft Graph (https://graph.microsoft.com/oidc/userinfo), which
// cloudsim does not emulate: it answers as Graph does a token it cannot
// accept.
func (s *Server) userinfo(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token"`)
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "InvalidAuthenticationToken",
		"message": "cloudsim does not emulate Microsoft Graph, which answers the userinfo endpoint"}})
}

func (s *Server) jwks(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.stats.Add("entra.keys")
		_, tid, aerr := s.tenantOrTemplate(r)
		if aerr != nil {
			s.writeError(w, r, aerr)
			return
		}
		issuer := ""
		if version == 2 {
			issuer = IssuerV2(tid)
		}
		doc, err := s.keys.JWKS(issuer)
		if err != nil {
			http.Error(w, "key set unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		// Entra lets clients cache keys; cloudsim keeps it short so key
		// rotation tests see new keys promptly.
		w.Header().Set("Cache-Control", "max-age=60, private")
		w.Write(doc)
	}
}

// instanceDiscovery answers as Entra's /common/discovery/instance does, for
// clients that ask it about cloudsim's host.
func (s *Server) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	s.stats.Add("entra.instance_discovery")
	host := r.Host
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": baseURL(r) + "/" + s.dir().Tenant.ID + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}},
	})
}

// userRealm is the home realm lookup MSAL makes before a password grant.
func (s *Server) userRealm(w http.ResponseWriter, r *http.Request) {
	s.stats.Add("entra.user_realm")
	user := r.PathValue("user")
	domain := user
	if _, d, ok := strings.Cut(user, "@"); ok {
		domain = d
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ver":                 "1.0",
		"account_type":        "Managed",
		"domain_name":         domain,
		"cloud_instance_name": "microsoftonline.com",
		"cloud_audience_urn":  "urn:federation:MicrosoftOnline",
	})
}

func (s *Server) rotateKeys(w http.ResponseWriter, r *http.Request) {
	kid, err := s.keys.Rotate()
	if err != nil {
		http.Error(w, "rotate keys: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.log.Info("signing key rotated", "kid", kid)
	writeJSON(w, http.StatusOK, map[string]string{"active_kid": kid})
}

// writeError sends Entra's error body. The correlation ID echoes the
// client's client-request-id, as Entra does, so logs on both sides match.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *aadError) {
	now := s.now().UTC()
	trace := newID()
	corr := correlationID(r)
	ts := now.Format("2006-01-02 15:04:05Z")
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="`+e.oauth+`"`)
	}
	body := map[string]any{
		"error":             e.oauth,
		"error_description": e.Error() + " Trace ID: " + trace + " Correlation ID: " + corr + " Timestamp: " + ts,
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
	}
	s.stats.Add(e.statKey())
	if e.code != 0 {
		body["error_codes"] = []int{e.code}
		body["error_uri"] = loginHost + "/error?code=" + itoa(e.code)
	}
	writeJSON(w, e.status, body)
}

func correlationID(r *http.Request) string {
	if c := r.Header.Get("client-request-id"); c != "" && len(c) <= 64 {
		return c
	}
	return newID()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newID returns a random GUID-shaped identifier.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomLifetime returns 60 to 90 minutes, as Entra's default policy.
func randomLifetime() time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(30*60))
	if err != nil {
		return time.Hour
	}
	return time.Hour + time.Duration(n.Int64())*time.Second
}

func itoa(n int) string { return strconv.Itoa(n) }
