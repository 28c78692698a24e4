// Package jwtpeek reads a JWT's header or claims without verifying it, for
// code that shows or routes on claims another party verifies: the API that
// receives the token, AWS, or a validator that already ran.
package jwtpeek

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrNotJWT is the cause of every error here: the text is not a compact
// JWS with a base64url JSON header and payload.
var ErrNotJWT = errors.New("not a JWT")

// Header decodes the token's header into v. It checks nothing.
func Header(token string, v any) error { return decode(token, 0, v) }

// Claims decodes the token's payload into v. It checks nothing.
func Claims(token string, v any) error { return decode(token, 1, v) }

func decode(token string, part int, v any) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ErrNotJWT
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[part])
	if err != nil {
		return fmt.Errorf("%w: a part is not base64url", ErrNotJWT)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: a part is not JSON", ErrNotJWT)
	}
	return nil
}
