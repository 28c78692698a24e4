package entra

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Consent on demand. An agent whose token request failed with AADSTS65001
// sends the user to /authorize with response_type=none and the agent
// identity as client_id (Microsoft's "request user authorization" flow for
// agent identities): the user signs in, sees what the agent asks for, and
// accepts or declines. Entra then sends the browser to one of the
// blueprint's web redirect URIs; no code is issued. The v2 admin consent
// endpoint is the same page for an admin, granting for every user.
// cloudsim keeps what was granted in memory until it stops; the tenant
// file's consents are the standing admin ones.

// allUsers is the user of an admin's grant.
const allUsers = "*"

const consentRequestLifetime = 10 * time.Minute

// userConsents are the delegated scopes users granted on the consent page.
type userConsents struct {
	mu      sync.Mutex
	granted map[consentKey][]string
	pending map[string]*consentRequest // by its unguessable ID
}

type consentKey struct{ client, resource, user string }

// consentGrant is what one consent page asks of one resource.
type consentGrant struct {
	key      consentKey
	scopes   []string
	resource string // the resource's display name
}

// consentRequest is a consent page shown to a signed-in user: only that
// user's answer to that page counts, which also defeats cross-site posts.
type consentRequest struct {
	grants      []consentGrant
	shownTo     string
	redirectURI string
	state       string
	shown       time.Time
	admin       bool
	signIn      *authorizeRequest // an app's sign-in: the code to send once answered
	device      *deviceAuth       // a device code: approved once answered
}

// scopes are what user (or an admin, for everyone) granted client on
// resource.
func (uc *userConsents) scopes(client, resource, user string) []string {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	out := slices.Clone(uc.granted[consentKey{client, resource, allUsers}])
	if user != "" {
		out = append(out, uc.granted[consentKey{client, resource, user}]...)
	}
	return out
}

func (uc *userConsents) grant(k consentKey, scopes []string) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if uc.granted == nil {
		uc.granted = map[consentKey][]string{}
	}
	all := append(uc.granted[k], scopes...)
	slices.Sort(all)
	uc.granted[k] = slices.Compact(all)
}

func (uc *userConsents) ask(cr *consentRequest) string {
	id := randomB64(32)
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if uc.pending == nil {
		uc.pending = map[string]*consentRequest{}
	}
	for k, v := range uc.pending {
		if time.Since(v.shown) > consentRequestLifetime {
			delete(uc.pending, k)
		}
	}
	uc.pending[id] = cr
	return id
}

// answer takes the pending request id, once, if user is the one it was
// shown to.
func (uc *userConsents) answer(id, user string) *consentRequest {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	cr := uc.pending[id]
	if cr == nil || cr.shownTo != user || time.Since(cr.shown) > consentRequestLifetime {
		return nil
	}
	delete(uc.pending, id)
	return cr
}

// adminConsent serves /{tenant}/v2.0/adminconsent.
func (s *Server) adminConsent(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.authorizePage(w, http.StatusBadRequest, errMalformedRequest().Error())
		return
	}
	s.consent(w, r, true)
}

