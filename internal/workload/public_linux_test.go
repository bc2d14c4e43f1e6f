package workload

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
	"github.com/zosnet/zosnet/internal/ula"
)

// TestPublicAttach: a public netns workload gets pub0 on br-pub with its public MAC,
// IPv4 and IPv6, default routes to the public gateways and the network's range (and
// ULA /48) through the NR, forwarding off; a router on the public segment reaches it;
// a VM gets a second tap on br-pub; detach and GC take the p- links.
func TestPublicAttach(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	host := testkit.NewNS(t)
	router := testkit.NewNS(t)
	dir := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	h := testkit.Handle(t, host)
	for _, br := range []string{"b-net1", "br-pub"} {
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: br}}); err != nil {
			t.Fatal(err)
		}
		l, _ := h.LinkByName(br)
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	// the public segment's router: a veth from br-pub into its own namespace
	rh := testkit.Handle(t, router)
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "rtr"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(router.Fd())}); err != nil {
		t.Fatal(err)
	}
	rtr, _ := h.LinkByName("rtr")
	pub, _ := h.LinkByName("br-pub")
	if err := link.SetMaster(h, rtr, pub); err != nil {
		t.Fatal(err)
	}
	if err := link.Up(h, rtr); err != nil {
		t.Fatal(err)
	}
	if err := link.Set(router, link.IPv6("eth0", link.Sysctls{"accept_dad": "0"})); err != nil {
		t.Fatal(err)
	}
	re, _ := rh.LinkByName("eth0")
	gw4, gw6 := netip.MustParsePrefix("203.0.113.1/24"), netip.MustParsePrefix("2001:db8:100::1/64")
	if err := link.ReplaceAddrs(rh, re, gw4, gw6); err != nil {
		t.Fatal(err)
	}
	if err := link.UpByName(rh, "lo", "eth0"); err != nil {
		t.Fatal(err)
	}

	att := &Attacher{Host: host, NetnsDir: dir}
	spec := nodeapi.WorkloadSpec{Name: "pub", NetworkID: "net1", Kind: nodeapi.KindNetns,
		PublicIPv4: netip.MustParsePrefix("203.0.113.50/24"), PublicGW4: gw4.Addr(), PublicIPv6: true}
	info, err := Plan(nr("10.1.1.0/24"), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	info.PublicAddr6, info.PublicGW6 = PublicAddr6(gw6, spec), gw6.Addr()
	for i := 0; i < 2; i++ {
		if err := att.Attach(info); err != nil {
			t.Fatalf("attach %d: %v", i, err)
		}
	}
	p, err := h.LinkByName(info.PublicIf)
	if err != nil || p.Attrs().MasterIndex != pub.Attrs().Index {
		t.Fatalf("%s not on br-pub: %v (err %v)", info.PublicIf, p, err)
	}
	ns, err := netns.OpenNamed(dir, info.Netns)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	wh := testkit.Handle(t, ns)
	p0, err := wh.LinkByName(PublicIfName)
	if err != nil || p0.Attrs().HardwareAddr.String() != info.PublicMAC {
		t.Fatalf("pub0 %v (err %v), want mac %s", p0, err, info.PublicMAC)
	}
	routes := map[string]string{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := wh.RouteList(nil, fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Gw == nil {
				continue
			}
			dst := fmt.Sprint("default", fam)
			if r.Dst != nil && !r.Dst.IP.IsUnspecified() {
				dst = r.Dst.String()
			}
			l, _ := wh.LinkByIndex(r.LinkIndex)
			routes[dst] = r.Gw.String() + " " + l.Attrs().Name
		}
	}
	want := map[string]string{
		fmt.Sprint("default", netlink.FAMILY_V4): "203.0.113.1 pub0",
		fmt.Sprint("default", netlink.FAMILY_V6): "2001:db8:100::1 pub0",
		"10.1.0.0/16":                            "10.1.1.1 eth0",
		ula.Net48("net1").String():               ula.Addr("net1", netip.MustParseAddr("10.1.1.1")).String() + " eth0",
	}
	if !maps.Equal(routes, want) {
		t.Errorf("routes %v, want %v", routes, want)
	}
	var fwd []byte
	if err := ns.Do(func() (err error) { fwd, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward"); return err }); err != nil || string(fwd) != "0\n" {
		t.Errorf("ip_forward in the workload %q (err %v), want 0", fwd, err)
	}
	for _, dst := range []netip.Addr{info.PublicIPv4.Addr(), info.PublicAddr6.Addr()} {
		testkit.PollPing(t, router, dst, 10*time.Second)
	}

	// a VM's public interface is a second tap on br-pub
	vm := nodeapi.WorkloadSpec{Name: "vm", NetworkID: "net1", Kind: nodeapi.KindTap,
		PublicIPv4: netip.MustParsePrefix("203.0.113.51/24"), PublicGW4: gw4.Addr()}
	vinfo, err := Plan(nr("10.1.1.0/24"), vm, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := att.Attach(vinfo); err != nil {
		t.Fatal(err)
	}
	if l, err := h.LinkByName(vinfo.PublicIf); err != nil || l.Type() != "tuntap" || l.Attrs().MasterIndex != pub.Attrs().Index {
		t.Fatalf("vm public tap %v (err %v)", l, err)
	}
	removed, err := att.GC([]nodeapi.Workload{info})
	if err != nil || len(removed) != 2 {
		t.Fatalf("gc removed %v (err %v), want the vm's two taps", removed, err)
	}
	if err := att.Detach(info); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LinkByName(info.PublicIf); err == nil {
		t.Fatalf("%s left after detach", info.PublicIf)
	}
}
