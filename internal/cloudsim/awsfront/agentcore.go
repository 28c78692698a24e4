package awsfront

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"
)

// RuntimeAuthorizer is an AgentCore Runtime's CustomJWTAuthorizer, as
// "Configure inbound JWT authorizer" (AgentCore developer guide) describes
// it: the discovery URL's issuer and keys; allowedAudience against aud;
// allowedClients against client_id; allowedScopes, one of which must be
// in the token's scope claim; and custom claim rules.
type RuntimeAuthorizer struct {
	DiscoveryURL    string
	AllowedAudience []string
	AllowedClients  []string
	AllowedScopes   []string
	CustomClaims    []ClaimRule
	Keys            KeySet
	Now             func() time.Time
}

// ClaimRule is a CustomClaimValidationType: a claim, its type (STRING or
// STRING_ARRAY), and an operator (EQUALS, CONTAINS, CONTAINS_ANY) with
// its value or values.
type ClaimRule struct {
	Name, ValueType, Operator string
	Value                     string
	Values                    []string
}

// Runtime is an AgentCore Runtime endpoint before a container.
type Runtime struct {
	ARN        string
	Authorizer RuntimeAuthorizer
	// HeaderAllowlist names the request headers, besides the runtime's
	// own, that reach the container.
	HeaderAllowlist []string
	// Container is the container's address: /invocations is under it.
	Container *url.URL
	// WorkloadIdentity is the runtime's workload identity once UseIdentity
	// made it ("" before): the name AgentCore Identity knows it by.
	WorkloadIdentity string
	identity         WorkloadIdentities
	proxy            *httputil.ReverseProxy
}

// WorkloadIdentities is the part of AgentCore Identity a runtime uses:
// cloudsim's agentcoreid.Server.
type WorkloadIdentities interface {
	// CreateRuntimeIdentity makes (or adopts) the runtime's workload
	// identity, as CreateAgentRuntime does, and returns its name.
	CreateRuntimeIdentity(runtimeARN string) (string, error)
	// MintForRuntime is GetWorkloadAccessTokenForJWT on that identity.
	MintForRuntime(workload, userJWT string) (string, error)
}

// The headers the runtime hands the container its workload access token
// in: WorkloadAccessToken (the Python SDK's ACCESS_TOKEN_HEADER), and
// X-Amz-Bedrock-AgentCore-Identity-WAT, which newer runtimes also send and
// the SDK prefers since 2026-08-05 (bedrock-agentcore-sdk-python #607).
// A client's own copies never reach the container.
const (
	WATHeader      = "WorkloadAccessToken"
	IdentityHeader = "X-Amz-Bedrock-AgentCore-Identity-WAT"
)

// UseIdentity gives the runtime its workload identity in id, as AgentCore
// does when it creates a runtime (workloadIdentityDetails): from then on,
// every request its authorizer lets through carries a workload access
// token minted from the inbound JWT (DG-WAT: the runtime calls
// GetWorkloadAccessTokenForJWT with its identity and passes the token on).
func (rt *Runtime) UseIdentity(id WorkloadIdentities) error {
	name, err := id.CreateRuntimeIdentity(rt.ARN)
	if err != nil {
		return err
	}
	rt.identity, rt.WorkloadIdentity = id, name
	return nil
}

