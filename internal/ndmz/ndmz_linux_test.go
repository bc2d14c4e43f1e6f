package ndmz

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

func addrs(t *testing.T, ns *netns.NS, link string) []netip.Prefix {
	t.Helper()
	h := testkit.Handle(t, ns)
	l, err := h.LinkByName(link)
	if err != nil {
		t.Fatalf("%s: %v", link, err)
	}
	as, _ := h.AddrList(l, netlink.FAMILY_ALL)
	var out []netip.Prefix
	for _, a := range as {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		if !ip.Unmap().IsLinkLocalUnicast() {
			out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
		}
	}
	return out
}

// TestEnsureAttachIdempotentGC: Ensure and Attach twice change nothing, two NRs get
// different blocks, an uplink keeps its block, GC removes only unwanted uplinks,
// Remove leaves nothing. Runs in a throwaway "host" namespace with its own br-pub.
func TestEnsureAttachIdempotentGC(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	host := testkit.NewNS(t)
	dir := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	h := testkit.Handle(t, host)
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br-pub"}}); err != nil {
		t.Fatal(err)
	}
	d := &DMZ{Host: host, NetnsDir: dir, PubBridge: "br-pub"}
	t.Cleanup(func() {
		if err := d.Remove(); err != nil {
			t.Error(err)
		}
	})
	nrs := map[string]*netns.NS{}
	for _, id := range []string{"neta", "netb"} {
		ns, err := netns.Create(dir, "n-"+id)
		if err != nil {
			t.Fatal(err)
		}
		nrs[id] = ns
		t.Cleanup(func() { ns.Close(); netns.Delete(dir, "n-"+id) })
	}
	for range 2 {
		if err := d.Ensure(); err != nil {
			t.Fatal(err)
		}
		for id, ns := range nrs {
			if err := d.Attach(ns, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	dmz, err := netns.OpenNamed(dir, NS)
	if err != nil {
		t.Fatal(err)
	}
	defer dmz.Close()
	a, b := addrs(t, dmz, UplinkName("neta")), addrs(t, dmz, UplinkName("netb"))
	if len(a) != 2 || len(b) != 2 || a[0] == b[0] {
		t.Fatalf("uplink addresses neta %v netb %v: want two each, different blocks", a, b)
	}
	if got := addrs(t, nrs["neta"], UplinkName("neta")); len(got) != 2 || got[0].Addr() != a[0].Addr().Next() {
		t.Fatalf("NR end of neta: %v, want the block's .2 next to %v", got, a)
	}
	if got := addrs(t, host, HostLink); len(got) != 1 || got[0] != netip.PrefixFrom(HostAddr, 30) {
		t.Fatalf("host transit %v", got)
	}
	if err := d.GC(map[string]bool{"netb": true}); err != nil {
		t.Fatal(err)
	}
	dh := testkit.Handle(t, dmz)
	if _, err := dh.LinkByName(UplinkName("neta")); err == nil {
		t.Error("GC kept the unwanted uplink u-neta")
	}
	if _, err := dh.LinkByName(UplinkName("netb")); err != nil {
		t.Error("GC removed the wanted uplink u-netb")
	}
	if err := d.Attach(nrs["netb"], "netb"); err != nil {
		t.Fatal(err)
	}
	if again := addrs(t, dmz, UplinkName("netb")); again[0] != b[0] {
		t.Errorf("netb moved from %v to %v on re-attach", b, again)
	}
}
