package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/zosnet/zosnet/internal/store"
)

// tcpEcho is a TCP echo server; with proxy set it first reads a PROXY v2 header and
// answers the source address it carried, then echoes.
func tcpEcho(t *testing.T, proxy bool) (netip.AddrPort, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if proxy {
					h, err := proxyproto.Read(br)
					if err != nil {
						io.WriteString(c, "no proxy header: "+err.Error()+"\n")
						return
					}
					io.WriteString(c, "from "+h.SourceAddr.String()+"\n")
				}
				io.Copy(c, br)
			}()
		}
	}()
	return backendAddr(t, l.Addr()), func() { l.Close() }
}

func udpEcho(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	return backendAddr(t, pc.LocalAddr())
}

func echoLine(t *testing.T, c net.Conn, br *bufio.Reader, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != msg+"\n" {
		t.Fatalf("echo %q: %q %v", msg, line, err)
	}
}

// TestRawTCPAndUDP: a TCP port with a PROXY v2 header (the backend sees the client's
// address) and a UDP port relay both ways.
func TestRawTCPAndUDP(t *testing.T) {
	tb, stop := tcpEcho(t, true)
	defer stop()
	ub := udpEcho(t)
	g := newGW(t)
	tp, up := freePort(t, "tcp"), freePort(t, "udp")
	g.apply(t, Route{ID: "t", Network: "net1", Kind: "tcp", Port: tp, Backends: []netip.AddrPort{tb}, ProxyProtocol: true},
		Route{ID: "u", Network: "net1", Kind: "udp", Port: up, Backends: []netip.AddrPort{ub}})

	c, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(tp)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if line, _ := br.ReadString('\n'); line != "from "+c.LocalAddr().String()+"\n" {
		t.Fatalf("backend saw %q, the client is %s", line, c.LocalAddr())
	}
	echoLine(t, c, br, "over tcp")

	u, err := net.Dial("udp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(up)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	buf := make([]byte, 100)
	eventually(t, "a UDP answer", func() bool { // datagrams may be lost: resend until one answers
		u.Write([]byte("over udp"))
		u.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := u.Read(buf)
		return err == nil && string(buf[:n]) == "echo over udp"
	})
}

// TestHTTPProxyProtocol: an http route with PROXY v2 sends the client's address first.
func TestHTTPProxyProtocol(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })}
	go be.Serve(&proxyproto.Listener{Listener: l})
	defer be.Close()
	g := newGW(t)
	r := httpRoute("a", "web", "terminate", backendAddr(t, l.Addr()))
	r.ProxyProtocol = true
	g.apply(t, r)
	if _, body, _ := get(t, g.httpClient, "http://web."+testDomain+"/"); !strings.HasPrefix(body, "127.0.0.1:") || body == l.Addr().String() {
		t.Fatalf("backend saw client %q", body)
	}
}

// TestFailover: with one of two backends dead, every request succeeds on the other,
// the dead one is marked down by the health checks, and comes back when it returns.
func TestFailover(t *testing.T) {
	var hitsA, hitsB atomic.Int64
	a := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hitsA.Add(1) }))
	b := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hitsB.Add(1) }))
	defer b.Close()
	addrA := a.Listener.Addr().String()
	g := newGW(t)
	g.apply(t, httpRoute("a", "web", "terminate", backendAddr(t, a.Listener.Addr()), backendAddr(t, b.Listener.Addr())))
	for range 10 {
		if code, _, _ := get(t, g.httpClient, "http://web."+testDomain+"/"); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if hitsA.Load() == 0 || hitsB.Load() == 0 {
		t.Fatalf("round robin: a=%d b=%d", hitsA.Load(), hitsB.Load())
	}
	a.Close() // backend a dies
	g.httpClient.CloseIdleConnections()
	for range 20 {
		if code, _, _ := get(t, g.httpClient, "http://web."+testDomain+"/"); code != 200 {
			t.Fatalf("a request failed while backend b was up: %d", code)
		}
	}
	healthy := func(i int) bool { return g.s.Status()["a"].Backends[i].Healthy }
	eventually(t, "backend a marked down", func() bool { return !healthy(0) && healthy(1) })
	if !strings.Contains(metric(t, g, "zosnet_gateway_backend_up"), `backend="`+addrA+`",name="web.`+testDomain+`"} 0`) {
		t.Fatal("backend_up metric does not show a down")
	}
	l, err := net.Listen("tcp", addrA) // a returns on the same address
	if err != nil {
		t.Fatalf("backend a cannot listen on %s again: %v", addrA, err)
	}
	back := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hitsA.Add(1) })}
	go back.Serve(l)
	defer back.Close()
	eventually(t, "backend a up again", func() bool { return healthy(0) })
}

func metric(t *testing.T, g *gw, name string) string {
	t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sb.WriteString(name + "{")
				for i, l := range m.GetLabel() {
					if i > 0 {
						sb.WriteString(",")
					}
					sb.WriteString(l.GetName() + `="` + l.GetValue() + `"`)
				}
				v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
				sb.WriteString("} " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
			}
		}
	}
	return sb.String()
}

