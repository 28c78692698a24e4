package graph

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ---- request bodies: Content-Encoding

// readBody reads a request body as Graph does: plain or gzip. Microsoft
// Graph decompresses a gzip request body: "AGS is adding support for
// request payload compression, meaning that if our SDKs send them a
// compressed payload, they'll be able to decompress it" (Microsoft's SDK
// design, msgraph-sdk-design PR #71, "adds a new specification for request
// compression", 2022-01-06, github.com/microsoftgraph/msgraph-sdk-design/
// pull/71, read 2026-12-06), which is why kiota's CompressionHandler
// gzips every body by default. A maintainer doubted it in
// msgraph-sdk-go-core#295 (2024-07-15: "I don't believe Graph api
// supports receiving c[ompressed data]"), about a file upload, whose bytes
// Graph stores rather than parses; Azure/ARO-RP#3278 (2023-11-10) reverted
// its gzip workaround once "Microsoft fixed the Graph service regression
// that broke kiota-http-go". So cloudsim takes gzip, and answers any other
// encoding 415 Unsupported Media Type, the answer on which the
// CompressionHandler sends the body again uncompressed (the same PR's
// requirement: "Should the handler receive a 415 Unsupported Media Type
// ... the handler will retry sending the request without compressing it").
// The decompressed body is bounded like a plain one.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	var encodings []string
	for _, v := range r.Header.Values("Content-Encoding") {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.ToLower(strings.TrimSpace(e)); e != "" && e != "identity" {
				encodings = append(encodings, e)
			}
		}
	}
	switch {
	case len(encodings) == 0:
		raw, err := io.ReadAll(body)
		if err != nil {
			return nil, tooLarge()
		}
		return raw, nil
	case len(encodings) == 1 && (encodings[0] == "gzip" || encodings[0] == "x-gzip"):
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, badRequest("The request body is not valid gzip (Content-Encoding: gzip).")
		}
		raw, err := io.ReadAll(io.LimitReader(zr, maxBody+1))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig) || len(raw) > maxBody:
			return nil, tooLarge()
		case err != nil:
			return nil, badRequest("The request body is not valid gzip (Content-Encoding: gzip).")
		}
		return raw, nil
	default:
		// Graph's wording for the 415 is not documented; the code is
		// HTTP's (RFC 9110, 15.5.16: "the server MUST respond with a 415
		// ... if the server does not accept the content coding").
		return nil, &apiError{status: http.StatusUnsupportedMediaType, code: "UnsupportedMediaType",
			message: fmt.Sprintf("Content-Encoding '%s' is not supported: send the body plain or gzip.", strings.Join(encodings, ", "))}
	}
}

func tooLarge() *apiError {
	return badRequest("The request body is larger than cloudsim reads (1 MiB) or unreadable.")
}

// ---- request bodies: @odata.type

// The entity and complex types cloudsim's Graph reads, each with its base
// type (OData derived types: an agentIdentityBlueprint is an application).
var odataBase = map[string]string{
	"application": "directoryObject", "agentIdentityBlueprint": "application",
	"servicePrincipal": "directoryObject", "agentIdentityBlueprintPrincipal": "servicePrincipal", "agentIdentity": "servicePrincipal",
	"user": "directoryObject", "agentUser": "user", "directoryObject": "entity",
	"federatedIdentityCredential": "entity", "appRoleAssignment": "directoryObject", "oAuth2PermissionGrant": "entity",
	"passwordCredential": "", "apiApplication": "", "permissionScope": "", "appRole": "", "webApplication": "", "spaApplication": "",
	"publicClientApplication": "", "requiredResourceAccess": "", "resourceAccess": "", "implicitGrantSettings": "",
	"redirectUriSettings": "", "preAuthorizedApplication": "",
}

// odataNested are the complex types of the properties cloudsim reads
// inside a body, whose @odata.type, if given, must name them.
var odataNested = map[string]string{
	"api": "apiApplication", "oauth2PermissionScopes": "permissionScope", "appRoles": "appRole", "web": "webApplication",
	"spa": "spaApplication", "publicClient": "publicClientApplication", "requiredResourceAccess": "requiredResourceAccess",
	"resourceAccess": "resourceAccess", "passwordCredential": "passwordCredential", "implicitGrantSettings": "implicitGrantSettings",
	"preAuthorizedApplications": "preAuthorizedApplication",
}

// canonicalType finds the type an @odata.type names, whatever its case
// (the "create agent identities" guide sends "#Microsoft.Graph.AgentIdentity"):
// its name, whether it is in Graph's namespace, and whether cloudsim
// knows it.
func canonicalType(annotation string) (name string, graphNS, known bool) {
	t := strings.TrimPrefix(strings.TrimSpace(annotation), "#")
	ns, local, ok := strings.Cut(t, ".")
	for ok && strings.Contains(local, ".") {
		var more string
		more, local, _ = strings.Cut(local, ".")
		ns += "." + more
	}
	if !ok || !strings.EqualFold(ns, "microsoft.graph") {
		return t, false, false
	}
	for k := range odataBase {
		if strings.EqualFold(k, local) {
			return k, true, true
		}
	}
	return local, true, false
}

