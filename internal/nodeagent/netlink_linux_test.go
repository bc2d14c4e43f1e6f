package nodeagent

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// TestNetlinkFacts builds a NIC with private and public addresses and a default route
// in a throwaway namespace and checks the facts and the change subscription.
func TestNetlinkFacts(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	ns := testkit.NewNS(t)
	h := testkit.Handle(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := WatchChanges(ctx, ns.Fd())
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0", HardwareAddr: mac}, PeerName: "peer0"}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatalf("veth in test namespace: %v", err)
	}
	l, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := h.LinkByName("peer0")
	for _, lk := range []netlink.Link{l, peer} {
		if err := h.LinkSetUp(lk); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"10.0.0.5/24", "198.51.100.5/24", "2001:db8::5/64"} {
		addr, _ := netlink.ParseAddr(a)
		addr.Flags = 0x02 // IFA_F_NODAD: usable at once
		if err := h.AddrAdd(l, addr); err != nil {
			t.Fatalf("add %s: %v", a, err)
		}
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.ParseIP("10.0.0.1")}); err != nil {
		t.Fatalf("default route: %v", err)
	}
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("no change signalled for new links and addresses")
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "b-net1"}}
	if err := h.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	src := &NetlinkFacts{Handle: h, Version: "t", WGPorts: func() []int { return []int{3001, 3000} }, Skip: internalLink}
	f, err := src.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("facts do not validate: %v", err)
	}
	i := slices.IndexFunc(f.NICs, func(n gridapi.NIC) bool { return n.Name == "eth0" })
	if i < 0 || len(f.NICs) != 2 {
		t.Fatalf("NICs: %+v", f.NICs)
	}
	nic := f.NICs[i]
	if nic.MAC != "52:54:00:12:34:56" || nic.Kind != "veth" || !nic.Up ||
		!slices.Contains(nic.Addrs, "10.0.0.5/24") || !slices.Contains(nic.Addrs, "2001:db8::5/64") {
		t.Fatalf("eth0: %+v", nic)
	}
	if !slices.Contains(nic.Routes, gridapi.Route{Dst: "0.0.0.0/0", Gw: "10.0.0.1"}) {
		t.Fatalf("eth0 routes: %+v", nic.Routes)
	}
	if f.Hidden || len(f.Endpoints) != 2 || f.Endpoints[0].IP != "2001:db8::5" || f.Endpoints[1].IP != "198.51.100.5" ||
		!slices.Equal(f.WGPorts, []int{3000, 3001}) {
		t.Fatalf("endpoints %+v hidden %v ports %v", f.Endpoints, f.Hidden, f.WGPorts)
	}
	for _, a := range []string{"198.51.100.5/24", "2001:db8::5/64"} {
		addr, _ := netlink.ParseAddr(a)
		if err := h.AddrDel(l, addr); err != nil {
			t.Fatal(err)
		}
	}
	if f, err = src.Facts(ctx); err != nil || !f.Hidden {
		t.Fatalf("without public addresses the node must be hidden: %+v %v", f.Endpoints, err)
	}
}
