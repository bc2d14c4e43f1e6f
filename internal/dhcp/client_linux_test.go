package dhcp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/dhcp/dhcptest"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// pair builds server namespace (s0 = 10.5.0.1/24) and client namespace (c0).
func pair(t *testing.T) (srv, cli *netns.NS) {
	srv, cli = testkit.NewNS(t), testkit.NewNS(t)
	dhcptest.Veth(t, srv, "s0", cli, "c0", net.HardwareAddr{0x02, 0, 0, 0, 0x05, 0x01})
	dhcptest.AddAddr(t, srv, "s0", "10.5.0.1/24")
	return srv, cli
}

func v4Addrs(t *testing.T, ns *netns.NS, iface string) []netip.Prefix {
	h := testkit.Handle(t, ns)
	l, err := h.LinkByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	as, err := h.AddrList(l, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, a := range as {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip, ones))
	}
	return out
}

func defaultGW(t *testing.T, ns *netns.NS) netip.Addr {
	h := testkit.Handle(t, ns)
	rs, err := h.RouteListFiltered(unix.AF_INET, &netlink.Route{Dst: nil}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			gw, _ := netip.AddrFromSlice(r.Gw.To4())
			return gw
		}
	}
	return netip.Addr{}
}

func TestProbeAssignsNothing(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	srv, cli := pair(t)
	srvD := dhcptest.StartDnsmasq(t, srv, dhcptest.Server{Iface: "s0", Range: "10.5.0.100,10.5.0.150"})
	c, err := Open(cli, "c0", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !l.HasGateway() || l.Router != netip.MustParseAddr("10.5.0.1") || l.Addr.Bits() != 24 {
		t.Fatalf("lease %v: want gateway 10.5.0.1 and a /24", l)
	}
	if a := v4Addrs(t, cli, "c0"); len(a) != 0 {
		t.Fatalf("probe left addresses on c0: %v", a)
	}
	if err := c.Release(l); err != nil {
		t.Fatalf("release: %v", err)
	}
	// the server got it: it logs the release and drops the lease from its file
	released := dhcptest.Eventually(10*time.Second, func() bool {
		lg, _ := os.ReadFile(filepath.Join(srvD.Dir, "log"))
		ls, _ := os.ReadFile(filepath.Join(srvD.Dir, "leases"))
		return strings.Contains(string(lg), "DHCPRELEASE(s0) "+l.Addr.Addr().String()) && !strings.Contains(string(ls), l.Addr.Addr().String())
	})
	if !released {
		lg, _ := os.ReadFile(filepath.Join(srvD.Dir, "log"))
		t.Fatalf("dnsmasq did not release %s:\n%s", l.Addr.Addr(), lg)
	}
}

func TestProbeNoRouter(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	srv, cli := pair(t)
	dhcptest.StartDnsmasq(t, srv, dhcptest.Server{Iface: "s0", Range: "10.5.0.100,10.5.0.150", NoRouter: true})
	c, err := Open(cli, "c0", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l.HasGateway() {
		t.Fatalf("lease %v has a gateway, the server sent no router option", l)
	}
}

func TestDiscoverGivesUpWithContext(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	_, cli := pair(t) // no server
	c, err := Open(cli, "c0", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	if _, err := c.Discover(ctx); err == nil || !strings.Contains(err.Error(), "c0") {
		t.Fatalf("Discover without a server: %v, want an error naming c0", err)
	}
	if _, err := Open(cli, "nope0", testLog(t)); err == nil || !strings.Contains(err.Error(), "nope0") {
		t.Fatalf("Open on a missing link: %v", err)
	}
}

// TestKeeperFollowsServer: the keeper applies a lease (address, default route,
// resolv.conf), follows a server restarted with a new range (NAK at renewal, then a new
// lease), and rediscovers after carrier loss.
func TestKeeperFollowsServer(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	srv, cli := pair(t)
	dns := netip.MustParseAddr("10.5.0.53")
	d := dhcptest.StartDnsmasq(t, srv, dhcptest.Server{Iface: "s0", Range: "10.5.0.100,10.5.0.150", DNS: dns})
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	leases := make(chan *Lease, 8)
	k := &Keeper{NS: cli, Iface: "c0", ResolvConf: resolv, Log: testLog(t), OnLease: func(l *Lease) { leases <- l }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })

	first := nextLease(t, leases, 20*time.Second)
	inRange := func(p netip.Prefix, third byte) bool {
		b := p.Addr().As4()
		return b[0] == 10 && b[1] == 5 && b[2] == third && b[3] >= 100 && b[3] <= 150
	}
	if !inRange(first.Addr, 0) || !slicesHas(v4Addrs(t, cli, "c0"), first.Addr) || defaultGW(t, cli) != first.Router {
		t.Fatalf("lease %v not applied: addrs %v gw %v", first, v4Addrs(t, cli, "c0"), defaultGW(t, cli))
	}
	if b, _ := os.ReadFile(resolv); !strings.Contains(string(b), "nameserver 10.5.0.53") {
		t.Fatalf("resolv.conf = %q", b)
	}

	// Carrier loss and return: the keeper rediscovers (same server, same address).
	dhcptest.SetUp(t, srv, "s0", false)
	// The kernel's linkwatch coalesces a quick flap into one event: wait until c0 shows
	// the loss before bringing the carrier back.
	if !dhcptest.Eventually(5*time.Second, func() bool { return !lowerUp(t, cli, "c0") }) {
		t.Fatal("c0 never lost carrier")
	}
	dhcptest.SetUp(t, srv, "s0", true)
	again := nextLease(t, leases, 20*time.Second)
	if again.Addr != first.Addr {
		t.Fatalf("after carrier loss got %v, want the same address %v", again.Addr, first.Addr)
	}

	// New range mid-lease: the renewal at T1 (60 s with dnsmasq's 2 min minimum) gets a
	// NAK and the keeper moves to the new range.
	d.Stop()
	dhcptest.AddAddr(t, srv, "s0", "10.5.1.1/24")
	dhcptest.StartDnsmasq(t, srv, dhcptest.Server{Iface: "s0", Range: "10.5.1.100,10.5.1.150"})
	moved := nextLease(t, leases, 90*time.Second)
	if !inRange(moved.Addr, 1) {
		t.Fatalf("after the server change got %v, want 10.5.1.100-150", moved)
	}
	if a := v4Addrs(t, cli, "c0"); len(a) != 1 || a[0] != moved.Addr {
		t.Fatalf("addresses after the move: %v, want only %v", a, moved.Addr)
	}
}

func nextLease(t *testing.T, ch <-chan *Lease, d time.Duration) *Lease {
	t.Helper()
	select {
	case l := <-ch:
		return l
	case <-time.After(d):
		t.Fatalf("no lease applied within %v", d)
		return nil
	}
}

func slicesHas(ps []netip.Prefix, p netip.Prefix) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

func lowerUp(t *testing.T, ns *netns.NS, name string) bool {
	l, err := testkit.Handle(t, ns).LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().RawFlags&unix.IFF_LOWER_UP != 0
}

// TestApplySameSubnet: moving to another address of the same subnet keeps the new
// address and the default route (deleting a primary address deletes its secondaries).
func TestApplySameSubnet(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	_, cli := pair(t)
	h := testkit.Handle(t, cli)
	link, err := h.LinkByName("c0")
	if err != nil {
		t.Fatal(err)
	}
	a := Config{Addr: netip.MustParsePrefix("10.5.0.141/24"), Gateway: netip.MustParseAddr("10.5.0.1"), Lifetime: time.Hour}
	b := Config{Addr: netip.MustParsePrefix("10.5.0.25/24"), Gateway: netip.MustParseAddr("10.5.0.1"), Lifetime: time.Hour}
	for i, step := range []struct {
		c   Config
		old *Config
	}{{a, nil}, {a, &a}, {b, &a}} {
		if err := Apply(h, link, step.c, step.old); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := v4Addrs(t, cli, "c0"); len(got) != 1 || got[0] != step.c.Addr || defaultGW(t, cli) != step.c.Gateway {
			t.Fatalf("step %d: addresses %v, gateway %v; want only %v via %v", i, got, defaultGW(t, cli), step.c.Addr, step.c.Gateway)
		}
	}
	if err := Remove(h, link, b); err != nil {
		t.Fatal(err)
	}
	if err := Remove(h, link, b); err != nil {
		t.Fatalf("second remove: %v (gone must be success)", err)
	}
	if got := v4Addrs(t, cli, "c0"); len(got) != 0 || defaultGW(t, cli).IsValid() {
		t.Fatalf("after remove: %v, gw %v", got, defaultGW(t, cli))
	}
}
