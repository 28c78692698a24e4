package entra

import (
	"crypto/rand"
	"html/template"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The device code flow (RFC 8628; Entra's "OAuth 2.0 device authorization
// grant" page): a client without a browser gets a user code at
// /devicecode and polls the token endpoint while a person enters the code
// at /devicelogin, signs in and consents. Answers while waiting are the
// page's: authorization_pending (AADSTS70016), expired_token (AADSTS70019),
// bad_verification_code (AADSTS70018) and authorization_declined, for
// which no AADSTS number is documented, so cloudsim gives none.

const (
	// deviceCodeLifetime is Entra's expires_in for a device code.
	deviceCodeLifetime = 15 * time.Minute
	// grantDeviceCode is what MSAL sends; the v2 page names the URN.
	grantDeviceCode    = "device_code"
	grantDeviceCodeURN = "urn:ietf:params:oauth:grant-type:device_code"
	// userCodeAlphabet avoids letters and digits a person confuses.
	userCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
)

// The device code store's bounds. /devicecode takes no credential, so
// anyone who reaches it (another origin's page included) can ask for
// codes: the store holds at most maxDeviceCodes live ones, drops expired
// ones first and, full, refuses new codes rather than evict a sign-in
// in progress; and each client address may start DefaultDeviceCodesPerMinute
// a minute (Options.DeviceCodesPerMinute), so that one address cannot fill
// the store within a code's 15 minutes. maxDeviceClients bounds the
// addresses the limiter remembers.
const (
	maxDeviceCodes = 1000
	// DefaultDeviceCodesPerMinute is the per-address rate: 30 × 15 minutes
	// is under half the store.
	DefaultDeviceCodesPerMinute = 30
	maxDeviceClients            = 10000
)

// deviceAuth is one device code: its request, and the person's answer.
type deviceAuth struct {
	tid, clientID, clientName, scope string
	deviceCode, userCode             string
	issued                           time.Time
	userOID                          string // set when a person approved it
	declined                         bool
}

type deviceCodes struct {
	mu       sync.Mutex
	byDevice map[string]*deviceAuth
	byUser   map[string]*deviceAuth
	// perMinute is each client address's rate; clients its token buckets.
	perMinute int
	clients   map[string]*rateBucket
}

// rateBucket is one address's allowance: tokens, refilled at perMinute
// a minute up to perMinute, as of at.
type rateBucket struct {
	tokens float64
	at     time.Time
}

// add stores a new code for a client address, or says how long the client
// should wait: its rate is spent, or the store is full of live codes.
func (dc *deviceCodes) add(da *deviceAuth, client string, now time.Time) (wait time.Duration, why string, ok bool) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.byDevice == nil {
		dc.byDevice, dc.byUser, dc.clients = map[string]*deviceAuth{}, map[string]*deviceAuth{}, map[string]*rateBucket{}
	}
	if wait, ok := dc.take(client, now); !ok {
		return wait, "rate", false
	}
	// Expired codes go first; a full store refuses until its oldest
	// live code expires.
	oldest := now
	for k, v := range dc.byDevice {
		if now.Sub(v.issued) > deviceCodeLifetime {
			delete(dc.byDevice, k)
			delete(dc.byUser, v.userCode)
		} else if v.issued.Before(oldest) {
			oldest = v.issued
		}
	}
	if len(dc.byDevice) >= maxDeviceCodes {
		return oldest.Add(deviceCodeLifetime).Sub(now), "full", false
	}
	dc.byDevice[da.deviceCode], dc.byUser[da.userCode] = da, da
	return 0, "", true
}

// take spends one of a client address's tokens, or says how long until it
// has one.
func (dc *deviceCodes) take(client string, now time.Time) (time.Duration, bool) {
	rate := dc.perMinute
	if rate <= 0 {
		rate = DefaultDeviceCodesPerMinute
	}
	b := dc.clients[client]
	if b == nil {
		if len(dc.clients) >= maxDeviceClients {
			// Forget the addresses whose allowance is whole again.
			for k, v := range dc.clients {
				if now.Sub(v.at) >= time.Minute {
					delete(dc.clients, k)
				}
			}
			if len(dc.clients) >= maxDeviceClients {
				return time.Minute, false
			}
		}
		b = &rateBucket{tokens: float64(rate), at: now}
		dc.clients[client] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(float64(rate), b.tokens+elapsed.Minutes()*float64(rate))
	}
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / float64(rate) * float64(time.Minute)), false
	}
	b.tokens--
	return 0, true
}

