package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const testDomain = "gw1.farm1.test"

// testCerts is a CertSource with its own CA that issues a certificate per name at the
// first handshake (standing in for ACME in unit tests).
type testCerts struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	mu     sync.Mutex
	certs  map[string]*tls.Certificate
	forgot []string
}

func newTestCerts(t testing.TB) *testCerts {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &testCerts{ca: ca, caKey: key, certs: map[string]*tls.Certificate{}}
}

func (c *testCerts) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.ca)
	return p
}

func (c *testCerts) GetCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert := c.certs[h.ServerName]; cert != nil {
		return cert, nil
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), DNSNames: []string{h.ServerName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.caKey)
	if err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(der)
	cert := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	c.certs[h.ServerName] = cert
	return cert, nil
}

func (c *testCerts) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	_, _ = io.WriteString(w, "challenge-answer")
	return true
}

func (c *testCerts) Forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.certs, name)
	c.forgot = append(c.forgot, name)
}

func (c *testCerts) NotAfter(name string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert := c.certs[name]; cert != nil {
		return cert.Leaf.NotAfter
	}
	return time.Time{}
}

// gw is a gateway on loopback for one test.
type gw struct {
	s          *Server
	http       string // 127.0.0.1:port
	https      string
	certs      *testCerts
	reg        *prometheus.Registry
	httpClient *http.Client // dials the gateway whatever the URL's host
	tlsClient  *http.Client // trusts testCerts, dials the gateway's HTTPS port
}

func newGW(t *testing.T) *gw {
	t.Helper()
	g := &gw{certs: newTestCerts(t), reg: prometheus.NewRegistry()}
	s, err := New(Options{Listener: &net.ListenConfig{}, Dialer: &HostDialer{}, Certs: g.certs,
		HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", RawHost: "127.0.0.1", UDPIdle: 5 * time.Second, Metrics: g.reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h, hs := s.Addrs()
	g.s, g.http, g.https = s, h.String(), hs.String()
	g.httpClient = &http.Client{Transport: &http.Transport{DialContext: dialTo(g.http)}, Timeout: 10 * time.Second}
	g.tlsClient = &http.Client{Transport: &http.Transport{DialContext: dialTo(g.https), ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{RootCAs: g.certs.pool()}}, Timeout: 10 * time.Second}
	return g
}

func dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

func (g *gw) apply(t *testing.T, routes ...Route) {
	t.Helper()
	if err := g.s.Apply(context.Background(), Config{Domain: testDomain, Routes: routes}); err != nil {
		t.Fatal(err)
	}
}

// backendAddr is an HTTP test server's address as netip.AddrPort.
func backendAddr(t testing.TB, addr net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func httpRoute(id, label string, tlsMode string, backends ...netip.AddrPort) Route {
	return Route{ID: id, Network: "net1", Kind: "http", FQDN: label + "." + testDomain, TLS: tlsMode, Backends: backends}
}

// freePort returns a loopback port that was free a moment ago, outside 3000-3999.
func freePort(t testing.TB, network string) int {
	t.Helper()
	for {
		var p int
		if network == "udp" {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p = c.LocalAddr().(*net.UDPAddr).Port
			c.Close()
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		if p < 3000 || p > 3999 {
			return p
		}
	}
}

// eventually polls cond every 20 ms until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