// consent serves /authorize with response_type=none (admin false) and the
// admin consent endpoint.
func (s *Server) consent(w http.ResponseWriter, r *http.Request, admin bool) {
	s.stats.Add("entra.consent")
	tid, aerr := s.tenantOf(r)
	if aerr != nil {
		s.authorizePage(w, http.StatusBadRequest, aerr.Error())
		return
	}
	q := r.Form
	clientID := strings.ToLower(q.Get("client_id"))
	redirectURI, state := q.Get("redirect_uri"), q.Get("state")
	var name string
	var registered []string
	switch {
	case clientID == "":
		s.authorizePage(w, http.StatusBadRequest, errMissingParam("client_id").Error())
		return
	case s.dir().Agent(clientID) != nil:
		ag := s.dir().Agent(clientID)
		name = ag.Name
		if bp := s.dir().App(ag.Blueprint); bp != nil {
			registered = bp.WebRedirectURIs
		}
	case s.dir().App(clientID) != nil:
		app := s.dir().App(clientID)
		name, registered = app.Name, app.WebRedirectURIs
	default:
		s.authorizePage(w, http.StatusBadRequest, errUnknownClient(clientID, tid).Error())
		return
	}
	if !slices.Contains(registered, redirectURI) {
		// Never redirect to an address the app did not register.
		s.authorizePage(w, http.StatusBadRequest, newErr(http.StatusBadRequest, oauthInvalidRequest, 50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. For an agent identity, they are the web redirect URIs of its blueprint.", redirectURI, clientID).Error())
		return
	}
	back := func(v url.Values) {
		if state != "" {
			v.Set("state", state)
		}
		http.Redirect(w, r, withResponse(redirectURI, "query", v), http.StatusFound)
	}
	fail := func(e *aadError) {
		s.stats.Add(e.statKey())
		back(url.Values{"error": {e.oauth}, "error_description": {e.Error()}, "error_codes": {itoa(e.code)}})
	}
	granted := func() {
		if admin {
			back(url.Values{"admin_consent": {"True"}, "tenant": {tid}, "scope": {q.Get("scope")}})
			return
		}
		back(url.Values{})
	}
	sr, aerr := s.parseScope(tid, q.Get("scope"))
	if aerr != nil {
		fail(aerr)
		return
	}
	if sr.res.app == nil || len(sr.names) == 0 {
		fail(errInvalidScope(sr.raw))
		return
	}
	for _, n := range sr.names {
		if !slices.Contains(sr.res.app.Scopes, n) {
			fail(errInvalidScope(sr.res.requested + "/" + n))
			return
		}
	}

	// Who answers: the user signing in now, or the session's.
	oid := s.sessions.user(r)
	if login := r.PostForm.Get("login"); r.Method == http.MethodPost && login != "" {
		user := s.dir().UserByUPN(login)
		if user == nil {
			s.authorizePage(w, http.StatusBadRequest, errUserNotFound(login, tid).Error())
			return
		}
		oid = user.ObjectID
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.sessions.start(oid), Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode})
	} else if r.Method == http.MethodPost && oid != "" {
		cr := s.consents.answer(r.PostForm.Get("consent_request"), oid)
		if cr == nil || cr.signIn != nil || cr.device != nil || cr.grants[0].key.client != clientID || cr.admin != admin {
			s.authorizePage(w, http.StatusBadRequest, "This consent page expired or was shown to someone else: start again from the agent.")
			return
		}
		// The answer goes where the page's request said, whatever the post says.
		redirectURI, state = cr.redirectURI, cr.state
		if r.PostForm.Get("decision") != "accept" {
			s.log.Info("consent declined", "client_id", clientID, "user", oid, "admin", cr.admin)
			fail(errConsentDeclined())
			return
		}
		s.grantConsents(cr, oid)
		granted()
		return
	}
	if oid == "" {
		s.loginPage(w, r, name, q.Get("scope"))
		return
	}
	grantee := oid
	if admin {
		if u := s.dir().UserByID(oid); u == nil || !u.MayConsentAsAdmin() {
			e := errAdminConsentRequired("Consenting for the organization needs an admin.")
			s.stats.Add(e.statKey())
			s.authorizePage(w, e.status, e.Error())
			return
		}
		grantee = allUsers
	}
	have, _ := s.dir().Grant(clientID, sr.res.appID)
	have = append(have, s.consents.scopes(clientID, sr.res.appID, grantee)...)
	if !admin && q.Get("prompt") != "consent" && !slices.ContainsFunc(sr.names, func(n string) bool { return !slices.Contains(have, n) }) {
		granted() // nothing new to grant
		return
	}
	cr := &consentRequest{grants: []consentGrant{{key: consentKey{clientID, sr.res.appID, grantee}, scopes: sr.names, resource: sr.res.app.Name}},
		shownTo: oid, redirectURI: redirectURI, state: state, admin: admin}
	// What the user would newly grant (all of it, with prompt=consent).
	need := slices.DeleteFunc(slices.Clone(sr.names), func(n string) bool { return q.Get("prompt") != "consent" && slices.Contains(have, n) })
	if e := s.consentable([]consentGrant{{key: cr.grants[0].key, scopes: need}}, oid); e != nil {
		s.stats.Add(e.statKey())
		s.authorizePage(w, e.status, e.Error())
		return
	}
	s.consentPage(w, r, cr, name)
}

// codeAdminConsentRequired is AADSTS90094, "The grant requires admin
// permission.": what Entra answers a user who is not an admin when the
// consent asked of them covers a permission only an admin may grant (its
// "Need admin approval" page), and a user who is not an admin at the
// admin consent endpoint.
const codeAdminConsentRequired = 90094

func errAdminConsentRequired(detail string) *aadError {
	return newErr(http.StatusForbidden, "access_denied", codeAdminConsentRequired, "The grant requires admin permission. %s", detail)
}

