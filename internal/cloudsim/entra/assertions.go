package entra

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/jwtpeek"
)

// presented is an Entra-issued token a client presents back: a managed
// identity token or T1 as client_assertion, T2 as the user federated
// credential, or a user's token as the OBO assertion.
type presented struct {
	Iss   string          `json:"iss"`
	Sub   string          `json:"sub"`
	Aud   json.RawMessage `json:"aud"`
	Exp   *int64          `json:"exp"`
	Nbf   *int64          `json:"nbf"`
	Oid   string          `json:"oid"`
	Tid   string          `json:"tid"`
	Azp   string          `json:"azp"`
	AppID string          `json:"appid"`
	Scp   string          `json:"scp"`
	MIRID string          `json:"xms_mirid"`
}

// audience returns aud as one string (Entra access tokens carry one).
func (p presented) audience() string {
	var s string
	if json.Unmarshal(p.Aud, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(p.Aud, &list) == nil && len(list) > 0 {
		return list[0]
	}
	return ""
}

func (p presented) client() string {
	if p.Azp != "" {
		return p.Azp
	}
	return p.AppID
}

// parsePresented verifies the signature against cloudsim's published keys
// and decodes the claims. It checks no claim.
func (s *Server) parsePresented(token string) (presented, error) {
	var p presented
	payload, err := s.keys.Verify(token)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return p, signing.ErrMalformed
	}
	return p, nil
}

// parseAssertion is parsePresented for a client assertion, which may also
// come from an external issuer a federated credential can trust (AWS
// outbound identity federation): such a token is verified with that
// issuer's keys, and external says so.
func (s *Server) parseAssertion(token string) (p presented, external bool, err error) {
	var unverified presented
	if jwtpeek.Claims(token, &unverified) == nil && unverified.Iss != "" {
		if verify, ok := s.federated[unverified.Iss]; ok {
			payload, err := verify(token)
			if err != nil {
				return p, true, err
			}
			if err := json.Unmarshal(payload, &p); err != nil {
				return p, true, signing.ErrMalformed
			}
			return p, true, nil
		}
	}
	p, err = s.parsePresented(token)
	return p, false, err
}

// window reports whether now is inside [nbf, exp]. A token with no exp is
// never valid.
func (p presented) window(now time.Time) bool {
	if p.Exp == nil || now.Unix() >= *p.Exp {
		return false
	}
	return p.Nbf == nil || now.Unix() >= *p.Nbf
}

func fmtTime(unix *int64) string {
	if unix == nil {
		return "(none)"
	}
	return isoTime(time.Unix(*unix, 0))
}

// isoTime is how Entra's error descriptions print times.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// checkClientAssertion authenticates a client with an Entra-issued
// client_assertion: for an agent identity, its blueprint's T1; for an
// application, a token matched by one of its federated credentials (the
// managed identity's token in this product).
func (s *Server) checkClientAssertion(tid string, c *caller, assertion string) *aadError {
	p, external, err := s.parseAssertion(assertion)
	switch {
	case errors.Is(err, signing.ErrMalformed):
		return errMalformedJWT()
	case errors.Is(err, signing.ErrUnknownKey):
		// An assertion signed by any other key: a certificate credential or
		// an external identity provider, neither emulated (see docs/cloudsim.md).
		return errAssertionSignature("The key was not found.")
	case err != nil:
		return errAssertionSignature("The signature is invalid.")
	}
	now := s.now()
	if !p.window(now) {
		return errAssertionTime(isoTime(now), fmtTime(p.Nbf), fmtTime(p.Exp))
	}
	if c.agent != nil {
		// T1: issued by this tenant to the agent identity's own blueprint,
		// with the agent in its FMI path.
		return checkExchangeToken(tid, p, fmiSubject(tid, c.agent.Blueprint, c.agent.AppID))
	}
	// Match the federated credentials in Entra's order, so the error names
	// the first part that matched none: issuer, then subject, then audience.
	dir := s.dir()
	aud := p.audience()
	issuerKnown, subjectKnown, matched := false, false, false
	for _, fc := range dir.FederatedCredentials(c.app) {
		if fc.Issuer != p.Iss {
			continue
		}
		issuerKnown = true
		if fc.Subject != p.Sub {
			continue
		}
		subjectKnown = true
		for _, a := range fc.Audiences {
			// The exchange app's URI and its app ID name the same audience.
			matched = matched || a == aud || (a == tenant.TokenExchangeURI && aud == tenant.TokenExchangeAppID)
		}
	}
	switch {
	case !issuerKnown:
		return errNoFICForIssuer(p.Iss)
	case !subjectKnown:
		return errNoFICForSubject(p.Sub)
	case !matched:
		return errNoFICForAudience(aud)
	}
	if external {
		s.stats.Add("entra.client_auth.external_issuer." + p.Iss)
		return nil
	}
	// Entra accepts its own tokens as federated credentials only when they
	// are managed identity tokens.
	if p.MIRID == "" || p.Sub != dir.ManagedIdentity.ObjectID {
		return errEntraTokenNotFederatable()
	}
	return nil
}

// checkExchangeToken checks an Entra-issued exchange token (T1 or T2): v2,
// from this tenant, for the token exchange app, about the expected subject.
func checkExchangeToken(tid string, p presented, wantSub string) *aadError {
	switch {
	case p.Iss != IssuerV2(tid):
		return errNoFICForIssuer(p.Iss)
	case p.audience() != tenant.TokenExchangeAppID:
		return errNoFICForAudience(p.audience())
	case p.Sub != wantSub:
		return errNoFICForSubject(p.Sub)
	}
	return nil
}

// checkUserAssertion validates the user's token an OBO request presents:
// signed by this tenant, in time, and for the expected audience.
func (s *Server) checkUserAssertion(tid, assertion string, audiences []string) (presented, *aadError) {
	p, err := s.parsePresented(assertion)
	switch {
	case errors.Is(err, signing.ErrMalformed):
		return p, errMalformedJWT()
	case err != nil:
		return p, errUserAssertionSignature()
	}
	if p.Iss != IssuerV2(tid) && p.Iss != IssuerV1(tid) {
		return p, errUserAssertionSignature()
	}
	now := s.now()
	if !p.window(now) {
		return p, errUserAssertionExpired(isoTime(now), fmtTime(p.Exp))
	}
	if !slices.Contains(audiences, p.audience()) {
		return p, errUserAssertionAudience(p.audience(), strings.Join(audiences, "' or '"))
	}
	return p, nil
}
