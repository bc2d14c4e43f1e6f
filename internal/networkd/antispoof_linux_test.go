package networkd_test

import (
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

// TestAntiSpoofThroughAPI: two workloads made through networkd's API on one NR, with
// the uplinks not managed (no zos bridge: the mode where anti-spoofing used to be
// skipped). Static neighbour entries on both sides make every spoofed ping answerable
// without ARP or NDP, so the only thing that can stop it is the anti-spoofing table:
// with a spoofed source MAC, IPv4 or IPv6 nothing comes back; with the workload's own
// addresses the same setup answers.
func TestAntiSpoofThroughAPI(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a := newNode(t)
	a.resync = time.Hour // the pass would undo the spoofing set up below
	a.start(t)
	if _, err := a.cl.PutNR(bg, spec("net1", "10.1.1.0/24")); err != nil {
		t.Fatal(err)
	}
	wa, wb := addWL(t, a, "net1", "wa"), addWL(t, a, "net1", "wb")
	nsA, nsB := openNS(t, filepath.Join(a.netnsDir(), wa.Netns)), openNS(t, filepath.Join(a.netnsDir(), wb.Netns))
	hA, hB := testkit.Handle(t, nsA), testkit.Handle(t, nsB)
	ethA, ethB := eth0(t, hA), eth0(t, hB)
	macA, macB := ethA.Attrs().HardwareAddr, ethB.Attrs().HardwareAddr

	spoof4 := wa.IPv4.Addr().Next().Next().Next() // not a's, not b's (b got a's next)
	spoof6 := wa.IPv6.Addr().Next().Next().Next()
	fake := net.HardwareAddr{0x02, 0x5a, 0x5a, 0, 0, 1}
	for _, ip := range []netip.Addr{spoof4, spoof6} {
		if ip == wb.IPv4.Addr() || ip == wb.IPv6.Addr() {
			t.Fatalf("spoofed address %s is b's", ip)
		}
		addAddr(t, hA, ethA, ip)
	}
	// b answers a's addresses (own and spoofed) at a's MAC, a reaches b at b's MAC.
	for _, ip := range []netip.Addr{wa.IPv4.Addr(), wa.IPv6.Addr(), spoof4, spoof6} {
		neigh(t, hB, ethB, ip, macA)
	}
	for _, ip := range []netip.Addr{wb.IPv4.Addr(), wb.IPv6.Addr()} {
		neigh(t, hA, ethA, ip, macB)
	}
	if got := testkit.NFTList(t, a.host, "bridge", "zosnet-antispoof"); got == "" {
		t.Fatal("no anti-spoofing table with the uplinks not managed")
	}
	// control: a's own addresses pass
	testkit.PollPingFrom(t, nsA, wa.IPv4.Addr(), wb.IPv4.Addr(), 5*time.Second)
	testkit.PollPingFrom(t, nsA, wa.IPv6.Addr(), wb.IPv6.Addr(), 5*time.Second)
	noReply(t, nsA, spoof4, wb.IPv4.Addr(), "spoofed IPv4 source")
	noReply(t, nsA, spoof6, wb.IPv6.Addr(), "spoofed IPv6 source")

	// spoofed MAC: a takes another MAC and b's neighbour entries follow it
	if err := hA.LinkSetHardwareAddr(ethA, fake); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []netip.Addr{wa.IPv4.Addr(), wa.IPv6.Addr()} {
		neigh(t, hB, ethB, ip, fake)
	}
	noReply(t, nsA, wa.IPv4.Addr(), wb.IPv4.Addr(), "spoofed MAC (IPv4)")
	noReply(t, nsA, wa.IPv6.Addr(), wb.IPv6.Addr(), "spoofed MAC (IPv6)")

	// and back to its own MAC: it answers again (the drops above were the MAC's)
	if err := hA.LinkSetHardwareAddr(ethA, macA); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []netip.Addr{wa.IPv4.Addr(), wa.IPv6.Addr()} {
		neigh(t, hB, ethB, ip, macA)
	}
	testkit.PollPingFrom(t, nsA, wa.IPv4.Addr(), wb.IPv4.Addr(), 5*time.Second)
}

// noReply sends three pings from src to dst in ns; any answer fails the test.
func noReply(t *testing.T, ns *netns.NS, src, dst netip.Addr, what string) {
	t.Helper()
	for range 3 {
		if err := testkit.PingFrom(t, ns, src, dst); err == nil {
			t.Errorf("%s: %s → %s answered; anti-spoofing let it through", what, src, dst)
			return
		}
	}
}

func openNS(t *testing.T, path string) *netns.NS {
	t.Helper()
	ns, err := netns.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func eth0(t *testing.T, h *netlink.Handle) netlink.Link {
	t.Helper()
	l, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func addAddr(t *testing.T, h *netlink.Handle, l netlink.Link, ip netip.Addr) {
	t.Helper()
	bits := 24
	if ip.Is6() {
		bits = 64
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(bits, ip.BitLen())}, Flags: unix.IFA_F_NODAD}
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatalf("add %s: %v", ip, err)
	}
}

func neigh(t *testing.T, h *netlink.Handle, l netlink.Link, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	fam := unix.AF_INET
	if ip.Is6() {
		fam = unix.AF_INET6
	}
	n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: mac}
	if err := h.NeighSet(n); err != nil {
		t.Fatalf("neighbour %s: %v", ip, err)
	}
}
