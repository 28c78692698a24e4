package agentid

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// userToken is an unsigned JWT whose only claim is exp.
func userToken(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(fmt.Appendf(nil, `{"exp":%d}`, exp.Unix())) + ".x"
}

// The partitions' TTL: no longer than the latest token a partition holds,
// never past the user's token; a partition that got no token goes at once;
// the sweep drops expired ones with no request.
func TestOBOPartitionsExpire(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	made := 0
	o := newOBOPartitions(10, func() (confidential.Client, error) { made++; return confidential.Client{}, nil })
	o.now = func() time.Time { return now }
	defer func() {
		o.mu.Lock()
		if o.sweep != nil {
			o.sweep.Stop()
		}
		o.mu.Unlock()
	}()

	long := userToken(now.Add(2 * time.Hour))
	o.client("a", long)
	o.acquired("a", now.Add(70*time.Minute))
	o.acquired("a", now.Add(60*time.Minute)) // an earlier token does not shorten it
	short := userToken(now.Add(10 * time.Minute))
	o.client("b", short)
	o.acquired("b", now.Add(70*time.Minute)) // capped by the user's token
	o.client("c", long)
	o.failed("c")
	if n := o.len(); n != 2 || made != 3 {
		t.Fatalf("%d partitions, %d clients made; want 2 and 3", n, made)
	}
	now = now.Add(11 * time.Minute)
	o.sweepExpired()
	if n := o.len(); n != 1 {
		t.Errorf("after the user's token expired: %d partitions, want 1", n)
	}
	o.client("a", long)
	if made != 3 {
		t.Errorf("a live partition was made again")
	}
	now = now.Add(time.Hour)
	o.client("a", long)
	if made != 4 {
		t.Errorf("an expired partition was served")
	}
	now = now.Add(3 * time.Minute) // the new one got no token
	o.sweepExpired()
	if n := o.len(); n != 0 || o.sweep != nil {
		t.Errorf("after every token expired: %d partitions, sweep armed %t", n, o.sweep != nil)
	}
}

func TestOBOPartitionsEvictTheLeastRecentlyUsed(t *testing.T) {
	o := newOBOPartitions(2, func() (confidential.Client, error) { return confidential.Client{}, nil })
	tok := userToken(time.Now().Add(time.Hour))
	for _, k := range []string{"a", "b", "a", "c"} {
		o.client(k, tok)
		o.acquired(k, time.Now().Add(time.Hour))
	}
	o.mu.Lock()
	_, hasA := o.byKey["a"]
	_, hasB := o.byKey["b"]
	o.sweep.Stop()
	o.mu.Unlock()
	if !hasA || hasB || o.len() != 2 {
		t.Errorf("a kept %t, b kept %t, %d held; want a, c", hasA, hasB, o.len())
	}
}