// consentable refuses a consent the user may not give: a scope the
// resource marks for admin consent only (adminConsentScopes; Microsoft
// Graph's are its permissions reference's), asked of a user who is not an
// admin (tenant.User.MayConsentAsAdmin). An admin may consent for
// themselves; anyone may use what an admin consented for everyone, which
// is never missing.
func (s *Server) consentable(grants []consentGrant, user string) *aadError {
	if u := s.dir().UserByID(user); u != nil && u.MayConsentAsAdmin() {
		return nil
	}
	for _, g := range grants {
		res := s.dir().App(g.key.resource)
		for _, sc := range g.scopes {
			if res != nil && res.NeedsAdminConsent(sc) {
				return errAdminConsentRequired(fmt.Sprintf("%s's %s needs an admin's consent: ask an admin to consent for the organization, or sign in as one "+
					"(in cloudsim, a user with \"admin\": true or an admin role in the tenant file's directoryRoles).", res.Name, sc))
			}
		}
	}
	return nil
}

func (s *Server) grantConsents(cr *consentRequest, by string) {
	for _, g := range cr.grants {
		s.consents.grant(g.key, g.scopes)
		s.log.Info("consent granted", "client_id", g.key.client, "resource", g.key.resource, "for", g.key.user, "by", by, "scopes", strings.Join(g.scopes, " "))
	}
}

// consentAnswered is the pending consent page r answers, taken once, if it
// was shown to this session's user; nil otherwise.
func (s *Server) consentAnswered(r *http.Request) (string, *consentRequest) {
	oid := s.sessions.user(r)
	if oid == "" {
		return "", nil
	}
	return oid, s.consents.answer(r.PostForm.Get("consent_request"), oid)
}

// answerSignInConsent takes the user's answer to the consent page of an
// app's sign-in, and sends the browser back with a code or access_denied.
func (s *Server) answerSignInConsent(w http.ResponseWriter, r *http.Request) {
	oid, cr := s.consentAnswered(r)
	if cr == nil || cr.signIn == nil {
		s.authorizePage(w, http.StatusBadRequest, "This consent page expired or was shown to someone else: sign in again from the app.")
		return
	}
	// The code goes where the page's request said, whatever the post says.
	ar := cr.signIn
	if r.PostForm.Get("decision") != "accept" {
		s.log.Info("consent declined", "client_id", ar.clientID, "user", oid)
		s.redirectError(w, r, ar, errConsentDeclined())
		return
	}
	s.grantConsents(cr, oid)
	s.redirectCode(w, r, ar, oid)
}

var consentTemplate = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Permissions requested — cloudsim</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
.note{background:#fff4ce;border:1px solid #e6c600;padding:.75rem;border-radius:6px}
li{margin:.25rem 0}button{font:inherit;padding:.5rem 1.25rem;margin-right:.5rem;border-radius:6px;border:1px solid #8a8886;background:#fff;cursor:pointer}
button.primary{background:#0f6cbd;border-color:#0f6cbd;color:#fff}</style></head>
<body><h1>Permissions requested</h1>
<p class="note">This is <strong>cloudsim</strong>, a local stand-in for Microsoft Entra ID, not Microsoft's consent page.</p>
<p>Signed in as <strong>{{.User}}</strong>.</p>
{{if .Admin}}<p><strong>{{.Client}}</strong> asks to act on behalf of <strong>everyone in the organization</strong> (and as its agent users), with:</p>
{{else}}<p><strong>{{.Client}}</strong> asks to act on your behalf, with:</p>
{{end}}<ul>{{range .Grants}}<li><strong>{{.Resource}}</strong>:{{range .Scopes}} <code>{{.}}</code>{{end}}</li>{{end}}</ul>
<p>Accepting lets it get tokens for these permissions{{if .Admin}} for any user{{else}} whenever you use it{{end}}, until the grant is removed (in cloudsim: until it restarts).</p>
<form method="post">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<button class="primary" type="submit" name="decision" value="accept" id="accept">Accept</button><button type="submit" name="decision" value="cancel" id="cancel">Cancel</button>
</form></body></html>`))

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request, cr *consentRequest, client string) {
	cr.shown = time.Now()
	hidden := map[string]string{"consent_request": s.consents.ask(cr)}
	for _, k := range []string{"client_id", "redirect_uri", "scope", "state", "response_type"} {
		if v := r.Form.Get(k); v != "" {
			hidden[k] = v
		}
	}
	userName := cr.shownTo
	if u := s.dir().UserByID(cr.shownTo); u != nil {
		userName = u.DisplayName + " (" + u.UPN + ")"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	type grant struct {
		Resource string
		Scopes   []string
	}
	var grants []grant
	for _, g := range cr.grants {
		grants = append(grants, grant{g.resource, g.scopes})
	}
	_ = consentTemplate.Execute(w, map[string]any{"User": userName, "Client": client, "Grants": grants, "Hidden": hidden, "Admin": cr.admin})
}
