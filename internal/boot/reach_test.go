package boot

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The servers listen on loopback: the checks never leave the machine.
func TestChecker(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != HealthPath {
			t.Errorf("checked %s, want %s", r.URL.Path, HealthPath)
		}
		w.WriteHeader(http.StatusServiceUnavailable) // any answer counts
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/")
	ctx := context.Background()

	insecure, err := NewChecker(u, "", nil)
	if err != nil || !insecure.Insecure {
		t.Fatalf("https without CA: %v, insecure=%v", err, insecure != nil && insecure.Insecure)
	}
	if err := insecure.Check(ctx); err != nil {
		t.Fatalf("reachability without CA: %v", err)
	}

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	verified, err := NewChecker(u, ca, nil)
	if err != nil || verified.Insecure {
		t.Fatal(err)
	}
	if err := verified.Check(ctx); err != nil {
		t.Fatalf("with the right CA: %v", err)
	}

	wrong := filepath.Join(dir, "wrong.pem")
	os.WriteFile(wrong, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t)}), 0o644)
	c, _ := NewChecker(u, wrong, nil)
	if err := c.Check(ctx); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("with the wrong CA: %v, want a certificate error", err)
	}

	if _, err := NewChecker(nil, "", nil); err == nil || !strings.Contains(err.Error(), "zosnet.registry") {
		t.Fatalf("no URL: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "junk"), []byte("junk"), 0o644)
	if _, err := NewChecker(u, filepath.Join(dir, "junk"), nil); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Fatalf("junk CA: %v", err)
	}
	srv.Close()
	if err := insecure.Check(ctx); err == nil {
		t.Fatal("closed server reported reachable")
	}
}

func selfSigned(t *testing.T) []byte {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
