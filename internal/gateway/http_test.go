package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// echoHeaders answers with what the backend saw: host, forwarded headers, protocol.
func echoHeaders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s xff=%s proto=%s xfh=%s path=%s", r.Host, r.Header.Get("X-Forwarded-For"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"), r.URL.Path)
	})
}

func get(t *testing.T, c *http.Client, url string) (int, string, *http.Response) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// TestHTTPAndHTTPS: plain HTTP and terminated HTTPS (HTTP/2) reach the backend with
// X-Forwarded-*; the certificate is the CertSource's for the name.
func TestHTTPAndHTTPS(t *testing.T) {
	be := httptest.NewServer(echoHeaders())
	defer be.Close()
	g := newGW(t)
	g.apply(t, httpRoute("a", "web", "terminate", backendAddr(t, be.Listener.Addr())))

	code, body, _ := get(t, g.httpClient, "http://web."+testDomain+"/x")
	if code != 200 || body != "host=web."+testDomain+" xff=127.0.0.1 proto=http xfh=web."+testDomain+" path=/x" {
		t.Fatalf("http: %d %q", code, body)
	}
	code, body, resp := get(t, g.tlsClient, "https://web."+testDomain+"/y")
	if code != 200 || !strings.Contains(body, "proto=https") || resp.ProtoMajor != 2 {
		t.Fatalf("https: %d %s %q", code, resp.Proto, body)
	}
	if names := resp.TLS.PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != "web."+testDomain {
		t.Fatalf("certificate for %v", names)
	}
	if !g.certs.NotAfter("web." + testDomain).After(g.certs.ca.NotBefore) {
		t.Fatal("no certificate expiry known after the handshake")
	}
	// the ACME HTTP-01 challenge of a terminated name goes to the CertSource
	if _, body, _ := get(t, g.httpClient, "http://web."+testDomain+acmePrefix+"tok"); body != "challenge-answer" {
		t.Fatalf("challenge: %q", body)
	}
}

// TestNotAnOpenProxy: unknown names (Host or SNI), CONNECT, absolute URIs and a Host
// that differs from the TLS name are refused; nothing reaches a backend.
func TestNotAnOpenProxy(t *testing.T) {
	hits := 0
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer be.Close()
	g := newGW(t)
	g.apply(t, httpRoute("a", "web", "terminate", backendAddr(t, be.Listener.Addr())),
		httpRoute("b", "other", "terminate", backendAddr(t, be.Listener.Addr())))
	for _, c := range []struct {
		name, raw string
		code      int
	}{
		{"unknown host", "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", 404},
		{"backend address as host", "GET / HTTP/1.1\r\nHost: " + be.Listener.Addr().String() + "\r\n\r\n", 404},
		{"connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405},
		{"absolute url", "GET http://example.com/ HTTP/1.1\r\nHost: web." + testDomain + "\r\n\r\n", 400},
		{"absolute url of a served name", "GET http://web." + testDomain + "/ HTTP/1.1\r\nHost: web." + testDomain + "\r\n\r\n", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			if code := rawRequest(t, g.http, c.raw); code != c.code {
				t.Fatalf("status %d, want %d", code, c.code)
			}
		})
	}
	// an SNI the gateway does not serve: no certificate, the handshake fails
	_, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "evil.example", InsecureSkipVerify: true})
	if err == nil {
		t.Fatal("TLS handshake for an unknown name succeeded")
	}
	// SNI web, Host other: misdirected
	req, _ := http.NewRequest("GET", "https://web."+testDomain+"/", nil)
	req.Host = "other." + testDomain
	resp, err := g.tlsClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("SNI/Host mismatch: %v %v", resp, err)
	}
	resp.Body.Close()
	if hits != 0 {
		t.Fatalf("%d refused requests reached the backend", hits)
	}
}

func rawRequest(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebSocketAndStreaming: a WebSocket echo through HTTPS, and a streamed response
// whose first chunk arrives before the backend writes the second.
func TestWebSocketAndStreaming(t *testing.T) {
	second := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			<-second
			io.WriteString(w, "second\n")
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			_ = c.Write(r.Context(), typ, b)
		}
	}))
	defer be.Close()
	g := newGW(t)
	g.apply(t, httpRoute("a", "web", "terminate", backendAddr(t, be.Listener.Addr())))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h1 := &http.Client{Transport: &http.Transport{DialContext: dialTo(g.https), TLSClientConfig: &tls.Config{RootCAs: g.certs.pool()}}}
	ws, _, err := websocket.Dial(ctx, "wss://web."+testDomain+"/ws", &websocket.DialOptions{HTTPClient: h1})
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	for _, msg := range []string{"hello", strings.Repeat("x", 100000)} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, b, err := ws.Read(ctx); err != nil || string(b) != msg {
			t.Fatalf("echo: %d bytes, %v", len(b), err)
		}
	}

	resp, err := g.tlsClient.Get("https://web." + testDomain + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("first chunk: %q %v", line, err)
	}
	close(second) // only now does the backend write the rest
	if line, err := br.ReadString('\n'); err != nil || line != "second\n" {
		t.Fatalf("second chunk: %q %v", line, err)
	}
}

// TestPassthrough: the client sees the backend's own certificate (the gateway has
// none for the name); port 80 redirects to https and forwards ACME challenges to the
// backend's port 80.
func TestPassthrough(t *testing.T) {
	be := httptest.NewUnstartedServer(echoHeaders())
	be.EnableHTTP2 = true
	be.StartTLS()
	defer be.Close()
	g := newGW(t)
	g.apply(t, httpRoute("p", "git", "passthrough", backendAddr(t, be.Listener.Addr())))

	// httptest's certificate does not name git.<domain>: check by hand that the
	// certificate served is exactly the backend's
	c := &http.Client{Transport: &http.Transport{DialContext: dialTo(g.https), ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{ServerName: "git." + testDomain, InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if !cs.PeerCertificates[0].Equal(be.Certificate()) {
					return fmt.Errorf("served certificate is not the backend's")
				}
				return nil
			}}}}
	resp, err := c.Get("https://git." + testDomain + "/")
	if err != nil {
		t.Fatalf("passthrough: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(g.certs.certs) != 0 {
		t.Fatalf("status %d, gateway certificates %d", resp.StatusCode, len(g.certs.certs))
	}
	noRedirect := &http.Client{Transport: g.httpClient.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	code, _, r := get(t, noRedirect, "http://git."+testDomain+"/a?b=c")
	if code != http.StatusPermanentRedirect || r.Header.Get("Location") != "https://git."+testDomain+"/a?b=c" {
		t.Fatalf("port 80 of a passthrough name: %d %s", code, r.Header.Get("Location"))
	}
}