// checkODataType checks the @odata.type annotations of a JSON body: the
// top-level one must name one of accept (what the path creates or the
// object is), and a nested one the complex type of its property. OData
// lets a client send the annotation (OData JSON Format 4.01, 4.5.3
// "Control Information odata.type"), and Microsoft's Graph SDKs send it on
// every model they serialize; Graph refuses a type that does not fit as
// OData does. A type outside Graph's model: "A type named '…' could not be
// resolved by the model. When a model is available, each type name must
// resolve to a valid type." (Graph's answer in
// msgraph-beta-sdk-dotnet#523); a Graph type that is not the expected
// one: "A resource with type '…' was found, but it is not assignable to
// the expected type '…'" (Graph's answer, with its
// Microsoft.DirectoryServices names, to a blueprint's federated
// credential sent at the wrong path,
// deploymenttheory/terraform-provider-microsoft365, agent identity
// blueprint federated identity credential developer notes, 2025-12-04; the
// last sentence is ODataLib's). Both are 400 BadRequest. The Go SDK sent
// the wrong type once (msgraph-sdk-go#217: "causes some write operations
// to fail").
func checkODataType(body []byte, accept ...string) *apiError {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil // decode answers malformed JSON
	}
	if raw, ok := top["@odata.type"]; ok && len(accept) > 0 {
		if err := fits(raw, accept...); err != nil {
			return err
		}
	}
	return checkNested(top)
}

func checkNested(obj map[string]json.RawMessage) *apiError {
	for prop, raw := range obj {
		want, ok := odataNested[prop]
		if !ok {
			continue
		}
		var items []map[string]json.RawMessage
		var one map[string]json.RawMessage
		switch {
		case json.Unmarshal(raw, &one) == nil && one != nil:
			items = []map[string]json.RawMessage{one}
		case json.Unmarshal(raw, &items) == nil:
		default:
			continue
		}
		for _, item := range items {
			if t, ok := item["@odata.type"]; ok {
				if err := fits(t, want); err != nil {
					return err
				}
			}
			if err := checkNested(item); err != nil {
				return err
			}
		}
	}
	return nil
}

// fits checks one annotation against the types it may name.
func fits(raw json.RawMessage, accept ...string) *apiError {
	var annotation string
	if json.Unmarshal(raw, &annotation) != nil {
		return &apiError{status: http.StatusBadRequest, code: "BadRequest", message: "The @odata.type annotation must be a string."}
	}
	name, graphNS, known := canonicalType(annotation)
	if !graphNS {
		return &apiError{status: http.StatusBadRequest, code: "BadRequest",
			message: fmt.Sprintf("A type named '%s' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.", name)}
	}
	if known && slices.Contains(accept, name) {
		return nil
	}
	return &apiError{status: http.StatusBadRequest, code: "BadRequest", message: fmt.Sprintf("A resource with type '%s' was found, but it is not assignable to the expected type '%s'. "+
		"The type specified in the resource must be equal to either the expected type or a derived type.", directoryServices(name), directoryServices(accept[0]))}
}

// directoryServices is a type's name as Graph's directory service spells
// it in its errors.
func directoryServices(t string) string {
	if t == "" {
		return t
	}
	return "Microsoft.DirectoryServices." + strings.ToUpper(t[:1]) + t[1:]
}

// ---- query options: $filter

