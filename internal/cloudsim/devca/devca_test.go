package devca

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureCreatesThenReusesAndCoversNewNames(t *testing.T) {
	dir := t.TempDir()
	first, err := Ensure(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range DefaultHosts {
		if err := first.ServerCert.Leaf.VerifyHostname(h); err != nil {
			t.Errorf("serving cert does not cover %s: %v", h, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}

	again, err := Ensure(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !again.CACert.Equal(first.CACert) || !bytes.Equal(again.ServerCert.Certificate[0], first.ServerCert.Certificate[0]) {
		t.Fatal("second start did not reuse the CA and serving certificate")
	}

	withSAN, err := Ensure(dir, []string{"cloudsim"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !withSAN.CACert.Equal(first.CACert) {
		t.Fatal("adding a name replaced the CA")
	}
	if err := withSAN.ServerCert.Leaf.VerifyHostname("cloudsim"); err != nil {
		t.Fatalf("-san name not covered: %v", err)
	}
}

func TestBundleHoldsCAAndExtraRootsOnce(t *testing.T) {
	dir := t.TempDir()
	other, err := Ensure(t.TempDir(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Ensure(dir, nil, other.CAPath())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(a.BundlePath())
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		count[string(b.Bytes)]++
	}
	if count[string(a.CACert.Raw)] != 1 || count[string(other.CACert.Raw)] != 1 {
		t.Fatalf("bundle holds dev CA %d times and extra root %d times; want once each", count[string(a.CACert.Raw)], count[string(other.CACert.Raw)])
	}
}

// SSL_CERT_FILE often points at the previous bundle. If the CA is then
// recreated, the old CA must not be carried into the new bundle.
func TestBundleDoesNotReadItself(t *testing.T) {
	dir := t.TempDir()
	old, err := Ensure(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CAFile, CAKeyFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	fresh, err := Ensure(dir, nil, old.BundlePath())
	if err != nil {
		t.Fatal(err)
	}
	if fresh.CACert.Equal(old.CACert) {
		t.Fatal("the CA was not recreated")
	}
	data, err := os.ReadFile(fresh.BundlePath())
	if err != nil {
		t.Fatal(err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if bytes.Equal(b.Bytes, old.CACert.Raw) {
			t.Fatal("the new bundle still trusts the deleted CA")
		}
	}
}

func TestServingCertVerifiesWithBundleOnly(t *testing.T) {
	a, err := Ensure(t.TempDir(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{a.ServerCert}}
	srv.StartTLS()
	defer srv.Close()

	pem, err := os.ReadFile(a.BundlePath())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("TLS to the serving cert failed with the bundle: %v", err)
	}
	resp.Body.Close()

	// And a client that trusts only other roots refuses it.
	strict := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	if resp, err := strict.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatal("a client without the dev CA accepted the serving certificate")
	}
}

// The trust folder holds the certificates clients need and no key.
func TestPublishCopiesCertificatesOnly(t *testing.T) {
	state, trust := t.TempDir(), filepath.Join(t.TempDir(), "trust")
	a, err := Ensure(state, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(trust); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(trust)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		raw, _ := os.ReadFile(filepath.Join(trust, e.Name()))
		if strings.Contains(string(raw), "PRIVATE KEY") {
			t.Errorf("%s holds a private key", e.Name())
		}
		if info, _ := e.Info(); info.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", e.Name(), info.Mode().Perm())
		}
	}
	if strings.Join(names, ",") != "ca-bundle.pem,ca.pem" {
		t.Errorf("the trust folder holds %v, want ca-bundle.pem and ca.pem", names)
	}
	same, _ := os.ReadFile(filepath.Join(state, CAFile))
	if got, _ := os.ReadFile(filepath.Join(trust, CAFile)); string(got) != string(same) {
		t.Error("the published ca.pem is not the state folder's")
	}
}
