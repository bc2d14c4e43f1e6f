package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/zosnet/zosnet/internal/store"
)

// loopbackDNS answers every A question with 127.0.0.1 (pebble's resolver, so that its
// HTTP-01 validation reaches the gateway on loopback); it serves TCP, as pebble asks.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return l.Addr().String()
}

// pebbleCA runs Let's Encrypt's test CA in process; its validation authority checks
// HTTP-01 on httpPort of 127.0.0.1. It returns the directory URL, an HTTP client that
// trusts the CA's API, and the pool of the CA's root.
func pebbleCA(t *testing.T, httpPort int) (string, *http.Client, *x509.CertPool) {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	logger := log.New(io.Discard, "", 0)
	if os.Getenv("ZOSNET_TEST_LOG") != "" {
		logger = log.New(os.Stderr, "pebble ", 0)
	}
	store := db.NewMemoryStore()
	c := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	v := va.New(logger, httpPort, 5001, false, loopbackDNS(t), store)
	w := wfe.New(logger, store, v, c, []string{"pebble.letsencrypt.org"}, false, false, 3, 5)
	srv := httptest.NewTLSServer(w.Handler())
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.GetRootCert(0).PEM())
	return srv.URL + wfe.DirectoryPath, srv.Client(), roots
}

// TestACMEHTTP01: a terminated name gets a certificate from a real ACME CA over
// HTTP-01 answered by the gateway's own port 80; a name that is not routed is never
// asked for; a removed name's certificate is deleted from disk.
func TestACMEHTTP01(t *testing.T) {
	be := httptest.NewServer(echoHeaders())
	defer be.Close()
	g := newGW(t)
	_, port, _ := net.SplitHostPort(g.http)
	httpPort, _ := strconv.Atoi(port)
	dir, client, roots := pebbleCA(t, httpPort)
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	acme, err := NewACME(ACMEOptions{Directory: dir, HTTP: client, Store: st, Allowed: g.s.TerminatedName})
	if err != nil {
		t.Fatal(err)
	}
	defer acme.Close()
	g.s.SetCerts(acme) // the real source replaces the test one
	g.apply(t, httpRoute("w", "web", "terminate", backendAddr(t, be.Listener.Addr())))

	c := &http.Client{Transport: &http.Transport{DialContext: dialTo(g.https),
		TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 60 * time.Second}
	code, body, resp := get(t, c, "https://web."+testDomain+"/")
	if code != 200 || body == "" {
		t.Fatalf("https with an ACME certificate: %d %q", code, body)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if leaf.DNSNames[0] != "web."+testDomain || !acme.NotAfter("web."+testDomain).Equal(leaf.NotAfter) {
		t.Fatalf("certificate for %v, expiry %v", leaf.DNSNames, acme.NotAfter("web."+testDomain))
	}
	if err := acme.Ensure(context.Background(), "evil.example"); err == nil {
		t.Fatal("a certificate was asked for a name the gateway does not route")
	}
	files, _ := filepath.Glob(filepath.Join(st.Path(), "keys", "acme-*.pem"))
	if len(files) != 1 {
		t.Fatalf("certificate files: %v", files)
	}
	g.apply(t) // the name is removed
	if files, _ := filepath.Glob(filepath.Join(st.Path(), "keys", "acme-*.pem")); len(files) != 0 {
		t.Fatalf("certificate files left after removal: %v", files)
	}
}
