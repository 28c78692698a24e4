package awssts

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsiam"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsquery"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sigv4"
)

// OutboundPath is where cloudsim serves the account issuer's discovery
// document and keys. The issuer string itself is the tenant file's
// aws.outboundIssuer, as AWS's is a host of its own.
const OutboundPath = "/aws-outbound"

// GetWebIdentityToken's limits (STS API reference).
const (
	maxAudiences           = 10
	minTokenDuration       = 60
	maxTokenDuration       = 3600
	defaultTokenDuration   = 300
	getWebIdentityTokenIAM = "sts:GetWebIdentityToken"
)

type webIdentityTokenResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetWebIdentityTokenResponse"`
	Result  struct {
		WebIdentityToken string `xml:"WebIdentityToken"`
		Expiration       string `xml:"Expiration"`
	} `xml:"GetWebIdentityTokenResult"`
	Metadata struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

// signingRules are STS's: its refusal reads "Signature expired: … (… - 15
// min.)" (seen from GetCallerIdentity and AssumeRole, in aws/aws-cli#6676
// and devsecops/bootcamp#101), so its window is 15 minutes.
func (s *Server) signingRules() sigv4.Rules {
	return sigv4.Rules{Service: "sts", Region: s.account.Region, MaxSkew: 15 * time.Minute}
}

// verify checks a signed STS request.
func (s *Server) verify(r *http.Request, body []byte) (sigv4.Signer, error) {
	signer, refusal := sigv4.Verify(r, body, s, s.signingRules(), s.now())
	if refusal != nil {
		return signer, awsquery.SignatureError(refusal)
	}
	return signer, nil
}

// webIdentityToken is GetWebIdentityToken: for a role session STS issued,
// a JWT whose sub is the role's ARN (path included), from the account's
// issuer.
func (s *Server) webIdentityToken(r *http.Request, body []byte, form url.Values) (*webIdentityTokenResponse, error) {
	signer, err := s.verify(r, body)
	if err != nil {
		return nil, err
	}
	var audiences, problems []string
	for i := 1; form.Has("Audience.member." + strconv.Itoa(i)); i++ {
		audiences = append(audiences, form.Get("Audience.member."+strconv.Itoa(i)))
	}
	if len(audiences) == 0 {
		problems = append(problems, "Value null at 'audience' failed to satisfy constraint: Member must not be null")
	} else if len(audiences) > maxAudiences {
		problems = append(problems, fmt.Sprintf("Value at 'audience' failed to satisfy constraint: Member must have length less than or equal to %d", maxAudiences))
	}
	alg := form.Get("SigningAlgorithm")
	if alg == "" {
		problems = append(problems, "Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null")
	}
	duration := defaultTokenDuration
	if d := form.Get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < minTokenDuration || n > maxTokenDuration {
			problems = append(problems, fmt.Sprintf("Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between %d and %d", d, minTokenDuration, maxTokenDuration))
		}
		duration = n
	}
	if len(problems) > 0 {
		return nil, validation("%d validation error%s detected: %s", len(problems), plural(len(problems)), strings.Join(problems, "; "))
	}
	switch alg {
	case "RS256":
	case "ES384":
		// AWS offers it; cloudsim's issuer holds RSA keys only.
		return nil, validation("cloudsim signs outbound tokens with RS256 only; request SigningAlgorithm RS256")
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RS256, ES384]", alg)
	}
	issuer, enabled := s.account.Outbound()
	if !enabled {
		return nil, &awsquery.Error{Status: http.StatusForbidden, Code: "OutboundWebIdentityFederationDisabledException", Message: "The outbound web identity federation feature is not enabled for this account. To use this feature, you must first enable it through the AWS Management Console or API."}
	}

	cred, ok := s.Lookup(signer.AccessKeyID)
	if !ok {
		// An IAM user's key. AWS issues tokens to users too; cloudsim's
		// Entra trusts only roles' tokens, so it refuses rather than issue
		// one nothing here could use.
		return nil, &awsquery.Error{Status: http.StatusForbidden, Code: "AccessDenied", Message: "cloudsim issues outbound tokens to role sessions only"}
	}
	// The operation's condition keys (IAM User Guide, "Controlling access
	// with IAM policies" for outbound identity federation).
	request := awsiam.Request{Action: getWebIdentityTokenIAM, Resource: "*", Context: map[string][]string{
		"sts:IdentityTokenAudience": audiences, "sts:DurationSeconds": {strconv.Itoa(duration)}, "sts:SigningAlgorithm": {alg}}}
	if _, allowed := s.Authorize(signer.AccessKeyID, request); !allowed {
		return nil, awsquery.Errorf(http.StatusForbidden, "AccessDenied", "User: %s is not authorized to perform: %s", cred.AssumedRoleARN, getWebIdentityTokenIAM)
	}
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(time.Duration(duration) * time.Second)
	if exp.After(cred.Expiration) {
		return nil, &awsquery.Error{Status: http.StatusForbidden, Code: "SessionDurationEscalationException", Message: "The requested token duration would extend the session beyond its original expiration time."}
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := map[string]any{
		"iss": issuer, "sub": cred.roleARN, "aud": oneOrMany(audiences),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(), "jti": hex.EncodeToString(jti),
	}
	token, err := s.outbound.Sign(claims, false)
	if err != nil {
		return nil, err
	}
	s.log.Info("issued an outbound web identity token", "sub", claims["sub"], "aud", strings.Join(audiences, ","), "exp", exp)
	res := &webIdentityTokenResponse{}
	res.Result.WebIdentityToken = token
	res.Result.Expiration = exp.Format(time.RFC3339)
	return res, nil
}

// oneOrMany is a JWT aud: a string for one audience, an array for more.
func oneOrMany(a []string) any {
	if len(a) == 1 {
		return a[0]
	}
	return a
}

// outboundDiscovery is the account issuer's OpenID configuration. Its
// jwks_uri points at this cloudsim, wherever it is reached.
func (s *Server) outboundDiscovery(w http.ResponseWriter, r *http.Request) {
	issuer, enabled := s.account.Outbound()
	if !enabled {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              "https://" + r.Host + OutboundPath + "/.well-known/jwks.json",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (s *Server) outboundKeys(w http.ResponseWriter, r *http.Request) {
	if _, enabled := s.account.Outbound(); !enabled {
		http.NotFound(w, r)
		return
	}
	jwks, err := s.outbound.JWKS("")
	if err != nil {
		http.Error(w, "keys unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(jwks)
}

// OutboundIssuer is the issuer the account has or gets when outbound
// identity federation is enabled, and VerifyOutbound checks a token it
// signed, for cloudsim's Entra, which trusts it through a federated
// credential. While the feature is off its discovery document is not
// served, so nothing can verify its tokens: VerifyOutbound refuses them.
func (s *Server) OutboundIssuer() string {
	issuer, _ := s.account.Outbound()
	return issuer
}

// VerifyOutbound returns the payload of a token the account issuer signed.
func (s *Server) VerifyOutbound(token string) ([]byte, error) {
	if _, enabled := s.account.Outbound(); !enabled {
		return nil, errors.New("the account's outbound identity federation is disabled: its issuer publishes no keys")
	}
	return s.outbound.Verify(token)
}
