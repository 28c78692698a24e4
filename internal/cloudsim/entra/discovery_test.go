package entra_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Discovery as Entra serves it: the multi-tenant authorities with the
// {tenantid} issuer template and their keys, the v2 document's fields with
// every address on this machine, a day's caching, and invalid_tenant for a
// tenant that does not exist.
func TestDiscoveryDocuments(t *testing.T) {
	h := newHarness(t, nil)
	get := func(path string) (int, http.Header, map[string]any) {
		resp, err := h.http.Get(h.sim.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		json.NewDecoder(resp.Body).Decode(&doc)
		return resp.StatusCode, resp.Header, doc
	}
	for path, issuer := range map[string]string{
		"/common/v2.0/.well-known/openid-configuration":                     "https://login.microsoftonline.com/{tenantid}/v2.0",
		"/organizations/v2.0/.well-known/openid-configuration":              "https://login.microsoftonline.com/{tenantid}/v2.0",
		"/common/.well-known/openid-configuration":                          "https://sts.windows.net/{tenantid}/",
		"/" + h.env["TENANT_ID"] + "/v2.0/.well-known/openid-configuration": "https://login.microsoftonline.com/" + h.env["TENANT_ID"] + "/v2.0",
	} {
		status, hdr, doc := get(path)
		if status != 200 || doc["issuer"] != issuer || hdr.Get("Cache-Control") != "max-age=86400, private" {
			t.Errorf("%s: %d issuer %v, cache %q", path, status, doc["issuer"], hdr.Get("Cache-Control"))
		}
		if jwks, _ := doc["jwks_uri"].(string); !strings.HasPrefix(jwks, h.sim.URL+"/") {
			t.Errorf("%s: jwks_uri %q is not on cloudsim", path, jwks)
		}
	}
	_, _, v2 := get("/" + h.env["TENANT_ID"] + "/v2.0/.well-known/openid-configuration")
	host := strings.TrimPrefix(h.sim.URL, "https://")
	if v2["userinfo_endpoint"] != h.sim.URL+"/oidc/userinfo" || v2["msgraph_host"] != host || v2["kerberos_endpoint"] == nil ||
		v2["cloud_graph_host_name"] != "graph.windows.net" || v2["rbac_url"] != "https://pas.windows.net" {
		t.Errorf("v2 fields: %v", v2)
	}
	if v2["device_authorization_endpoint"] != h.authority()+"/oauth2/v2.0/devicecode" {
		t.Errorf("device_authorization_endpoint = %v", v2["device_authorization_endpoint"])
	}
	if status, _, doc := get("/oidc/userinfo"); status != 401 || doc["error"] == nil {
		t.Errorf("userinfo: %d %v, want Graph's refusal", status, doc)
	}
	status, _, keys := get("/common/discovery/v2.0/keys")
	list, _ := keys["keys"].([]any)
	if status != 200 || len(list) == 0 || list[0].(map[string]any)["issuer"] != "https://login.microsoftonline.com/{tenantid}/v2.0" {
		t.Errorf("common keys: %d %v", status, keys)
	}
	if status, _, doc := get("/contoso.invalid/v2.0/.well-known/openid-configuration"); status != 400 || doc["error"] != "invalid_tenant" {
		t.Errorf("unknown tenant: %d %v, want invalid_tenant", status, doc)
	}
}
