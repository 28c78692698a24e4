package entra

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// The browser side of Entra: the authorization code flow with PKCE for the
// SPA (MSAL.js), a login page listing the tenant file's demo users, a
// session cookie for prompt=none, and logout.

const (
	codeLifetime  = 5 * time.Minute
	sessionCookie = "cloudsim_session"
)

// authCode is what an authorization code stands for until it is redeemed.
type authCode struct {
	clientID    string
	redirectURI string
	scope       string
	userOID     string
	nonce       string
	challenge   string
	method      string // PKCE: plain (also when absent) or S256
	// web is a code issued to a Web platform redirect URI: a confidential
	// client redeems it, from a server, with its credential.
	web    bool
	issued time.Time
	used   bool
}

type codeStore struct {
	mu    sync.Mutex
	codes map[string]*authCode
}

func (cs *codeStore) issue(c *authCode) string {
	code := "1.A" + randomB64(64)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.codes == nil {
		cs.codes = map[string]*authCode{}
	}
	for k, v := range cs.codes { // codes live minutes: drop old ones as we go
		if time.Since(v.issued) > 2*codeLifetime {
			delete(cs.codes, k)
		}
	}
	cs.codes[code] = c
	return code
}

// redeem marks a code used and returns it; ok is false for an unknown code.
func (cs *codeStore) redeem(code string) (c authCode, alreadyUsed, ok bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p, found := cs.codes[code]
	if !found {
		return authCode{}, false, false
	}
	used := p.used
	p.used = true
	return *p, used, true
}

// sessions maps a cookie value to the signed-in user.
type sessions struct {
	mu    sync.Mutex
	users map[string]string
}

func (ss *sessions) start(oid string) string {
	id := randomB64(32)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.users == nil {
		ss.users = map[string]string{}
	}
	ss.users[id] = oid
	return id
}

func (ss *sessions) user(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.users[c.Value]
}

func (ss *sessions) end(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		ss.mu.Lock()
		delete(ss.users, c.Value)
		ss.mu.Unlock()
	}
}

// authorizeRequest is a checked /authorize request.
type authorizeRequest struct {
	tid, clientID, redirectURI, scope, state, nonce, challenge, method, responseMode, prompt, loginHint string
	app                                                                                                 *tenant.Application
	resources                                                                                           []*scopeRequest // the scopes by resource, the token's first
	// web: the redirect URI is one of the app's Web platform URIs, not
	// its SPA ones.
	web bool
}

// authorize is GET (show the login page, or answer prompt=none) and POST
// (the chosen user) of /{tenant}/oauth2/v2.0/authorize.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	s.stats.Add("entra.authorize")
	if err := r.ParseForm(); err != nil {
		s.authorizePage(w, http.StatusBadRequest, errMalformedRequest().Error())
		return
	}
	if r.Form.Get("response_type") == "none" {
		s.consent(w, r, false)
		return
	}
	if r.Method == http.MethodPost && r.PostForm.Get("consent_request") != "" {
		s.answerSignInConsent(w, r)
		return
	}
	ar, aerr, redirectable := s.checkAuthorize(r)
	if aerr != nil {
		if !redirectable {
			// An unknown client or redirect URI: never redirect to it.
			s.authorizePage(w, http.StatusBadRequest, aerr.Error())
			return
		}
		s.redirectError(w, r, ar, aerr)
		return
	}
	if r.Method == http.MethodPost {
		user := s.dir().UserByUPN(r.PostForm.Get("login"))
		if user == nil {
			s.authorizePage(w, http.StatusBadRequest, errUserNotFound(r.PostForm.Get("login"), ar.tid).Error())
			return
		}
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.sessions.start(user.ObjectID), Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode})
		s.signedIn(w, r, ar, user.ObjectID)
		return
	}
	if oid := s.sessions.user(r); oid != "" && ar.prompt != "login" && ar.prompt != "select_account" {
		s.signedIn(w, r, ar, oid)
		return
	}
	if ar.prompt == "none" {
		s.redirectError(w, r, ar, newErr(http.StatusBadRequest, "login_required", 50058, "A silent sign-in request was sent but no user is signed in."))
		return
	}
	s.loginPage(w, r, ar.app.Name, ar.scope)
}

