package jwtauth

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// AuthorizeClaims applies the policy to claims a gateway has already
// verified: API Gateway's HTTP API JWT authorizer hands a Lambda the
// token's claims as strings (numbers stringified, arrays as "[a b]"). The
// signature was the gateway's job; issuer, version, audience, lifetime,
// tenant, caller and role or scope are checked again here, because the
// gateway checks only the first three and a route can lose its authorizer.
func (v *Validator) AuthorizeClaims(m map[string]string) (*Caller, *Error) {
	if len(m) == 0 {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeMissingToken,
			Description: "the gateway passed no token claims: attach the JWT authorizer to this route"}
	}
	c := claims{
		Iss: m["iss"], Tid: m["tid"], Ver: m["ver"], AppID: m["appid"], Azp: m["azp"], Oid: m["oid"], Sub: m["sub"],
		Idtyp: m["idtyp"], Scp: m["scp"], Roles: stringList(m["roles"]), Name: m["name"], UPN: m["upn"],
		Username: m["preferred_username"], Uti: m["uti"], ActFct: m["xms_act_fct"], SubFct: m["xms_sub_fct"],
		ParAzp: m["xms_par_app_azp"], gateway: m,
	}
	c.Aud, _ = json.Marshal(m["aud"])
	for name, dst := range map[string]**float64{"exp": &c.Exp, "nbf": &c.Nbf} {
		raw, ok := m[name]
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, invalid("the token's %s claim %q is not a number", name, raw)
		}
		*dst = &f
	}
	caller, _, e := v.check(c)
	return caller, e
}

// stringList reads a list claim as a gateway stringifies it: "[a b]",
// a JSON array, or a single value.
func stringList(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	var list []string
	if json.Unmarshal([]byte(s), &list) == nil {
		return list
	}
	return strings.Fields(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
}

// ClaimString renders a JSON claim value as API Gateway hands it to a
// Lambda: strings as they are, numbers plainly, arrays as "[a b]".
func ClaimString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = ClaimString(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}
