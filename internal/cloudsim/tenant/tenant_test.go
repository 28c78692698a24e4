package tenant

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func shippedTenantFile(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "local", "tenant.jsonc")
}

func TestShippedTenantFileLoads(t *testing.T) {
	d, err := Load(shippedTenantFile(t))
	if err != nil {
		t.Fatal(err)
	}
	bp := d.App("6A7F0937-6749-4A53-B866-C424B6E0824D")
	if bp == nil || !bp.AgentIdentityBlueprint {
		t.Fatal("blueprint not found by upper-case appId")
	}
	agents := d.AgentsOf(bp.AppID)
	if len(agents) != 1 {
		t.Fatalf("blueprint owns %d agents, want 1", len(agents))
	}
	if got := d.AppByIdentifier("api://b8302fea-6762-4183-a16c-69b510285c49"); got == nil || got.Name != "weather-api" {
		t.Fatalf("weather-api not found by identifier URI: %+v", got)
	}
	scopes, roles := d.Grant(agents[0].AppID, "b8302fea-6762-4183-a16c-69b510285c49")
	if strings.Join(scopes, " ") != "Weather.Read" || strings.Join(roles, " ") != "Weather.Read" {
		t.Fatalf("agent grant on weather-api = %v %v", scopes, roles)
	}
	if d.AgentUser("weather-agent@contoso.example") == nil || d.UserByUPN("Alice@Contoso.example") == nil {
		t.Fatal("users not indexed by UPN")
	}
	if sts := d.App("241e239b-367f-411d-9291-4ad052b57982"); sts.AccessTokenVersion != 1 {
		t.Fatalf("STS app issues v%d tokens, want v1", sts.AccessTokenVersion)
	}
}

