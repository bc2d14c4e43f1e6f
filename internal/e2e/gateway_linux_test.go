package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
)

const gwDomain = "gw1.farm1.test"

// gwFarm is a booted default farm with network "gw" over the hidden nodes home1 and
// home2, a workload on each running the lab's test service (HTTP :8080 and :80, HTTPS
// :8443 with its own certificate, TCP echo :7000 with PROXY v2, UDP echo :7001).
type gwFarm struct {
	m        *scenario.Mesh
	net      gridapi.Network
	backends []scenario.Backend
	user     *http.Client
	userNS   string
}

func upGateway(t testing.TB) *gwFarm {
	t.Helper()
	m := upMesh(t)
	ctx := context.Background()
	n, bs, err := m.ServiceNetwork(ctx, "gw", "10.120.0.0/16", []string{"home1", "home2"},
		"--http", ":8080", "--as", "%s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { scenario.StopAll(bs) })
	for i, b := range bs {
		extra := []string{"--http", ":80", "--https", ":8443", "--as", "git." + gwDomain}
		if i == 0 {
			extra = append(extra, "--tcp-echo", ":7000", "--udp-echo", ":7001")
		}
		s, err := m.StartService(ctx, b.Workload, extra...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Stop() })
		if i == 0 {
			pp, err := m.StartService(ctx, b.Workload, "--tcp-echo", ":7002", "--proxy-protocol")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pp.Stop() })
		}
	}
	c, err := m.UserClient()
	if err != nil {
		t.Fatal(err)
	}
	return &gwFarm{m: m, net: n, backends: bs, user: c, userNS: m.Lab.NSPath(lab.UserHost)}
}

func (g *gwFarm) addr(i, port int) string {
	return netip.AddrPortFrom(g.backends[i].IPv4.Addr(), uint16(port)).String()
}

