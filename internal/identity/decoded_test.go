package identity

import (
	"encoding/base64"
	"fmt"
	"testing"
)

func fakeJWT(n int) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(fmt.Sprintf(`{"n":%d}`, n))) + ".sig"
}

func TestCardCache(t *testing.T) {
	var c DecodedTokens
	for i := range maxDecoded + 10 {
		card, err := c.Decode("TR", fakeJWT(i))
		if err != nil || card.Claims["n"] != float64(i) || card.Name != "TR" {
			t.Fatalf("token %d: %+v %v", i, card, err)
		}
	}
	if len(c.byKey) > maxDecoded {
		t.Errorf("%d cards kept, bound %d", len(c.byKey), maxDecoded)
	}
	// The same token under another name is another card.
	if card, _ := c.Decode("T1", fakeJWT(maxDecoded+9)); card.Name != "T1" {
		t.Errorf("name %q", card.Name)
	}
	if _, err := c.Decode("TR", "not-a-jwt"); err == nil {
		t.Error("a non-JWT decoded")
	}
	for k := range c.byKey {
		if k.name == "TR" && k.sum == [32]byte{} {
			t.Error("zero key")
		}
	}
}
