package agentid_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/crosscloud-agentid/agentid/internal/agentid"
)

// grants counts the tokens Entra issued per grant since before.
func grants(f *fixture, before map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range f.sim.Entra.Stats().Snapshot() {
		if d := v - before[k]; d > 0 && len(k) > len("entra.token.grant.") && k[:len("entra.token.grant.")] == "entra.token.grant." {
			out[k[len("entra.token.grant."):]] = d
		}
	}
	return out
}

// The agent user's token is asked of Entra once: every later request is
// AcquireTokenSilent with the account the first answer named, served from
// MSAL's cache, with no T2.
func TestAgentUserTokenIsAskedOnce(t *testing.T) {
	f := newFixture(t)
	a := f.agent(t, f.secretCred())
	before := f.sim.Entra.Stats().Snapshot()
	user := agentid.AgentUser{UPN: f.env["AGENT_USER_UPN"]}
	first, t2, err := a.AgentUserToken(t.Context(), user, f.appScope())
	if err != nil || t2.AccessToken == "" {
		t.Fatalf("first TAU: %v (T2 held: %t)", err, t2.AccessToken != "")
	}
	for i := range 10 {
		tau, t2, err := a.AgentUserToken(t.Context(), user, f.appScope())
		if err != nil {
			t.Fatalf("TAU %d: %v", i+2, err)
		}
		if tau.AccessToken != first.AccessToken || tau.Metadata.TokenSource != confidential.TokenSourceCache || t2.AccessToken != "" {
			t.Errorf("TAU %d: same token %t, from %v, T2 held %t", i+2, tau.AccessToken == first.AccessToken, tau.Metadata.TokenSource, t2.AccessToken != "")
		}
	}
	// The user's name in another case is the same account, as
	// Microsoft.Identity.Web keys it.
	if _, _, err := a.AgentUserToken(t.Context(), agentid.AgentUser{UPN: fmt.Sprint(upper(f.env["AGENT_USER_UPN"]))}, f.appScope()); err != nil {
		t.Fatal(err)
	}
	if got := grants(f, before); got["user_fic"] != 1 || got["client_credentials"] != 1 || got["client_credentials+fmi_path"] != 1 || len(got) != 3 {
		t.Errorf("12 agent user acquisitions: Entra issued %v, want one each of T1, T2 and TAU", got)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// Concurrent cold acquisitions of the same token share one request: 8
// workers each asking for TR, alice's TU and TAU at once make one T1, one
// TR, one T2, one TU and one TAU.
func TestConcurrentAcquisitionsShareOneRequest(t *testing.T) {
	f := newFixture(t)
	a := f.agent(t, f.secretCred())
	tc := f.tokens.User(t)
	before := f.sim.Entra.Stats().Snapshot()
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	start := make(chan struct{})
	for range 8 {
		for _, acquire := range []func(context.Context) error{
			func(ctx context.Context) error { _, err := a.AppToken(ctx, f.appScope()); return err },
			func(ctx context.Context) error { _, err := a.OBO(ctx, tc, f.userScope()); return err },
			func(ctx context.Context) error {
				_, _, err := a.AgentUserToken(ctx, agentid.AgentUser{UPN: f.env["AGENT_USER_UPN"]}, f.appScope())
				return err
			},
		} {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				<-start
				if err := acquire(ctx); err != nil {
					errs <- err
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := map[string]int64{"client_credentials+fmi_path": 1, "client_credentials": 2, "urn:ietf:params:oauth:grant-type:jwt-bearer": 1, "user_fic": 1}
	if got := grants(f, before); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("24 concurrent cold acquisitions: Entra issued %v, want %v (T1; TR and T2; TU; TAU)", got, want)
	}
}

// The OBO cache keeps at most MaxOBOPartitions users' partitions; each
// user's TU still comes from its own user's partition.
func TestOBOCacheIsBounded(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(f.secretCred())
	cfg.MaxOBOPartitions = 3
	bp, err := agentid.NewBlueprint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := bp.Agent(f.env["AGENT_CLIENT_ID"])
	if err != nil {
		t.Fatal(err)
	}
	var tcs []string
	for range 5 {
		tcs = append(tcs, f.tokens.User(t)) // distinct tokens: distinct partitions
	}
	for _, tc := range tcs {
		if _, err := a.OBO(t.Context(), tc, f.userScope()); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.OBOPartitions(); n != 3 {
		t.Errorf("%d OBO partitions after 5 users' tokens, want the bound, 3", n)
	}
	// The most recent user's token is still cached; the oldest one's was
	// evicted and is asked for again.
	before := f.sim.Entra.Stats().Snapshot()
	if r, err := a.OBO(t.Context(), tcs[4], f.userScope()); err != nil || r.Metadata.TokenSource != confidential.TokenSourceCache {
		t.Errorf("the newest partition: %v, from %v", err, r.Metadata.TokenSource)
	}
	if r, err := a.OBO(t.Context(), tcs[0], f.userScope()); err != nil || r.Metadata.TokenSource != confidential.TokenSourceIdentityProvider {
		t.Errorf("an evicted partition: %v, from %v", err, r.Metadata.TokenSource)
	}
	if got := grants(f, before); got["urn:ietf:params:oauth:grant-type:jwt-bearer"] != 1 {
		t.Errorf("Entra issued %v", got)
	}
}

// The on-behalf-of cache makes an MSAL client per user token, and MSAL
// asks for the authority's OpenID configuration once per client: the
// blueprint's clients share one answer, so five users' tokens cost no
// discovery request beyond the first.
func TestOneDiscoveryForEveryPartition(t *testing.T) {
	f := newFixture(t)
	a := f.agent(t, f.secretCred())
	before := f.sim.Entra.Stats().Snapshot()
	for range 5 {
		if _, err := a.OBO(t.Context(), f.tokens.User(t), f.userScope()); err != nil {
			t.Fatal(err)
		}
	}
	after := f.sim.Entra.Stats().Snapshot()
	var n int64
	for k, v := range after {
		if len(k) > len("entra.discovery") && k[:len("entra.discovery")] == "entra.discovery" {
			n += v - before[k]
		}
	}
	if n > 1 {
		t.Errorf("%d discovery requests for 5 partitions, want at most 1", n)
	}
}
