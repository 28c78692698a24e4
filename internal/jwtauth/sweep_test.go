package jwtauth

import (
	"testing"
	"time"
)

// Entries that can no longer answer leave within a sweep interval of the
// next put, not when the cache fills; live ones stay; and a full cache
// never grows past its bound.
func TestCacheSweepsDeadEntries(t *testing.T) {
	var c resultCache
	start := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	key := func(i int) [32]byte { return [32]byte{byte(i), byte(i >> 8)} }
	entry := func(exp, dropsAt time.Time) cachedResult {
		return cachedResult{caller: &Caller{}, exp: exp, dropsAt: dropsAt}
	}
	c.put(key(1), entry(start.Add(10*time.Second), start.Add(5*time.Minute)), start)                // its token expires first
	c.put(key(2), entry(start.Add(time.Hour), start.Add(20*time.Second)), start)                    // the cache stops vouching first
	c.put(key(3), entry(start.Add(time.Hour), start.Add(5*time.Minute)), start)                     // alive throughout
	c.put(key(4), entry(start.Add(time.Hour), start.Add(5*time.Minute)), start.Add(30*time.Second)) // within the interval: no sweep yet
	if len(c.entries) != 4 {
		t.Fatalf("%d entries before a sweep is due, want 4", len(c.entries))
	}
	c.put(key(5), entry(start.Add(time.Hour), start.Add(5*time.Minute)), start.Add(sweepEvery))
	for i, want := range map[int]bool{1: false, 2: false, 3: true, 4: true, 5: true} {
		if _, ok := c.entries[key(i)]; ok != want {
			t.Errorf("entry %d kept = %v after the sweep, want %v", i, ok, want)
		}
	}

	for i := range maxCachedTokens + 10 {
		c.put(key(100+i), entry(start.Add(time.Hour), start.Add(5*time.Minute)), start.Add(sweepEvery))
	}
	if len(c.entries) > maxCachedTokens {
		t.Errorf("%d entries, over the bound of %d", len(c.entries), maxCachedTokens)
	}
}