func TestMalformedTenantFileNamesLineAndField(t *testing.T) {
	good, err := os.ReadFile(shippedTenantFile(t))
	if err != nil {
		t.Fatal(err)
	}
	lineOf := func(src, needle string) string {
		i := strings.Index(src, needle)
		if i < 0 {
			t.Fatalf("needle %q not in file", needle)
		}
		return ":" + strconv.Itoa(strings.Count(src[:i], "\n")+1) + ":"
	}
	src := string(good)
	cases := []struct {
		name   string
		edit   func(string) string
		wantIn []string
		atLine string // the text whose line the error must name
	}{
		{
			name: "bad GUID",
			edit: func(s string) string {
				return strings.Replace(s, `"appId": "b8302fea-6762-4183-a16c-69b510285c49"`, `"appId": "weather"`, 1)
			},
			wantIn: []string{"applications[2].appId", `"weather" is not a GUID`},
			atLine: `"appId": "weather"`,
		},
		{
			name: "unknown field",
			edit: func(s string) string {
				return strings.Replace(s, `"allowPublicClient": true`, `"allowPublicClients": true`, 1)
			},
			wantIn: []string{`unknown field "allowPublicClients"`},
			atLine: `"allowPublicClients"`,
		},
		{
			name: "syntax error",
			edit: func(s string) string {
				return strings.Replace(s, `"scopes": ["Weather.Read"],`, `"scopes": ["Weather.Read"]`, 1)
			},
			wantIn: []string{"invalid character"},
			atLine: `"appRoles": ["Weather.Read"]`,
		},
		{
			name: "wrong type",
			edit: func(s string) string {
				return strings.Replace(s, `"accessTokenVersion": 1,`, `"accessTokenVersion": "one",`, 1)
			},
			wantIn: []string{"applications.accessTokenVersion", "expected int"},
			atLine: `"accessTokenVersion": "one"`,
		},
		{
			name: "consent for a scope the API does not publish",
			edit: func(s string) string {
				return strings.Replace(s, `"scopes": ["access_as_user"]`+"\n    },\n    {\n      \"client\"", `"scopes": ["access_as_admin"]`+"\n    },\n    {\n      \"client\"", 1)
			},
			wantIn: []string{"consents[0].scopes[0]", `does not publish the scope "access_as_admin"`},
			atLine: `"access_as_admin"`,
		},
		{
			name: "a relative web redirect URI",
			edit: func(s string) string {
				return strings.Replace(s, `"http://localhost:3001/consent.html"`, `"/consent.html"`, 1)
			},
			wantIn: []string{"applications[0].webRedirectUris[0]", "not an absolute URL"},
			atLine: `"/consent.html"`,
		},
		{
			name: "agent identity under a non-blueprint",
			edit: func(s string) string {
				return strings.Replace(s, `"blueprint": "6a7f0937-6749-4a53-b866-c424b6e0824d"`, `"blueprint": "b8302fea-6762-4183-a16c-69b510285c49"`, 1)
			},
			wantIn: []string{"agentIdentities[0].blueprint", "agentIdentityBlueprint: true"},
			atLine: `"blueprint": "b8302fea`,
		},
		{
			name: "an admin-consent scope the app does not publish",
			edit: func(s string) string {
				return strings.Replace(s, `"scopes": ["Weather.Read"],`, `"scopes": ["Weather.Read"], "adminConsentScopes": ["Weather.Write"],`, 1)
			},
			wantIn: []string{"applications[2].adminConsentScopes[0]", `"Weather.Write" is not one of the app's scopes`},
			atLine: `"adminConsentScopes"`,
		},
		{
			name: "a first-party application with a credential of this tenant's",
			edit: func(s string) string {
				return strings.Replace(s, `"firstParty": true,`, `"firstParty": true, "secrets": ["mine"],`, 1)
			},
			wantIn: []string{"applications[3].firstParty", "a first-party application has no part, secrets, federated credentials or blueprint here"},
			atLine: `"firstParty": true`,
		},
		{
			name:   "an unknown part",
			edit:   func(s string) string { return strings.Replace(s, `"part": "sts"`, `"part": "aws-sts"`, 1) },
			wantIn: []string{"applications[4].part", `"aws-sts" is not one of [blueprint spa weather-api sts]`},
			atLine: `"part": "aws-sts"`,
		},
		{
			name:   "one part given twice",
			edit:   func(s string) string { return strings.Replace(s, `"part": "weather-api"`, `"part": "spa"`, 1) },
			wantIn: []string{"applications[2].part", `"spa" is already given to applications[1]`},
			atLine: "\"part\": \"spa\",\n      \"appId\": \"b8302fea",
		},
		{
			name: "the blueprint part on an app that is not one",
			edit: func(s string) string {
				return strings.Replace(strings.Replace(s, `"part": "blueprint",`, ``, 1), `"part": "sts"`, `"part": "blueprint"`, 1)
			},
			wantIn: []string{"applications[4].part", "the blueprint needs agentIdentityBlueprint: true"},
			atLine: `"part": "blueprint"`,
		},
		{
			name: "an agent user with a human's UPN",
			edit: func(s string) string {
				return strings.Replace(s, `"upn": "weather-agent@contoso.example"`, `"upn": "Alice@contoso.example"`, 1)
			},
			wantIn: []string{"agentUsers[0].upn", `"alice@contoso.example" is used twice`},
			atLine: `"upn": "Alice@contoso.example"`,
		},
		{
			name: "an identifier URI used twice",
			edit: func(s string) string {
				return strings.Replace(s, `["api://e8c77dc2-69b3-43f4-bc51-3213c9d915b4"]`, `["api://b8302fea-6762-4183-a16c-69b510285c49"]`, 1)
			},
			wantIn: []string{"applications[3].identifierUris[0]", "is already used by"},
			atLine: "\"identifierUris\": [\"api://b8302fea-6762-4183-a16c-69b510285c49\"],\n      \"scopes\": [\"MCP",
		},
		{
			name: "duplicate object ID",
			edit: func(s string) string {
				return strings.Replace(s, "adad5aff-90b6-4f0f-af46-55ab879b1369", "4c255636-0874-4a16-a88f-caf77944d9b2", 1)
			},
			wantIn: []string{"users[1].objectId", "already used at users[0].objectId"},
			atLine: "\"objectId\": \"4c255636-0874-4a16-a88f-caf77944d9b2\",\n      \"displayName\": \"Bob Example\"",
		},
		{
			name: "AWS provider URL with its scheme",
			edit: func(s string) string {
				return strings.Replace(s, `"url": "sts.windows.net/`, `"url": "https://sts.windows.net/`, 1)
			},
			wantIn: []string{"aws.oidcProviders[0].url", "without https://"},
			atLine: `"url": "https://sts.windows.net/`,
		},
		{
			name: "AWS role with no trust policy",
			edit: func(s string) string {
				return strings.Replace(s, `"policies": {
          // Bedrock only`, `"trustPolicy": null, "policies": {
          // Bedrock only`, 1)
			},
			wantIn: []string{"aws.roles[0].trustPolicy", "needs a trust policy"},
			atLine: `"trustPolicy": null`,
		},
		{
			name: "AWS profile given twice",
			edit: func(s string) string {
				return strings.Replace(s, `"profile": "cloudsim-admin"`, `"profile": "cloudsim-dev"`, 1)
			},
			wantIn: []string{"aws.devCredentials[1].profile", "is given to another key"},
			atLine: `"userName": "cloudsim-admin", "profile": "cloudsim-dev"`,
		},
		{
			name: "credential provider whose callback the app does not list",
			edit: func(s string) string {
				return strings.Replace(s, `"callbackId": "0b7e5c3a-9d2f-4a18-8c6e-5f1d3b7a9e20"`, `"callbackId": "11111111-2222-4333-8444-555555555555"`, 1)
			},
			wantIn: []string{"aws.credentialProviders[0].callbackId", "lists no web redirect URI ending /identities/oauth2/callback/11111111-2222-4333-8444-555555555555"},
			atLine: `"callbackId": "11111111-2222-4333-8444-555555555555"`,
		},
		{
			name: "credential provider of an app that is not in the file",
			edit: func(s string) string {
				return strings.Replace(s, `"clientApp": "3f9c2b71-5d8e-4a06-b1c4-7e2d9a6f0b58"`, `"clientApp": "99999999-2222-4333-8444-555555555555"`, 1)
			},
			wantIn: []string{"aws.credentialProviders[0].clientApp", "is not an application of this file"},
			atLine: `"clientApp": "99999999-2222-4333-8444-555555555555"`,
		},
		{
			name: "credential provider of an app with no secret",
			edit: func(s string) string {
				return strings.Replace(s, `"secrets": ["cloudsim-local-vault-secret-do-not-reuse"],`, ``, 1)
			},
			wantIn: []string{"aws.credentialProviders[0].clientApp", "has no secret"},
			atLine: `"clientApp": "3f9c2b71-5d8e-4a06-b1c4-7e2d9a6f0b58"`,
		},
		{
			name: "credential provider name",
			edit: func(s string) string {
				return strings.Replace(s, `{"name": "entra-weather-api", "clientApp"`, `{"name": "entra weather", "clientApp"`, 1)
			},
			wantIn: []string{"aws.credentialProviders[0].name", "not a credential provider name"},
			atLine: `{"name": "entra weather", "clientApp"`,
		},
		{
			name: "AWS account ID",
			edit: func(s string) string {
				return strings.Replace(s, `"accountId": "111122223333"`, `"accountId": "1111-2222-3333"`, 1)
			},
			wantIn: []string{"aws.accountId", "12-digit"},
			atLine: `"accountId": "1111-2222-3333"`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			edited := c.edit(src)
			if edited == src {
				t.Fatal("edit did not apply")
			}
			_, err := Parse("tenant.jsonc", []byte(edited))
			if err == nil {
				t.Fatal("malformed file accepted")
			}
			msg := err.Error()
			for _, w := range c.wantIn {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			line := lineOf(edited, c.atLine)
			if !strings.Contains(msg, "tenant.jsonc"+line) {
				t.Errorf("error %q does not name line %s", msg, line)
			}
		})
	}
}

func TestCommentsAreStrippedButURLsInStringsKept(t *testing.T) {
	src := []byte("{\n // remark with \"quotes\"\n \"a\": \"https://x/y\", /* block\n comment */ \"b\": \"//not a comment\"\n}")
	out := string(stripComments(src))
	if strings.Contains(out, "remark") || strings.Contains(out, "block") {
		t.Fatalf("comments left: %q", out)
	}
	for _, keep := range []string{`"https://x/y"`, `"//not a comment"`} {
		if !strings.Contains(out, keep) {
			t.Fatalf("string %s damaged: %q", keep, out)
		}
	}
	if strings.Count(out, "\n") != strings.Count(string(src), "\n") || len(out) != len(src) {
		t.Fatal("offsets or lines moved")
	}
}
