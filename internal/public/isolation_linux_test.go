package public_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/ndmz"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/public"
	"github.com/zosnet/zosnet/internal/testkit"
	"github.com/zosnet/zosnet/internal/workload"
)

type place struct {
	ns   *netns.NS
	addr netip.Addr
	port int // its TCP listener (0: probePort)
}

const probePort = 8080

// TestIsolationMatrix: every pair among {workload of user A, workload of user B on the
// same node (same subnet and address as A), workload of user C, a farm OOB host, an
// internet host, the node's host namespace} both ways,
// TCP and ICMP, against the expected table. Each place runs a TCP listener, so "deny"
// means the firewall or the lack of a route stops it, not a closed port.
func TestIsolationMatrix(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t)
	n := bootNode(t, l, "farm1")
	a, ans := n.nr(t, oneNR("neta", "10.1.1.0/24", 3001), "wa")
	// B: same subnet as A (users choose freely), and a name whose address is A's.
	b, bns := n.nr(t, oneNR("netb", "10.1.1.0/24", 3002), nameWithAddr(t, oneNR("netb", "10.1.1.0/24", 3002), a.IPv4.Addr()))
	c, cns := n.nr(t, oneNR("netc", "10.3.1.0/24", 3003), "wc")
	pl := map[string]place{
		"A":    {ans, a.IPv4.Addr(), 0},
		"B":    {bns, b.IPv4.Addr(), probePort + 2}, // A's address: its own port tells them apart
		"C":    {cns, c.IPv4.Addr(), 0},
		"OOB":  {openNS(t, l.NSPath("farmgw")), netip.MustParseAddr("10.201.0.1"), 0},
		"INET": {openNS(t, l.NSPath("registry")), registry4, 0},
		"HOST": {n.ns, n.zos.Addr(), 0},
	}
	for name, p := range pl {
		if p.port == 0 {
			p.port = probePort
			pl[name] = p
		}
		listen(t, p.ns, p.port)
	}
	if a.IPv4 != b.IPv4 {
		t.Fatalf("A %s and B %s: want the same address (two users, one subnet)", a.IPv4, b.IPv4)
	}
	testkit.PollPing(t, ans, registry4, 10*time.Second)
	// Workloads reach the internet only: the farm LAN (OOB) is refused by ndmz's egress
	// rule (issue 17); the node itself still reaches it.
	allow := map[string]bool{"A>INET": true, "B>INET": true, "C>INET": true,
		"HOST>OOB": true, "HOST>INET": true, "OOB>INET": true}
	// A>B and B>A are not probed: B has A's address, so from A it is A itself (the
	// B pairs below reach B's address on B's own port).
	pairs := []string{"A>C", "C>A", "A>OOB", "A>INET", "A>HOST", "C>INET", "C>OOB", "C>HOST",
		"B>C", "C>B", "B>OOB", "B>INET", "B>HOST", "OOB>B", "INET>B", "HOST>B",
		"OOB>A", "OOB>C", "OOB>HOST", "INET>A", "INET>C", "INET>HOST", "HOST>A", "HOST>C", "HOST>OOB", "HOST>INET"}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, pair := range pairs {
		from, to := split(pair)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tcp := dialTCP(t, pl[from].ns, pl[to].addr, pl[to].port, 800*time.Millisecond)
			icmp := testkit.Ping(t, pl[from].ns, pl[to].addr) == nil
			mu.Lock()
			defer mu.Unlock()
			if tcp != allow[pair] || icmp != allow[pair] {
				t.Errorf("%s (%s → %s): tcp=%v icmp=%v, want %v", pair, pl[from].addr, pl[to].addr, tcp, icmp, allow[pair])
			}
		}()
	}
	wg.Wait()
	// IPv6: the workloads' ULAs, the node's SLAAC address on br-pub, the internet host.
	host6 := waitGlobal(t, n.ns, public.Bridge, true, 10*time.Second)
	for _, x := range []struct {
		name     string
		from     *netns.NS
		to       netip.Addr
		listenNS *netns.NS
		allow    bool
	}{
		{"A>C ipv6", ans, c.IPv6.Addr(), cns, false},
		{"C>A ipv6", cns, a.IPv6.Addr(), ans, false},
		{"A>HOST ipv6", ans, host6, nil, false},
		{"A>INET ipv6", ans, registry6, nil, true},
		{"HOST>A ipv6", n.ns, a.IPv6.Addr(), nil, false},
		{"INET>A ipv6", pl["INET"].ns, a.IPv6.Addr(), nil, false},
		{"HOST>INET ipv6", n.ns, registry6, nil, true},
	} {
		tcp := dialTCP(t, x.from, x.to, probePort, 800*time.Millisecond)
		icmp := testkit.Ping(t, x.from, x.to) == nil
		if tcp != x.allow || icmp != x.allow {
			t.Errorf("%s (→ %s): tcp=%v icmp=%v, want %v", x.name, x.to, tcp, icmp, x.allow)
		}
	}
	// The node's public IPv6 addresses (host on br-pub, ndmz's SLAAC leg) from the internet.
	dmz := openNS(t, filepath.Join(n.dir, ndmz.NS))
	user := openNS(t, l.NSPath("user"))
	listen(t, dmz, probePort+1)
	for name, addr := range map[string]netip.Addr{
		"host br-pub": waitGlobal(t, n.ns, public.Bridge, true, 10*time.Second),
		"ndmz pub6":   waitGlobal(t, dmz, ndmz.PubLink, true, 10*time.Second),
	} {
		if dialTCP(t, user, addr, probePort, 800*time.Millisecond) || dialTCP(t, user, addr, probePort+1, 800*time.Millisecond) || testkit.Ping(t, user, addr) == nil {
			t.Errorf("internet reaches %s (%s)", name, addr)
		}
	}
}

