package ca

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestIssueVerifies(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, "test CA"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", fi, err)
	}
	crt, key := filepath.Join(dir, "srv.crt"), filepath.Join(dir, "srv.key")
	if err := IssueServer(dir, []string{"198.51.100.10", "2001:db8::10", "registry.lab"}, crt, key); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(filepath.Join(dir, CertFile))
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA bundle has no certificate")
	}
	b, _ := os.ReadFile(crt)
	p, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(p.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"198.51.100.10", "2001:db8::10", "registry.lab"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if len(cert.IPAddresses) != 2 || !cert.IPAddresses[0].Equal(net.ParseIP("198.51.100.10")) {
		t.Errorf("IP SANs: %v", cert.IPAddresses)
	}
	if err := IssueServer(t.TempDir(), []string{"x"}, crt, key); err == nil {
		t.Error("issuing without a CA must fail")
	}
	if err := IssueServer(dir, nil, crt, key); err == nil {
		t.Error("issuing for no host must fail")
	}
}
