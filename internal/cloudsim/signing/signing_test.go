package signing

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

func TestOpenPersistsAndRotationKeepsOldKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	k, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	first := k.ActiveID()
	token, err := k.Sign(map[string]any{"sub": "x"}, false)
	if err != nil {
		t.Fatal(err)
	}
	reopened, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if reopened.ActiveID() != first {
		t.Fatal("reopening changed the active key")
	}
	if _, err := reopened.Verify(token); err != nil {
		t.Fatalf("token from before a restart no longer verifies: %v", err)
	}
	for range MaxPublished {
		if _, err := reopened.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	if reopened.ActiveID() == first {
		t.Fatal("rotation did not change the active key")
	}
	var set struct{ Keys []map[string]any }
	doc, _ := reopened.JWKS("")
	if err := json.Unmarshal(doc, &set); err != nil || len(set.Keys) != MaxPublished {
		t.Fatalf("published %d keys, want %d (%v)", len(set.Keys), MaxPublished, err)
	}
	if _, err := reopened.Verify(token); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token signed by a retired key: err = %v, want ErrUnknownKey", err)
	}
}

func TestVerifyRefusesForgeries(t *testing.T) {
	k, err := Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := k.Sign(map[string]any{"sub": "x"}, true)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged, _ := SignWith(other, k.ActiveID(), map[string]any{"sub": "x"}, false)
	parts := strings.Split(good, ".")
	cases := map[string]struct {
		token string
		want  error
	}{
		"garbage":              {"not-a-jwt", ErrMalformed},
		"alg none":             {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", ErrMalformed},
		"known kid, wrong key": {forged, ErrBadSignature},
		"tampered payload":     {parts[0] + ".eyJzdWIiOiJ5In0." + parts[2], ErrBadSignature},
		"unknown kid":          {mustSign(t, other, "nope"), ErrUnknownKey},
	}
	for name, c := range cases {
		if _, err := k.Verify(c.token); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	if _, err := k.Verify(good); err != nil {
		t.Fatalf("good token refused: %v", err)
	}
}

// go-oidc, an independent client, verifies the tokens against the published
// key set, before and after a rotation.
func TestGoOIDCVerifiesAgainstPublishedKeys(t *testing.T) {
	k, err := Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, _ := k.JWKS("")
		w.Write(doc)
	}))
	defer srv.Close()
	ctx := context.Background()
	ks := oidc.NewRemoteKeySet(ctx, srv.URL)
	for round := range 2 {
		token, _ := k.Sign(map[string]any{"iss": "https://issuer.test", "aud": "a", "exp": 4102444800}, true)
		if _, err := ks.VerifySignature(ctx, token); err != nil {
			t.Fatalf("round %d: go-oidc refused: %v", round, err)
		}
		if _, err := k.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
}

func mustSign(t *testing.T, key *rsa.PrivateKey, kid string) string {
	t.Helper()
	s, err := SignWith(key, kid, map[string]any{"sub": "x"}, false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
