package entra

import (
	"testing"
	"time"
)

func TestRefreshStoreStaysBounded(t *testing.T) {
	rs := newRefreshStore()
	old := time.Now().Add(-2 * refreshLifetime)
	first := rs.issue(refreshGrant{clientID: "c", userOID: "u0"}, old)
	for range maxRefresh - 1 {
		rs.issue(refreshGrant{clientID: "c"}, old)
	}
	if _, ok := rs.lookup(first); !ok {
		t.Fatal("a grant was dropped before the store was full")
	}
	newest := rs.issue(refreshGrant{clientID: "c", userOID: "new"}, time.Now())
	if n := len(rs.grants); n > maxRefresh {
		t.Fatalf("store holds %d grants, limit %d", n, maxRefresh)
	}
	if g, ok := rs.lookup(newest); !ok || g.userOID != "new" {
		t.Fatal("the newest grant is missing")
	}
	if _, ok := rs.lookup(first); ok {
		t.Fatal("an expired grant survived a full store")
	}
}
