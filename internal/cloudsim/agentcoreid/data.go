package agentcoreid

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// wat is a workload access token: opaque, random, and kept here with
// what it stands for (DG-WAT: "AWS-signed opaque access token" carrying
// agent and user identity; how AWS encodes it is not documented, and an
// opaque random token is the least a client can depend on).
type wat struct {
	workload string
	// userKey is the user credentials are kept for: "jwt:" + iss + " " +
	// sub, "user:" + userId, or "" for GetWorkloadAccessToken.
	userKey string
	// artifact is exactly what minted it (the JWT or the user ID), which
	// CompleteResourceTokenAuth must be given again, byte for byte.
	artifact string
	byJWT    bool
	expires  time.Time
}

// session is one three-legged flow, from GetResourceOauth2Token's
// authorizationUrl to CompleteResourceTokenAuth.
type session struct {
	uri        string // urn:ietf:params:oauth:request_uri:<base64 of a UUID>
	workload   string
	userKey    string
	artifact   string
	byJWT      bool
	provider   string
	scopes     []string
	returnURL  string
	custom     map[string]string // customParameters, added to Entra's authorize request
	state      string            // customState, for the return URL
	entraState string            // the state cloudsim sends Entra, to find the session at the callback
	status     string            // sessionPending, sessionCode, sessionDone or sessionFailed
	code       string            // Entra's code, from the callback until completion
	failure    string
	expires    time.Time
}

const (
	sessionPending = "IN_PROGRESS"
	sessionCode    = "CODE_RECEIVED"
	sessionDone    = "COMPLETED"
	sessionFailed  = "FAILED"
)

// vaultKey is what a vaulted token is kept under (see the package
// comment).
type vaultKey struct {
	workload, userKey, provider, scopes string
}

type vaulted struct {
	accessToken  string
	refreshToken string // kept, never redeemed: the vault does not refresh
	expires      time.Time
}

// Lifetimes and bounds no source states (unverified): a WAT from
// GetWorkloadAccessToken or …ForUserId lives an hour; a three-legged
// session ten minutes (the Python SDK polls for at most 600 s).
const (
	watLifetime     = time.Hour
	sessionLifetime = 10 * time.Minute
	maxWATs         = 10000
	maxSessions     = 1000
	maxVaulted      = 10000
)

type watInput struct {
	WorkloadName *string `json:"workloadName"`
	UserToken    *string `json:"userToken"`
	UserID       *string `json:"userId"`
}

func (s *Server) getWorkloadAccessToken(c *call) (int, any, *apiError) {
	return s.mintOperation(c, "GetWorkloadAccessToken", false, false)
}

func (s *Server) getWorkloadAccessTokenForJWT(c *call) (int, any, *apiError) {
	return s.mintOperation(c, "GetWorkloadAccessTokenForJWT", true, false)
}

func (s *Server) getWorkloadAccessTokenForUserID(c *call) (int, any, *apiError) {
	return s.mintOperation(c, "GetWorkloadAccessTokenForUserId", false, true)
}

func (s *Server) mintOperation(c *call, op string, byJWT, byUser bool) (int, any, *apiError) {
	var in watInput
	if e := c.decode(&in); e != nil {
		return 0, nil, e
	}
	var v checker
	v.str("workloadName", in.WorkloadName, true, minWorkloadName, maxWorkloadName, workloadNamePattern, false)
	if byJWT {
		v.str("userToken", in.UserToken, true, 1, maxToken, userTokenPattern, true)
	}
	if byUser {
		v.str("userId", in.UserID, true, 1, maxUserID, nil, false)
	}
	if e := v.err(); e != nil {
		return 0, nil, e
	}
	if e := c.authorize(s, "bedrock-agentcore:"+op, s.DirectoryARN(), s.WorkloadIdentityARN(*in.WorkloadName)); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	w, ok := s.workloads[*in.WorkloadName]
	var runtime string
	if ok {
		runtime = w.runtime
	}
	s.mu.Unlock()
	if !ok {
		return 0, nil, workloadNotFound(*in.WorkloadName)
	}
	if runtime != "" {
		// DG-WAT: a runtime's identity "cannot retrieve workload access
		// tokens directly"; the runtime mints them. (The error code is
		// unverified.)
		return 0, nil, accessDenied("Workload identity %s is managed by AgentCore Runtime %s: workload access tokens for it are issued to the runtime, not retrieved directly", w.name, runtime)
	}
	var token string
	var e *apiError
	switch {
	case byJWT:
		token, e = s.mintForJWT(w.name, *in.UserToken)
	case byUser:
		token, e = s.mint(&wat{workload: w.name, userKey: "user:" + *in.UserID, artifact: *in.UserID, expires: s.o.Now().Add(watLifetime)})
	default:
		token, e = s.mint(&wat{workload: w.name, expires: s.o.Now().Add(watLifetime)})
	}
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, map[string]string{"workloadAccessToken": token}, nil
}