// dialUser connects from the user host.
func (g *gwFarm) dialUser(network, addr string) (net.Conn, error) {
	d := &lab.NSDialer{Path: g.userNS, DNS: g.m.Lab.DNSAddr()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return d.DialContext(ctx, network, addr)
}

// TestGateway: services in workloads on hidden nodes, exposed through farm1's gateway
// and reached from the user host by name: HTTP, HTTPS with an ACME certificate over
// HTTP/2, WebSockets, a 100 MB download, TLS passthrough (the backend's own
// certificate) with HTTP-01 reaching the backend, raw TCP (PROXY v2) and UDP on the
// public IPv4, failover between backends, what is refused, removal, and a gateway
// restart without the registry.
func TestGateway(t *testing.T) {
	g := upGateway(t)
	ctx := context.Background()
	web, err := g.m.Expose(ctx, "http", "gw", "web", "--to", g.addr(0, 8080)+","+g.addr(1, 8080), "--gateway", "farm1")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://web." + gwDomain
	body, took, err := scenario.WaitGet(ctx, g.user, url+"/", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("expose → first answer by name: %s", took.Round(time.Millisecond))
	if !strings.Contains(body, "hello from home") || !strings.Contains(body, "xff=198.51.100.20") || !strings.Contains(body, "proto=http ") {
		t.Fatalf("http answer: %q", body)
	}
	t.Run("https", func(t *testing.T) { checkHTTPS(t, g) })
	t.Run("websocket", func(t *testing.T) { checkWebSocket(t, g) })
	t.Run("download", func(t *testing.T) { checkDownload(t, g) })
	t.Run("passthrough", func(t *testing.T) { checkPassthrough(t, g) })
	t.Run("raw", func(t *testing.T) { checkRaw(t, g) })
	t.Run("refused", func(t *testing.T) { checkRefused(t, g) })
	t.Run("failover", func(t *testing.T) { checkFailover(t, g, web) })
	t.Run("restart without registry", func(t *testing.T) { checkRestart(t, g) })
	t.Run("removal", func(t *testing.T) { checkRemoval(t, g, web) })
}

func checkHTTPS(t *testing.T, g *gwFarm) {
	ctx := context.Background()
	body, took, err := scenario.WaitGet(ctx, g.user, "https://web."+gwDomain+"/", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first HTTPS answer (ACME issuance included) after %s", took.Round(time.Millisecond))
	_, _, resp, err := scenario.Get(ctx, g.user, "https://web."+gwDomain+"/")
	if err != nil {
		t.Fatal(err)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if resp.ProtoMajor != 2 || leaf.DNSNames[0] != "web."+gwDomain || !strings.Contains(leaf.Issuer.CommonName, "Pebble") ||
		!strings.Contains(body, "proto=https") {
		t.Fatalf("https: %s, certificate for %v by %q, body %q", resp.Proto, leaf.DNSNames, leaf.Issuer.CommonName, body)
	}
	e := showExposure(t, g, "web."+gwDomain)
	if e.Status == nil || !e.Status.CertNotAfter.Equal(leaf.NotAfter) {
		// reports follow within a probe interval
		if err := scenario.Poll(ctx, 20*time.Second, func() error {
			e = showExposure(t, g, "web."+gwDomain)
			if e.Status == nil || !e.Status.CertNotAfter.Equal(leaf.NotAfter) {
				return fmt.Errorf("status %+v", e.Status)
			}
			return nil
		}); err != nil {
			t.Fatalf("expose show has no certificate expiry: %v", err)
		}
	}
}

func showExposure(t *testing.T, g *gwFarm, name string) gridapi.Exposure {
	t.Helper()
	var e gridapi.Exposure
	if err := g.m.Zosnet(context.Background(), &e, "expose", "show", name); err != nil {
		t.Fatal(err)
	}
	return e
}

func checkWebSocket(t *testing.T, g *gwFarm) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h1 := &http.Client{Transport: g.user.Transport.(*http.Transport).Clone()}
	h1.Transport.(*http.Transport).ForceAttemptHTTP2 = false
	h1.Transport.(*http.Transport).TLSClientConfig.NextProtos = []string{"http/1.1"}
	ws, _, err := websocket.Dial(ctx, "wss://web."+gwDomain+"/ws", &websocket.DialOptions{HTTPClient: h1})
	if err != nil {
		t.Fatalf("websocket through the gateway: %v", err)
	}
	defer ws.CloseNow()
	for _, msg := range []string{"hello", strings.Repeat("z", 200000)} {
		ws.SetReadLimit(1 << 20)
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, b, err := ws.Read(ctx); err != nil || string(b) != msg {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(msg), len(b), err)
		}
	}
}

func checkDownload(t *testing.T, g *gwFarm) {
	const n = 100 << 20
	start := time.Now()
	resp, err := g.user.Get("https://web." + gwDomain + fmt.Sprintf("/bytes?n=%d", n))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.Copy(io.Discard, resp.Body)
	if err != nil || got != n {
		t.Fatalf("downloaded %d of %d bytes: %v", got, n, err)
	}
	t.Logf("100 MB over HTTPS through the gateway in %s", since(start))
}

func checkPassthrough(t *testing.T, g *gwFarm) {
	ctx := context.Background()
	if _, err := g.m.Expose(ctx, "http", "gw", "git", "--to", g.addr(0, 8443), "--tls", "passthrough", "--gateway", "farm1"); err != nil {
		t.Fatal(err)
	}
	var served *tls.ConnectionState
	err := scenario.Poll(ctx, 20*time.Second, func() error {
		c, err := g.dialUser("tcp", "git."+gwDomain+":443")
		if err != nil {
			return err
		}
		defer c.Close()
		tc := tls.Client(c, &tls.Config{ServerName: "git." + gwDomain, InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			return err
		}
		st := tc.ConnectionState()
		served = &st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	leaf := served.PeerCertificates[0]
	if leaf.Subject.CommonName != "git."+gwDomain || leaf.Issuer.CommonName != "git."+gwDomain {
		t.Fatalf("passthrough served a certificate of %q issued by %q, not the backend's own", leaf.Subject.CommonName, leaf.Issuer.CommonName)
	}
	code, body, _, err := scenario.Get(ctx, g.user, "http://git."+gwDomain+"/.well-known/acme-challenge/tok1")
	if err != nil || code != 200 || body != "backend git."+gwDomain+" answers /.well-known/acme-challenge/tok1" {
		t.Fatalf("HTTP-01 of a passthrough name: %d %q %v", code, body, err)
	}
	noRedirect := *g.user
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if code, _, resp, err := scenario.Get(ctx, &noRedirect, "http://git."+gwDomain+"/x"); err != nil || code != 308 || resp.Header.Get("Location") != "https://git."+gwDomain+"/x" {
		t.Fatalf("port 80 of a passthrough name: %d %v", code, err)
	}
}

func checkRaw(t *testing.T, g *gwFarm) {
	ctx := context.Background()
	tcp, err := g.m.Expose(ctx, "tcp", "gw", "--to", g.addr(0, 7002), "--proxy-protocol", "--gateway", "farm1")
	if err != nil {
		t.Fatal(err)
	}
	udp, err := g.m.Expose(ctx, "udp", "gw", "--to", g.addr(0, 7001), "--gateway", "farm1", "--port", "20053")
	if err != nil {
		t.Fatal(err)
	}
	pub := "203.0.113.10"
	var line string
	err = scenario.Poll(ctx, 20*time.Second, func() error {
		c, err := g.dialUser("tcp", net.JoinHostPort(pub, fmt.Sprint(tcp.Port)))
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		br := bufio.NewReader(c)
		if line, err = br.ReadString('\n'); err != nil {
			return err
		}
		fmt.Fprintf(c, "ping\n")
		if echo, err := br.ReadString('\n'); err != nil || echo != "ping\n" {
			return fmt.Errorf("echo %q %v", echo, err)
		}
		return nil
	})
	if err != nil || !strings.HasPrefix(line, "from 198.51.100.20:") {
		t.Fatalf("tcp with PROXY v2: backend saw %q (%v)", line, err)
	}
	err = scenario.Poll(ctx, 20*time.Second, func() error {
		c, err := g.dialUser("udp", net.JoinHostPort(pub, fmt.Sprint(udp.Port)))
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		c.Write([]byte("over udp"))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "echo over udp" {
			return fmt.Errorf("udp answer %q %v", buf[:n], err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkRefused(t *testing.T, g *gwFarm) {
	ctx := context.Background()
	if code, _, _, err := scenario.Get(ctx, g.user, "http://nope."+gwDomain+"/"); err != nil || code != 404 {
		t.Fatalf("an unclaimed name: %d %v", code, err)
	}
	raw := func(req string) string {
		c, err := g.dialUser("tcp", "203.0.113.10:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, req)
		l, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(l)
	}
	for req, want := range map[string]string{
		"GET / HTTP/1.1\r\nHost: 10.120.1.10:8080\r\n\r\n":                       "HTTP/1.1 404 Not Found",
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n":                            "HTTP/1.1 404 Not Found",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n":      "HTTP/1.1 405 Method Not Allowed",
		"GET http://example.com/ HTTP/1.1\r\nHost: web." + gwDomain + "\r\n\r\n": "HTTP/1.1 400 Bad Request",
	} {
		if got := raw(req); got != want {
			t.Errorf("%q: %q, want %q", strings.SplitN(req, "\r\n", 2)[0], got, want)
		}
	}
	c, err := g.dialUser("tcp", "203.0.113.10:443")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := tls.Client(c, &tls.Config{ServerName: "example.com", InsecureSkipVerify: true}).Handshake(); err == nil {
		t.Error("a TLS handshake for a name the gateway does not serve succeeded")
	}
	// the farmer's key owns no network: exposing the user's network is refused
	out, err := g.m.Run(ctx, lab.UserHost, g.m.ZosnetPath(), "expose", "http", g.net.ID, "steal", "--to", g.addr(0, 8080), "--profile", "farmer")
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("another user's backends: %s %v", out, err)
	}
}

func checkFailover(t *testing.T, g *gwFarm, web gridapi.Exposure) {
	ctx := context.Background()
	// stop home1's service on :8080: every request still succeeds (on home2)
	g.backends[0].Service.Stop()
	for i := range 20 {
		code, body, _, err := scenario.Get(ctx, g.user, "http://web."+gwDomain+"/")
		if err != nil || code != 200 || !strings.Contains(body, "hello from home2") {
			t.Fatalf("request %d with home1's backend down: %d %q %v", i, code, body, err)
		}
	}
	err := scenario.Poll(ctx, 30*time.Second, func() error {
		e := showExposure(t, g, web.ID)
		if e.Status == nil || len(e.Status.Backends) != 2 || e.Status.Backends[0].Healthy || !e.Status.Backends[1].Healthy {
			return fmt.Errorf("status %+v", e.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("expose show does not show home1's backend down: %v", err)
	}
	s, err := g.m.StartService(ctx, g.backends[0].Workload, "--http", ":8080", "--as", "home1")
	if err != nil {
		t.Fatal(err)
	}
	g.backends[0].Service = s
	err = scenario.Poll(ctx, 30*time.Second, func() error {
		for range 4 {
			if _, body, _, _ := scenario.Get(ctx, g.user, "http://web."+gwDomain+"/"); strings.Contains(body, "hello from home1") {
				return nil
			}
		}
		return fmt.Errorf("home1 gets no traffic back")
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkRestart: with the registry stopped, farm1's provisiond (the gateway) restarts
// and serves its persisted exposures again.
func checkRestart(t *testing.T, g *gwFarm) {
	ctx := context.Background()
	stopService(t, g.m.Lab.Name(), "", "registry")
	stopService(t, g.m.Lab.Name(), "farm1", "provisiond")
	err := scenario.Poll(ctx, 10*time.Second, func() error {
		if _, _, _, err := scenario.Get(ctx, g.user, "http://web."+gwDomain+"/"); err == nil {
			return fmt.Errorf("the gateway still answers")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.m.Lab.StartService(ctx, "farm1", "provisiond"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := scenario.WaitGet(ctx, g.user, "https://web."+gwDomain+"/", 30*time.Second); err != nil {
		t.Fatalf("after a restart without the registry: %v", err)
	}
	if err := g.m.Lab.StartService(ctx, lab.Registry, "registry"); err != nil {
		t.Fatal(err)
	}
}

func checkRemoval(t *testing.T, g *gwFarm, web gridapi.Exposure) {
	ctx := context.Background()
	certs := func() int {
		files, _ := filepath.Glob(filepath.Join(g.m.Lab.NodeDir("farm1"), "state", "gateway", "keys", "acme-*.pem"))
		return len(files)
	}
	if certs() == 0 {
		t.Fatal("no certificate on the gateway before removal")
	}
	var es []gridapi.Exposure
	if err := g.m.Zosnet(ctx, &es, "expose", "list"); err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := g.m.Zosnet(ctx, nil, "expose", "rm", e.ID); err != nil {
			t.Fatal(err)
		}
	}
	err := scenario.Poll(ctx, 30*time.Second, func() error {
		if code, _, _, err := scenario.Get(ctx, g.user, "http://web."+gwDomain+"/"); err != nil || code != 404 {
			return fmt.Errorf("removed name answers %d %v", code, err)
		}
		if n := certs(); n != 0 {
			return fmt.Errorf("%d certificates left", n)
		}
		for _, e := range es {
			if e.Kind == "tcp" {
				if c, err := g.dialUser("tcp", fmt.Sprintf("203.0.113.10:%d", e.Port)); err == nil {
					c.Close()
					return fmt.Errorf("port %d still open", e.Port)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := g.m.Lab.Command(ctx, lab.UserHost, g.m.ZosnetPath(), "network", "show", g.net.ID, "--json")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := n.Output()
	if strings.Contains(string(out), `"gateway": true`) {
		t.Fatalf("farm1 still a gateway member after its last exposure went: %s", out)
	}
}
