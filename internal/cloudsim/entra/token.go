package entra

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/config"
)

// maxFormBytes bounds a token request body. Real requests are a few KiB,
// even with two tokens in them.
const maxFormBytes = 64 << 10

const (
	grantClientCredentials = "client_credentials"
	grantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantUserFIC           = "user_fic"
	grantRefreshToken      = "refresh_token"
	grantPassword          = "password"
	grantAuthorizationCode = "authorization_code"
	assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// caller is the authenticated client of a token request.
type caller struct {
	id    string
	app   *tenant.Application   // set for applications
	agent *tenant.AgentIdentity // set for agent identities
	acr   string                // 0 public, 1 secret, 2 assertion
}

func (c *caller) name() string {
	if c.agent != nil {
		return c.agent.Name
	}
	return c.app.Name
}

// tokenRequest is one parsed request to the token endpoint.
type tokenRequest struct {
	auth   string // how the client authenticated: secret, federated_credential, agent_t1, public
	tid    string
	form   url.Values
	grant  string
	origin string // the Origin header: set when a browser makes the request
}

// singleValued are parameters that must not repeat: a second value could
// make two layers disagree about which one counts.
var singleValued = []string{"grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type", "scope", "assertion", "fmi_path", "username", "password", "refresh_token", "user_federated_identity_credential", "user_id", "requested_token_use", "code", "code_verifier", "redirect_uri"}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.stats.Add("entra.token")
	if r.Header.Get("client-request-id") == "" {
		// One ID for the response and the log line.
		r.Header.Set("client-request-id", newID())
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		s.writeError(w, r, errMethod(r.Method))
		return
	}
	if s.inOutage() {
		s.writeError(w, r, errTransient())
		return
	}
	tid, form, aerr := s.tenantForm(w, r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	req := &tokenRequest{tid: tid, form: form, grant: form.Get("grant_type"), origin: r.Header.Get("Origin")}
	body, aerr := s.issue(r, req)
	grantKey := req.grant
	if form.Get("fmi_path") != "" {
		grantKey += "+fmi_path"
	}
	corr := correlationID(r)
	w.Header().Set("client-request-id", corr)
	if aerr != nil {
		s.log.Info("token refused", "tenant", tid, "grant", req.grant, "client_id", form.Get("client_id"), "code", "AADSTS"+itoa(aerr.code), "correlation_id", corr)
		s.writeError(w, r, aerr)
		return
	}
	s.stats.Add("entra.token.grant." + grantKey)
	if req.auth != "" {
		// How each client proved itself: demos and tests show chain A
		// with it (the blueprint by federated credential, never a secret).
		s.stats.Add("entra.client_auth." + req.auth + "." + strings.ToLower(form.Get("client_id")))
	}
	s.log.Info("token issued", "tenant", tid, "grant", req.grant, "client_id", form.Get("client_id"), "fmi_path", form.Get("fmi_path"), "correlation_id", corr)
	writeJSON(w, http.StatusOK, body)
}

// tenantForm reads a token or device code request: its tenant, then its
// form, bounded, with no parameter given twice.
func (s *Server) tenantForm(w http.ResponseWriter, r *http.Request) (string, url.Values, *aadError) {
	tid, aerr := s.tenantOf(r)
	if aerr != nil {
		return "", nil, aerr
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", nil, errBodyTooLarge()
		}
		return "", nil, errMalformedRequest()
	}
	for _, k := range singleValued {
		if len(r.PostForm[k]) > 1 {
			return "", nil, errMalformedRequest()
		}
	}
	return tid, r.PostForm, nil
}

