package jwtauth

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key set errors. A known kid with a bad signature never causes a fetch:
// otherwise forged tokens could drive traffic to the identity provider.
var (
	ErrMalformed    = errors.New("token is not a compact RS256 JWS")
	ErrForbiddenHdr = errors.New("token header carries a key or key URL (jwk, jku, x5u, x5c); keys come only from the tenant's key set")
	ErrUnknownKey   = errors.New("token is signed with a key the tenant does not publish")
	ErrBadSignature = errors.New("token signature does not verify")
	ErrNoKeys       = errors.New("the tenant's signing keys could not be fetched")
)

const (
	maxJWKSBytes   = 1 << 20
	maxHeaderBytes = 2048 // an Entra header is under 300 bytes encoded
)

// KeySet holds the tenant's RSA signing keys, fetched from one or more JWKS
// URLs (Entra's v1 and v2 key sets). It refreshes in the background when
// older than MaxAge, refetches at most once per Cooldown for an unknown kid,
// and keeps serving the keys it has when the identity provider is down. It
// implements go-oidc's KeySet.
type KeySet struct {
	URLs     []string
	Client   *http.Client
	MaxAge   time.Duration // default 10 minutes
	Cooldown time.Duration // default 30 seconds
	Now      func() time.Time

	mu          sync.RWMutex
	keys        map[string]*rsa.PublicKey
	fetchedAt   time.Time
	lastAttempt time.Time
	refreshing  sync.Mutex
}

// NewKeySet returns a key set over urls with default timings.
func NewKeySet(client *http.Client, urls ...string) *KeySet {
	return &KeySet{URLs: urls, Client: client}
}

func (k *KeySet) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *KeySet) maxAge() time.Duration {
	if k.MaxAge > 0 {
		return k.MaxAge
	}
	return 10 * time.Minute
}

func (k *KeySet) cooldown() time.Duration {
	if k.Cooldown > 0 {
		return k.Cooldown
	}
	return 30 * time.Second
}

// Refresh fetches every URL now. On failure the keys already held stay.
func (k *KeySet) Refresh(ctx context.Context) error {
	k.refreshing.Lock()
	defer k.refreshing.Unlock()
	return k.refreshLocked(ctx)
}

func (k *KeySet) refreshLocked(ctx context.Context) error {
	k.mu.Lock()
	k.lastAttempt = k.now()
	k.mu.Unlock()
	merged := map[string]*rsa.PublicKey{}
	for _, u := range k.URLs {
		if err := k.fetch(ctx, u, merged); err != nil {
			return err
		}
	}
	k.mu.Lock()
	k.keys, k.fetchedAt = merged, k.now()
	k.mu.Unlock()
	return nil
}

func (k *KeySet) fetch(ctx context.Context, url string, into map[string]*rsa.PublicKey) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("fetch signing keys: %w", err)
	}
	client := k.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch signing keys from %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch signing keys from %s: status %d", url, resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return fmt.Errorf("fetch signing keys from %s: %w", url, err)
	}
	for _, key := range set.Keys {
		pub, ok := key.Key.(*rsa.PublicKey)
		if !ok || key.KeyID == "" || (key.Use != "" && key.Use != "sig") || pub.N.BitLen() < 2048 {
			continue // only RSA signing keys are used; anything else is ignored
		}
		into[key.KeyID] = pub
	}
	return nil
}

// lookup returns the key for kid, refreshing once per cooldown when the kid
// is unknown, and in the background when the set is old.
func (k *KeySet) lookup(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k.mu.RLock()
	key, age := k.keys[kid], k.now().Sub(k.fetchedAt)
	k.mu.RUnlock()
	if key != nil {
		if age > k.maxAge() && k.refreshing.TryLock() {
			go func() {
				defer k.refreshing.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = k.refreshLocked(ctx)
			}()
		}
		return key, nil
	}
	// Unknown kid: at most one refresh per cooldown. Inside the cooldown,
	// a refresh still running (a cold start, a rotation) may bring the kid:
	// wait for it, never start another, then look again, since one may also
	// have finished since the first look (20 concurrent first requests on a
	// cold key set hit that); with none running the wait is nothing.
	if !k.refreshDue() {
		k.refreshing.Lock()
		k.mu.RLock()
		key, held := k.keys[kid], len(k.keys) > 0
		k.mu.RUnlock()
		k.refreshing.Unlock()
		switch {
		case key != nil:
			return key, nil
		case !held:
			return nil, ErrNoKeys
		}
		return nil, ErrUnknownKey
	}
	k.refreshing.Lock()
	defer k.refreshing.Unlock()
	k.mu.RLock()
	key = k.keys[kid]
	k.mu.RUnlock()
	if key == nil && k.refreshDue() { // a concurrent caller may have refreshed meanwhile
		err := k.refreshLocked(ctx)
		k.mu.RLock()
		key = k.keys[kid]
		held := len(k.keys) > 0
		k.mu.RUnlock()
		if err != nil && !held {
			return nil, fmt.Errorf("%w: %v", ErrNoKeys, err)
		}
	}
	if key == nil {
		return nil, ErrUnknownKey
	}
	return key, nil
}

func (k *KeySet) refreshDue() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.now().Sub(k.lastAttempt) >= k.cooldown()
}

// VerifySignature checks an RS256 compact JWS against the tenant's keys and
// returns its payload (go-oidc's KeySet interface).
func (k *KeySet) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	obj, err := parse(token)
	if err != nil {
		return nil, err
	}
	key, err := k.lookup(ctx, obj.Signatures[0].Header.KeyID)
	if err != nil {
		return nil, err
	}
	payload, err := obj.Verify(key)
	if err != nil {
		return nil, ErrBadSignature
	}
	return payload, nil
}

// parse accepts only a single-signature RS256 JWS whose header names a kid
// and carries no key material or key location of its own.
func parse(token string) (*jose.JSONWebSignature, error) {
	head, _, ok := strings.Cut(token, ".")
	if !ok || len(head) > maxHeaderBytes {
		return nil, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return nil, ErrMalformed
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, ErrMalformed
	}
	for _, name := range []string{"jwk", "jku", "x5u", "x5c"} {
		if _, ok := fields[name]; ok {
			return nil, ErrForbiddenHdr
		}
	}
	obj, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(obj.Signatures) != 1 {
		return nil, ErrMalformed
	}
	if obj.Signatures[0].Header.KeyID == "" {
		return nil, ErrUnknownKey
	}
	return obj, nil
}
