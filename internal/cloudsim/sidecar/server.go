// Package sidecar is cloudsim's stand-in for the Microsoft Entra auth
// sidecar (the Entra SDK for AgentID container), faithful to its HTTP API
// as of 1.1.x: the AuthorizationHeader and DownstreamApi routes with and
// without an inbound user token, the Agent* parameters and their override
// gating, loopback-only callers, ProblemDetails errors and /healthz. It
// gets its tokens with MSAL Go (internal/agentid) from cloudsim's Entra,
// and caches them as the sidecar's Microsoft.Identity.Web does: app and
// on-behalf-of tokens in MSAL's caches, and the agent user's token through
// AcquireTokenSilent with the account its first user_fic answer named
// (TokenAcquisition.TryGetAuthenticationResultForAgentUserFicAsync, in
// Microsoft.Identity.Web 4.13.2, which sidecar 1.1.1 bundles).
package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/crosscloud-agentid/agentid/internal/agentid"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/entraerr"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/jwtpeek"
	"github.com/crosscloud-agentid/agentid/internal/secret"
)

// Server serves the sidecar API.
type Server struct {
	cfg        Config
	bp         *agentid.Blueprint
	validator  *jwtauth.Validator
	downstream *http.Client
	log        *slog.Logger
	mux        *http.ServeMux
}

// New builds the sidecar. httpClient reaches Entra (nil: MSAL's default)
// and the downstream APIs.
func New(cfg Config, httpClient *http.Client, log *slog.Logger) (*Server, error) {
	cred := agentid.Credential{Kind: agentid.CredentialManagedIdentity, ManagedIdentityClientID: cfg.Credential.ManagedIdentityClientID,
		ManagedIdentityToken: cfg.Credential.ManagedIdentityToken}
	if cfg.Credential.SourceType == "ClientSecret" {
		cred = agentid.Credential{Kind: agentid.CredentialSecret, Secret: secret.New(cfg.Credential.ClientSecret)}
	}
	bp, err := agentid.NewBlueprint(agentid.Config{AuthorityHost: cfg.Instance, TenantID: cfg.TenantID, BlueprintID: cfg.ClientID, Credential: cred, HTTPClient: httpClient})
	if err != nil {
		return nil, err
	}
	audiences := []string{cfg.ClientID, "api://" + cfg.ClientID}
	if cfg.Audience != "" {
		audiences = []string{cfg.Audience}
	}
	keysClient := httpClient
	if keysClient == nil {
		keysClient = http.DefaultClient
	}
	base := cfg.Instance + "/" + cfg.TenantID
	// AzureAd__Scopes is not part of the inbound policy: the sidecar checks
	// it on GET /Validate only (see validate).
	v, err := jwtauth.New(jwtauth.Policy{TenantID: cfg.TenantID, Audiences: audiences, Versions: []int{1, 2}},
		jwtauth.NewKeySet(keysClient, base+"/discovery/v2.0/keys", base+"/discovery/keys"))
	if err != nil {
		return nil, err
	}
	downstream := &http.Client{Timeout: keysClient.Timeout}
	if httpClient != nil {
		downstream.Transport = httpClient.Transport
	}
	if !cfg.AllowRedirs {
		downstream.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	s := &Server{cfg: cfg, bp: bp, validator: v, downstream: downstream, log: log, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Healthy")
	})
	s.mux.HandleFunc("GET /Validate", s.validate)
	s.mux.HandleFunc("GET /AuthorizationHeader/{api}", s.authorizationHeader(true))
	s.mux.HandleFunc("GET /AuthorizationHeaderUnauthenticated/{api}", s.authorizationHeader(false))
	s.mux.HandleFunc("POST /DownstreamApi/{api}", s.downstreamAPI(true))
	s.mux.HandleFunc("POST /DownstreamApiUnauthenticated/{api}", s.downstreamAPI(false))
	return s, nil
}