// mintForJWT validates a user's JWT with cloudsim's Entra keys
// (signature, issuer, expiry, not-before) and mints a WAT that expires
// with it, keyed by iss and sub (DG-WAT). The refusals' code and words
// are cloudsim's (unverified).
func (s *Server) mintForJWT(workload, jwt string) (string, *apiError) {
	payload, err := s.o.VerifyJWT(jwt)
	if err != nil {
		return "", accessDenied("Invalid user token: the signature does not verify with the issuer's keys")
	}
	var claims struct {
		Iss string   `json:"iss"`
		Sub string   `json:"sub"`
		Exp *float64 `json:"exp"`
		Nbf *float64 `json:"nbf"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Sub == "" || claims.Exp == nil {
		return "", accessDenied("Invalid user token: it needs iss, sub and exp claims")
	}
	now := s.o.Now()
	switch {
	case !slices.Contains(s.o.Issuers, claims.Iss):
		return "", accessDenied("Invalid user token: issuer %s is not trusted", claims.Iss)
	case float64(now.Unix()) >= *claims.Exp:
		return "", accessDenied("Invalid user token: Token has expired")
	case claims.Nbf != nil && float64(now.Unix()) < *claims.Nbf:
		return "", accessDenied("Invalid user token: the token is not valid yet")
	}
	exp := time.Unix(int64(*claims.Exp), 0)
	return s.mint(&wat{workload: workload, userKey: "jwt:" + claims.Iss + " " + claims.Sub, artifact: jwt, byJWT: true, expires: exp})
}

// makeRoom drops m's expired entries once it holds max of them; false
// means it is still full.
func makeRoom[K comparable, V any](m map[K]V, max int, now time.Time, expires func(V) time.Time) bool {
	if len(m) < max {
		return true
	}
	for k, v := range m {
		if !now.Before(expires(v)) {
			delete(m, k)
		}
	}
	return len(m) < max
}

func (s *Server) mint(t *wat) (string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !makeRoom(s.wats, maxWATs, s.o.Now(), func(t *wat) time.Time { return t.expires }) {
		return "", throttled("10000 live workload access tokens")
	}
	token := "wat." + randomToken(48)
	s.wats[token] = t
	return token, nil
}

// lookupWAT finds a live WAT. An expired one is refused with a message
// containing "Token has expired", as AgentCore's is (13-async-wat-refresh;
// the code, AccessDeniedException, is unverified).
func (s *Server) lookupWAT(token string) (*wat, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.wats[token]
	switch {
	case !ok:
		return nil, accessDenied("The workload access token is not valid")
	case !s.o.Now().Before(t.expires):
		delete(s.wats, token)
		return nil, accessDenied("Token has expired: the workload access token has expired; get a new one with a fresh user token")
	}
	if _, ok := s.workloads[t.workload]; !ok {
		return nil, workloadNotFound(t.workload)
	}
	copied := *t
	return &copied, nil
}

type tokenInput struct {
	WAT          *string           `json:"workloadIdentityToken"`
	Provider     *string           `json:"resourceCredentialProviderName"`
	Scopes       []string          `json:"scopes"`
	Flow         *string           `json:"oauth2Flow"`
	SessionURI   *string           `json:"sessionUri"`
	ReturnURL    *string           `json:"resourceOauth2ReturnUrl"`
	Force        *bool             `json:"forceAuthentication"`
	CustomParams map[string]string `json:"customParameters"`
	CustomState  *string           `json:"customState"`
	Resources    []string          `json:"resources"`
	Audiences    []string          `json:"audiences"`
}

func (in *tokenInput) check() *apiError {
	var v checker
	v.str("workloadIdentityToken", in.WAT, true, 1, maxToken, nil, true)
	v.str("resourceCredentialProviderName", in.Provider, true, 1, maxProviderName, providerNamePattern, false)
	if in.Scopes == nil {
		v.missing("scopes")
	}
	for i, sc := range in.Scopes {
		v.str(fmt.Sprintf("scopes.%d.member", i+1), &sc, true, 1, maxScope, nil, false)
	}
	flows := []string{"USER_FEDERATION", "M2M", "ON_BEHALF_OF_TOKEN_EXCHANGE"}
	if in.Flow == nil {
		v.missing("oauth2Flow")
	} else if !slices.Contains(flows, *in.Flow) {
		v.fail("oauth2Flow", *in.Flow, false, "Member must satisfy enum value set: ["+strings.Join(flows, ", ")+"]")
	}
	v.str("sessionUri", in.SessionURI, false, 1, maxRequestURI, requestURIPattern, false)
	v.str("resourceOauth2ReturnUrl", in.ReturnURL, false, 1, maxReturnURL, returnURLPattern, false)
	for k, val := range in.CustomParams {
		v.str("customParameters.key", &k, true, 1, maxCustomKey, customKeyPattern, false)
		v.str("customParameters."+k, &val, true, 1, maxCustomValue, nil, true)
	}
	v.str("customState", in.CustomState, false, 1, maxCustomState, nil, true)
	for i, r := range in.Resources {
		v.str(fmt.Sprintf("resources.%d.member", i+1), &r, true, 1, 2048, nil, false)
	}
	for i, a := range in.Audiences {
		v.str(fmt.Sprintf("audiences.%d.member", i+1), &a, true, 1, 2048, nil, false)
	}
	return v.err()
}

// getResourceOauth2Token is the vault's GetResourceOauth2Token.
func (s *Server) getResourceOauth2Token(c *call) (int, any, *apiError) {
	var in tokenInput
	if e := c.decode(&in); e != nil {
		return 0, nil, e
	}
	if e := in.check(); e != nil {
		return 0, nil, e
	}
	switch {
	case *in.Flow == "ON_BEHALF_OF_TOKEN_EXCHANGE":
		return 0, nil, invalid("oauth2Flow", "cloudsim does not emulate the ON_BEHALF_OF_TOKEN_EXCHANGE flow; it emulates USER_FEDERATION and M2M")
	case len(in.Scopes) == 0:
		// The model allows an empty list; Entra needs a scope.
		return 0, nil, invalid("scopes", "The MicrosoftOauth2 provider needs at least one scope")
	case len(in.Resources) > 0 || len(in.Audiences) > 0:
		// Entra v2 refuses a resource parameter it does not know
		// (AADSTS500011, aws/agentcore-cli#2257); scopes name the resource.
		return 0, nil, invalid("resources", "cloudsim's MicrosoftOauth2 provider takes no resources or audiences: name the resource in the scopes")
	}
	t, e := s.lookupWAT(*in.WAT)
	if e != nil {
		return 0, nil, e
	}
	action := "bedrock-agentcore:GetResourceOauth2Token"
	if e := c.authorize(s, action, s.TokenVaultARN(), s.ProviderARN(*in.Provider), s.DirectoryARN(), s.WorkloadIdentityARN(t.workload)); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	p, ok := s.providers[*in.Provider]
	var pc provider
	if ok {
		pc = *p
	}
	s.mu.Unlock()
	if !ok {
		return 0, nil, providerNotFound(*in.Provider)
	}
	// The vault reads the provider's secret in the caller's context, so
	// the caller needs secretsmanager:GetSecretValue on it (fact sheet
	// §2, from an error text quoted in a sample repo).
	if !s.o.Credentials.Allowed(c.keyID, "secretsmanager:GetSecretValue", pc.secretARN) {
		return 0, nil, accessDenied("User: %s is not authorized to perform: secretsmanager:GetSecretValue on resource: %s because no identity-based policy allows the secretsmanager:GetSecretValue action",
			c.principal, pc.secretARN)
	}
	if *in.Flow == "M2M" {
		return s.m2m(&pc, in.Scopes)
	}
	return s.userFederation(t, &pc, &in)
}

// m2m is client credentials at Entra with the provider's app. Whether
// the real vault caches M2M tokens is unverified; cloudsim asks Entra
// each time.
func (s *Server) m2m(p *provider, scopes []string) (int, any, *apiError) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {p.clientID}, "client_secret": {p.secret}, "scope": {strings.Join(scopes, " ")}}
	tok, err := s.entraToken(p, form)
	if err != nil {
		return 0, nil, providerRefused(err)
	}
	return http.StatusOK, map[string]string{"accessToken": tok.AccessToken}, nil
}

// providerRefused is an error from the provider's token endpoint. The
// real service's code for it is unverified; cloudsim answers a
// ValidationException with Entra's words, since a wrong secret, scope or
// consent is the caller's to fix.
func providerRefused(err error) *apiError {
	return invalid("resourceCredentialProviderName", "The credential provider's authorization server refused the token request: "+err.Error())
}

func scopeKey(scopes []string) string {
	sorted := slices.Clone(scopes)
	sort.Strings(sorted)
	return strings.Join(slices.Compact(sorted), " ")
}

// userFederation answers USER_FEDERATION: a vaulted token, or a
// three-legged session's authorizationUrl.
func (s *Server) userFederation(t *wat, p *provider, in *tokenInput) (int, any, *apiError) {
	if t.userKey == "" {
		return 0, nil, invalid("workloadIdentityToken", "USER_FEDERATION needs a workload access token for a user: get it with GetWorkloadAccessTokenForJWT or GetWorkloadAccessTokenForUserId")
	}
	// Since about 2026-01 every USER_FEDERATION call, polls included,
	// needs the return URL (enechange/collmbo PR #742, 2026-01-27; the
	// code, ValidationException, is unverified).
	if in.ReturnURL == nil {
		return 0, nil, invalid("resourceOauth2ReturnUrl", "You must provide a ResourceOauth2ReturnUrl to proceed with this flow")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workloads[t.workload]
	if !ok { // deleted since the WAT was looked up
		return 0, nil, workloadNotFound(t.workload)
	}
	if !slices.Contains(w.returnURLs, *in.ReturnURL) {
		// "must be one of the URLs configured for the workload identity"
		// (BC-DP); the code and words of the refusal are unverified.
		return 0, nil, invalid("resourceOauth2ReturnUrl", fmt.Sprintf("The ResourceOauth2ReturnUrl %s is not one of the allowedResourceOauth2ReturnUrls of workload identity %s", *in.ReturnURL, w.name))
	}
	key := vaultKey{workload: t.workload, userKey: t.userKey, provider: p.name, scopes: scopeKey(in.Scopes)}
	now := s.o.Now()
	if in.SessionURI != nil {
		ss, ok := s.sessions[*in.SessionURI]
		switch {
		case !ok || !now.Before(ss.expires) || ss.workload != t.workload || ss.userKey != t.userKey || ss.provider != p.name:
			return 0, nil, accessDenied("Invalid or expired session")
		case ss.status == sessionFailed:
			return http.StatusOK, map[string]any{"sessionUri": ss.uri, "sessionStatus": sessionFailed}, nil
		case ss.status != sessionDone:
			return http.StatusOK, s.inProgress(ss), nil
		}
		// Completed: the token is in the vault, below.
	}
	// forceAuthentication starts a new flow whatever the vault holds; a
	// poll naming a completed session gets its token.
	useVault := in.Force == nil || !*in.Force || in.SessionURI != nil
	if v, ok := s.vault[key]; ok && useVault {
		if now.Before(v.expires) {
			return http.StatusOK, map[string]string{"accessToken": v.accessToken}, nil
		}
		// Expired, and the vault does not refresh: consent again.
		delete(s.vault, key)
	}
	ss, e := s.newSession(t, p, in)
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, s.inProgress(ss), nil
}

func (s *Server) inProgress(ss *session) map[string]any {
	return map[string]any{
		"authorizationUrl": s.o.BaseURL + PathPrefix + "oauth2/authorize?request_uri=" + url.QueryEscape(ss.uri),
		"sessionUri":       ss.uri,
		"sessionStatus":    sessionPending,
	}
}

// newSession starts a three-legged flow; s.mu is held. The session URI's
// id is the base64 of a UUID string, as observed (SEED, TS#37).
func (s *Server) newSession(t *wat, p *provider, in *tokenInput) (*session, *apiError) {
	now := s.o.Now()
	if !makeRoom(s.sessions, maxSessions, now, func(ss *session) time.Time { return ss.expires }) {
		return nil, throttled("1000 authorization sessions")
	}
	ss := &session{
		uri:      "urn:ietf:params:oauth:request_uri:" + base64.StdEncoding.EncodeToString([]byte(newUUID())),
		workload: t.workload, userKey: t.userKey, artifact: t.artifact, byJWT: t.byJWT, provider: p.name,
		scopes: slices.Clone(in.Scopes), returnURL: *in.ReturnURL, custom: in.CustomParams, state: deref(in.CustomState),
		entraState: randomToken(24), status: sessionPending, expires: now.Add(sessionLifetime),
	}
	s.sessions[ss.uri] = ss
	return ss, nil
}

type completeInput struct {
	SessionURI     *string `json:"sessionUri"`
	UserIdentifier *struct {
		UserToken *string `json:"userToken"`
		UserID    *string `json:"userId"`
	} `json:"userIdentifier"`
}

// completeResourceTokenAuth is session binding: the caller names the
// session and the user, who must be exactly the artifact that minted the
// WAT that started it (the same JWT string or user ID: TS#37, AWS
// support's answer of 2026-07-16), else AccessDeniedException "Invalid or
// expired session". Then the vault redeems the code at Entra with the
// provider's client ID and secret, and keeps the token (and a refresh
// token, if Entra gives one).
func (s *Server) completeResourceTokenAuth(c *call) (int, any, *apiError) {
	var in completeInput
	if e := c.decode(&in); e != nil {
		return 0, nil, e
	}
	var v checker
	if in.UserIdentifier == nil {
		v.missing("userIdentifier")
	} else {
		v.str("userIdentifier.userToken", in.UserIdentifier.UserToken, false, 1, maxToken, userTokenPattern, true)
		v.str("userIdentifier.userId", in.UserIdentifier.UserID, false, 1, maxUserID, nil, false)
	}
	v.str("sessionUri", in.SessionURI, true, 1, maxRequestURI, requestURIPattern, false)
	if e := v.err(); e != nil {
		return 0, nil, e
	}
	byJWT := in.UserIdentifier.UserToken != nil
	if byJWT == (in.UserIdentifier.UserID != nil) {
		return 0, nil, invalid("userIdentifier", "userIdentifier is a union: set exactly one of userToken and userId")
	}
	artifact := deref(in.UserIdentifier.UserToken) + deref(in.UserIdentifier.UserID)
	s.mu.Lock()
	ss, ok := s.sessions[*in.SessionURI]
	var workload string
	if ok {
		workload = ss.workload
	}
	s.mu.Unlock()
	resources := []string{s.DirectoryARN()}
	if workload != "" {
		resources = append(resources, s.WorkloadIdentityARN(workload))
	}
	if e := c.authorize(s, "bedrock-agentcore:CompleteResourceTokenAuth", resources...); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	ss, ok = s.sessions[*in.SessionURI]
	now := s.o.Now()
	if !ok || !now.Before(ss.expires) || ss.status != sessionCode || ss.byJWT != byJWT ||
		subtle.ConstantTimeCompare([]byte(ss.artifact), []byte(artifact)) != 1 {
		s.mu.Unlock()
		return 0, nil, accessDenied("Invalid or expired session")
	}
	code := ss.code
	ss.code, ss.status = "", sessionFailed // one completion per code, whatever Entra says
	p, pok := s.providers[ss.provider]
	var pc provider
	if pok {
		pc = *p
	}
	ssCopy := *ss
	s.mu.Unlock()
	if !pok {
		return 0, nil, providerNotFound(ssCopy.provider)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.callbackURL(&pc)}, "client_id": {pc.clientID},
		"client_secret": {pc.secret}, "scope": {strings.Join(ssCopy.scopes, " ")}}
	tok, err := s.entraToken(&pc, form)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		ss.failure = err.Error()
		return 0, nil, providerRefused(err)
	}
	ss.status = sessionDone
	if len(s.vault) >= maxVaulted {
		for k, old := range s.vault {
			if !now.Before(old.expires) {
				delete(s.vault, k)
			}
		}
		if len(s.vault) >= maxVaulted {
			return 0, nil, throttled("10000 vaulted tokens")
		}
	}
	s.vault[vaultKey{workload: ssCopy.workload, userKey: ssCopy.userKey, provider: ssCopy.provider, scopes: scopeKey(ssCopy.scopes)}] = &vaulted{
		accessToken: tok.AccessToken, refreshToken: tok.RefreshToken, expires: now.Add(time.Duration(tok.ExpiresIn) * time.Second)}
	s.o.Logger.Info("agentcore identity vaulted a token", "workload", ssCopy.workload, "provider", ssCopy.provider, "refresh_token", tok.RefreshToken != "")
	return http.StatusOK, map[string]any{}, nil
}

// entraAnswer is Entra's token response.
type entraAnswer struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	ExpiresIn        int    `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// entraToken posts form to the provider tenant's token endpoint on
// cloudsim's Entra, in process. Client authentication is
// client_secret_post (post or basic for the Microsoft vendor is
// unverified; Entra takes both).
func (s *Server) entraToken(p *provider, form url.Values) (*entraAnswer, error) {
	if s.o.Entra == nil {
		return nil, errors.New("cloudsim's Entra is not connected to AgentCore Identity")
	}
	target := s.o.BaseURL + "/" + s.providerTenant(p) + "/oauth2/v2.0/token"
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.o.Entra.ServeHTTP(rec, req)
	var a entraAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		return nil, fmt.Errorf("token endpoint answered %d, not JSON", rec.Code)
	}
	if rec.Code != http.StatusOK || a.AccessToken == "" {
		first, _, _ := strings.Cut(a.ErrorDescription, "\r\n")
		first, _, _ = strings.Cut(first, " Trace ID:")
		return nil, fmt.Errorf("%s: %s", a.Error, first)
	}
	return &a, nil
}

// RuntimeWorkloadName is the workload identity AgentCore Runtime makes for
// a runtime: cloudsim names it after the runtime's ID (the ARN's last
// segment, <runtime name>-<10 characters>), which fits the IAM templates'
// workload-identity/{agentName}-* (fact sheet §3; the real naming is
// unverified). The e2e tests find the front's identity with it.
func RuntimeWorkloadName(runtimeARN string) string {
	_, id, _ := strings.Cut(runtimeARN, ":runtime/")
	return id
}

// CreateRuntimeIdentity makes a runtime's workload identity, as
// CreateAgentRuntime does (its workloadIdentityDetails), and returns its
// name. One that exists already (a setup script made it first) is
// adopted. Either way it is the runtime's from now on: the
// GetWorkloadAccessToken operations refuse it (DG-WAT).
func (s *Server) CreateRuntimeIdentity(runtimeARN string) (string, error) {
	name := RuntimeWorkloadName(runtimeARN)
	if len(name) < minWorkloadName || len(name) > maxWorkloadName || !workloadNamePattern.MatchString(name) {
		return "", fmt.Errorf("agentcore identity: runtime ARN %q has no runtime ID a workload identity can be named after", runtimeARN)
	}
	s.mu.Lock()
	w, ok := s.workloads[name]
	s.mu.Unlock()
	if !ok {
		var e *apiError
		if w, e = s.putWorkload(name, nil, nil); e != nil {
			return "", fmt.Errorf("agentcore identity: workload identity for %s: %w", runtimeARN, e)
		}
	}
	s.mu.Lock()
	w.runtime = runtimeARN
	s.mu.Unlock()
	return name, nil
}

// MintForRuntime is what the runtime does for each authorized inbound
// JWT: GetWorkloadAccessTokenForJWT on its own workload identity (DG-WAT
// steps 1–5), without the SigV4 call a client would make.
func (s *Server) MintForRuntime(workload, userJWT string) (string, error) {
	s.mu.Lock()
	_, ok := s.workloads[workload]
	s.mu.Unlock()
	if !ok {
		return "", workloadNotFound(workload)
	}
	token, e := s.mintForJWT(workload, userJWT)
	if e != nil {
		return "", e
	}
	return token, nil
}
