// Package devca keeps cloudsim's local development CA and the serving
// certificate it signs, so real clients (MSAL Go, the AWS SDK, browsers) talk
// to cloudsim over verified TLS exactly as they talk to the cloud.
package devca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/atomicfile"
)

// File names inside the state folder.
const (
	CAFile     = "ca.pem"        // the dev CA alone: what a user trusts once
	CAKeyFile  = "ca-key.pem"    // never leaves the state folder (0600)
	BundleFile = "ca-bundle.pem" // dev CA plus system roots: SSL_CERT_FILE and AWS_CA_BUNDLE
	CertFile   = "server.pem"
	KeyFile    = "server-key.pem"
)

// DefaultHosts are the names every serving certificate covers.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// systemRootFiles are where Debian, Fedora, Alpine and others keep the
// system roots (the same list Go's crypto/x509 reads on Linux).
var systemRootFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// Authority is a loaded dev CA with its serving certificate.
type Authority struct {
	Dir        string
	CACert     *x509.Certificate
	ServerCert tls.Certificate
}

// CAPath is the PEM file holding only the dev CA.
func (a *Authority) CAPath() string { return filepath.Join(a.Dir, CAFile) }

// BundlePath is the PEM file with the dev CA and the system roots.
func (a *Authority) BundlePath() string { return filepath.Join(a.Dir, BundleFile) }

// Publish copies what clients need to trust cloudsim, ca.pem and
// ca-bundle.pem, into dir, and nothing else: a folder other containers can
// mount without reading the CA's key, the server's key or the signing keys
// that stay in the state folder.
func (a *Authority) Publish(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create trust folder: %w", err)
	}
	for _, name := range []string{CAFile, BundleFile} {
		data, err := os.ReadFile(filepath.Join(a.Dir, name))
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Pool returns a pool trusting only the dev CA (for tests and health checks).
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.CACert)
	return p
}

// Ensure loads the CA from dir or creates it, and makes sure the serving
// certificate covers every host in hosts (IPs or DNS names), re-issuing it
// when it does not or when it is near expiry. extraRoots (usually
// $SSL_CERT_FILE) is added to the bundle besides the system roots.
func Ensure(dir string, hosts []string, extraRoots string) (*Authority, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	caCert, caKey, err := loadOrCreateCA(dir)
	if err != nil {
		return nil, err
	}
	hosts = mergeHosts(DefaultHosts, hosts)
	leaf, err := loadServer(dir, caCert, hosts)
	if err != nil {
		leaf, err = issueServer(dir, caCert, caKey, hosts)
		if err != nil {
			return nil, err
		}
	}
	if err := writeBundle(dir, caCert, extraRoots); err != nil {
		return nil, err
	}
	return &Authority{Dir: dir, CACert: caCert, ServerCert: leaf}, nil
}

func mergeHosts(a, b []string) []string {
	out := slices.Clone(a)
	for _, h := range b {
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, errC := os.ReadFile(filepath.Join(dir, CAFile))
	keyPEM, errK := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if errC == nil && errK == nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("load dev CA from %s (delete the folder to start afresh): %w", dir, err)
		}
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return nil, nil, fmt.Errorf("load dev CA from %s: the key is not ECDSA", dir)
		}
		return pair.Leaf, key, nil
	}
	if !errors.Is(errC, fs.ErrNotExist) && errC != nil {
		return nil, nil, fmt.Errorf("read dev CA: %w", errC)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate dev CA key: %w", err)
	}
	now := time.Now()
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"cloudsim local development CA"}, CommonName: "cloudsim dev CA " + host + " " + now.Format("2006-01-02")},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create dev CA: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(filepath.Join(dir, CAKeyFile), "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writePEM(filepath.Join(dir, CAFile), "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// loadServer returns the existing serving certificate if it chains to the CA,
// covers every host and has more than a week left.
func loadServer(dir string, ca *x509.Certificate, hosts []string) (tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := pair.Leaf
	if time.Until(leaf.NotAfter) < 7*24*time.Hour {
		return tls.Certificate{}, errors.New("serving certificate near expiry")
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return tls.Certificate{}, err
	}
	for _, h := range hosts {
		if err := leaf.VerifyHostname(h); err != nil {
			return tls.Certificate{}, err
		}
	}
	return pair, nil
}

func issueServer(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate serving key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"cloudsim"}, CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		// Browsers refuse leaf certificates valid for more than 398 days.
		NotAfter:    now.AddDate(0, 0, 397),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(filepath.Join(dir, KeyFile), "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(filepath.Join(dir, CertFile), "CERTIFICATE", der, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
}

// writeBundle writes the dev CA followed by the system roots and extraRoots,
// each certificate once. Clients given this file as SSL_CERT_FILE trust
// cloudsim and still reach real services.
func writeBundle(dir string, ca *x509.Certificate, extraRoots string) error {
	var out bytes.Buffer
	seen := map[string]bool{}
	add := func(der []byte) {
		if !seen[string(der)] {
			seen[string(der)] = true
			_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
	}
	add(ca.Raw)
	own, _ := filepath.Abs(filepath.Join(dir, BundleFile))
	sources := slices.Clone(systemRootFiles)
	if extraRoots != "" {
		if abs, _ := filepath.Abs(extraRoots); abs != own {
			sources = append(sources, extraRoots)
		}
	}
	for _, f := range sources {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for {
			var block *pem.Block
			block, data = pem.Decode(data)
			if block == nil {
				break
			}
			if block.Type == "CERTIFICATE" {
				add(block.Bytes)
			}
		}
	}
	return atomicfile.Write(filepath.Join(dir, BundleFile), out.Bytes(), 0o644)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