// issue runs one grant and returns the response body.
func (s *Server) issue(r *http.Request, req *tokenRequest) (map[string]any, *aadError) {
	switch req.grant {
	case "":
		return nil, errMissingParam("grant_type")
	case grantClientCredentials, grantJWTBearer, grantUserFIC, grantRefreshToken, grantPassword, grantAuthorizationCode, grantDeviceCode, grantDeviceCodeURN:
	default:
		return nil, errUnsupportedGrant(req.grant)
	}
	c, aerr := s.authenticate(r, req)
	if aerr != nil {
		return nil, aerr
	}
	// Only SPA codes and refresh tokens are redeemed from a browser; they
	// check the Origin themselves. Anything else with an Origin is refused.
	if req.origin != "" && req.grant != grantAuthorizationCode && req.grant != grantRefreshToken {
		return nil, errCrossOriginNotSPA(req.origin)
	}
	switch req.grant {
	case grantClientCredentials:
		return s.clientCredentials(req, c)
	case grantJWTBearer:
		return s.onBehalfOf(req, c)
	case grantUserFIC:
		return s.userFIC(req, c)
	case grantAuthorizationCode:
		return s.authorizationCode(req, c)
	case grantRefreshToken:
		return s.refreshToken(req, c)
	case grantDeviceCode, grantDeviceCodeURN:
		return s.deviceCodeGrant(req, c)
	default:
		return s.password(req, c)
	}
}

// authenticate identifies the client and checks its credential: a secret
// (body or HTTP Basic), an Entra-issued client_assertion, or none for a
// public client on a user grant.
func (s *Server) authenticate(r *http.Request, req *tokenRequest) (*caller, *aadError) {
	id := req.form.Get("client_id")
	secret := req.form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	if id == "" {
		return nil, errMissingParam("client_id")
	}
	c := &caller{id: strings.ToLower(id)}
	if c.app = s.dir().App(id); c.app == nil {
		if c.agent = s.dir().Agent(id); c.agent == nil {
			return nil, errUnknownClient(id, req.tid)
		}
	}
	assertion := req.form.Get("client_assertion")
	switch {
	case secret != "":
		if c.app == nil || !matchesAny(c.app.Secrets, secret) {
			return nil, errWrongSecret(id)
		}
		// A secret Graph added has an endDateTime; past it Entra refuses
		// the secret with its own code rather than 7000215.
		if end, ok := c.app.SecretEnds[secret]; ok && !s.now().Before(end) {
			return nil, errSecretExpired(c.app.AppID)
		}
		c.acr, req.auth = "1", "secret"
	case assertion != "":
		if t := req.form.Get("client_assertion_type"); t != assertionTypeJWTBearer {
			if t == "" {
				return nil, errMissingParam("client_assertion_type")
			}
			return nil, errMalformedRequest()
		}
		if aerr := s.checkClientAssertion(req.tid, c, assertion); aerr != nil {
			return nil, aerr
		}
		c.acr, req.auth = "2", "federated_credential"
		if c.agent != nil {
			req.auth = "agent_t1"
		}
	case c.app != nil && (c.app.AllowPublicClient || len(c.app.SPARedirectURIs) > 0) && req.grant != grantClientCredentials && req.grant != grantJWTBearer:
		c.acr, req.auth = "0", "public"
	default:
		return nil, errNoCredential(req.grant)
	}
	return c, nil
}

func matchesAny(secrets []string, got string) bool {
	ok := false
	for _, s := range secrets {
		if subtle.ConstantTimeCompare([]byte(s), []byte(got)) == 1 {
			ok = true
		}
	}
	return ok
}

// oidcScopes are the scopes MSAL adds to every request; Entra ignores them
// when it decides the resource.
var oidcScopes = []string{"openid", "profile", "offline_access", "email"}

// scopeRequest is a parsed scope parameter.
type scopeRequest struct {
	raw     string
	res     resource
	names   []string // the permission part of each scope: ".default" or a scope name
	openID  bool
	offline bool
}

