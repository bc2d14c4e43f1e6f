package link_test

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

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
