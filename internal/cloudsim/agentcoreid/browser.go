package agentcoreid

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The browser leg of USER_FEDERATION (fact sheet §2, "Browser leg and
// session binding"): the user opens the authorizationUrl, AgentCore sends
// the browser to Entra with the provider's app and callback URL, Entra
// sends it back to the callback with a code, and AgentCore sends it on to
// the return URL with session_id. The code waits there until the app
// completes session binding.

// authorize is GET /identities/oauth2/authorize?request_uri=…: a 302 to
// the provider tenant's authorize endpoint on cloudsim's Entra. The exact
// parameters the real service sends for the Microsoft vendor are
// unverified; cloudsim sends client_id, response_type=code, redirect_uri
// (the provider's callback URL), scope (the requested scopes joined by
// spaces, as the samples' single space-separated element shows they are
// joined downstream), state, and the customParameters, which do not
// override these. Nothing is added to the scopes (no openid or
// offline_access: default scopes for the vendor are unverified), so Entra
// returns a refresh token only when the caller asked for offline_access.
// No PKCE: AgentCore sent a code_challenge for a
// CustomOauth2 provider (awslabs/agentcore-samples#620), for MicrosoftOauth2
// it is unverified, and Entra does not require it of a web app.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	s.o.Count("agentcore.oauth2.authorize")
	uri := r.URL.Query().Get("request_uri")
	s.mu.Lock()
	ss, ok := s.sessions[uri]
	var p *provider
	if ok {
		p = s.providers[ss.provider]
	}
	live := ok && p != nil && ss.status == sessionPending && s.o.Now().Before(ss.expires)
	var target string
	if live {
		q := url.Values{}
		for k, v := range ss.custom {
			q.Set(k, v)
		}
		q.Set("client_id", p.clientID)
		q.Set("response_type", "code")
		q.Set("redirect_uri", s.callbackURL(p))
		q.Set("scope", strings.Join(ss.scopes, " "))
		q.Set("state", ss.entraState)
		q.Set("response_mode", "query")
		target = s.o.BaseURL + "/" + s.providerTenant(p) + "/oauth2/v2.0/authorize?" + q.Encode()
	}
	s.mu.Unlock()
	if !live {
		// AWS's answer to an unknown or used request_uri is unverified.
		browserError(w, http.StatusBadRequest, "The authorization request was not found or has expired: request_uri names no pending session")
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// callback is GET /identities/oauth2/callback/{id}?code&state. Without a
// code or a state it answers as AgentCore's callback does
// (awslabs/agentcore-samples#801): the validation error of its
// authorizationCode and state members. With an Entra error instead of a
// code (the user declined consent, say), the session fails and the
// browser still goes to the return URL, where the app's poll sees
// sessionStatus FAILED (unverified). On success the browser goes to the
// return URL with session_id={sessionUri} and, when the flow has a
// customState, custom_state={customState}: the name of that parameter is
// unverified (one third-party contract uses custom_state).
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	s.o.Count("agentcore.oauth2.callback")
	q := r.URL.Query()
	code, state, entraErr := q.Get("code"), q.Get("state"), q.Get("error")
	if state == "" || code == "" && entraErr == "" {
		var missing []string
		if code == "" {
			missing = append(missing, "Value at 'authorizationCode' failed to satisfy constraint: Member must not be null")
		}
		if state == "" {
			missing = append(missing, "Value at 'state' failed to satisfy constraint: Member must not be null")
		}
		noun := "error"
		if len(missing) > 1 {
			noun = "errors"
		}
		browserError(w, http.StatusBadRequest, fmt.Sprintf("%d validation %s detected: %s", len(missing), noun, strings.Join(missing, "; ")))
		return
	}
	s.mu.Lock()
	var ss *session
	for _, candidate := range s.sessions {
		if candidate.entraState == state {
			ss = candidate
			break
		}
	}
	p := (*provider)(nil)
	if ss != nil {
		p = s.providers[ss.provider]
	}
	ok := ss != nil && p != nil && p.callbackID == r.PathValue("id") && ss.status == sessionPending && s.o.Now().Before(ss.expires)
	var target string
	if ok {
		if entraErr != "" {
			ss.status, ss.failure = sessionFailed, entraErr+": "+q.Get("error_description")
		} else {
			ss.status, ss.code = sessionCode, code
		}
		v := url.Values{"session_id": {ss.uri}}
		if ss.state != "" {
			v.Set("custom_state", ss.state)
		}
		sep := "?"
		if strings.Contains(ss.returnURL, "?") {
			sep = "&"
		}
		target = ss.returnURL + sep + v.Encode()
	}
	s.mu.Unlock()
	if !ok {
		browserError(w, http.StatusBadRequest, "The pending authorization request was not found")
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

func browserError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}