// checkAuthorize validates the request as Entra does for an SPA. The bool
// says whether the redirect URI is trusted enough to send an error to.
func (s *Server) checkAuthorize(r *http.Request) (*authorizeRequest, *aadError, bool) {
	q := r.Form
	tid, aerr := s.tenantOf(r)
	if aerr != nil {
		return nil, aerr, false
	}
	ar := &authorizeRequest{tid: tid, clientID: strings.ToLower(q.Get("client_id")), redirectURI: q.Get("redirect_uri"), scope: q.Get("scope"),
		state: q.Get("state"), nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), responseMode: q.Get("response_mode"),
		prompt: q.Get("prompt"), loginHint: q.Get("login_hint")}
	if ar.clientID == "" {
		return ar, errMissingParam("client_id"), false
	}
	if ar.app = s.dir().App(ar.clientID); ar.app == nil {
		return ar, errUnknownClient(ar.clientID, tid), false
	}
	matches := func(registered string) bool { return redirectMatches(registered, ar.redirectURI) }
	// A Web platform redirect URI takes the authorization code flow too,
	// for a confidential client that redeems the code with its secret
	// (Microsoft identity platform and OAuth 2.0 authorization code flow,
	// learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow,
	// read 2026-12-06): AgentCore Identity's token vault is one.
	ar.web = !slices.ContainsFunc(ar.app.SPARedirectURIs, matches) && slices.ContainsFunc(ar.app.WebRedirectURIs, matches)
	if !ar.web && !slices.ContainsFunc(ar.app.SPARedirectURIs, matches) {
		return ar, newErr(http.StatusBadRequest, oauthInvalidRequest, 50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.", ar.redirectURI, ar.clientID), false
	}
	if ar.responseMode == "" {
		ar.responseMode = "query"
	}
	switch {
	case ar.web && ar.responseMode != "query":
		// Web apps may also use form_post, which cloudsim does not emulate.
		return ar, newErr(http.StatusBadRequest, oauthInvalidRequest, 0, "cloudsim's Entra answers a web app's sign-in with response_mode query only, not '%s'.", ar.responseMode), true
	case ar.web && q.Get("response_type") != "code":
		return ar, newErr(http.StatusBadRequest, "unsupported_response_type", 700054, "cloudsim's Entra emulates response_type 'code' only; the implicit and hybrid flows are not emulated."), true
	case ar.responseMode != "query" && ar.responseMode != "fragment":
		return ar, newErr(http.StatusBadRequest, oauthInvalidRequest, 900144, "The response_mode '%s' is not supported for single-page applications; use query or fragment.", ar.responseMode), true
	case q.Get("response_type") != "code":
		return ar, newErr(http.StatusBadRequest, "unsupported_response_type", 700054, "response_type 'code' is required for single-page applications; the implicit flow is not enabled."), true
	case ar.method != "" && ar.method != "plain" && ar.method != "S256":
		// RFC 7636 4.3 knows plain (the default) and S256; a missing
		// challenge is refused only when the code is redeemed. Entra's
		// code for another method is undocumented, so none is given.
		return ar, newErr(http.StatusBadRequest, oauthInvalidRequest, 0, "Invalid code challenge method: '%s'. Supported methods are 'plain' and 'S256'.", ar.method), true
	}
	// Scopes of several resources are allowed here: the token is for the
	// first, and consent is asked for all (MSAL.js extraScopesToConsent).
	for _, group := range scopesByResource(ar.scope) {
		sr, aerr := s.parseScope(tid, group)
		if aerr != nil {
			return ar, aerr, true
		}
		if sr.res.app == nil {
			return ar, errInvalidScope(sr.raw), true
		}
		for _, n := range sr.names {
			if n != ".default" && !slices.Contains(sr.res.app.Scopes, n) {
				return ar, errInvalidScope(sr.res.requested + "/" + n), true
			}
		}
		ar.resources = append(ar.resources, sr)
	}
	return ar, nil, true
}

