package awsfront

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/go-jose/go-jose/v4"

	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
)

// KeySetFunc adapts a verification function (cloudsim's signing.Keys.Verify,
// say) to a KeySet.
type KeySetFunc func(token string) ([]byte, error)

// VerifySignature implements KeySet.
func (f KeySetFunc) VerifySignature(_ context.Context, token string) ([]byte, error) { return f(token) }

// KeySet verifies a token's signature with its issuer's keys and returns
// its payload (go-oidc's oidc.KeySet has this method).
type KeySet interface {
	VerifySignature(ctx context.Context, token string) ([]byte, error)
}

// HTTPAPIAuthorizer is an HTTP API JWT authorizer, as "Controlling access
// to HTTP APIs with JWT authorizers" (API Gateway developer guide)
// describes it:
//   - the token from the identity source, with or without "Bearer ";
//   - an RSA signature by the issuer's keys; iss equal to Issuer;
//   - aud in Audience, or client_id when the token has no aud;
//   - exp in the future, nbf and iat in the past;
//   - for a route with authorization scopes, one of them in the token's
//     scope or scp claim.
type HTTPAPIAuthorizer struct {
	Issuer   string
	Audience []string
	Keys     KeySet
	Now      func() time.Time
}

// Refusal is an authorizer's answer to a token it does not pass.
type Refusal struct {
	Status          int    // 401 or 403
	WWWAuthenticate string // the www-authenticate header API Gateway sends
}

// Authorize checks an Authorization value for a route's scopes and returns
// the claims as the authorizer hands them to the integration (every value
// a string) and the token's scopes.
func (a HTTPAPIAuthorizer) Authorize(ctx context.Context, authorization string, routeScopes []string) (map[string]string, []string, *Refusal) {
	// The header form of "Troubleshooting issues with HTTP API JWT
	// authorizers": www-authenticate: Bearer scope="" error="invalid_token"
	// error_description="the token does not have a valid audience".
	invalid := func(why string) *Refusal {
		return &Refusal{http.StatusUnauthorized, fmt.Sprintf(`Bearer scope="%s" error="invalid_token" error_description=%q`, strings.Join(routeScopes, " "), why)}
	}
	token := strings.TrimSpace(authorization)
	if scheme, rest, ok := strings.Cut(token, " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(rest)
	}
	if token == "" {
		return nil, nil, invalid("the token is missing")
	}
	if _, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512}); err != nil {
		return nil, nil, invalid("the token is not a valid RSA-signed JWT")
	}
	payload, err := a.Keys.VerifySignature(ctx, token)
	if err != nil {
		return nil, nil, invalid("signature is invalid")
	}
	var all map[string]any
	if json.Unmarshal(payload, &all) != nil {
		return nil, nil, invalid("the token's claims are not a JSON object")
	}
	if all["iss"] != a.Issuer {
		return nil, nil, invalid("the token does not have a valid issuer")
	}
	aud, hasAud := all["aud"]
	if !hasAud {
		aud = all["client_id"]
	}
	if !matchesAny(aud, a.Audience) {
		return nil, nil, invalid("the token does not have a valid audience")
	}
	now := float64(a.now().Unix())
	if exp, ok := all["exp"].(float64); !ok || exp <= now {
		return nil, nil, invalid("the token has expired")
	}
	for _, c := range []string{"nbf", "iat"} {
		if v, ok := all[c].(float64); ok && v > now {
			return nil, nil, invalid("the token is not valid yet")
		}
	}
	scopeClaim, _ := all["scope"].(string)
	if scp, ok := all["scp"].(string); ok {
		scopeClaim = scp
	}
	scopes := strings.Fields(scopeClaim)
	if len(routeScopes) > 0 && !slices.ContainsFunc(routeScopes, func(s string) bool { return slices.Contains(scopes, s) }) {
		return nil, nil, &Refusal{http.StatusForbidden, fmt.Sprintf(`Bearer scope="%s" error="insufficient_scope" error_description="the token does not have the required scopes"`,
			strings.Join(routeScopes, " "))}
	}
	claims := map[string]string{}
	for k, v := range all {
		claims[k] = jwtauth.ClaimString(v) // as the Lambda reads them back
	}
	return claims, scopes, nil
}

