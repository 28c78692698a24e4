package entra

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// resource is what a scope names: an application, or the first-party token
// exchange app for api://AzureADTokenExchange.
type resource struct {
	appID     string
	app       *tenant.Application // nil for the token exchange app
	requested string              // the identifier as the scope spelled it
	version   int
}

// subject is who a token is about, and the client that asked for it.
type subject struct {
	clientID  string
	clientAcr string // 0 public, 1 secret, 2 certificate or assertion
	objectID  string // oid: the user, or the client's service principal
	sub       string // overrides the default sub (FMI tokens)
	user      *tenant.User
	agentUser *tenant.AgentUser
	agent     *tenant.AgentIdentity // the client when it is an agent identity
	managedID *tenant.ManagedIdentity
	scopes    []string
	roles     []string
	nonce     string // echoed in the ID token (authorization code flow)
	tokenLife time.Duration
	spaChain  time.Time // an SPA sign-in: when its refresh token chain began
}

// Agent ID facets, as in the Entra agent token claims reference: space-
// separated odd numbers, 11 = agent identity, 13 = agent user.
const (
	facetsAgentActor   = "3 9 11"
	facetsAgentSubject = "9 3 11"
	facetsAgentUserSub = "3 13"
	facetsAgentTenant  = "3 9"
	// xms_idrel: the subject's relation to the tenant (1 member user, 5
	// guest, 7 service principal). "7 10" is the autonomous sample's;
	// delegated agent tokens name a member user, and the second value
	// they carry is not documented, so cloudsim gives the first only.
	idrelAgentApp  = "7 10"
	idrelAgentUser = "1"
)

// accessTokenClaims builds the claims Entra puts in an access token of the
// resource's version for this subject.
func (s *Server) accessTokenClaims(tid string, res resource, sj subject, now time.Time) map[string]any {
	c := map[string]any{
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(sj.tokenLife).Unix(),
		"tid": tid,
		"uti": randomB64(16),
		"aio": randomB64(48),
		"rh":  "0." + randomB64(40) + ".",
	}
	delegated := sj.user != nil || sj.agentUser != nil
	if res.version == 1 {
		c["ver"] = "1.0"
		c["iss"] = IssuerV1(tid)
		c["aud"] = res.requested
		c["appid"] = sj.clientID
		c["appidacr"] = sj.clientAcr
		if !delegated {
			c["idp"] = IssuerV1(tid)
		}
	} else {
		c["ver"] = "2.0"
		c["iss"] = IssuerV2(tid)
		c["aud"] = res.appID
		c["azp"] = sj.clientID
		c["azpacr"] = sj.clientAcr
	}
	c["oid"] = sj.objectID
	if delegated {
		// idtyp is an optional claim (access token claims reference): an
		// ordinary user token does not carry it; the agent token tables
		// give "user" for an agent's OBO and agent user tokens.
		if sj.agent != nil {
			c["idtyp"] = "user"
		}
		c["sub"] = pairwiseSub(sj.objectID, sj.clientID)
		c["scp"] = strings.Join(sj.scopes, " ")
		var upn, name string
		if sj.user != nil {
			upn, name = sj.user.UPN, sj.user.DisplayName
		} else {
			upn, name = sj.agentUser.UPN, sj.agentUser.DisplayName
		}
		c["name"] = name
		if res.version == 1 {
			c["upn"] = upn
			c["unique_name"] = upn
			c["amr"] = []string{"pwd"}
		} else {
			c["preferred_username"] = upn
		}
	} else {
		// App-only: idtyp "app", roles, and no scp, as the autonomous
		// sample token of the agent token claims page (its table allows an
		// empty or "/" scp; cloudsim follows the sample).
		c["idtyp"] = "app"
		c["sub"] = sj.objectID
		if len(sj.roles) > 0 {
			c["roles"] = sj.roles
		}
	}
	if sj.sub != "" {
		c["sub"] = sj.sub
	}
	if sj.managedID != nil && sj.managedID.ResourceID != "" {
		c["xms_mirid"] = sj.managedID.ResourceID
	}
	if ag := sj.agent; ag != nil {
		c["xms_act_fct"] = facetsAgentActor
		c["xms_par_app_azp"] = ag.Blueprint
		if delegated {
			c["xms_idrel"] = idrelAgentUser
			if sj.agentUser != nil {
				c["xms_sub_fct"] = facetsAgentUserSub
			}
		} else {
			c["xms_sub_fct"] = facetsAgentSubject
			c["xms_tnt_fct"] = facetsAgentTenant
			c["xms_idrel"] = idrelAgentApp
		}
	}
	return c
}

// idTokenClaims builds a v2 ID token for a delegated response.
func (s *Server) idTokenClaims(tid string, sj subject, now time.Time) map[string]any {
	c := map[string]any{
		"ver": "2.0",
		"iss": IssuerV2(tid),
		"aud": sj.clientID,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"oid": sj.objectID,
		"sub": pairwiseSub(sj.objectID, sj.clientID),
		"tid": tid,
		"uti": randomB64(16),
		"rh":  "0." + randomB64(40) + ".",
		"aio": randomB64(48),
		// The sign-in session, which front-channel logout names.
		"sid": sessionID(sj.objectID, sj.clientID),
	}
	if sj.nonce != "" {
		c["nonce"] = sj.nonce
	}
	if sj.user != nil {
		c["name"], c["preferred_username"] = sj.user.DisplayName, sj.user.UPN
	} else if sj.agentUser != nil {
		c["name"], c["preferred_username"] = sj.agentUser.DisplayName, sj.agentUser.UPN
	}
	return c
}

// sessionID is a stable session ID for a user's sign-ins at a client.
func sessionID(oid, clientID string) string {
	sum := sha256.Sum256([]byte("sid/" + oid + "/" + clientID))
	h := hex.EncodeToString(sum[:16])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// clientInfo is the base64url JSON MSAL uses to key its account cache.
func clientInfo(oid, tid string) string {
	b, _ := json.Marshal(map[string]string{"uid": oid, "utid": tid})
	return base64.RawURLEncoding.EncodeToString(b)
}

// pairwiseSub gives each (user, app) pair a stable subject that reveals
// nothing about the user, as Entra's sub does.
func pairwiseSub(oid, appID string) string {
	sum := sha256.Sum256([]byte(oid + "|" + appID))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:43]
}

// fmiSubject is the sub of a blueprint's FMI token (T1) for one agent
// identity: /eid1/c/pub/t/<tenant>/a/<blueprint>/<agent>, the GUIDs base64url
// encoded in Microsoft's byte order.
func fmiSubject(tid, blueprint, agentID string) string {
	return "/eid1/c/pub/t/" + guidB64(tid) + "/a/" + guidB64(blueprint) + "/" + agentID
}

func guidB64(id string) string {
	b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(b) != 16 {
		return id
	}
	// .NET Guid.ToByteArray order: the first three groups little-endian.
	le := []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
	le = append(le, b[8:]...)
	return base64.RawURLEncoding.EncodeToString(le)
}

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
