package agentcoreid

import (
	"testing"
	"time"
)

// The token and session maps stay bounded: a full map first loses what
// has expired, and refuses only when every entry is still live.
func TestMakeRoom(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	ends := func(v time.Time) time.Time { return v }
	for _, c := range []struct {
		name      string
		entries   []time.Duration // each entry's end, from now
		ok        bool
		remaining int
	}{
		{"room left", []time.Duration{-time.Hour}, true, 1},
		{"full, one expired", []time.Duration{time.Hour, -time.Second, time.Minute}, true, 2},
		{"full, one ending now", []time.Duration{time.Hour, 0, time.Minute}, true, 2},
		{"full, all live", []time.Duration{time.Hour, time.Second, time.Minute}, false, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := map[int]time.Time{}
			for i, d := range c.entries {
				m[i] = now.Add(d)
			}
			if ok := makeRoom(m, 3, now, ends); ok != c.ok || len(m) != c.remaining {
				t.Errorf("makeRoom = %v with %d left, want %v with %d", ok, len(m), c.ok, c.remaining)
			}
		})
	}
}
