package firewall

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// plug makes veth port (in the bridge namespace, on bridge br) ↔ eth0 in ns with addrs.
func plug(t *testing.T, bh *netlink.Handle, br netlink.Link, port string, ns *netns.NS, mac string, addrs ...string) {
	t.Helper()
	must(t, bh.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port}, PeerName: "eth0", PeerNamespace: netlink.NsFd(ns.Fd())}))
	p, err := bh.LinkByName(port)
	must(t, err)
	must(t, bh.LinkSetMaster(p, br))
	must(t, bh.LinkSetUp(p))
	h := testkit.Handle(t, ns)
	e, err := h.LinkByName("eth0")
	must(t, err)
	hw, _ := net.ParseMAC(mac)
	must(t, h.LinkSetHardwareAddr(e, hw))
	for _, a := range addrs {
		ad, _ := netlink.ParseAddr(a)
		ad.Flags = unix.IFA_F_NODAD
		must(t, h.AddrAdd(e, ad))
	}
	must(t, h.LinkSetUp(e))
}

// TestAntiSpoof: a workload on a bridge reaches its gateway with its own MAC, IPv4 and
// IPv6, and not with another source address or MAC.
func TestAntiSpoof(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	host, gw, wl := testkit.NewNS(t), testkit.NewNS(t), testkit.NewNS(t)
	bh := testkit.Handle(t, host)
	must(t, link.Set(host, link.NoBridgeNetfilter()))
	must(t, bh.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "b-test"}}))
	br, err := bh.LinkByName("b-test")
	must(t, err)
	must(t, bh.LinkSetUp(br))
	plug(t, bh, br, "v-test", gw, "02:00:00:00:01:01", "10.9.0.1/24", "fd00:9::1/64")
	plug(t, bh, br, "c-w1", wl, "02:00:00:00:01:02", "10.9.0.2/24", "fd00:9::2/64", "10.9.0.99/24", "fd00:9::99/64")
	mac, _ := net.ParseMAC("02:00:00:00:01:02")
	must(t, ApplyAntiSpoof(host, []Port{{Iface: "c-w1", MAC: mac, IPv4: netip.MustParseAddr("10.9.0.2"), IPv6: netip.MustParseAddr("fd00:9::2")}}))
	testkit.PollPingFrom(t, wl, ip("10.9.0.2"), ip("10.9.0.1"), 5*time.Second)
	testkit.PollPingFrom(t, wl, ip("fd00:9::2"), ip("fd00:9::1"), 5*time.Second)
	for _, src := range [][2]netip.Addr{{ip("10.9.0.99"), ip("10.9.0.1")}, {ip("fd00:9::99"), ip("fd00:9::1")}} {
		if err := testkit.PingFrom(t, wl, src[0], src[1]); err == nil {
			t.Errorf("spoofed source %s reached %s", src[0], src[1])
		}
	}
	wh := testkit.Handle(t, wl)
	e, _ := wh.LinkByName("eth0")
	other, _ := net.ParseMAC("02:00:00:00:01:99")
	must(t, wh.LinkSetHardwareAddr(e, other))
	if err := testkit.PingFrom(t, wl, ip("10.9.0.2"), ip("10.9.0.1")); err == nil {
		t.Error("spoofed MAC reached the gateway")
	}
	must(t, wh.LinkSetHardwareAddr(e, mac))
	testkit.PollPingFrom(t, wl, ip("10.9.0.2"), ip("10.9.0.1"), 5*time.Second)
}
