package entra

import (
	"encoding/json"
	"net/http"
	"sync"
)

// Stats counts requests per endpoint, grant and error code. Tests read it to
// prove caching ("at most 2 token requests") and later issues report the
// identity round trips of a chat turn from it.
type Stats struct {
	mu     sync.Mutex
	counts map[string]int64
}

// NewStats returns empty counters.
func NewStats() *Stats { return &Stats{counts: map[string]int64{}} }

// Add counts one event under key; cloudsim's other services share the counters.
func (s *Stats) Add(key string) {
	s.mu.Lock()
	s.counts[key]++
	s.mu.Unlock()
}

// Get returns the count under key.
func (s *Stats) Get(key string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key]
}

// Snapshot copies every counter.
func (s *Stats) Snapshot() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

func (s *Stats) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"counts": s.Snapshot()})
}
