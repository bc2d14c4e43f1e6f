package link_test

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

func TestIPNet(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"10.1.2.3/24", "10.1.2.3/24"}, {"10.1.2.0/24", "10.1.2.0/24"}, {"fd00::1/64", "fd00::1/64"}, {"0.0.0.0/0", "0.0.0.0/0"},
	} {
		if got := link.IPNet(netip.MustParsePrefix(c.in)).String(); got != c.want {
			t.Errorf("IPNet(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestIPv6AndWith(t *testing.T) {
	got := link.IPv6("eth0.100", link.Sysctls{"accept_ra": "2"}).With(link.Sysctls{"net/ipv4/ip_forward": "1"})
	want := link.Sysctls{"net/ipv6/conf/eth0.100/accept_ra": "2", "net/ipv4/ip_forward": "1"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestEnsureDeleteFixHalf: Ensure is idempotent and refuses another type; Delete of a
// missing link is success; FixHalfVeth removes an end whose peer is gone and keeps a
// whole pair.
func TestEnsureDeleteFixHalf(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := testkit.NewNS(t), testkit.NewNS(t)
	ha, hb, err := link.Handles(a, b)
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	defer hb.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br-t"}}
	first, err := link.Ensure(ha, br)
	if err != nil {
		t.Fatal(err)
	}
	again, err := link.Ensure(ha, &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br-t"}})
	if err != nil || again.Attrs().Index != first.Attrs().Index {
		t.Fatalf("second Ensure: %v (index %d, want %d)", err, again.Attrs().Index, first.Attrs().Index)
	}
	if _, err := link.Ensure(ha, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "br-t"}, PeerName: "x"}); err == nil ||
		!strings.Contains(err.Error(), "exists as bridge") {
		t.Fatalf("Ensure of another type: %v", err)
	}
	v, err := link.Ensure(ha, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "va"}, PeerName: "vb", PeerNamespace: netlink.NsFd(b.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	if err := link.SetMaster(ha, v, first); err != nil {
		t.Fatal(err)
	}
	if err := link.SetMTUUp(ha, v, 1400); err != nil {
		t.Fatal(err)
	}
	if got, _ := ha.LinkByName("va"); got.Attrs().MTU != 1400 || got.Attrs().MasterIndex != first.Attrs().Index {
		t.Fatalf("va: mtu %d master %d", got.Attrs().MTU, got.Attrs().MasterIndex)
	}
	if err := link.FixHalfVeth(ha, hb, "va", "vb"); err != nil {
		t.Fatal(err)
	}
	if _, err := ha.LinkByName("va"); err != nil {
		t.Fatal("FixHalfVeth deleted a whole pair")
	}
	if err := link.Delete(hb, "vb"); err != nil { // its peer va goes with it
		t.Fatal(err)
	}
	if _, err := ha.LinkByName("va"); err == nil {
		t.Fatal("va outlived its peer")
	}
	if err := link.Delete(hb, "vb"); err != nil {
		t.Fatalf("delete missing: %v", err)
	}
	// A half: a veth end in a whose peer lives elsewhere (c), asked for in b.
	c := testkit.NewNS(t)
	if _, err := link.Ensure(ha, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vh"}, PeerName: "vb", PeerNamespace: netlink.NsFd(c.Fd())}); err != nil {
		t.Fatal(err)
	}
	if err := link.FixHalfVeth(ha, hb, "vh", "vb"); err != nil {
		t.Fatal(err)
	}
	if _, err := ha.LinkByName("vh"); err == nil {
		t.Fatal("FixHalfVeth kept an end whose peer is missing")
	}
	if err := link.ReplaceAddrs(ha, first, netip.MustParsePrefix("10.9.0.1/24"), netip.MustParsePrefix("fd00:9::1/64")); err != nil {
		t.Fatal(err)
	}
	if err := link.ReplaceAddrs(ha, first, netip.MustParsePrefix("10.9.0.1/24")); err != nil {
		t.Fatalf("replace again: %v", err)
	}
	if err := link.UpByName(ha, "lo", "br-t"); err != nil {
		t.Fatal(err)
	}
	if err := link.UpByName(ha, "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("UpByName of a missing link: %v", err)
	}
}

// TestSet writes inside the namespace only, skips br_netfilter's keys when missing,
// and names a failing key in dotted form.
func TestSet(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	ns := testkit.NewNS(t)
	read := func(in *netns.NS, k string) string {
		var v []byte
		f := func() error {
			var err error
			v, err = os.ReadFile("/proc/sys/" + k)
			return err
		}
		if err := in.Do(f); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(v))
	}
	host, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	before := read(host, "net/ipv6/conf/lo/disable_ipv6")
	want := "1"
	if before == "1" {
		want = "0"
	}
	kv := link.IPv6("lo", link.Sysctls{"disable_ipv6": want}).With(link.NoBridgeNetfilter())
	if err := link.Set(ns, kv); err != nil {
		t.Fatal(err)
	}
	if got := read(ns, "net/ipv6/conf/lo/disable_ipv6"); got != want {
		t.Errorf("in ns: %s, want %s", got, want)
	}
	if got := read(host, "net/ipv6/conf/lo/disable_ipv6"); got != before {
		t.Errorf("the host's value changed: %s, was %s", got, before)
	}
	err = link.Set(ns, link.IPv6("nope0", link.Sysctls{"accept_ra": "2"}))
	if err == nil || !strings.Contains(err.Error(), "net.ipv6.conf.nope0.accept_ra=2") {
		t.Errorf("missing interface: %v", err)
	}
}

// TestListenNDP: an NDP socket that ListenNDP opened in one namespace sends from a
// thread in another namespace holding a different interface of the same name (as an
// NR's leg and the host's bridge are): the message leaves on the socket's own
// interface and the far end reads it. With the interface's name as the zone, the
// name resolves to the other interface's index in the sending thread's namespace.
func TestListenNDP(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := testkit.NewNS(t), testkit.NewNS(t)
	ha, hb := testkit.Handle(t, a), testkit.Handle(t, b)
	for _, ns := range []*netns.NS{a, b} { // link-local addresses usable at once
		if err := link.Set(ns, link.Sysctls{"net/ipv6/conf/default/accept_dad": "0", "net/ipv6/conf/default/disable_ipv6": "0"}); err != nil {
			t.Fatal(err)
		}
	}
	// a bridge first (no dummy module here), so b's "lg" gets another index than a's
	if err := hb.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "d0"}}); err != nil {
		t.Fatal(err)
	}
	if err := ha.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "lg"}, PeerName: "lg", PeerNamespace: netlink.NsFd(b.Fd())}); err != nil {
		t.Fatal(err)
	}
	la, err := ha.LinkByName("lg")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := hb.LinkByName("lg")
	if err != nil {
		t.Fatal(err)
	}
	if la.Attrs().Index == lb.Attrs().Index {
		t.Fatalf("both legs have index %d: the test needs them to differ", la.Attrs().Index)
	}
	for _, x := range []struct {
		h *netlink.Handle
		l netlink.Link
	}{{ha, la}, {hb, lb}} {
		if err := x.h.LinkSetUp(x.l); err != nil {
			t.Fatal(err)
		}
	}
	open := func(ns *netns.NS) *ndp.Conn {
		t.Helper()
		var c *ndp.Conn
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := ns.Do(func() error {
				ifi, err := net.InterfaceByName("lg")
				if err != nil {
					return err
				}
				c, err = link.ListenNDP(ifi, ndp.LinkLocal)
				return err
			})
			if err == nil {
				t.Cleanup(func() { c.Close() })
				return c
			}
			if time.Now().After(deadline) { // the link-local address comes with the carrier
				t.Fatalf("ndp socket in %s: %v", ns.Path(), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ca, cb := open(a), open(b)
	routers := netip.MustParseAddr("ff02::2")
	if err := cb.JoinGroup(routers); err != nil {
		t.Fatal(err)
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	if err := cb.SetICMPFilter(&f); err != nil {
		t.Fatal(err)
	}
	if err := b.Do(func() error { return ca.WriteTo(&ndp.RouterSolicitation{}, nil, routers) }); err != nil {
		t.Fatalf("send from a thread in the other namespace: %v", err)
	}
	if err := cb.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	m, _, from, err := cb.ReadFrom()
	if err != nil {
		t.Fatalf("the far end read nothing: %v", err)
	}
	if _, ok := m.(*ndp.RouterSolicitation); !ok || !from.IsLinkLocalUnicast() {
		t.Fatalf("the far end read %T from %s, want a router solicitation from a link-local address", m, from)
	}
}
