// Package signing holds cloudsim's token signing keys: RSA 2048, RS256, each
// with a self-signed certificate so the published keys look like Entra's
// (kid equal to x5t, x5c present). Keys persist in the state folder, so tokens
// survive a restart, and rotate on demand with the old keys still published.
package signing

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/crosscloud-agentid/agentid/internal/atomicfile"
)

// MaxPublished is how many keys the JWKS lists at most. The oldest inactive
// key drops off when a rotation would exceed it.
const MaxPublished = 4

var (
	// ErrMalformed is a token that is not a compact RS256 JWS.
	ErrMalformed = errors.New("token is not a well-formed RS256 JWT")
	// ErrUnknownKey is a token whose kid is not one of the published keys.
	ErrUnknownKey = errors.New("token is signed with a key that is not published")
	// ErrBadSignature is a token whose signature does not verify.
	ErrBadSignature = errors.New("token signature does not verify")
)

// Key is one signing key.
type Key struct {
	ID      string // kid and x5t: base64url SHA-1 of the certificate, as Entra
	Private *rsa.PrivateKey
	Cert    *x509.Certificate
	Created time.Time
}

// Keys is the published key set; the newest key signs.
type Keys struct {
	path string
	mu   sync.RWMutex
	keys []*Key // oldest first; the last one is active
}

type storedKey struct {
	Created time.Time `json:"created"`
	Key     string    `json:"key"`  // PKCS#8 PEM
	Cert    string    `json:"cert"` // PEM
}

// Open loads the key set from path, or creates one with two keys.
func Open(path string) (*Keys, error) {
	k := &Keys{path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		for range 2 {
			key, err := newKey(time.Now())
			if err != nil {
				return nil, err
			}
			k.keys = append(k.keys, key)
		}
		return k, k.save()
	case err != nil:
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	var stored []storedKey
	if err := json.Unmarshal(data, &stored); err != nil || len(stored) == 0 {
		return nil, fmt.Errorf("read signing keys from %s (delete it to start afresh): not a key list", path)
	}
	for i, s := range stored {
		key, err := parseStored(s)
		if err != nil {
			return nil, fmt.Errorf("read signing key %d from %s: %w", i, path, err)
		}
		k.keys = append(k.keys, key)
	}
	return k, nil
}

func parseStored(s storedKey) (*Key, error) {
	kb, _ := pem.Decode([]byte(s.Key))
	cb, _ := pem.Decode([]byte(s.Cert))
	if kb == nil || cb == nil {
		return nil, errors.New("missing PEM block")
	}
	priv, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	rsaKey, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	return &Key{ID: thumbprint(cert), Private: rsaKey, Cert: cert, Created: s.Created}, nil
}

func newKey(now time.Time) (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "cloudsim token signing"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, fmt.Errorf("self-sign signing key: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Key{ID: thumbprint(cert), Private: priv, Cert: cert, Created: now}, nil
}

func thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) // x5t is SHA-1 by definition (RFC 7515 §4.1.7)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (k *Keys) save() error {
	stored := make([]storedKey, 0, len(k.keys))
	for _, key := range k.keys {
		der, err := x509.MarshalPKCS8PrivateKey(key.Private)
		if err != nil {
			return err
		}
		stored = append(stored, storedKey{
			Created: key.Created,
			Key:     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
			Cert:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: key.Cert.Raw})),
		})
	}
	data, err := json.MarshalIndent(stored, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return fmt.Errorf("save signing keys: %w", err)
	}
	return atomicfile.Write(k.path, data, 0o600)
}

// Rotate makes a new key the signing key. Older keys stay published (up to
// MaxPublished) so tokens they signed keep verifying until they expire.
func (k *Keys) Rotate() (string, error) {
	key, err := newKey(time.Now())
	if err != nil {
		return "", err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(k.keys, key)
	if len(k.keys) > MaxPublished {
		k.keys = k.keys[len(k.keys)-MaxPublished:]
	}
	return key.ID, k.save()
}

// ActiveID is the kid new tokens carry.
func (k *Keys) ActiveID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[len(k.keys)-1].ID
}

// Sign serializes claims as a JWT signed RS256 with the active key. With
// withX5T the header also carries x5t, as Entra's v1 tokens do.
func (k *Keys) Sign(claims any, withX5T bool) (string, error) {
	k.mu.RLock()
	key := k.keys[len(k.keys)-1]
	k.mu.RUnlock()
	return SignWith(key.Private, key.ID, claims, withX5T)
}

// SignWith signs claims with any RSA key under kid. Tests use it to forge
// tokens with keys cloudsim never published.
func SignWith(priv *rsa.PrivateKey, kid string, claims any, withX5T bool) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if withX5T {
		opts = opts.WithHeader("x5t", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, opts)
	if err != nil {
		return "", fmt.Errorf("build signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return obj.CompactSerialize()
}

// Verify checks a token's RS256 signature against the published keys and
// returns its payload. It does not look at any claim.
func (k *Keys) Verify(token string) ([]byte, error) {
	obj, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(obj.Signatures) != 1 {
		return nil, ErrMalformed
	}
	kid := obj.Signatures[0].Header.KeyID
	k.mu.RLock()
	var pub *rsa.PublicKey
	for _, key := range k.keys {
		if key.ID == kid {
			pub = &key.Private.PublicKey
		}
	}
	k.mu.RUnlock()
	if pub == nil {
		return nil, ErrUnknownKey
	}
	payload, err := obj.Verify(pub)
	if err != nil {
		return nil, ErrBadSignature
	}
	return payload, nil
}

// JWKS returns the key set document. A non-empty issuer is added to each
// key, as Entra's v2 key set does.
func (k *Keys) JWKS(issuer string) ([]byte, error) {
	type jwk struct {
		Kty    string   `json:"kty"`
		Use    string   `json:"use"`
		Kid    string   `json:"kid"`
		X5t    string   `json:"x5t"`
		N      string   `json:"n"`
		E      string   `json:"e"`
		X5c    []string `json:"x5c"`
		Issuer string   `json:"issuer,omitempty"`
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	set := struct {
		Keys []jwk `json:"keys"`
	}{}
	// Newest first: the active key leads the list, as in Entra's documents.
	for i := len(k.keys) - 1; i >= 0; i-- {
		key := k.keys[i]
		pub := key.Private.PublicKey
		set.Keys = append(set.Keys, jwk{
			Kty:    "RSA",
			Use:    "sig",
			Kid:    key.ID,
			X5t:    key.ID,
			N:      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
			X5c:    []string{base64.StdEncoding.EncodeToString(key.Cert.Raw)},
			Issuer: issuer,
		})
	}
	return json.Marshal(set)
}
