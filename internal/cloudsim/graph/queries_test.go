package graph_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/graph"
)

// raw sends a body as given, with its Content-Encoding.
func (f *fixture) raw(token, method, path, encoding string, body []byte) answer {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.sim.URL+graph.Path+"/v1.0/"+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode}
	json.Unmarshal(out, &a.body)
	return a
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Graph takes a gzip body (what kiota's CompressionHandler sends by
// default), answers 415 for an encoding it does not take (on which the
// handler sends the body again plain), 400 for a body that is not the gzip
// it claims, and bounds what a gzip body inflates to. No client the project
// did not write sends these on purpose: Go's net/http does.
func TestGraphRequestEncodings(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, "Application.ReadWrite.All")
	body := []byte(`{"displayName":"gzipped"}`)
	if a := f.raw(tok, "POST", "applications", "gzip", gzipped(body)); a.status != 201 || a.str("displayName") != "gzipped" {
		t.Errorf("gzip: %d %v", a.status, a.body)
	}
	var deflated bytes.Buffer
	zw := zlib.NewWriter(&deflated)
	zw.Write(body)
	zw.Close()
	for _, enc := range []string{"deflate", "br", "gzip, br"} {
		if a := f.raw(tok, "POST", "applications", enc, deflated.Bytes()); a.status != 415 || a.code() != "UnsupportedMediaType" {
			t.Errorf("%s: %d %v, want 415", enc, a.status, a.body)
		}
	}
	if a := f.raw(tok, "POST", "applications", "gzip", body); a.status != 400 || !strings.Contains(a.str("error"), "") || a.code() != "Request_BadRequest" {
		t.Errorf("plain bytes labelled gzip: %d %v", a.status, a.body)
	}
	bomb := gzipped(append(append([]byte(`{"displayName":"`), bytes.Repeat([]byte("a"), 2<<20)...), []byte(`"}`)...))
	if a := f.raw(tok, "POST", "applications", "gzip", bomb); a.status != 400 || !strings.Contains(msg(a), "1 MiB") {
		t.Errorf("a body inflating past 1 MiB: %d %v", a.status, msg(a))
	}
	// Authorization still comes first: no permission, 403, whatever the
	// encoding.
	if a := f.raw(f.token(admin, "User.Read"), "POST", "applications", "br", body); a.status != 403 {
		t.Errorf("br without the permission: %d %v", a.status, a.body)
	}
}