func (s *Server) parseScope(tid, raw string) (*scopeRequest, *aadError) {
	if strings.TrimSpace(raw) == "" {
		return nil, errMissingParam("scope")
	}
	sr := &scopeRequest{raw: raw}
	var resourceID string
	for _, sc := range strings.Fields(raw) {
		switch {
		case sc == "openid":
			sr.openID = true
			continue
		case sc == "offline_access":
			sr.offline = true
			continue
		case slices.Contains(oidcScopes, sc):
			continue
		}
		i := strings.LastIndex(sc, "/")
		id, name := "https://graph.microsoft.com", sc // a bare scope means Microsoft Graph
		if i > 0 {
			id, name = sc[:i], sc[i+1:]
		}
		if name == "" {
			return nil, errInvalidScope(sc)
		}
		if resourceID != "" && !strings.EqualFold(resourceID, id) {
			return nil, errManyResources(raw)
		}
		resourceID = id
		sr.names = append(sr.names, name)
	}
	if resourceID == "" {
		return nil, errInvalidScope(raw)
	}
	res, aerr := s.resolveResource(tid, resourceID)
	if aerr != nil {
		return nil, aerr
	}
	sr.res = res
	return sr, nil
}

func (s *Server) resolveResource(tid, id string) (resource, *aadError) {
	if strings.EqualFold(id, tenant.TokenExchangeURI) || strings.EqualFold(id, tenant.TokenExchangeAppID) {
		return resource{appID: tenant.TokenExchangeAppID, requested: id, version: 2}, nil
	}
	app := s.dir().AppByIdentifier(id)
	if app == nil {
		return resource{}, errUnknownResource(id, tid)
	}
	return resource{appID: app.AppID, app: app, requested: id, version: app.AccessTokenVersion}, nil
}

func (sr *scopeRequest) isDefault() bool {
	return len(sr.names) == 1 && sr.names[0] == ".default"
}