func split(pair string) (string, string) {
	for i := range pair {
		if pair[i] == '>' {
			return pair[:i], pair[i+1:]
		}
	}
	return pair, ""
}

// scan returns the TCP ports among 1..1024 and extra that accept a connection from ns
// to addr (bounded: 128 at a time, 300 ms each).
func scan(t *testing.T, ns *netns.NS, addr netip.Addr, extra ...int) []int {
	t.Helper()
	ports := extra
	for p := 1; p <= 1024; p++ {
		ports = append(ports, p)
	}
	var mu sync.Mutex
	var open []int
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	for _, p := range ports {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if dialTCP(t, ns, addr, p, 300*time.Millisecond) {
				mu.Lock()
				open = append(open, p)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return open
}

// TestPortScan scans farm1 from the farm LAN and from the internet, with a TCP
// listener and a UDP echo in the host and in ndmz (as if a service listened there by
// mistake) and two NRs' WireGuard sockets in the host namespace: no TCP port (1-1024 and
// the listener's) is open and the UDP echo does not answer; a UDP scan (1-1024, the DHCP
// client's 68, 546 and the WireGuard ports) hears nothing, neither data nor an ICMP
// error, over IPv4 from the farm LAN and over IPv6 from the internet. The WireGuard
// ports are the only ones the host table opens, and WireGuard answers no stranger.
func TestPortScan(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t)
	n := bootNode(t, l, "farm1")
	n.nr(t, oneNR("neta", "10.1.1.0/24", 3001), "wa")
	n.nr(t, oneNR("netb", "10.2.1.0/24", 3002), "wb")
	if err := n.up.Apply(t.Context(), nil, []uint16{3001, 3002}); err != nil {
		t.Fatal(err)
	}
	dmz := openNS(t, filepath.Join(n.dir, ndmz.NS))
	listen(t, n.ns, probePort)
	listen(t, dmz, probePort)
	udpEcho(t, n.ns, probePort) // a UDP service in the host or ndmz must not be reachable either
	udpEcho(t, dmz, probePort)
	oob, user := openNS(t, l.NSPath("farmgw")), openNS(t, l.NSPath("user"))
	reg := openNS(t, l.NSPath("registry"))
	listen(t, reg, probePort)
	if open := scan(t, user, registry4, probePort); len(open) != 1 || open[0] != probePort {
		t.Fatalf("control: scan of the registry found %v, want [%d]: the scanner is broken", open, probePort)
	}
	udpEcho(t, reg, probePort)
	if !udpAnswers(t, user, registry4, probePort, time.Second) {
		t.Fatal("control: the registry's UDP echo does not answer: the UDP probe is broken")
	}
	for _, x := range []struct {
		from *netns.NS
		name string
		addr netip.Addr
	}{
		{oob, "zos from the farm LAN", n.zos.Addr()},
		{user, "br-pub from the internet", waitGlobal(t, n.ns, public.Bridge, true, 10*time.Second)},
		{user, "ndmz from the internet", waitGlobal(t, dmz, ndmz.PubLink, true, 10*time.Second)},
		{oob, "ndmz transit from the farm LAN", ndmz.InnerAddr},
	} {
		if open := scan(t, x.from, x.addr, probePort); len(open) > 0 {
			t.Errorf("%s (%s): open TCP ports %v", x.name, x.addr, open)
		}
		if udpAnswers(t, x.from, x.addr, probePort, 500*time.Millisecond) {
			t.Errorf("%s (%s): UDP %d answers", x.name, x.addr, probePort)
		}
	}
	// UDP: a closed port answers ICMP port unreachable, so a scan tells open from
	// closed; the node must answer nothing at all (the DHCP client's port 68 included,
	// IPv4 from the farm LAN, IPv6 from the internet). Control: the registry's closed
	// ports do answer.
	udpPorts := []int{68, 546, 3000, 3001, 3002, probePort}
	for p := 1; p <= 1024; p++ {
		udpPorts = append(udpPorts, p)
	}
	// (ICMP errors are rate-limited per peer: a host that is not silent still answers the
	// first ones, which is all the scan needs.)
	if got := udpScan(t, user, registry4, []int{68, probePort}); len(got) != 2 {
		t.Fatalf("control: UDP scan of the registry heard %v, want [68 %d]: the scanner is broken", got, probePort)
	}
	for _, x := range []struct {
		from *netns.NS
		name string
		addr netip.Addr
	}{
		{oob, "zos from the farm LAN", n.zos.Addr()},
		{user, "br-pub from the internet", waitGlobal(t, n.ns, public.Bridge, true, 10*time.Second)},
		{user, "ndmz from the internet", waitGlobal(t, dmz, ndmz.PubLink, true, 10*time.Second)},
	} {
		if got := udpScan(t, x.from, x.addr, udpPorts); len(got) > 0 {
			t.Errorf("UDP scan of %s (%s): answers on %v", x.name, x.addr, got)
		}
	}
}

// udpScan returns the ports of addr that answer a datagram from ns, with data or with
// an ICMP error (bounded: 128 at a time, 400 ms each).
func udpScan(t *testing.T, ns *netns.NS, addr netip.Addr, ports []int) []int {
	t.Helper()
	var mu sync.Mutex
	var heard []int
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	for _, p := range ports {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var c net.Conn
			if err := ns.Do(func() error {
				testkit.RefuseInit(t)
				var err error
				c, err = net.Dial("udp", netip.AddrPortFrom(addr, uint16(p)).String())
				return err
			}); err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(400 * time.Millisecond))
			c.Write([]byte("scan"))
			_, err := c.Read(make([]byte, 16))
			var ne net.Error
			if err == nil || !(errors.As(err, &ne) && ne.Timeout()) {
				mu.Lock()
				heard = append(heard, p)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return heard
}

// nameWithAddr finds a workload name that workload.Plan places at addr in NR nr (a
// workload's address is the hash of its network and name).
func nameWithAddr(t *testing.T, nr nodeapi.NRSpec, addr netip.Addr) string {
	t.Helper()
	for i := range 100000 {
		name := fmt.Sprintf("wb%d", i)
		w, err := workload.Plan(nr, nodeapi.WorkloadSpec{Name: name, NetworkID: nr.NetworkID, Kind: nodeapi.KindNetns}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if w.IPv4.Addr() == addr {
			return name
		}
	}
	t.Fatalf("no workload name in %s gets %s", nr.NetworkID, addr)
	return ""
}