// byUserCode finds a code a person typed: case and spaces do not matter.
func (dc *deviceCodes) byUserCode(code string) *deviceAuth {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.byUser[strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(code), " ", ""))]
}

// narrow limits what a code's token will carry to the scopes approved
// (by name) and the OpenID ones, as a tenant whose consent covers some of
// the scopes issues those.
func (dc *deviceCodes) narrow(da *deviceAuth, approved []string) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	var kept []string
	for _, sc := range strings.Fields(da.scope) {
		if slices.Contains(oidcScopes, sc) || slices.Contains(approved, sc[strings.LastIndex(sc, "/")+1:]) {
			kept = append(kept, sc)
		}
	}
	da.scope = strings.Join(kept, " ")
}

// answer records a person's decision on a code.
func (dc *deviceCodes) answer(da *deviceAuth, userOID string, declined bool) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	da.userOID, da.declined = userOID, declined
}

// state reads a code for the token endpoint; a granted code is removed,
// so it is redeemed once.
func (dc *deviceCodes) state(deviceCode string) (deviceAuth, bool) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	da, ok := dc.byDevice[deviceCode]
	if !ok {
		return deviceAuth{}, false
	}
	if da.userOID != "" && !da.declined {
		delete(dc.byDevice, deviceCode)
		delete(dc.byUser, da.userCode)
	}
	return *da, true
}

func newUserCode() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = userCodeAlphabet[int(b[i])%len(userCodeAlphabet)]
	}
	return string(b)
}

// deviceCode serves POST /{tenant}/oauth2/v2.0/devicecode.
func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	s.stats.Add("entra.devicecode")
	tid, form, aerr := s.tenantForm(w, r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	clientID := strings.ToLower(form.Get("client_id"))
	if clientID == "" {
		s.writeError(w, r, errMissingParam("client_id"))
		return
	}
	app := s.dir().App(clientID)
	if app == nil {
		s.writeError(w, r, errUnknownClient(clientID, tid))
		return
	}
	if _, aerr := s.parseScope(tid, form.Get("scope")); aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	now := s.now()
	da := &deviceAuth{tid: tid, clientID: clientID, clientName: app.Name, scope: form.Get("scope"),
		deviceCode: randomB64(48), userCode: newUserCode(), issued: now}
	if wait, why, ok := s.devices.add(da, clientAddress(r), now); !ok {
		s.stats.Add("entra.devicecode.throttled." + why)
		s.log.Info("device code refused", "reason", why, "retry_after", wait)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		s.writeError(w, r, errThrottled())
		return
	}
	verify := baseURL(r) + "/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":      da.deviceCode,
		"user_code":        da.userCode,
		"verification_uri": verify,
		"expires_in":       int(deviceCodeLifetime.Seconds()),
		"interval":         int(s.deviceInterval.Seconds()),
		"message":          "To sign in, use a web browser to open the page " + verify + " and enter the code " + da.userCode + " to authenticate.",
	})
}