// A $filter cloudsim serves: equality clauses on the properties a
// collection documents, joined by "and", each "prop eq 'value'" (a quote
// doubled, as OData writes it) or, for a collection property,
// "prop/any(x:x eq 'value')". Anything else is refused with Graph's
// Request_UnsupportedQuery, never ignored.
var (
	eqClause  = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*)\s+eq\s+'((?:[^']|'')*)'$`)
	anyClause = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*)/any\(\s*(\w+)\s*:\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*\)$`)
	andSplit  = regexp.MustCompile(`\s+and\s+`)
)

// clause is one equality: a property, whether it is a collection
// (any), and the value.
type clause struct {
	prop  string
	any   bool
	value string
}

// parseFilter reads $filter against the properties a collection filters
// on (scalar ones, and collection ones for any()); none is nil.
func parseFilter(c *call, resource string, scalar, collections []string) ([]clause, *apiError) {
	f := strings.TrimSpace(c.query.Get("$filter"))
	if f == "" {
		return nil, nil
	}
	var out []clause
	for part := range slices.Values(andSplit.Split(f, -1)) {
		part = strings.TrimSpace(part)
		if m := eqClause.FindStringSubmatch(part); m != nil {
			prop, ok := lookupProp(m[1], scalar)
			if !ok {
				return nil, unsupportedFilter(m[1], resource)
			}
			out = append(out, clause{prop: prop, value: strings.ReplaceAll(m[2], "''", "'")})
			continue
		}
		if m := anyClause.FindStringSubmatch(part); m != nil && m[2] == m[3] {
			prop, ok := lookupProp(m[1], collections)
			if !ok {
				return nil, unsupportedFilter(m[1], resource)
			}
			out = append(out, clause{prop: prop, any: true, value: strings.ReplaceAll(m[4], "''", "'")})
			continue
		}
		return nil, &apiError{status: http.StatusBadRequest, code: "Request_UnsupportedQuery",
			message: fmt.Sprintf("Unsupported or invalid query filter clause specified: '%s'. cloudsim's Graph serves eq (and any(x:x eq …)) clauses joined by and.", part)}
	}
	return out, nil
}

func lookupProp(name string, props []string) (string, bool) {
	for _, p := range props {
		if strings.EqualFold(p, name) {
			return p, true
		}
	}
	return "", false
}

func unsupportedFilter(prop, resource string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "Request_UnsupportedQuery",
		message: fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", prop, resource)}
}

// matches reports whether an object's JSON view passes every clause.
// Strings compare as Graph's directory compares them, ignoring case.
func matches(item map[string]any, clauses []clause) bool {
	for _, cl := range clauses {
		v := item[cl.prop]
		if cl.any {
			list, _ := v.([]string)
			if !slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, cl.value) }) {
				return false
			}
			continue
		}
		s, _ := v.(string)
		if !strings.EqualFold(s, cl.value) {
			return false
		}
	}
	return true
}

// ---- query options: $top, $skiptoken, and the other options

// defaultPage and maxPage are Graph's page sizes for directory objects:
// 100 unless $top says otherwise ("Paging Microsoft Graph data in your
// app": "the GET /users endpoint returns a default of 100 results in a
// single page", learn.microsoft.com/graph/paging, read 2026-12-06), at
// most 999 (Graph's answer to $top=1000, quoted on Microsoft Q&A
// 1129204, 2022-12-15: "Invalid page size specified: '1000'. Must be
// between 1 and 999 inclusive.").
const (
	defaultPage = 100
	maxPage     = 999
)

// unservedOptions are query options cloudsim refuses rather than ignore.
var unservedOptions = []string{"$orderby", "$search", "$expand", "$skip", "$count", "$apply", "$compute", "$format"}

// page cuts a filtered list at $top (or the default page) from the
// $skiptoken cloudsim gave, and links the next page as Graph does, with
// @odata.nextLink: the same request with a $skiptoken.
func page(c *call, items []map[string]any) ([]map[string]any, string, *apiError) {
	for _, o := range unservedOptions {
		if c.query.Has(o) {
			return nil, "", &apiError{status: http.StatusBadRequest, code: "Request_UnsupportedQuery",
				message: fmt.Sprintf("Query option '%s' is not supported by cloudsim's Graph (it serves $filter, $select, $top and $skiptoken).", o)}
		}
	}
	size := defaultPage
	if t := c.query.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > maxPage {
			// Graph's wording (Microsoft Q&A 1129204); its code is not
			// quoted there, cloudsim gives Request_UnsupportedQuery.
			return nil, "", &apiError{status: http.StatusBadRequest, code: "Request_UnsupportedQuery",
				message: fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", t, maxPage)}
		}
		size = n
	}
	start := 0
	if tok := c.query.Get("$skiptoken"); tok != "" {
		n, ok := readSkipToken(tok, c.query)
		if !ok || n > len(items) {
			return nil, "", badRequest("The $skiptoken is not one cloudsim's Graph gave for this query.")
		}
		start = n
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		q := url.Values{}
		for k, v := range c.query {
			if k != "$skiptoken" {
				q[k] = v
			}
		}
		q.Set("$skiptoken", skipToken(end, c.query))
		next = c.self + "?" + strings.ReplaceAll(q.Encode(), "%24", "$")
	}
	return items[start:end], next, nil
}

// skipToken is an opaque token for the offset of the next page, bound to
// the query it pages (its $filter), as Graph's tokens are opaque and only
// good for the request that returned them.
func skipToken(offset int, q url.Values) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset) + "\n" + q.Get("$filter")))
}

func readSkipToken(tok string, q url.Values) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	off, filter, ok := bytes.Cut(raw, []byte("\n"))
	n, err := strconv.Atoi(string(off))
	return n, ok && err == nil && n >= 0 && string(filter) == q.Get("$filter")
}

// collection is a list answer: its context, one page of items, and the
// next page's link when there is one.
func collection(ctx string, items []map[string]any, next string) map[string]any {
	out := map[string]any{"@odata.context": ctx, "value": items}
	if next != "" {
		out["@odata.nextLink"] = next
	}
	return out
}