// signedIn continues a sign-in once the user is known: the consent page
// for what the user has not yet granted (everything, with prompt=consent),
// else the code. Entra asks after sign-in, not before.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, oid string) {
	missing, aerr := s.missingConsents(ar.clientID, ar.app.Name, ar.resources, oid, ar.prompt == "consent")
	switch {
	case aerr != nil && aerr.code == codeAdminConsentRequired && ar.prompt == "none":
		// Silently, the grant a user may not give is consent that is
		// missing, as for any other scope.
		s.redirectError(w, r, ar, consentRequired(errConsent(ar.clientID, ar.app.Name)))
	case aerr != nil && aerr.code == codeAdminConsentRequired:
		// Entra's "Need admin approval" page, shown to the person; the app
		// is not sent back anything it could take for consent.
		s.stats.Add(aerr.statKey())
		s.authorizePage(w, aerr.status, aerr.Error())
	case aerr != nil:
		s.redirectError(w, r, ar, consentRequired(aerr))
	case len(missing) == 0:
		s.redirectCode(w, r, ar, oid)
	case ar.prompt == "none":
		s.redirectError(w, r, ar, consentRequired(errConsent(ar.clientID, ar.app.Name)))
	default:
		s.consentPage(w, r, &consentRequest{grants: missing, shownTo: oid, redirectURI: ar.redirectURI, state: ar.state, signIn: ar}, ar.app.Name)
	}
}

// missingConsents lists, per resource, the scopes user has not granted
// client (all of them when always is set), and refuses with AADSTS90094
// when one of them needs an admin's consent and user is not an admin
// (consentable).
func (s *Server) missingConsents(clientID, clientName string, resources []*scopeRequest, user string, always bool) ([]consentGrant, *aadError) {
	var missing []consentGrant
	for _, sr := range resources {
		have, _ := s.dir().Grant(clientID, sr.res.appID)
		have = append(have, s.consents.scopes(clientID, sr.res.appID, user)...)
		if sr.isDefault() {
			// .default asks for what was granted; cloudsim keeps no list of
			// required permissions to show on a consent page instead.
			if len(have) == 0 {
				return nil, errConsent(clientID, clientName)
			}
			continue
		}
		var need []string
		for _, n := range sr.names {
			if always || !slices.Contains(have, n) {
				need = append(need, n)
			}
		}
		if len(need) > 0 {
			missing = append(missing, consentGrant{key: consentKey{clientID, sr.res.appID, user}, scopes: need, resource: sr.res.app.Name})
		}
	}
	if aerr := s.consentable(missing, user); aerr != nil {
		return nil, aerr
	}
	return missing, nil
}

// consentRequired is AADSTS65001 as /authorize reports it to the app.
func consentRequired(e *aadError) *aadError {
	e.oauth = "consent_required"
	return e
}

// redirectCode sends the browser back with a code, in the response mode
// asked for.
func (s *Server) redirectCode(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, oid string) {
	code := s.codes.issue(&authCode{clientID: ar.clientID, redirectURI: ar.redirectURI, scope: ar.scope, userOID: oid,
		nonce: ar.nonce, challenge: ar.challenge, method: ar.method, web: ar.web, issued: s.now()})
	v := url.Values{"code": {code}, "client_info": {clientInfo(oid, ar.tid)}}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	s.log.Info("authorization code issued", "client_id", ar.clientID, "user", oid)
	http.Redirect(w, r, withResponse(ar.redirectURI, ar.responseMode, v), http.StatusFound)
}

// redirectError sends an Entra-shaped error to a trusted redirect URI.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, e *aadError) {
	v := url.Values{"error": {e.oauth}, "error_description": {e.Error() + " Trace ID: " + newID() + " Correlation ID: " + correlationID(r) + " Timestamp: " + s.now().UTC().Format("2006-01-02 15:04:05Z")}}
	s.stats.Add(e.statKey())
	if e.code != 0 {
		v.Set("error_codes", itoa(e.code))
	}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	http.Redirect(w, r, withResponse(ar.redirectURI, ar.responseMode, v), http.StatusFound)
}

