package agentid

import (
	"container/list"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/crosscloud-agentid/agentid/internal/jwtpeek"
)

// DefaultMaxOBOPartitions is how many users' on-behalf-of caches an agent
// keeps at most (Config.MaxOBOPartitions).
const DefaultMaxOBOPartitions = 1024

// oboSweepEvery is how often expired partitions are dropped while any are
// held: an idle process frees them without a request.
const oboSweepEvery = time.Minute

// oboPending is how long a partition that holds no token yet may live: the
// length of one acquisition, generously.
const oboPending = 2 * time.Minute

// oboPartitions bound the agent's on-behalf-of cache. MSAL Go keeps OBO
// tokens in one in-memory cache partitioned by the SHA-256 of the user's
// assertion and never drops a partition, so every distinct user token
// would stay until the process ends. The way MSAL offers to bound it,
// cache.ExportReplace, does not work for OBO in v1.10.1: after an OBO
// token is written to the partitioned cache, AuthResultFromToken exports
// the client's other, unpartitioned cache (base.go, `Export(ctx,
// b.manager, …)`), and AcquireTokenSilent reads after releasing the
// accessor's lock, so concurrent users would replace each other's
// partition. The equivalent here is one MSAL client per partition (the
// cache package's own advice: "one msal instance per user"), kept in an
// LRU with a TTL: a partition lives until the latest expiry of the tokens
// it holds, never past the user's token, and at most max partitions are
// kept. Microsoft.Identity.Web's in-memory token cache expires a partition
// the same way, at the token's expiry (MsalMemoryTokenCacheProvider's
// DetermineCacheEntryExpiry).
type oboPartitions struct {
	max       int
	newClient func() (confidential.Client, error)
	now       func() time.Time

	mu    sync.Mutex
	byKey map[string]*list.Element // of *oboPartition
	order list.List                // front: most recently used
	sweep *time.Timer
}

type oboPartition struct {
	key     string
	client  confidential.Client
	expires time.Time
	userExp time.Time // the user's token's exp; zero when it has none
	holds   bool      // a token was acquired in it
}

func newOBOPartitions(max int, newClient func() (confidential.Client, error)) *oboPartitions {
	if max <= 0 {
		max = DefaultMaxOBOPartitions
	}
	return &oboPartitions{max: max, newClient: newClient, now: time.Now, byKey: map[string]*list.Element{}}
}

// partitionKey is MSAL's partition key for an assertion: its SHA-256,
// base64url (authority.AuthParams.AssertionHash). The assertion itself is
// never kept here.
func partitionKey(userAssertion string) string {
	sum := sha256.Sum256([]byte(userAssertion))
	return base64.URLEncoding.EncodeToString(sum[:])
}

// client returns the partition's MSAL client, made on first use.
func (o *oboPartitions) client(key, userAssertion string) (confidential.Client, error) {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if el, ok := o.byKey[key]; ok {
		p := el.Value.(*oboPartition)
		if now.Before(p.expires) {
			o.order.MoveToFront(el)
			return p.client, nil
		}
		o.remove(el)
	}
	c, err := o.newClient()
	if err != nil {
		return confidential.Client{}, err
	}
	p := &oboPartition{key: key, client: c, expires: now.Add(oboPending)}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if jwtpeek.Claims(userAssertion, &claims) == nil && claims.Exp > 0 {
		p.userExp = time.Unix(claims.Exp, 0)
	}
	o.byKey[key] = o.order.PushFront(p)
	for o.order.Len() > o.max {
		o.remove(o.order.Back())
	}
	if o.sweep == nil {
		o.sweep = time.AfterFunc(oboSweepEvery, o.sweepExpired)
	}
	return c, nil
}

// acquired records a token the partition now holds, until expires.
func (o *oboPartitions) acquired(key string, expires time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	el, ok := o.byKey[key]
	if !ok {
		return
	}
	p := el.Value.(*oboPartition)
	if !p.userExp.IsZero() && expires.After(p.userExp) {
		expires = p.userExp
	}
	if !p.holds || expires.After(p.expires) {
		p.expires = expires
	}
	p.holds = true
}

// failed drops a partition that holds no token after a refused
// acquisition: there is nothing in it to keep.
func (o *oboPartitions) failed(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if el, ok := o.byKey[key]; ok && !el.Value.(*oboPartition).holds {
		o.remove(el)
	}
}

func (o *oboPartitions) remove(el *list.Element) {
	delete(o.byKey, el.Value.(*oboPartition).key)
	o.order.Remove(el)
}

func (o *oboPartitions) sweepExpired() {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for el := o.order.Front(); el != nil; {
		next := el.Next()
		if !now.Before(el.Value.(*oboPartition).expires) {
			o.remove(el)
		}
		el = next
	}
	if o.order.Len() < o.max/4 {
		// A Go map keeps its buckets when emptied: copy what is left
		// into one sized for it.
		o.byKey = maps.Clone(o.byKey)
	}
	if o.order.Len() > 0 {
		o.sweep.Reset(oboSweepEvery)
		return
	}
	o.sweep = nil
}

// len is how many partitions are held.
func (o *oboPartitions) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.order.Len()
}