// TestLimits: the per-name rate limit answers 429 beyond its burst, other names
// unaffected.
func TestLimits(t *testing.T) {
	be := httptest.NewServer(echoHeaders())
	defer be.Close()
	g := newGW(t)
	err := g.s.Apply(context.Background(), Config{Domain: testDomain, Limits: Limits{Rate: 0.001, Burst: 3},
		Routes: []Route{httpRoute("a", "web", "terminate", backendAddr(t, be.Listener.Addr())),
			httpRoute("b", "api", "terminate", backendAddr(t, be.Listener.Addr()))}})
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	for range 5 {
		code, _, _ := get(t, g.httpClient, "http://web."+testDomain+"/")
		codes = append(codes, code)
	}
	if codes[2] != 200 || codes[3] != 429 || codes[4] != 429 {
		t.Fatalf("codes %v: want 3 × 200 then 429", codes)
	}
	if code, _, _ := get(t, g.httpClient, "http://api."+testDomain+"/"); code != 200 {
		t.Fatalf("another name limited too: %d", code)
	}
	lim := newLimiter(Limits{MaxConns: 2})
	first, second, third := lim.acquire(), lim.acquire(), lim.acquire()
	if !first || !second || third {
		t.Fatal("connection cap of 2")
	}
	lim.release()
	if !lim.acquire() {
		t.Fatal("a released slot is free again")
	}
}

// TestApplyKeepsOtherConnections: a config change keeps the open connections of names
// that stay, closes those of a removed name, forgets its certificate and frees its port.
func TestApplyKeepsOtherConnections(t *testing.T) {
	tb, stop := tcpEcho(t, false)
	defer stop()
	g := newGW(t)
	p1, p2 := freePort(t, "tcp"), freePort(t, "tcp")
	keep := Route{ID: "keep", Network: "net1", Kind: "tcp", Port: p1, Backends: []netip.AddrPort{tb}}
	gone := Route{ID: "gone", Network: "net1", Kind: "tcp", Port: p2, Backends: []netip.AddrPort{tb}}
	be := httptest.NewServer(echoHeaders())
	defer be.Close()
	web := httpRoute("w", "web", "terminate", backendAddr(t, be.Listener.Addr()))
	g.apply(t, keep, gone, web)
	get(t, g.tlsClient, "https://web."+testDomain+"/") // a certificate for web
	dial := func(p int) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p)).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	ck, bk := dial(p1)
	cg, bg := dial(p2)
	echoLine(t, ck, bk, "before")
	echoLine(t, cg, bg, "before")

	other := httpRoute("o", "other", "passthrough", backendAddr(t, be.Listener.Addr()))
	g.apply(t, keep, other) // gone and web removed, other added
	echoLine(t, ck, bk, "after: still open")
	cg.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bg.ReadString('\n'); err == nil {
		t.Fatal("the removed route's connection is still open")
	}
	if _, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p2)).String()); err == nil {
		t.Fatal("the removed route's port still accepts")
	}
	if len(g.certs.forgot) != 1 || g.certs.forgot[0] != "web."+testDomain {
		t.Fatalf("certificates forgotten: %v", g.certs.forgot)
	}
	if code, _, _ := get(t, g.httpClient, "http://web."+testDomain+"/"); code != 404 {
		t.Fatalf("removed name answers %d", code)
	}
}

// TestApplyAllOrNothing: a config whose port cannot be opened, or that does not build,
// leaves the previous config serving.
func TestApplyAllOrNothing(t *testing.T) {
	be := httptest.NewServer(echoHeaders())
	defer be.Close()
	g := newGW(t)
	web := httpRoute("w", "web", "terminate", backendAddr(t, be.Listener.Addr()))
	g.apply(t, web)
	busy, bp := busyPort(t)
	defer busy.Close()
	free := freePort(t, "tcp")
	bad := []Route{web, {ID: "f", Network: "net1", Kind: "tcp", Port: free, Backends: web.Backends},
		{ID: "b", Network: "net1", Kind: "tcp", Port: bp, Backends: web.Backends}}
	if err := g.s.Apply(context.Background(), Config{Domain: testDomain, Routes: bad}); err == nil {
		t.Fatal("applied a config with a busy port")
	}
	if err := g.s.Apply(context.Background(), Config{Domain: testDomain, Routes: []Route{web, web}}); err == nil {
		t.Fatal("applied a config that does not build")
	}
	if code, _, _ := get(t, g.httpClient, "http://web."+testDomain+"/"); code != 200 || len(g.s.Table().Routes()) != 1 {
		t.Fatalf("previous config not serving: %d", code)
	}
	l, err := net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(free)).String())
	if err != nil {
		t.Fatalf("the port opened by the failed apply was not closed: %v", err)
	}
	l.Close()
}

// TestRestartFromState: a new gateway serves what the previous one persisted, with no
// registry; a state file that does not build is refused, naming the file.
func TestRestartFromState(t *testing.T) {
	be := httptest.NewServer(echoHeaders())
	defer be.Close()
	dir, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Domain: testDomain, Routes: []Route{httpRoute("w", "web", "terminate", backendAddr(t, be.Listener.Addr()))}}
	if err := SaveConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := newGW(t)
	if err := g.s.Apply(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := get(t, g.httpClient, "http://web."+testDomain+"/"); code != 200 {
		t.Fatalf("restarted gateway answers %d", code)
	}
	if err := dir.WriteJSON(stateFile, Config{Domain: testDomain, Routes: []Route{{ID: "x", Kind: "http"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(dir); err == nil || !strings.Contains(err.Error(), stateFile) {
		t.Fatalf("a bad state file: %v", err)
	}
	if err := SaveConfig(dir, Config{Routes: []Route{{ID: "x"}}}); err == nil {
		t.Fatal("persisted an invalid config")
	}
}

func TestNewNeedsListenerAndDialer(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without Listener and Dialer")
	}
}

// busyPort holds a loopback TCP port outside the WireGuard range (3000-3999), which the
// gateway refuses for another reason; the kernel's picks in that range are held until the
// test ends and another port is asked for.
func busyPort(t *testing.T) (net.Listener, int) {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if p := l.Addr().(*net.TCPAddr).Port; p < 3000 || p > 3999 {
			return l, p
		}
		t.Cleanup(func() { l.Close() })
	}
	t.Fatal("the kernel gave 100 ports in the WireGuard range")
	return nil, 0
}