func (a HTTPAPIAuthorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func matchesAny(aud any, accepted []string) bool {
	switch v := aud.(type) {
	case string:
		return slices.Contains(accepted, v)
	case []any:
		return slices.ContainsFunc(v, func(e any) bool { s, _ := e.(string); return slices.Contains(accepted, s) })
	}
	return false
}

// Lambda is an integration's handler: the function behind the API.
type Lambda func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Route is one of the HTTP API's routes.
type Route struct {
	Method, Path string
	// Authorizer is nil for AuthorizationType NONE.
	Authorizer *HTTPAPIAuthorizer
	Scopes     []string
}

// HTTPAPI is the HTTP API: its routes, each forwarded to the Lambda in
// payload format 2.0 once its authorizer passes.
type HTTPAPI struct {
	ID, Region, AccountID string
	Routes                []Route
	Lambda                Lambda
}

// HTTPAPIFrom reads the template's HTTP API: its JWT authorizers (issuer,
// audience) and routes (key, authorization type, authorizer, scopes).
func HTTPAPIFrom(t *Template, keys KeySet, lambda Lambda) (*HTTPAPI, error) {
	authorizers := map[string]*HTTPAPIAuthorizer{}
	for _, id := range t.OfType("AWS::ApiGatewayV2::Authorizer") {
		kind, _, _ := t.Property(id, "AuthorizerType")
		if kind != "JWT" {
			return nil, fmt.Errorf("template: authorizer %s is %v; only JWT is emulated", id, kind)
		}
		issuer, _, err := t.Property(id, "JwtConfiguration", "Issuer")
		if err != nil {
			return nil, err
		}
		aud, _, err := t.Property(id, "JwtConfiguration", "Audience")
		if err != nil {
			return nil, err
		}
		audience, err := StringList(aud)
		if err != nil {
			return nil, fmt.Errorf("template: %s audience: %w", id, err)
		}
		if src, _, _ := t.Property(id, "IdentitySource"); src != nil {
			if list, _ := StringList(src); !slices.Equal(list, []string{"$request.header.Authorization"}) {
				return nil, fmt.Errorf("template: %s: only the identity source $request.header.Authorization is emulated", id)
			}
		}
		s, _ := issuer.(string)
		authorizers[t.stack.Refs[id]] = &HTTPAPIAuthorizer{Issuer: s, Audience: audience, Keys: keys}
	}
	api := &HTTPAPI{Region: t.stack.Region, AccountID: t.stack.AccountID, Lambda: lambda}
	if ids := t.OfType("AWS::ApiGatewayV2::Api"); len(ids) == 1 {
		api.ID = t.stack.Refs[ids[0]]
	}
	for _, id := range t.OfType("AWS::ApiGatewayV2::Route") {
		key, _, err := t.Property(id, "RouteKey")
		if err != nil {
			return nil, err
		}
		method, path, _ := strings.Cut(fmt.Sprint(key), " ")
		r := Route{Method: method, Path: path}
		switch kind, _, _ := t.Property(id, "AuthorizationType"); kind {
		case "NONE", nil:
		case "JWT":
			ref, _, err := t.Property(id, "AuthorizerId")
			if err != nil {
				return nil, err
			}
			if r.Authorizer = authorizers[fmt.Sprint(ref)]; r.Authorizer == nil {
				return nil, fmt.Errorf("template: route %s names no JWT authorizer of the template", id)
			}
			if s, ok, _ := t.Property(id, "AuthorizationScopes"); ok {
				if r.Scopes, err = StringList(s); err != nil {
					return nil, fmt.Errorf("template: route %s scopes: %w", id, err)
				}
			}
		default:
			return nil, fmt.Errorf("template: route %s: authorization %v is not emulated", id, kind)
		}
		api.Routes = append(api.Routes, r)
	}
	return api, nil
}

// ServeHTTP routes a request, authorizes it and invokes the Lambda, with
// API Gateway's answers: 404 {"message":"Not Found"} for no route, 401
// {"message":"Unauthorized"} and 403 {"message":"Forbidden"} from the
// authorizer.
func (api *HTTPAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set("Apigw-Requestid", requestID)
	i := slices.IndexFunc(api.Routes, func(rt Route) bool { return rt.Method == r.Method && rt.Path == r.URL.Path })
	if i < 0 {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	route := api.Routes[i]
	e := api.event(r, route, requestID)
	if route.Authorizer != nil {
		claims, scopes, refusal := route.Authorizer.Authorize(r.Context(), r.Header.Get("Authorization"), route.Scopes)
		if refusal != nil {
			w.Header().Set("Www-Authenticate", refusal.WWWAuthenticate)
			writeMessage(w, refusal.Status, map[int]string{401: "Unauthorized", 403: "Forbidden"}[refusal.Status])
			return
		}
		e.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: scopes}}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 10<<20)) // the HTTP API payload quota
	if err != nil {
		writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	e.Body = string(body)
	out, err := api.Lambda(r.Context(), e)
	if err != nil {
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	for k, v := range out.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range out.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range out.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	w.WriteHeader(out.StatusCode)
	if out.IsBase64Encoded {
		b, _ := base64.StdEncoding.DecodeString(out.Body)
		w.Write(b)
		return
	}
	io.WriteString(w, out.Body)
}

// event is the payload format 2.0 request API Gateway sends the Lambda.
func (api *HTTPAPI) event(r *http.Request, route Route, requestID string) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	query := map[string]string{}
	for k, vs := range r.URL.Query() {
		query[k] = strings.Join(vs, ",")
	}
	e := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: route.Method + " " + route.Path, RawPath: r.URL.Path,
		RawQueryString: r.URL.RawQuery, Headers: headers, QueryStringParameters: query}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	e.RequestContext = events.APIGatewayV2HTTPRequestContext{RouteKey: e.RouteKey, AccountID: api.AccountID, Stage: "$default",
		RequestID: requestID, APIID: api.ID, DomainName: r.Host, DomainPrefix: api.ID, TimeEpoch: time.Now().UnixMilli()}
	e.RequestContext.HTTP = events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.Method, Path: r.URL.Path,
		Protocol: r.Proto, SourceIP: ip, UserAgent: r.UserAgent()}
	return e
}

func writeMessage(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": message})
}
