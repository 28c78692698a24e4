package jwtauth_test

import (
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
)

// BenchmarkValidate measures the validation path for a cloudsim TR with
// keys already held: "verify" is a token seen for the first time (header
// parse, RS256, claims, policy), "cached" one presented again.
func BenchmarkValidate(b *testing.B) {
	f := newFixture(b)
	for _, bc := range []struct {
		name     string
		cacheFor time.Duration
	}{{"verify", 0}, {"cached", 5 * time.Minute}} {
		b.Run(bc.name, func(b *testing.B) {
			p := f.policy()
			p.CacheFor = bc.cacheFor
			v, err := jwtauth.New(p, f.keySet())
			if err != nil {
				b.Fatal(err)
			}
			tok, _ := f.sim.Keys.Sign(f.goodClaims(), false)
			if _, e := v.Validate(b.Context(), tok); e != nil {
				b.Fatal(e)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, e := v.Validate(b.Context(), tok); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}