// redirectMatches compares a requested redirect URI with a registered one
// as the reply URL restrictions page says: exactly, except that a loopback
// URI's port is ignored (RFC 8252 8.3 and 7.3).
func redirectMatches(registered, requested string) bool {
	if registered == requested {
		return true
	}
	reg, err1 := url.Parse(registered)
	req, err2 := url.Parse(requested)
	if err1 != nil || err2 != nil || !loopbackHost(reg.Hostname()) {
		return false
	}
	return reg.Scheme == req.Scheme && reg.Hostname() == req.Hostname() && reg.Path == req.Path &&
		reg.RawQuery == req.RawQuery && req.User == nil && req.Fragment == ""
}

func loopbackHost(h string) bool { return h == "localhost" || h == "127.0.0.1" || h == "::1" }

// withResponse builds the redirect back to the app. A redirect URI with no
// path comes back with a trailing slash (reply URL restrictions page).
func withResponse(redirect, mode string, v url.Values) string {
	if u, err := url.Parse(redirect); err == nil && u.Path == "" && u.Opaque == "" {
		u.Path = "/"
		redirect = u.String()
	}
	if mode == "fragment" {
		return redirect + "#" + v.Encode()
	}
	sep := "?"
	if strings.Contains(redirect, "?") {
		sep = "&"
	}
	return redirect + sep + v.Encode()
}

// logout ends the session and returns to an SPA redirect URI's origin.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.sessions.end(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode})
	target := r.URL.Query().Get("post_logout_redirect_uri")
	if target != "" && s.spaOrigin(originOf(target)) {
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	s.authorizePage(w, http.StatusOK, "You are signed out of cloudsim.")
}

