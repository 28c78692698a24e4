package jwtpeek_test

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/jwtpeek"
)

func TestClaimsAndHeader(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	good := b64([]byte(`{"alg":"RS256","kid":"k1"}`)) + "." + b64([]byte(`{"aud":"api://x","exp":1}`)) + ".c2ln"
	var claims struct {
		Aud string `json:"aud"`
	}
	var header map[string]any
	if err := jwtpeek.Claims(good, &claims); err != nil || claims.Aud != "api://x" {
		t.Fatalf("claims: %+v %v", claims, err)
	}
	if err := jwtpeek.Header(good, &header); err != nil || header["kid"] != "k1" {
		t.Fatalf("header: %v %v", header, err)
	}
	for name, bad := range map[string]string{
		"two parts":             "a.b",
		"four parts":            "a.b.c.d",
		"payload not base64":    b64([]byte(`{}`)) + ".!!!.c2ln",
		"payload not JSON":      b64([]byte(`{}`)) + "." + b64([]byte(`not json`)) + ".c2ln",
		"padded base64 payload": b64([]byte(`{}`)) + ".e30=.c2ln",
	} {
		var v map[string]any
		if err := jwtpeek.Claims(bad, &v); !errors.Is(err, jwtpeek.ErrNotJWT) {
			t.Errorf("%s: %v, want ErrNotJWT", name, err)
		}
	}
}