// deviceCodeGrant answers the client's polling.
func (s *Server) deviceCodeGrant(req *tokenRequest, c *caller) (map[string]any, *aadError) {
	code := req.form.Get("device_code")
	if code == "" {
		return nil, errMissingParam("device_code")
	}
	if req.auth == "public" && (c.app == nil || !c.app.AllowPublicClient) {
		return nil, errNoCredential(req.grant)
	}
	da, ok := s.devices.state(code)
	switch {
	case !ok || da.clientID != c.id:
		return nil, newErr(http.StatusBadRequest, "bad_verification_code", 70018, "Invalid verification code. The device code was not recognized.")
	case s.now().Sub(da.issued) > deviceCodeLifetime:
		return nil, newErr(http.StatusBadRequest, "expired_token", 70019, "Verification code expired.")
	case da.declined:
		return nil, newErr(http.StatusBadRequest, "authorization_declined", 0, "The end user denied the authorization request.")
	case da.userOID == "":
		return nil, newErr(http.StatusBadRequest, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	}
	sr, aerr := s.parseScope(req.tid, da.scope)
	if aerr != nil {
		return nil, aerr
	}
	user := s.dir().UserByID(da.userOID)
	if user == nil {
		return nil, errUserNotFound(da.userOID, req.tid)
	}
	scopes, aerr := s.delegatedScopes(c.id, c.name(), user.ObjectID, sr)
	if aerr != nil {
		return nil, aerr
	}
	sj := subject{clientID: c.id, clientAcr: c.acr, objectID: user.ObjectID, user: user, scopes: scopes, tokenLife: s.tokenLifetime()}
	return s.respond(req, sr, sj, true)
}

// deviceLogin serves /devicelogin: the code, then the sign-in, then
// consent for what the client lacks.
func (s *Server) deviceLogin(w http.ResponseWriter, r *http.Request) {
	s.stats.Add("entra.devicelogin")
	if err := r.ParseForm(); err != nil || r.Method == http.MethodGet {
		s.deviceCodePage(w, http.StatusOK, "")
		return
	}
	if r.PostForm.Get("consent_request") != "" {
		s.answerDeviceConsent(w, r)
		return
	}
	da := s.devices.byUserCode(r.PostForm.Get("otc"))
	switch {
	case da == nil:
		s.deviceCodePage(w, http.StatusBadRequest, errBadUserCode().Error())
		return
	case s.now().Sub(da.issued) > deviceCodeLifetime:
		s.deviceCodePage(w, http.StatusBadRequest, newErr(http.StatusBadRequest, "expired_token", 70019, "Verification code expired.").Error())
		return
	}
	login := r.PostForm.Get("login")
	if login == "" {
		s.loginPage(w, r, da.clientName, da.scope)
		return
	}
	user := s.dir().UserByUPN(login)
	if user == nil {
		s.authorizePage(w, http.StatusBadRequest, errUserNotFound(login, da.tid).Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.sessions.start(user.ObjectID), Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode})
	sr, aerr := s.parseScope(da.tid, da.scope)
	if aerr != nil {
		s.authorizePage(w, http.StatusBadRequest, aerr.Error())
		return
	}
	missing, aerr := s.missingConsents(da.clientID, da.clientName, []*scopeRequest{sr}, user.ObjectID, false)
	switch {
	case aerr != nil:
		s.authorizePage(w, http.StatusBadRequest, aerr.Error())
	case len(missing) > 0:
		s.consentPage(w, r, &consentRequest{grants: missing, shownTo: user.ObjectID, device: da}, da.clientName)
	default:
		s.approveDevice(w, da, user.ObjectID)
	}
}

func (s *Server) answerDeviceConsent(w http.ResponseWriter, r *http.Request) {
	oid, cr := s.consentAnswered(r)
	if cr == nil || cr.device == nil {
		s.authorizePage(w, http.StatusBadRequest, "This consent page expired or was shown to someone else: enter the code again.")
		return
	}
	if r.PostForm.Get("decision") != "accept" {
		s.devices.answer(cr.device, oid, true)
		s.log.Info("device code declined", "client_id", cr.device.clientID, "user", oid)
		s.authorizePage(w, http.StatusOK, "You declined to sign in to "+cr.device.clientName+" on your other device.")
		return
	}
	s.grantConsents(cr, oid)
	s.approveDevice(w, cr.device, oid)
}

func (s *Server) approveDevice(w http.ResponseWriter, da *deviceAuth, oid string) {
	s.devices.answer(da, oid, false)
	s.log.Info("device code approved", "client_id", da.clientID, "user", oid)
	s.authorizePage(w, http.StatusOK, "You have signed in to "+da.clientName+" on your other device. You may now close this window.")
}

// errThrottled is Entra's answer when it throttles: 429 with Retry-After
// (MSAL.NET's "client and server throttling" page), the OAuth error
// temporarily_unavailable, and AADSTS90055 with the words Entra's token
// endpoint sends (Azure/azure-storage-azcopy#2799).
func errThrottled() *aadError {
	return newErr(http.StatusTooManyRequests, "temporarily_unavailable", 90055,
		"The server has terminated the request due to excessive request rate. Please wait a few seconds and try again.")
}

// clientAddress is the address a request came from, as the connection
// says: cloudsim stands behind no proxy, so no header is believed.
func clientAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func errBadUserCode() *aadError {
	return newErr(http.StatusBadRequest, "bad_verification_code", 70018, "Invalid verification code due to the user typing in the wrong user code for the device code flow.")
}

// approveDeviceCode is cloudsim's switch for unattended tests: a person's
// sign-in and consent at /devicelogin, as the named user, for the scopes
// named (all the request's when none are), or a decline.
func (s *Server) approveDeviceCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	da := s.devices.byUserCode(r.PostForm.Get("user_code"))
	user := s.dir().UserByUPN(r.PostForm.Get("user"))
	switch {
	case da == nil:
		http.Error(w, "no pending device code "+r.PostForm.Get("user_code"), http.StatusNotFound)
		return
	case user == nil:
		http.Error(w, "no user "+r.PostForm.Get("user")+" in the tenant", http.StatusNotFound)
		return
	case r.PostForm.Get("decision") == "decline":
		s.devices.answer(da, user.ObjectID, true)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	sr, aerr := s.parseScope(da.tid, da.scope)
	if aerr != nil {
		http.Error(w, aerr.Error(), http.StatusBadRequest)
		return
	}
	if only := strings.Fields(r.PostForm.Get("scopes")); len(only) > 0 {
		for _, n := range only {
			if !slices.Contains(sr.names, n) {
				http.Error(w, "scope "+n+" is not one the device code asked for", http.StatusBadRequest)
				return
			}
		}
		s.devices.narrow(da, only)
		sr.names = only
	}
	missing, aerr := s.missingConsents(da.clientID, da.clientName, []*scopeRequest{sr}, user.ObjectID, false)
	if aerr != nil {
		http.Error(w, aerr.Error(), http.StatusBadRequest)
		return
	}
	s.grantConsents(&consentRequest{grants: missing}, user.ObjectID)
	s.devices.answer(da, user.ObjectID, false)
	w.WriteHeader(http.StatusNoContent)
}

var deviceCodeTemplate = template.Must(template.New("devicecode").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Enter code — cloudsim</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
.note{background:#fff4ce;border:1px solid #e6c600;padding:.75rem;border-radius:6px}.err{color:#a4262c}
input,button{font:inherit;padding:.5rem}</style></head>
<body><h1>Enter code</h1>
<p class="note">This is <strong>cloudsim</strong>, a local stand-in for Microsoft Entra ID, not Microsoft's device login page.</p>
{{if .}}<p class="err">{{.}}</p>{{end}}
<form method="post"><label for="otc">Enter the code displayed on your app or device.</label><br>
<input id="otc" name="otc" autocomplete="off" autofocus> <button type="submit" id="next">Next</button></form></body></html>`))

func (s *Server) deviceCodePage(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = deviceCodeTemplate.Execute(w, message)
}