// authorizationCode redeems a code from the SPA, verifying PKCE.
func (s *Server) authorizationCode(req *tokenRequest, c *caller) (map[string]any, *aadError) {
	raw := req.form.Get("code")
	if raw == "" {
		return nil, errMissingParam("code")
	}
	code, used, ok := s.codes.redeem(raw)
	switch {
	case !ok:
		return nil, newErr(http.StatusBadRequest, oauthInvalidGrant, 9002313, "Invalid request. Request is malformed or invalid. The authorization code is not one cloudsim issued.")
	case used:
		return nil, newErr(http.StatusBadRequest, oauthInvalidGrant, 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case s.now().Sub(code.issued) > codeLifetime:
		return nil, newErr(http.StatusBadRequest, oauthInvalidGrant, 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	case code.clientID != c.id:
		return nil, newErr(http.StatusBadRequest, oauthInvalidGrant, 70000, "The provided authorization code was issued to another client.")
	case req.form.Get("redirect_uri") != code.redirectURI:
		return nil, newErr(http.StatusBadRequest, oauthInvalidGrant, 50011, "The redirect URI '%s' specified in the request does not match the redirect URI used in the authorization request.", req.form.Get("redirect_uri"))
	}
	// An SPA's code is redeemed from the browser with PKCE; a web app's
	// from its server, with its credential, PKCE optional (recommended,
	// not required, for confidential clients).
	if aerr := checkRedemptionOrigin(req.origin, !code.web); aerr != nil {
		return nil, aerr
	}
	switch {
	case code.web && c.acr == "0":
		return nil, errNoCredential(req.grant)
	case code.web && code.challenge == "":
	case code.challenge == "":
		return nil, errPKCERequired()
	case !code.verifies(req.form.Get("code_verifier")):
		return nil, newErr(http.StatusBadRequest, oauthInvalidGrant, 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	}
	scope := req.form.Get("scope")
	if scope == "" {
		scope = code.scope
	}
	// A sign-in may have asked consent for several resources; the code
	// redeems for the first.
	sr, aerr := s.parseScope(req.tid, firstResourceScopes(scope))
	if aerr != nil {
		return nil, aerr
	}
	user := s.dir().UserByID(code.userOID)
	if user == nil {
		return nil, errUserNotFound(code.userOID, req.tid)
	}
	scopes, aerr := s.delegatedScopes(c.id, c.name(), user.ObjectID, sr)
	if aerr != nil {
		return nil, aerr
	}
	sj := subject{clientID: c.id, clientAcr: c.acr, objectID: user.ObjectID, user: user, scopes: scopes, nonce: code.nonce, tokenLife: s.tokenLifetime(), spaChain: s.now()}
	return s.respond(req, sr, sj, true)
}

// verifies checks a PKCE code_verifier against the challenge (RFC 7636
// 4.6): S256 hashes it, plain compares it as it is.
func (c *authCode) verifies(verifier string) bool {
	want := verifier
	if c.method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return verifier != "" && subtle.ConstantTimeCompare([]byte(want), []byte(c.challenge)) == 1
}

// checkRedemptionOrigin applies the auth code flow page's rule: a token
// issued to an SPA is redeemed only cross-origin, anything else never.
func checkRedemptionOrigin(origin string, spa bool) *aadError {
	switch {
	case spa && origin == "":
		return errSPANeedsOrigin()
	case !spa && origin != "":
		return errCrossOriginNotSPA(origin)
	}
	return nil
}

// spaOrigin reports whether origin is the origin of an SPA redirect URI in
// the tenant: the origins Entra allows to call the token endpoint.
func (s *Server) spaOrigin(origin string) bool {
	if origin == "" {
		return false
	}
	for _, a := range s.dir().Applications {
		for _, u := range a.SPARedirectURIs {
			if originOf(u) == origin {
				return true
			}
		}
	}
	return false
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// cors answers what browsers ask: discovery and keys to anyone, the token
// endpoint to SPA origins only.
func (s *Server) cors(next http.HandlerFunc, spaOnly bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		switch {
		case origin == "":
		case !spaOnly:
			w.Header().Set("Access-Control-Allow-Origin", "*")
		case s.spaOrigin(origin):
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", r.Header.Get("Access-Control-Request-Headers"))
			w.Header().Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next(w, r)
	}
}

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in — cloudsim</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
.note{background:#fff4ce;border:1px solid #e6c600;padding:.75rem;border-radius:6px}
button{display:block;width:100%;text-align:left;margin:.5rem 0;padding:.75rem;font:inherit;border:1px solid #8a8886;border-radius:6px;background:#fff;cursor:pointer}
button:hover,button:focus{border-color:#0f6cbd;outline:2px solid #0f6cbd}
.upn{color:#605e5c;font-size:.9em}</style></head>
<body><h1>Sign in to {{.Tenant}}</h1>
<p class="note">This is <strong>cloudsim</strong>, a local stand-in for Microsoft Entra ID. It is not Microsoft's sign-in page.
Demo users sign in without a password; they come from the tenant file (deploy/local/tenant.jsonc).</p>
<p><strong>{{.App}}</strong> asks to sign you in{{if .Scope}} for: <code>{{.Scope}}</code>{{end}}.</p>
<form method="post">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}{{range .Users}}<button type="submit" name="login" value="{{.UPN}}">{{.DisplayName}}<br><span class="upn">{{.UPN}}</span></button>
{{end}}</form></body></html>`))

var messageTemplate = template.Must(template.New("msg").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cloudsim</title></head>
<body style="font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem"><h1>cloudsim sign-in</h1><p>{{.}}</p></body></html>`))

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, appName, scope string) {
	hidden := map[string]string{}
	for k := range r.Form {
		if k != "login" {
			hidden[k] = r.Form.Get(k)
		}
	}
	// The user is choosing now; prompt=consent still asks after sign-in.
	if hidden["prompt"] != "consent" {
		hidden["prompt"] = ""
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// No form-action: it would also block the redirect to the app after the
	// form is posted.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	_ = loginTemplate.Execute(w, map[string]any{"Tenant": s.dir().Tenant.DisplayName, "App": appName, "Scope": scope, "Hidden": hidden, "Users": s.dir().Users})
}

func (s *Server) authorizePage(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_ = messageTemplate.Execute(w, message)
}