// RuntimeFrom reads an AWS::BedrockAgentCore::Runtime resource. The
// runtime's ARN is its AgentRuntimeArn attribute in stack.Attrs.
func RuntimeFrom(t *Template, id string, keys KeySet, container *url.URL) (*Runtime, error) {
	arn, ok := t.stack.Attrs[id+".AgentRuntimeArn"]
	if !ok {
		return nil, fmt.Errorf("template: no AgentRuntimeArn for %s", id)
	}
	rt := &Runtime{ARN: arn, Container: container}
	jwt, ok, err := t.Property(id, "AuthorizerConfiguration", "CustomJWTAuthorizer")
	if err != nil {
		return nil, err
	}
	if !ok {
		// A runtime without it takes SigV4 callers, which is not emulated.
		return nil, fmt.Errorf("template: %s has no CustomJWTAuthorizer; only JWT inbound auth is emulated", id)
	}
	cfg := jwt.(map[string]any)
	a := RuntimeAuthorizer{Keys: keys}
	a.DiscoveryURL, _ = cfg["DiscoveryUrl"].(string)
	for name, into := range map[string]*[]string{"AllowedAudience": &a.AllowedAudience, "AllowedClients": &a.AllowedClients, "AllowedScopes": &a.AllowedScopes} {
		if v, ok := cfg[name]; ok {
			if *into, err = StringList(v); err != nil {
				return nil, fmt.Errorf("template: %s %s: %w", id, name, err)
			}
		}
	}
	if rules, ok := cfg["CustomClaims"].([]any); ok {
		for _, r := range rules {
			rule, err := claimRule(r)
			if err != nil {
				return nil, fmt.Errorf("template: %s CustomClaims: %w", id, err)
			}
			a.CustomClaims = append(a.CustomClaims, rule)
		}
	}
	rt.Authorizer = a
	if v, ok, err := t.Property(id, "RequestHeaderConfiguration", "RequestHeaderAllowlist"); err != nil {
		return nil, err
	} else if ok {
		if rt.HeaderAllowlist, err = StringList(v); err != nil {
			return nil, fmt.Errorf("template: %s header allowlist: %w", id, err)
		}
		if err := checkAllowlist(rt.HeaderAllowlist); err != nil {
			return nil, fmt.Errorf("template: %s RequestHeaderAllowlist: %w", id, err)
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableCompression = true // no Accept-Encoding of the proxy's own
	rt.proxy = &httputil.ReverseProxy{
		Rewrite:       rt.rewrite,
		Transport:     transport,
		FlushInterval: -1, // server-sent events stream through as they come
	}
	return rt, nil
}

func claimRule(v any) (ClaimRule, error) {
	m, _ := v.(map[string]any)
	match, _ := m["AuthorizingClaimMatchValue"].(map[string]any)
	value, _ := match["ClaimMatchValue"].(map[string]any)
	r := ClaimRule{Name: fmt.Sprint(m["InboundTokenClaimName"]), ValueType: fmt.Sprint(m["InboundTokenClaimValueType"]),
		Operator: fmt.Sprint(match["ClaimMatchOperator"])}
	r.Value, _ = value["MatchValueString"].(string)
	if list, ok := value["MatchValueStringList"]; ok {
		var err error
		if r.Values, err = StringList(list); err != nil {
			return r, err
		}
	}
	if !slices.Contains([]string{"EQUALS", "CONTAINS", "CONTAINS_ANY"}, r.Operator) || !slices.Contains([]string{"STRING", "STRING_ARRAY"}, r.ValueType) {
		return r, fmt.Errorf("claim %s: operator %s on %s is not emulated", r.Name, r.Operator, r.ValueType)
	}
	return r, nil
}

// What reaches the container, from "Pass custom headers to Amazon Bedrock
// AgentCore Runtime" (AgentCore developer guide,
// https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/runtime-header-allowlist.html,
// read 2026-12-06): a request header passes only if the runtime's
// RequestHeaderAllowlist names it, and these may not be named ("restricted
// and cannot be configured for propagation"), nor any x-amz-* header, nor
// any x-amzn-* header but the X-Amzn-Bedrock-AgentCore-Runtime-Custom-*
// ones. So a browser's Origin, Accept and Access-Control-Request-* never
// reach the container. Besides the allowlisted headers, the container gets
// the runtime's own session ID (the HTTP protocol contract). Whether the
// runtime also sets Content-Type or Accept from InvokeAgentRuntime's
// contentType and accept parameters is not documented; cloudsim passes
// neither, so nothing may depend on them.
var restrictedHeaders = []string{
	// Authentication & Authorization
	"Proxy-Authorization", "WWW-Authenticate",
	// Content Negotiation
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Content-Type", "Content-Length", "Content-Encoding",
	"Content-Language", "Content-Location", "Content-Range",
	// Caching
	"Cache-Control", "ETag", "Expires", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
	"Last-Modified", "Pragma", "Vary",
	// Connection Management
	"Connection", "Keep-Alive", "Proxy-Connection", "Upgrade",
	// Request Context
	"Host", "User-Agent", "Referer", "From",
	// Range / Transfer
	"Range", "Accept-Ranges", "Transfer-Encoding", "TE", "Trailer",
	// Server Information
	"Server", "Date", "Location", "Retry-After",
	// Cookies
	"Set-Cookie", "Cookie",
	// Security
	"Content-Security-Policy", "Content-Security-Policy-Report-Only", "Strict-Transport-Security", "X-Content-Type-Options",
	"X-Frame-Options", "X-XSS-Protection", "Referrer-Policy", "Permissions-Policy", "Cross-Origin-Embedder-Policy",
	"Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy",
	// CORS
	"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Allow-Credentials",
	"Access-Control-Expose-Headers", "Access-Control-Max-Age", "Access-Control-Request-Method", "Access-Control-Request-Headers", "Origin",
	// Client Hints
	"Accept-CH", "Accept-CH-Lifetime", "DPR", "Width", "Viewport-Width", "Downlink", "ECT", "RTT", "Save-Data",
	// Experimental / Proposed
	"Clear-Site-Data", "Feature-Policy", "Expect-CT", "Public-Key-Pins", "Public-Key-Pins-Report-Only",
	// Proxy
	"Via", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP", "X-Requested-With", "X-CSRF-Token",
	// IP Spoofing / URL Manipulation
	"True-Client-IP", "X-Client-IP", "X-Cluster-Client-IP", "X-Originating-IP", "X-Source-IP", "X-Original-URL", "X-Original-Host",
	"X-Rewrite-URL",
	// CDN / Proxy
	"CF-Ray", "CF-Connecting-IP", "X-Amz-Cf-Id", "X-Cache", "X-Served-By",
	// Server Push
	"Link",
	// WebSocket
	"Sec-WebSocket-Key", "Sec-WebSocket-Accept", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions",
}

// customPrefix is the one x-amzn-* form an allowlist may name.
const customPrefix = "x-amzn-bedrock-agentcore-runtime-custom-"

// Restricted reports whether no RequestHeaderAllowlist may name header, and
// why (empty: it may).
func Restricted(header string) string {
	h := strings.ToLower(header)
	switch {
	case slices.ContainsFunc(restrictedHeaders, func(r string) bool { return strings.EqualFold(r, header) }):
		return "on the restricted headers list"
	case strings.HasPrefix(h, "x-amz-"):
		return "x-amz-* headers are reserved for SigV4"
	case strings.HasPrefix(h, "x-amzn-") && !(strings.HasPrefix(h, customPrefix) && len(h) > len(customPrefix)):
		return "x-amzn-* headers are not allowed, except X-Amzn-Bedrock-AgentCore-Runtime-Custom-*"
	}
	return ""
}

// checkAllowlist refuses what the guide refuses: a restricted name, more
// than 20, or the same name twice in any case. (The API reference's
// pattern, (Authorization|X-Amzn-Bedrock-AgentCore-Runtime-Custom-[a-zA-Z0-9-]+),
// is narrower than the guide; cloudsim follows the guide, and the template
// uses names both accept.)
func checkAllowlist(names []string) error {
	if len(names) > 20 {
		return fmt.Errorf("%d headers; a runtime takes at most 20", len(names))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if why := Restricted(n); why != "" {
			return fmt.Errorf("%s cannot be allowlisted: %s", n, why)
		}
		if seen[strings.ToLower(n)] {
			return fmt.Errorf("%s is named twice (names are case-insensitive)", n)
		}
		seen[strings.ToLower(n)] = true
	}
	return nil
}

const sessionHeader = "X-Amzn-Bedrock-Agentcore-Runtime-Session-Id"

// ServeHTTP is InvokeAgentRuntime over HTTP with a bearer token:
// POST /runtimes/{url-encoded ARN}/invocations?qualifier=DEFAULT.
func (rt *Runtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	arnPart, ok := strings.CutPrefix(r.URL.EscapedPath(), "/runtimes/")
	arnPart, tail, _ := strings.Cut(arnPart, "/")
	arn, err := url.PathUnescape(arnPart)
	switch {
	case !ok || tail != "invocations" || err != nil:
		writeAWSError(w, http.StatusNotFound, "UnknownOperationException", "cloudsim's AgentCore Runtime serves POST /runtimes/{agentRuntimeArn}/invocations")
		return
	case arn != rt.ARN:
		writeAWSError(w, http.StatusNotFound, "ResourceNotFoundException", "No agent runtime found for "+arn)
		return
	case r.URL.Query().Get("qualifier") != "" && r.URL.Query().Get("qualifier") != "DEFAULT":
		// The stack creates the runtime's default endpoint only.
		writeAWSError(w, http.StatusNotFound, "ResourceNotFoundException", "No endpoint "+r.URL.Query().Get("qualifier")+" for this agent runtime")
		return
	}
	if r.Method == http.MethodOptions {
		// A browser's CORS preflight. How the real endpoint answers one is
		// documented nowhere (InvokeAgentRuntime's API reference and the
		// developer guide, read 2026-12-06, say nothing of CORS), and it
		// cannot be the container's to answer: Origin and the
		// Access-Control-Request-* pair are restricted headers. cloudsim
		// answers it here, without any CORS grant, and passes nothing on
		// (unverified: the real endpoint may answer otherwise). The chat UI
		// does not depend on it: its own llm-agent relays turns.
		writeAWSError(w, http.StatusForbidden, "AccessDeniedException",
			"cloudsim grants no CORS preflight for InvokeAgentRuntime (how AgentCore answers one is undocumented): call it from a server")
		return
	}
	if r.Method != http.MethodPost {
		writeAWSError(w, http.StatusMethodNotAllowed, "ValidationException", "InvokeAgentRuntime is POST")
		return
	}
	if status, code, msg := rt.Authorizer.check(r.Context(), r.Header.Get("Authorization")); status != 0 {
		if status == http.StatusUnauthorized {
			w.Header().Set("Www-Authenticate", "Bearer")
		}
		writeAWSError(w, status, code, msg)
		return
	}
	// Only the runtime sets the workload access token headers.
	r.Header.Del(WATHeader)
	r.Header.Del(IdentityHeader)
	if rt.identity != nil {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		wat, err := rt.identity.MintForRuntime(rt.WorkloadIdentity, strings.TrimSpace(token))
		if err != nil {
			// The authorizer took the token, AgentCore Identity did not (an
			// issuer it does not trust, say). AWS's answer is undocumented.
			writeAWSError(w, http.StatusForbidden, "AccessDeniedException", "The runtime could not get a workload access token for this user: "+err.Error())
			return
		}
		r.Header.Set(WATHeader, wat)
		r.Header.Set(IdentityHeader, wat)
	}
	if r.Header.Get(sessionHeader) == "" {
		r.Header.Set(sessionHeader, newRequestID()+"-"+newRequestID()[:8]) // at least 33 characters
	}
	w.Header().Set(sessionHeader, r.Header.Get(sessionHeader))
	// The container may begin its answer (a stream's first event) while
	// the proxy is still sending it the invocation. Go's HTTP/1 server
	// would then throw away the rest of the request body, the proxy's
	// upload would fail, and the stream would end in "unexpected EOF"
	// (golang/go#40747): a front's fault, never the container's.
	if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
		writeAWSError(w, http.StatusInternalServerError, "InternalServerException", "cloudsim's AgentCore Runtime front could not stream: "+err.Error())
		return
	}
	rt.proxy.ServeHTTP(w, r)
}

// rewrite forwards to the container's /invocations with only the
// runtime's session ID, its workload access token (ServeHTTP set or
// removed it) and the allowlisted headers (see restrictedHeaders).
func (rt *Runtime) rewrite(pr *httputil.ProxyRequest) {
	out := *rt.Container
	out.Path = strings.TrimSuffix(out.Path, "/") + "/invocations"
	pr.Out.URL = &out
	pr.Out.Host = rt.Container.Host
	pr.Out.Header = http.Header{}
	for _, h := range append([]string{sessionHeader, WATHeader, IdentityHeader}, rt.HeaderAllowlist...) {
		if v := pr.In.Header.Values(h); len(v) > 0 {
			pr.Out.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
}

// check runs the authorizer on an Authorization value and returns the
// refusal's status, error code and message (status 0: passed). A request
// with no bearer token is 401; a SigV4 request to a JWT runtime is AWS's
// "Authorization method mismatch" (aws/agentcore-cli#714); a token that
// fails a check is 403. The messages of the 403s are cloudsim's own: AWS
// does not document them.
func (a RuntimeAuthorizer) check(ctx context.Context, authorization string) (int, string, string) {
	deny := func(format string, args ...any) (int, string, string) {
		return http.StatusForbidden, "AccessDeniedException", fmt.Sprintf(format, args...)
	}
	if strings.HasPrefix(authorization, "AWS4-HMAC-SHA256") {
		return deny("Authorization method mismatch. The agent is configured for a different authorization method than what was used in your request. Check the agent's authorization configuration and ensure your request uses the matching method (OAuth or SigV4)")
	}
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return http.StatusUnauthorized, "AccessDeniedException", "Missing bearer token: this agent runtime takes OAuth (a JWT in Authorization: Bearer)"
	}
	payload, err := a.Keys.VerifySignature(ctx, strings.TrimSpace(token))
	if err != nil {
		return deny("Invalid token signature")
	}
	var c map[string]any
	if json.Unmarshal(payload, &c) != nil {
		return deny("Invalid token")
	}
	if iss := strings.TrimSuffix(a.DiscoveryURL, "/.well-known/openid-configuration"); c["iss"] != iss {
		return deny("Token issuer does not match the discovery URL's issuer")
	}
	now := float64(a.now().Unix())
	if exp, ok := c["exp"].(float64); !ok || exp <= now {
		return deny("Token has expired")
	}
	if nbf, ok := c["nbf"].(float64); ok && nbf > now {
		return deny("Token is not valid yet")
	}
	if len(a.AllowedAudience) > 0 && !matchesAny(c["aud"], a.AllowedAudience) {
		return deny("Claim 'aud' value mismatch with configuration.")
	}
	if len(a.AllowedClients) > 0 {
		// client_id, which OAuth access tokens of some IdPs carry; Entra's
		// carry azp or appid instead, so this refuses every Entra token.
		if id, _ := c["client_id"].(string); !slices.Contains(a.AllowedClients, id) {
			return deny("Claim 'client_id' value mismatch with configuration.")
		}
	}
	if len(a.AllowedScopes) > 0 {
		scopes, _ := c["scope"].(string)
		if !slices.ContainsFunc(strings.Fields(scopes), func(s string) bool { return slices.Contains(a.AllowedScopes, s) }) {
			return deny("Claim 'scope' value mismatch with configuration.")
		}
	}
	for _, rule := range a.CustomClaims {
		if !rule.holds(c[rule.Name]) {
			return deny("Claim '%s' value mismatch with configuration.", rule.Name)
		}
	}
	return 0, "", ""
}

func (a RuntimeAuthorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// holds evaluates a custom claim rule on the claim's value.
func (r ClaimRule) holds(v any) bool {
	switch r.ValueType {
	case "STRING":
		s, ok := v.(string)
		return ok && r.Operator == "EQUALS" && s == r.Value
	case "STRING_ARRAY":
		list, err := StringList(v)
		if err != nil {
			return false
		}
		switch r.Operator {
		case "CONTAINS":
			return slices.Contains(list, r.Value)
		case "CONTAINS_ANY":
			return slices.ContainsFunc(list, func(s string) bool { return slices.Contains(r.Values, s) })
		}
	}
	return false
}

func writeAWSError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": message})
}

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