func msg(a answer) string {
	e, _ := a.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// @odata.type may name the type the path creates (any case, with or
// without '#'), or for an update what the object is; another type is
// refused as Graph refuses it, and so is a nested one that does not fit
// its property.
func TestODataTypeInBodies(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	ok := []struct{ path, typ string }{
		{"applications", "#microsoft.graph.application"},
		{"applications", "microsoft.graph.application"},
		{"applications/microsoft.graph.agentIdentityBlueprint", "#Microsoft.Graph.AgentIdentityBlueprint"},
	}
	var bpID, appID string
	for _, c := range ok {
		body := map[string]any{"@odata.type": c.typ, "displayName": "typed", "api": map[string]any{"@odata.type": "#microsoft.graph.apiApplication"}}
		if strings.Contains(c.path, "Blueprint") {
			body["sponsors@odata.bind"] = blueprintBody(f, admin)["sponsors@odata.bind"]
		}
		a := f.call(tok, "POST", c.path, body)
		if a.status != 201 {
			t.Errorf("%s with %s: %d %v", c.path, c.typ, a.status, a.body)
		}
		if strings.Contains(c.path, "Blueprint") {
			bpID = a.str("id")
		} else {
			appID = a.str("id")
		}
	}
	refused := []struct {
		path, method string
		body         map[string]any
		want         string
	}{
		{"applications", "POST", map[string]any{"@odata.type": "#microsoft.graph.user", "displayName": "x"}, "not assignable to the expected type 'Microsoft.DirectoryServices.Application'"},
		{"applications", "POST", map[string]any{"@odata.type": "#contoso.widget", "displayName": "x"}, "could not be resolved by the model"},
		{"applications/microsoft.graph.agentIdentityBlueprint", "POST", map[string]any{"@odata.type": "#microsoft.graph.application", "displayName": "x",
			"sponsors@odata.bind": blueprintBody(f, admin)["sponsors@odata.bind"]}, "not assignable"},
		{"applications", "POST", map[string]any{"displayName": "x", "api": map[string]any{"@odata.type": "#microsoft.graph.webApplication"}}, "not assignable"},
		{"applications/" + appID, "PATCH", map[string]any{"@odata.type": "#microsoft.graph.agentIdentityBlueprint", "displayName": "x"}, "not assignable"},
		{"servicePrincipals/microsoft.graph.agentIdentity", "POST", map[string]any{"@odata.type": "#microsoft.graph.servicePrincipal", "displayName": "x"}, "not assignable"},
	}
	for _, c := range refused {
		if a := f.call(tok, c.method, c.path, c.body); a.status != 400 || a.code() != "BadRequest" || !strings.Contains(msg(a), c.want) {
			t.Errorf("%s %s %v: %d %v", c.method, c.path, c.body["@odata.type"], a.status, a.body)
		}
	}
	// A blueprint updated as an application (its base type), or at its
	// cast as a blueprint.
	if a := f.call(tok, "PATCH", "applications/"+bpID, map[string]any{"@odata.type": "#microsoft.graph.application", "displayName": "renamed"}); a.status != 204 {
		t.Errorf("a blueprint patched as an application: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "PATCH", "applications/"+bpID+"/microsoft.graph.agentIdentityBlueprint",
		map[string]any{"@odata.type": "#microsoft.graph.agentIdentityBlueprint", "displayName": "renamed again"}); a.status != 204 {
		t.Errorf("a blueprint patched at its cast: %d %v", a.status, a.body)
	}
}

// $filter: eq on the documented properties (appId, displayName, subject,
// …), and any() on collections, each honoured and never ignored; other
// filters refused with Request_UnsupportedQuery. $top pages with
// @odata.nextLink, which keeps the filter; service principals list.
func TestFiltersAndPaging(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	var ids []string
	for _, name := range []string{"page 1", "page 2", "page 3", "other"} {
		a := f.call(tok, "POST", "applications", map[string]any{"displayName": name, "signInAudience": "AzureADMultipleOrgs"})
		ids = append(ids, a.str("appId"))
	}
	count := func(path string) (int, answer) {
		a := f.call(tok, "GET", path, nil)
		v, _ := a.body["value"].([]any)
		return len(v), a
	}
	for path, want := range map[string]int{
		"applications?$filter=" + url.QueryEscape("appId eq '"+ids[1]+"'"):                                1,
		"applications?$filter=" + url.QueryEscape("displayName eq 'PAGE 1'"):                              1,
		"applications?$filter=" + url.QueryEscape("signInAudience eq 'AzureADMultipleOrgs'"):              4,
		"applications?$filter=" + url.QueryEscape("displayName eq 'page 1' and appId eq '"+ids[1]+"'"):    0,
		"applications?$filter=" + url.QueryEscape("appId eq '00000000-0000-4000-8000-000000000000'"):      0,
		"servicePrincipals?$filter=" + url.QueryEscape("appId eq '00000003-0000-0000-c000-000000000000'"): 1,
		"servicePrincipals?$filter=" + url.QueryEscape("servicePrincipalType eq 'ManagedIdentity'"):       1,
		"servicePrincipals?$filter=" + url.QueryEscape("appId eq '04b07795-8ddb-461a-bbee-02f9e1bf7b46'"): 1,
	} {
		if n, a := count(path); a.status != 200 || n != want {
			t.Errorf("%s: %d items (%d %v), want %d", path, n, a.status, a.body["error"], want)
		}
	}
	for _, bad := range []string{"startswith(displayName,'page')", "displayName ne 'page 1'", "publisherDomain eq 'x'", "appId eq 'a' or appId eq 'b'"} {
		if _, a := count("applications?$filter=" + url.QueryEscape(bad)); a.status != 400 || a.code() != "Request_UnsupportedQuery" {
			t.Errorf("$filter=%s: %d %v", bad, a.status, a.body)
		}
	}
	if _, a := count("applications?$orderby=displayName"); a.status != 400 || a.code() != "Request_UnsupportedQuery" {
		t.Errorf("$orderby: %d %v", a.status, a.body)
	}
	// Three "page" applications, two at a time.
	filter := url.QueryEscape("signInAudience eq 'AzureADMultipleOrgs'")
	n, a := count("applications?$top=2&$filter=" + filter)
	next, _ := a.body["@odata.nextLink"].(string)
	if n != 2 || !strings.HasPrefix(next, f.sim.URL+graph.Path+"/v1.0/applications?") || !strings.Contains(next, "$skiptoken=") {
		t.Fatalf("first page: %d items, nextLink %q", n, next)
	}
	n, a = count(strings.TrimPrefix(next, f.sim.URL+graph.Path+"/v1.0/"))
	if n != 2 || a.body["@odata.nextLink"] != nil {
		t.Errorf("second page: %d items, nextLink %v", n, a.body["@odata.nextLink"])
	}
	for _, top := range []string{"0", "1000", "x"} {
		if _, a := count("applications?$top=" + top); a.status != 400 || !strings.Contains(msg(a), "Invalid page size") {
			t.Errorf("$top=%s: %d %v", top, a.status, a.body)
		}
	}
	if _, a := count("applications?$top=2&$skiptoken=bm9wZQ"); a.status != 400 {
		t.Errorf("a made-up $skiptoken: %d %v", a.status, a.body)
	}
}

// One federated credential by id or by name, at the application or the
// blueprint's cast: read, then deleted; the list filtered on subject.
func TestOneFederatedCredential(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, scriptScopes...)
	bp := f.call(tok, "POST", "applications/microsoft.graph.agentIdentityBlueprint", blueprintBody(f, admin))
	base := "applications/" + bp.str("id") + "/microsoft.graph.agentIdentityBlueprint/federatedIdentityCredentials"
	for _, name := range []string{"one", "o'two"} {
		a := f.call(tok, "POST", base, map[string]any{"name": name, "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:x:" + name,
			"audiences": []string{"api://AzureADTokenExchange"}})
		if a.status != 201 {
			t.Fatalf("add %s: %d %v", name, a.status, a.body)
		}
	}
	one := f.call(tok, "GET", base+"(name='one')", nil)
	if one.status != 200 || one.str("subject") != "repo:x:one" {
		t.Fatalf("by name: %d %v", one.status, one.body)
	}
	if a := f.call(tok, "GET", "applications(appId='"+bp.str("appId")+"')/federatedIdentityCredentials/"+one.str("id"), nil); a.status != 200 || a.str("name") != "one" {
		t.Errorf("by id, the app by appId: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "GET", base+"?$filter="+url.QueryEscape("subject eq 'repo:x:o''two'"), nil); len(a.body["value"].([]any)) != 1 {
		t.Errorf("filtered on subject: %v", a.body)
	}
	if a := f.call(f.token(member, "User.Read"), "GET", base+"(name='one')", nil); a.status != 403 {
		t.Errorf("without a read permission: %d", a.status)
	}
	if a := f.call(tok, "DELETE", base+"(name='o''two')", nil); a.status != 204 {
		t.Errorf("delete by name: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "DELETE", base+"/"+one.str("id"), nil); a.status != 204 {
		t.Errorf("delete by id: %d %v", a.status, a.body)
	}
	if a := f.call(tok, "GET", base+"(name='one')", nil); a.status != 404 || a.code() != "Request_ResourceNotFound" {
		t.Errorf("after delete: %d %v", a.status, a.body)
	}
}

// signInAudience on create and update, one of Graph's four values; the
// personal-account audiences need v2 tokens, as apiApplication says.
func TestSignInAudience(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(admin, "Application.ReadWrite.All")
	a := f.call(tok, "POST", "applications", map[string]any{"displayName": "x"})
	if a.str("signInAudience") != "AzureADMyOrg" {
		t.Errorf("default: %v", a.body["signInAudience"])
	}
	if b := f.call(tok, "POST", "applications", map[string]any{"displayName": "y", "signInAudience": "Everyone"}); b.status != 400 {
		t.Errorf("a made-up audience: %d %v", b.status, b.body)
	}
	if b := f.call(tok, "PATCH", "applications/"+a.str("id"), map[string]any{"signInAudience": "AzureADandPersonalMicrosoftAccount"}); b.status != 400 ||
		!strings.Contains(msg(b), "requestedAccessTokenVersion") {
		t.Errorf("personal accounts with v1 tokens: %d %v", b.status, b.body)
	}
	if b := f.call(tok, "PATCH", "applications/"+a.str("id"), map[string]any{"signInAudience": "AzureADandPersonalMicrosoftAccount",
		"api": map[string]any{"requestedAccessTokenVersion": 2}}); b.status != 204 {
		t.Errorf("personal accounts with v2 tokens: %d %v", b.status, b.body)
	}
}
