package identity

import (
	"errors"
	"net/url"
	"strings"
)

// Entra codes that a person, not the agent, must resolve.
var interactionCodes = map[int]string{
	65001: "consent_required",     // no consent for the client on the resource
	50076: "interaction_required", // multifactor authentication is required
	50079: "interaction_required", // the user must register for multifactor authentication
	50158: "interaction_required", // an external security challenge was not satisfied
}

// NeedsInteraction reports whether an acquisition failed for a reason only
// the user or an admin can clear, and which: consent_required or
// interaction_required.
func NeedsInteraction(err error) (code int, reason string, ok bool) {
	var e *Error
	if !errors.As(err, &e) {
		return 0, "", false
	}
	reason, ok = interactionCodes[e.Code]
	return e.Code, reason, ok
}

// ConsentRequest is where to send a person so the agent identity gets the
// delegated scopes it lacks.
type ConsentRequest struct {
	AuthorityHost string // as the browser reaches it
	TenantID      string
	AgentID       string // the agent identity, not its blueprint
	Scopes        []string
	RedirectURI   string // one of the blueprint's web redirect URIs
	State         string
}

// UserURL asks the signed-in user to consent for themselves: Microsoft's
// authorization request for agent identities, with response_type=none
// since the agent needs the grant, not a code.
func (c ConsentRequest) UserURL() string {
	v := url.Values{"client_id": {c.AgentID}, "response_type": {"none"}, "redirect_uri": {c.RedirectURI},
		"scope": {strings.Join(c.Scopes, " ")}, "state": {c.State}}
	return strings.TrimRight(c.AuthorityHost, "/") + "/" + c.TenantID + "/oauth2/v2.0/authorize?" + v.Encode()
}

// AdminURL asks an admin to consent for every user of the tenant (the v2
// admin consent endpoint); the agent user flow needs this one, since an
// agent user cannot answer a consent page.
func (c ConsentRequest) AdminURL() string {
	v := url.Values{"client_id": {c.AgentID}, "redirect_uri": {c.RedirectURI}, "scope": {strings.Join(c.Scopes, " ")}, "state": {c.State}}
	return strings.TrimRight(c.AuthorityHost, "/") + "/" + c.TenantID + "/v2.0/adminconsent?" + v.Encode()
}
