package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
)

// entraCase is one kind of turn whose Entra cost is measured.
type entraCase struct {
	name, message, mode, flow, want string
}

// BenchmarkEntraCallsPerTurn counts the requests llm-agent's identity
// provider makes to Entra's token endpoint (issued or refused) per 100
// turns of one signed-in user, for each flow and for "who am I?" before
// and after the user's consent to the MCP server, with 1 and 3 replicas
// behind a round-robin proxy: cold (new replicas, empty caches) and warm
// (the next 100 turns). Each replica has its own identity provider (MSAL
// in process, or its own auth sidecar).
//
//	go test -run '^$' -bench BenchmarkEntraCallsPerTurn -benchtime 1x ./internal/e2e/
func BenchmarkEntraCallsPerTurn(b *testing.B) {
	before := []entraCase{
		{"autonomous", "What's the weather in Oslo?", "direct", "autonomous", "Oslo"},
		{"obo", "What's the weather in Oslo?", "direct", "obo", "Oslo"},
		{"agent_user", "What's the weather in Oslo?", "direct", "agent_user", "Oslo"},
		// Bedrock offers the MCP server's tools on every delegated turn:
		// before consent, each replica asks once, then remembers.
		{"obo-bedrock-no-consent", "What's the weather in Oslo?", "bedrock", "obo", "Oslo"},
		{"whoami-before-consent", "Who am I?", "direct", "obo", "consent"},
		{"whoami-before-consent-bedrock", "Who am I?", "bedrock", "obo", "consent"},
	}
	after := []entraCase{
		{"whoami-after-consent", "Who am I?", "direct", "obo", "Alice Example"},
		{"whoami-after-consent-bedrock", "Who am I?", "bedrock", "obo", "Alice Example"},
	}
	for _, provider := range []string{"msal", "sidecar"} {
		b.Run(provider, func(b *testing.B) {
			s := e2e.Start(b) // a cloudsim each: consent, once given, stays
			alice := cloudsimtest.NewTokens(s.Sim).User(b)
			run := func(c entraCase) {
				for _, replicas := range []int{1, 3} {
					b.Run(fmt.Sprintf("%s/replicas=%d", c.name, replicas), func(b *testing.B) {
						var cold, warm int64
						for range b.N {
							f := startFleet(b, s, replicas, provider, nil)
							cold += entraRequests(b, s, f, c, alice)
							warm += entraRequests(b, s, f, c, alice)
						}
						b.ReportMetric(float64(cold)/float64(b.N), "cold-req/100turns")
						b.ReportMetric(float64(warm)/float64(b.N), "warm-req/100turns")
					})
				}
			}
			for _, c := range before {
				run(c)
			}
			r := startFleet(b, s, 1, provider, nil).post(b, map[string]any{"message": "Who am I?", "token_flow": "obo"}, alice)
			need, _ := r.body["consent_required"].(map[string]any)
			link, _ := need["url"].(string)
			if link == "" {
				b.Fatalf("no consent link: %s", r.raw)
			}
			consentAs(b, s, link, "alice@contoso.example")
			for _, c := range after {
				run(c)
			}
		})
	}
}

// entraRequests runs 100 turns of c through f and returns the token
// requests Entra got meanwhile, the test's own sign-ins aside.
func entraRequests(b *testing.B, s *e2e.Stack, f *fleet, c entraCase, user string) int64 {
	stats := s.Sim.Entra.Stats()
	before, signIns := stats.Get("entra.token"), stats.Get("entra.token.grant."+grantROPC)
	for i := range 100 {
		r := f.post(b, map[string]any{"message": c.message, "llm_mode": c.mode, "token_flow": c.flow}, user)
		if resp, _ := r.body["response"].(string); r.status != 200 || !strings.Contains(resp, c.want) {
			b.Fatalf("%s turn %d: %d %.300s", c.name, i+1, r.status, r.raw)
		}
	}
	return stats.Get("entra.token") - before - (stats.Get("entra.token.grant."+grantROPC) - signIns)
}

// consentAs is consentAsUser for a benchmark: upn signs in on cloudsim's
// consent page and accepts.
func consentAs(tb testing.TB, s *e2e.Stack, link, upn string) {
	c := cloudsimtest.Client(s.Sim)
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	form, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	form.Set("login", upn)
	resp, err := c.PostForm(link, form)
	if err != nil {
		tb.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := consentRequestID.FindStringSubmatch(string(page))
	if m == nil {
		tb.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	form.Del("login")
	form.Set("consent_request", m[1])
	form.Set("decision", "accept")
	if resp, err = c.PostForm(link, form); err != nil || resp.StatusCode != http.StatusFound {
		tb.Fatalf("accepting: %v", err)
	}
	resp.Body.Close()
}
