package jwtauth_test

import (
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
)

// BenchmarkValidate measures the whole validation path (header parse, RS256
// verify, claims, policy) for a cloudsim TR with keys already held.
func BenchmarkValidate(b *testing.B) {
	f := newFixture(b)
	v, err := jwtauth.New(f.policy(), f.keySet())
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
}