// delegatedScopes decides the scp of a delegated token for user: the
// requested scopes the resource publishes and the client was consented
// (by an admin for everyone, or by this user on the consent page), or
// every consented scope for .default.
func (s *Server) delegatedScopes(clientID, clientName, user string, sr *scopeRequest) ([]string, *aadError) {
	if sr.res.app == nil {
		return nil, errInvalidScope(sr.raw)
	}
	granted, _ := s.dir().Grant(clientID, sr.res.appID)
	granted = append(granted, s.consents.scopes(clientID, sr.res.appID, user)...)
	if sr.isDefault() {
		if len(granted) == 0 {
			return nil, errConsent(clientID, clientName)
		}
		return granted, nil
	}
	var out []string
	for _, name := range sr.names {
		if name == ".default" || !slices.Contains(sr.res.app.Scopes, name) {
			return nil, errInvalidScope(sr.res.requested + "/" + name)
		}
		if !slices.Contains(granted, name) {
			return nil, errConsent(clientID, clientName)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	// The token carries every permission consented to the client on the
	// resource, not only those asked for, as Entra's do: which is how a
	// Directory.AccessAsUser.All consented long ago reaches a Graph token
	// that never asked for it (the Agent ID known issue). Not stated on a
	// documentation page cloudsim could cite: unverified.
	for _, name := range granted {
		if !slices.Contains(out, name) && slices.Contains(sr.res.app.Scopes, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func (s *Server) tokenLifetime() time.Duration {
	if s.lifetime > 0 {
		return s.lifetime
	}
	return randomLifetime()
}

// clientCredentials issues app-only tokens: T1 (a blueprint with fmi_path),
// T2 (an agent identity for the token exchange app), TR (an agent identity
// or any app for a resource).
func (s *Server) clientCredentials(req *tokenRequest, c *caller) (map[string]any, *aadError) {
	sr, aerr := s.parseScope(req.tid, req.form.Get("scope"))
	if aerr != nil {
		return nil, aerr
	}
	if !sr.isDefault() {
		return nil, errNeedsDotDefault(req.form.Get("scope"))
	}
	fmiPath := req.form.Get("fmi_path")
	sj := subject{clientID: c.id, clientAcr: c.acr, tokenLife: s.tokenLifetime()}
	switch {
	case fmiPath != "":
		agent := s.dir().Agent(fmiPath)
		if c.app == nil || !c.app.AgentIdentityBlueprint || agent == nil || agent.Blueprint != c.id {
			return nil, errNotOwnAgent(fmiPath, c.id, req.tid)
		}
		if sr.res.app != nil {
			return nil, errInvalidScope(req.form.Get("scope") + " (fmi_path needs " + tenant.TokenExchangeURI + "/.default)")
		}
		sj.objectID = c.app.ServicePrincipalID
		sj.sub = fmiSubject(req.tid, c.id, agent.AppID)
	case c.app != nil && c.app.AgentIdentityBlueprint && sr.res.appID == tenant.GraphAppID:
		// A blueprint's own app-only token for Microsoft Graph, with which
		// it creates the agent identities it manages: "Request an access
		// token from Microsoft Entra using your agent identity blueprint:
		// client_id=<agent-blueprint-id> scope=https://graph.microsoft.com/.default
		// ... grant_type=client_credentials" ("Create agent identities in
		// agent identity platform", learn.microsoft.com/entra/agent-id/
		// identity-platform/create-delete-agent-identities, read
		// 2026-12-06). Its roles are the Graph application permissions
		// granted to the blueprint (AgentIdentity.CreateAsManager).
		sj.objectID = c.app.ServicePrincipalID
	case c.app != nil && c.app.AgentIdentityBlueprint:
		if sr.res.app == nil {
			return nil, errMissingFMIPath()
		}
		// Any other resource: the blueprint acts through its agent
		// identities only.
		return nil, errAgenticAppOnly(c.id, sr.res.requested)
	case c.agent != nil:
		sj.agent = c.agent
		sj.objectID = c.agent.AppID
	default:
		sj.objectID = c.app.ServicePrincipalID
	}
	if sr.res.app != nil {
		_, sj.roles = s.dir().Grant(c.id, sr.res.appID)
	}
	return s.respond(req, sr, sj, false)
}

// onBehalfOf issues TU: the agent identity (or an app) acting for the user
// whose token is the assertion.
func (s *Server) onBehalfOf(req *tokenRequest, c *caller) (map[string]any, *aadError) {
	if c.app != nil && c.app.AgentIdentityBlueprint {
		return nil, errAgenticOBO(c.id)
	}
	switch req.form.Get("requested_token_use") {
	case "on_behalf_of":
	case "":
		return nil, errMissingParam("requested_token_use")
	default:
		return nil, errMalformedRequest()
	}
	assertion := req.form.Get("assertion")
	if assertion == "" {
		return nil, errMissingParam("assertion")
	}
	sr, aerr := s.parseScope(req.tid, req.form.Get("scope"))
	if aerr != nil {
		return nil, aerr
	}
	// The user's token must be for the app presenting it; for an agent
	// identity, that is its blueprint.
	audApp := c.app
	if c.agent != nil {
		audApp = s.dir().App(c.agent.Blueprint)
	}
	audiences := append([]string{audApp.AppID}, audApp.IdentifierURIs...)
	p, aerr := s.checkUserAssertion(req.tid, assertion, audiences)
	if aerr != nil {
		return nil, aerr
	}
	// A user's token carries scp; idtyp is optional and cannot decide.
	user := s.dir().UserByID(p.Oid)
	if user == nil || p.Scp == "" {
		return nil, errUserNotFound(p.Oid, req.tid)
	}
	scopes, aerr := s.delegatedScopes(c.id, c.name(), user.ObjectID, sr)
	if aerr != nil {
		return nil, aerr
	}
	sj := subject{clientID: c.id, clientAcr: c.acr, objectID: user.ObjectID, user: user, agent: c.agent, scopes: scopes, tokenLife: s.tokenLifetime()}
	return s.respond(req, sr, sj, true)
}

// userFIC issues TAU: an agent identity acting as its agent user, proven by
// the agent's own exchange token T2.
func (s *Server) userFIC(req *tokenRequest, c *caller) (map[string]any, *aadError) {
	if c.agent == nil {
		return nil, errMalformedRequest()
	}
	t2 := req.form.Get("user_federated_identity_credential")
	if t2 == "" {
		return nil, errMissingParam("user_federated_identity_credential")
	}
	who := req.form.Get("username")
	if id := req.form.Get("user_id"); who == "" && id != "" {
		if !config.IsGUID(id) {
			return nil, errUserIDNotObjectID()
		}
		who = id
	}
	if who == "" {
		return nil, errMissingParam("username")
	}
	sr, aerr := s.parseScope(req.tid, req.form.Get("scope"))
	if aerr != nil {
		return nil, aerr
	}
	p, err := s.parsePresented(t2)
	if err != nil {
		return nil, errUserAssertionSignature()
	}
	if now := s.now(); !p.window(now) {
		return nil, errUserAssertionExpired(isoTime(now), fmtTime(p.Exp))
	}
	// T2 is the agent's own exchange token: about the agent, for itself.
	if aerr := checkExchangeToken(req.tid, p, c.agent.AppID); aerr != nil {
		return nil, aerr
	}
	if p.client() != c.id {
		return nil, errNoFICForSubject(p.Sub)
	}
	au := s.dir().AgentUser(who)
	if au == nil || au.AgentIdentity != c.id {
		return nil, errUserNotFound(who, req.tid)
	}
	scopes, aerr := s.delegatedScopes(c.id, c.name(), au.ObjectID, sr)
	if aerr != nil {
		return nil, aerr
	}
	sj := subject{clientID: c.id, clientAcr: c.acr, objectID: au.ObjectID, agentUser: au, agent: c.agent, scopes: scopes, tokenLife: s.tokenLifetime()}
	return s.respond(req, sr, sj, true)
}

// password is ROPC, for demo users in scripts and tests.
func (s *Server) password(req *tokenRequest, c *caller) (map[string]any, *aadError) {
	username, password := req.form.Get("username"), req.form.Get("password")
	if username == "" {
		return nil, errMissingParam("username")
	}
	if password == "" {
		return nil, errMissingParam("password")
	}
	sr, aerr := s.parseScope(req.tid, req.form.Get("scope"))
	if aerr != nil {
		return nil, aerr
	}
	user := s.dir().UserByUPN(username)
	if user == nil {
		if s.dir().AgentUser(username) != nil {
			return nil, errWrongPassword() // agent users have no password
		}
		return nil, errUserNotFound(username, req.tid)
	}
	if subtle.ConstantTimeCompare([]byte(user.Password), []byte(password)) != 1 {
		return nil, errWrongPassword()
	}
	scopes, aerr := s.delegatedScopes(c.id, c.name(), user.ObjectID, sr)
	if aerr != nil {
		return nil, aerr
	}
	sj := subject{clientID: c.id, clientAcr: c.acr, objectID: user.ObjectID, user: user, scopes: scopes, tokenLife: s.tokenLifetime()}
	return s.respond(req, sr, sj, true)
}

// refreshToken redeems a refresh token for the client it was issued to.
func (s *Server) refreshToken(req *tokenRequest, c *caller) (map[string]any, *aadError) {
	rt := req.form.Get("refresh_token")
	if rt == "" {
		return nil, errMissingParam("refresh_token")
	}
	g, ok := s.refresh.lookup(rt)
	if !ok {
		return nil, errBadRefreshToken()
	}
	if g.clientID != c.id {
		return nil, errRefreshTokenOtherClient()
	}
	if aerr := checkRedemptionOrigin(req.origin, !g.spaChain.IsZero()); aerr != nil {
		return nil, aerr
	}
	// An SPA's refresh tokens end 24 hours after the sign-in that began
	// the chain, however often they are redeemed (refresh tokens page).
	if !g.spaChain.IsZero() && s.now().Sub(g.spaChain) > spaRefreshLifetime {
		return nil, errSPARefreshTokenExpired(g.spaChain.UTC().Format(time.RFC3339))
	}
	if s.now().Sub(g.issued) > refreshLifetime {
		return nil, errRefreshTokenExpired(g.issued.UTC().Format(time.RFC3339))
	}
	// Scopes of several resources get a token for the first (auth code
	// flow page, refreshing an access token). scope is optional there:
	// "scope | optional | ... The scopes requested in this leg must be
	// equivalent to or a subset of the scopes requested in the original
	// authorization_code request leg" (Microsoft identity platform and
	// OAuth 2.0 authorization code flow, "Refresh the access token",
	// learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow,
	// read 2026-12-06): without it, the refresh is for the scopes the
	// refresh token was issued with.
	scope := req.form.Get("scope")
	if strings.TrimSpace(scope) == "" {
		scope = g.scope
	}
	sr, aerr := s.parseScope(req.tid, firstResourceScopes(scope))
	if aerr != nil {
		return nil, aerr
	}
	scopes, aerr := s.delegatedScopes(c.id, c.name(), g.userOID, sr)
	if aerr != nil {
		return nil, aerr
	}
	sj := subject{clientID: c.id, clientAcr: c.acr, objectID: g.userOID, agent: c.agent, scopes: scopes, tokenLife: s.tokenLifetime(), spaChain: g.spaChain}
	if g.agentUser {
		sj.agentUser = s.dir().AgentUser(g.userOID)
	} else {
		sj.user = s.dir().UserByID(g.userOID)
	}
	if sj.user == nil && sj.agentUser == nil {
		return nil, errUserNotFound(g.userOID, req.tid)
	}
	// The grant came with offline_access: a redemption always returns a
	// new refresh token to replace the old one.
	sr.offline = true
	return s.respond(req, sr, sj, true)
}

// scopesByResource splits a scope list by resource, in the order they are
// first named; the OpenID scopes go with the first. A bare scope is
// Microsoft Graph's, as in parseScope.
func scopesByResource(raw string) []string {
	var oidc, order []string
	groups := map[string][]string{}
	for _, sc := range strings.Fields(raw) {
		if slices.Contains(oidcScopes, sc) {
			oidc = append(oidc, sc)
			continue
		}
		res := "https://graph.microsoft.com"
		if i := strings.LastIndex(sc, "/"); i > 0 {
			res = strings.ToLower(sc[:i])
		}
		if _, seen := groups[res]; !seen {
			order = append(order, res)
		}
		groups[res] = append(groups[res], sc)
	}
	if len(order) == 0 {
		return []string{strings.Join(oidc, " ")}
	}
	out := make([]string, len(order))
	for i, res := range order {
		out[i] = strings.Join(groups[res], " ")
	}
	out[0] = strings.Join(append(oidc, groups[order[0]]...), " ")
	return out
}

// firstResourceScopes keeps the OpenID scopes and those of the first
// resource a scope list names.
func firstResourceScopes(raw string) string { return scopesByResource(raw)[0] }

// respond signs the access token (and, for delegated flows, the ID token,
// client_info and refresh token the request asked for).
func (s *Server) respond(req *tokenRequest, sr *scopeRequest, sj subject, delegated bool) (map[string]any, *aadError) {
	tid := req.tid
	now := s.now()
	claims := s.accessTokenClaims(tid, sr.res, sj, now)
	at, err := s.keys.Sign(claims, sr.res.version == 1)
	if err != nil {
		return nil, newErr(http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.")
	}
	life := int(sj.tokenLife.Seconds())
	body := map[string]any{
		"token_type":     "Bearer",
		"expires_in":     life,
		"ext_expires_in": life,
		"access_token":   at,
	}
	if !delegated {
		return body, nil
	}
	granted := make([]string, 0, len(sj.scopes)+2)
	for _, sc := range sj.scopes {
		granted = append(granted, sr.res.requested+"/"+sc)
	}
	if sr.isDefault() {
		// The scopes .default expanded to, and .default itself, so clients
		// that compare requested with granted scopes see nothing declined.
		granted = append(granted, sr.res.requested+"/.default")
	}
	if sr.openID {
		granted = append(granted, "openid", "profile")
		idt, err := s.keys.Sign(s.idTokenClaims(tid, sj, now), false)
		if err != nil {
			return nil, newErr(http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.")
		}
		body["id_token"] = idt
	}
	if sr.offline {
		granted = append(granted, "offline_access")
		body["refresh_token"] = s.refresh.issue(refreshGrant{clientID: sj.clientID, userOID: sj.objectID, agentUser: sj.agentUser != nil, spaChain: sj.spaChain,
			scope: sr.raw}, now)
	}
	body["scope"] = strings.Join(granted, " ")
	if req.form.Get("client_info") == "1" {
		body["client_info"] = clientInfo(sj.objectID, tid)
	}
	return body, nil
}
