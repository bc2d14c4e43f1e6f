package vmnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/dhcp"
	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

// vmLink makes a veth from bridge br in router namespace r to eth0 in a fresh
// namespace with mac, and returns that namespace (IPv6: SLAAC on, DAD off).
func vmLink(t testing.TB, r *netns.NS, br netlink.Link, port string, mac net.HardwareAddr) *netns.NS {
	t.Helper()
	vm := testkit.NewNS(t)
	mustOK(t, link.Set(vm, link.IPv6("default", link.Sysctls{"accept_dad": "0", "accept_ra": "1", "autoconf": "1", "forwarding": "0"})))
	h, vh := testkit.Handle(t, r), testkit.Handle(t, vm)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port, MTU: 1420}, PeerName: "eth0", PeerNamespace: netlink.NsFd(vm.Fd()), PeerHardwareAddr: mac}
	mustOK(t, h.LinkAdd(v))
	p, err := h.LinkByName(port)
	mustOK(t, err)
	mustOK(t, h.LinkSetMaster(p, br))
	mustOK(t, h.LinkSetUp(p))
	e, err := vh.LinkByName("eth0")
	mustOK(t, err)
	mustOK(t, vh.LinkSetUp(e))
	return vm
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestServer: on a bridge like an NR's, the VM's MAC gets its address, gateway, lease
// time and MTU by DHCP and its SLAAC address in the advertised /64 with a default
// route from the RA; another MAC on the same bridge gets no lease.
func TestServer(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	r := testkit.NewNS(t)
	mustOK(t, link.Set(r, link.IPv6("default", link.Sysctls{"accept_dad": "0", "forwarding": "1"}).With(link.IPv6("all", link.Sysctls{"forwarding": "1"}))))
	h := testkit.Handle(t, r)
	mustOK(t, h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br", MTU: 1420, HardwareAddr: net.HardwareAddr{0x02, 0, 0, 0, 0, 1}}}))
	br, err := h.LinkByName("br")
	mustOK(t, err)
	mustOK(t, h.LinkSetUp(br))
	mustOK(t, link.ReplaceAddrs(h, br, netip.MustParsePrefix("10.100.1.1/24"), netip.MustParsePrefix("fd64:1:2:3::1/64")))
	vm := vmLink(t, r, br, "p-vm", vmMAC)
	stranger := vmLink(t, r, br, "p-other", net.HardwareAddr{0x02, 0, 0, 0, 0, 9})
	c := cfg
	c.Prefixes = []netip.Prefix{netip.MustParsePrefix("fd64:1:2:3::/64")}
	var srv *Server
	// the bridge's link-local address appears once it has a port up
	err = poll(5*time.Second, func() error {
		var err error
		srv, err = Start(r, "br", c, leases, nil)
		return err
	})
	mustOK(t, err)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := dhcp.Open(vm, "eth0", nil)
	mustOK(t, err)
	defer cl.Close()
	start := time.Now()
	l, err := cl.Discover(ctx)
	mustOK(t, err)
	t.Logf("DHCP lease after %s", time.Since(start).Round(time.Millisecond))
	if l.Addr.String() != "10.100.1.77/24" || l.Router.String() != "10.100.1.1" || l.Duration != 10*time.Minute || len(l.DNS) != 1 {
		t.Fatalf("lease %+v", l)
	}
	want := EUI64(c.Prefixes[0], vmMAC)
	vh := testkit.Handle(t, vm)
	err = poll(10*time.Second, func() error {
		e, err := vh.LinkByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := vh.AddrList(e, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		routes, err := vh.RouteList(e, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		hasDefault := false
		for _, r := range routes {
			hasDefault = hasDefault || (r.Dst == nil || r.Dst.String() == "::/0") && r.Gw != nil
		}
		for _, a := range addrs {
			if a.IP.String() == want.String() && hasDefault {
				return nil
			}
		}
		return fmt.Errorf("no SLAAC %s with a default route yet: %v", want, addrs)
	})
	mustOK(t, err)

	// the stranger asks for 3 s and is not answered
	sc, err := dhcp.Open(stranger, "eth0", nil)
	mustOK(t, err)
	defer sc.Close()
	sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer scancel()
	if l, err := sc.Discover(sctx); err == nil {
		t.Fatalf("a MAC that is no VM of the NR got lease %+v", l)
	}
}

func poll(within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkDHCPLease measures a VM's whole DHCPv4 exchange with the server (discover,
// offer, request, ack) on a bridge like an NR's: ms/lease is one lease.
func BenchmarkDHCPLease(b *testing.B) {
	testkit.RequireRoot(b)
	r := testkit.NewNS(b)
	h := testkit.Handle(b, r)
	mustOK(b, h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br", MTU: 1420, HardwareAddr: net.HardwareAddr{0x02, 0, 0, 0, 0, 1}}}))
	br, err := h.LinkByName("br")
	mustOK(b, err)
	mustOK(b, h.LinkSetUp(br))
	mustOK(b, link.ReplaceAddrs(h, br, netip.MustParsePrefix("10.100.1.1/24")))
	vm := vmLink(b, r, br, "p-vm", vmMAC)
	var srv *Server
	mustOK(b, poll(5*time.Second, func() error {
		var err error
		srv, err = Start(r, "br", cfg, leases, nil)
		return err
	}))
	defer srv.Close()
	cl, err := dhcp.Open(vm, "eth0", nil)
	mustOK(b, err)
	defer cl.Close()
	ctx := context.Background()
	for b.Loop() {
		if _, err := cl.Discover(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/lease")
}