// ServeHTTP refuses every caller but loopback, as 1.1.0+ does outside
// Development, except on /healthz (probes come from outside).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.URL.Path = canonicalPath(r.URL.Path)
	if r.URL.Path != "/healthz" && !loopback(r.RemoteAddr) {
		s.log.Warn("refused a non-loopback caller", "remote", r.RemoteAddr, "path", r.URL.Path)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if r.URL.Path != "/healthz" && !loopbackHost(r.Host) {
		// Loopback names only, as the sidecar up to 1.1.0 answered other
		// hosts (AllowedHosts=localhost, 400); 1.1.x filters by the
		// caller's address instead, which the check above does too. Both
		// stay here: a page whose name rebinds to 127.0.0.1 comes from a
		// loopback address, and gets no token this way.
		s.log.Warn("refused a request for another host name", "path", r.URL.Path)
		http.Error(w, "Bad Request - Invalid Hostname", http.StatusBadRequest)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// routeNames are the sidecar's route segments. ASP.NET Core matches
// routes without regard to case, so /authorizationheader/x is
// /AuthorizationHeader/x; Go's mux does not, hence canonicalPath.
var routeNames = []string{"healthz", "Validate", "AuthorizationHeader", "AuthorizationHeaderUnauthenticated", "DownstreamApi", "DownstreamApiUnauthenticated"}

// canonicalPath spells a path's first segment as its route does.
func canonicalPath(p string) string {
	first, rest, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	for _, name := range routeNames {
		if strings.EqualFold(first, name) {
			if rest == "" && !strings.HasSuffix(p, "/") {
				return "/" + name
			}
			return "/" + name + "/" + rest
		}
	}
	return p
}

// loopbackHost accepts the loopback names only, any port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.EqualFold(host, "localhost") || loopback(host)
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// params are the query parameters, matched case-insensitively as ASP.NET
// binds them.
type params map[string][]string

func paramsOf(r *http.Request) params {
	p := params{}
	for k, v := range r.URL.Query() {
		p[strings.ToLower(k)] = append(p[strings.ToLower(k)], v...)
	}
	return p
}

func (p params) get(k string) string {
	if v := p[strings.ToLower(k)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// call is one request, resolved: the API entry and what to ask Entra for.
type call struct {
	api             DownstreamAPI
	scopes          []string
	requestAppToken bool
	agentID         string
	agentUser       agentid.AgentUser
	userToken       string
	relativePath    string
	method          string
	extraQuery      url.Values
	extraHeaders    http.Header
	accept          string
}

// nonBlank drops blank values.
func nonBlank(vs []string) []string {
	var out []string
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			out = append(out, v)
		}
	}
	return out
}

// originalKey is a query parameter's name as the request spelled it.
func originalKey(r *http.Request, lower string) string {
	for k := range r.URL.Query() {
		if strings.ToLower(k) == lower {
			return k
		}
	}
	return lower
}

// resolve applies the entry and the query parameters the route allows.
func (s *Server) resolve(r *http.Request, allowOverrides bool) (*call, *problem) {
	name := r.PathValue("api")
	// Entries are named options, looked up by their exact name: another
	// spelling, or an unknown name, is an entry with nothing set, which
	// the overrides may complete (DownstreamApiOptionsMerger).
	api, ok := s.cfg.APIs[strings.ToLower(name)]
	if !ok || api.Name != name {
		api = DownstreamAPI{Name: name}
	}
	c := &call{api: api, scopes: api.Scopes, requestAppToken: api.RequestAppToken, relativePath: api.RelativePath, method: api.HTTPMethod}
	p := paramsOf(r)
	if !allowOverrides {
		for k := range p {
			if strings.HasPrefix(k, "agent") || strings.HasPrefix(k, "optionsoverride.") {
				// As 1.1.x: a warning in the log, and the sidecar's own
				// identity is used.
				s.log.Warn("overrides are not allowed on this route; ignoring them (Sidecar__AllowOverrides__*)", "path", r.URL.Path, "parameter", k)
			}
		}
		p = params{}
	}
	// The merger skips blank values, and copies RequestAppToken only
	// when it is true: an override cannot turn an app-token entry into a
	// delegated one.
	if v := nonBlank(p["optionsoverride.scopes"]); len(v) > 0 {
		c.scopes = v
	}
	if strings.EqualFold(p.get("optionsOverride.RequestAppToken"), "true") {
		c.requestAppToken = true
	}
	c.extraQuery, c.extraHeaders = url.Values{}, http.Header{}
	for k, vs := range p {
		if q, ok := strings.CutPrefix(k, "optionsoverride.extraqueryparameters."); ok && q != "" {
			c.extraQuery[originalKey(r, k)[len("optionsOverride.ExtraQueryParameters."):]] = vs
		}
		if h, ok := strings.CutPrefix(k, "optionsoverride.extraheaderparameters."); ok && h != "" {
			c.extraHeaders[http.CanonicalHeaderKey(h)] = vs
		}
	}
	c.accept = p.get("optionsOverride.AcceptHeader")
	if v := p.get("optionsOverride.RelativePath"); v != "" {
		c.relativePath = v
	}
	if v := p.get("optionsOverride.HttpMethod"); v != "" {
		c.method = strings.ToUpper(v)
	}
	// Without AgentIdentity the agent user parameters are ignored; a UPN
	// beats an object ID, and an object ID that is not a GUID is dropped.
	if c.agentID = p.get("AgentIdentity"); c.agentID != "" {
		if upn := p.get("AgentUsername"); upn != "" {
			c.agentUser.UPN = upn
		} else if oid := p.get("AgentUserId"); config.IsGUID(oid) {
			c.agentUser.ObjectID = oid
		}
	}
	if len(c.scopes) == 0 {
		return nil, &problem{Status: http.StatusBadRequest, Detail: fmt.Sprintf("No scopes found for the API '%s'. Set DownstreamApis__%s__Scopes.", name, api.Name)}
	}
	return c, nil
}

// inbound validates the caller's bearer token on the authenticated routes;
// it writes JwtBearer's bare 401 and returns false when it fails.
func (s *Server) inbound(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, e := jwtauth.BearerToken(r.Header.Get("Authorization"))
	if e == nil {
		_, e = s.validator.Validate(r.Context(), token)
	}
	if e != nil {
		s.log.Info("inbound token refused", "reason", e.Description)
		w.Header().Set("WWW-Authenticate", e.WWWAuthenticate())
		w.WriteHeader(http.StatusUnauthorized)
		return "", false
	}
	return token, true
}

// acquire gets the header value: user_fic for an agent user, the app path
// when RequestAppToken, else the user path (OBO with the inbound token).
func (s *Server) acquire(ctx context.Context, c *call) (string, *problem) {
	var res confidential.AuthResult
	var agent *agentid.Agent
	bp := s.bp
	var err error
	if c.agentID != "" {
		if agent, err = bp.Agent(c.agentID); err != nil {
			return "", s.failure(err)
		}
	}
	switch {
	case agent != nil && (c.agentUser.UPN != "" || c.agentUser.ObjectID != ""):
		res, _, err = agent.AgentUserToken(ctx, c.agentUser, c.scopes)
	case c.requestAppToken && agent != nil:
		res, err = agent.AppToken(ctx, c.scopes[:1]) // app tokens use the first scope, <resource>/.default
	case c.requestAppToken:
		res, err = bp.AppToken(ctx, c.scopes[:1])
	case c.userToken == "":
		return "", &problem{Status: http.StatusUnauthorized, Detail: "IDW10502: No user token: this route and API need RequestAppToken=true, or AgentIdentity with AgentUsername or AgentUserId."}
	case agent != nil:
		res, err = agent.OBO(ctx, c.userToken, c.scopes)
	default:
		res, err = bp.OBO(ctx, c.userToken, c.scopes)
	}
	if err != nil {
		return "", s.failure(err)
	}
	return "Bearer " + res.AccessToken, nil
}

// failure maps MSAL's errors as the sidecar does: Entra's refusals are 401
// with MSAL's message; anything else is a 500.
func (s *Server) failure(err error) *problem {
	if info, ok := entraerr.From(err); ok {
		return &problem{Status: http.StatusUnauthorized, Detail: info.Summary()}
	}
	s.log.Error("token acquisition failed", "error", err)
	return &problem{Status: http.StatusInternalServerError, Detail: "An unexpected error occurred."}
}

// token is what both route families do first: on the authenticated
// routes, check the caller's token; resolve the API entry and the
// overrides; get the Authorization value. When ok is false it has answered.
func (s *Server) token(w http.ResponseWriter, r *http.Request, authenticated, allowOverrides bool) (c *call, header string, ok bool) {
	var user string
	if authenticated {
		if user, ok = s.inbound(w, r); !ok {
			return nil, "", false
		}
	}
	c, pd := s.resolve(r, allowOverrides)
	if pd == nil {
		c.userToken = user
		header, pd = s.acquire(r.Context(), c)
	}
	if pd != nil {
		pd.write(w)
		return nil, "", false
	}
	return c, header, true
}

func (s *Server) authorizationHeader(authenticated bool) http.HandlerFunc {
	allow := s.cfg.Overrides.GetAuthorizationHeaderUnauthenticated
	if authenticated {
		allow = s.cfg.Overrides.GetAuthorizationHeader
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if _, header, ok := s.token(w, r, authenticated, allow); ok {
			writeJSON(w, map[string]string{"authorizationHeader": header})
		}
	}
}

func (s *Server) downstreamAPI(authenticated bool) http.HandlerFunc {
	allow := s.cfg.Overrides.CallDownstreamAPIUnauthenticated
	if authenticated {
		allow = s.cfg.Overrides.CallDownstreamAPI
	}
	return func(w http.ResponseWriter, r *http.Request) {
		c, header, ok := s.token(w, r, authenticated, allow)
		if !ok {
			return
		}
		method := c.method
		if method == "" {
			method = http.MethodGet
		}
		target, err := url.Parse(c.api.BaseURL + "/" + strings.TrimLeft(c.relativePath, "/"))
		if err != nil || c.api.BaseURL == "" {
			(&problem{Status: http.StatusInternalServerError, Detail: "An unexpected error occurred."}).write(w)
			return
		}
		q := target.Query()
		for k, vs := range c.extraQuery {
			q[k] = vs
		}
		target.RawQuery = q.Encode()
		// The sidecar forwards a body only with its Content-Type: the
		// request's content is read as that type.
		var body io.Reader
		if r.Header.Get("Content-Type") != "" {
			raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
			if err != nil {
				// Kestrel answers a body over its limit with a bare 413;
				// a cut body is never forwarded.
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				return
			}
			if len(raw) > 0 {
				body = bytes.NewReader(raw)
			}
		}
		req, err := http.NewRequestWithContext(r.Context(), method, target.String(), body)
		if err != nil {
			(&problem{Status: http.StatusInternalServerError, Detail: "An unexpected error occurred."}).write(w)
			return
		}
		for k, vs := range c.extraHeaders {
			req.Header[k] = vs
		}
		if body != nil {
			req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		}
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		req.Header.Set("Authorization", header)
		resp, err := s.downstream.Do(req)
		if err != nil {
			s.log.Error("downstream call failed", "api", c.api.Name, "error", err)
			(&problem{Status: http.StatusInternalServerError, Detail: "An unexpected error occurred."}).write(w)
			return
		}
		defer resp.Body.Close()
		content, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		out := struct {
			StatusCode int                 `json:"statusCode"`
			Headers    map[string][]string `json:"headers"`
			Content    *string             `json:"content"`
		}{StatusCode: resp.StatusCode, Headers: map[string][]string{}}
		// Only the content headers, as HttpContent.Headers holds them.
		for k, v := range resp.Header {
			if strings.HasPrefix(k, "Content-") || k == "Expires" || k == "Last-Modified" || k == "Allow" {
				out.Headers[k] = v
			}
		}
		if len(content) > 0 {
			str := string(content)
			out.Content = &str
		}
		writeJSON(w, out)
	}
}

// validate is GET /Validate: the inbound token and its claims.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	token, ok := s.inbound(w, r)
	if !ok {
		return
	}
	// inbound validated the token; this only reads its claims.
	var claims map[string]any
	_ = jwtpeek.Claims(token, &claims)
	if accepted := strings.Fields(s.cfg.Scope); len(accepted) > 0 {
		// Microsoft.Identity.Web's VerifyUserHasAnyAcceptedScope: 403 and
		// its IDW10203 text (ErrorMessage.MissingScopes).
		scopes, _ := claims["scp"].(string)
		if scopes == "" {
			scopes, _ = claims["scope"].(string)
		}
		if !slices.ContainsFunc(strings.Fields(scopes), func(sc string) bool { return slices.Contains(accepted, sc) }) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "IDW10203: The 'scope' or 'scp' claim does not contain scopes '%s' or was not found. ", strings.Join(accepted, ","))
			return
		}
	}
	writeJSON(w, map[string]any{"protocol": "Bearer", "token": token, "claims": claims})
}

// problem is an RFC 9457 ProblemDetails answer.
// MaxBodyBytes is Kestrel's default MaxRequestBodySize (30,000,000 bytes),
// which the sidecar, an ASP.NET Core app, keeps.
const MaxBodyBytes = 30_000_000

type problem struct {
	Status int
	Detail string
}

var titles = map[int]string{400: "Bad Request", 401: "Unauthorized", 500: "An error occurred while processing your request."}
var types = map[int]string{
	400: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
	401: "https://tools.ietf.org/html/rfc9110#section-15.5.2",
	500: "https://tools.ietf.org/html/rfc9110#section-15.6.1",
}

func (p *problem) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": types[p.Status], "title": titles[p.Status], "status": p.Status, "detail": p.Detail})
}

func writeJSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Expires", "0")
	h.Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(v)
}
