package testkit

import (
	"fmt"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/netns"
)

// Handle returns a netlink handle inside ns; it is closed when the test ends.
func Handle(t testing.TB, ns *netns.NS) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(nsHandle(ns))
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", ns.Path(), err)
	}
	t.Cleanup(h.Close)
	return h
}

// The underlay's link names and addresses (see Underlay).
var (
	UnderlayA = netip.MustParsePrefix("10.99.0.1/24") // on link "ua" in the first namespace
	UnderlayB = netip.MustParsePrefix("10.99.0.2/24") // on link "ub" in the second
)

// Underlay joins two namespaces with a veth of the given MTU, the wire between two
// throwaway "hosts": link ua with UnderlayA in a, link ub with UnderlayB in b, both up.
// The links go with their namespaces.
func Underlay(t testing.TB, a, b *netns.NS, mtu int) {
	t.Helper()
	ha, hb := Handle(t, a), Handle(t, b)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ua", MTU: mtu}, PeerName: "ub", PeerNamespace: netlink.NsFd(b.Fd())}
	if err := ha.LinkAdd(v); err != nil {
		t.Fatalf("underlay veth: %v", err)
	}
	for _, x := range []struct {
		h    *netlink.Handle
		name string
		addr netip.Prefix
	}{{ha, "ua", UnderlayA}, {hb, "ub", UnderlayB}} {
		l, err := x.h.LinkByName(x.name)
		if err != nil {
			t.Fatalf("underlay %s: %v", x.name, err)
		}
		ad, err := netlink.ParseAddr(x.addr.String())
		if err == nil {
			err = x.h.AddrAdd(l, ad)
		}
		if err != nil {
			t.Fatalf("underlay %s address %s: %v", x.name, x.addr, err)
		}
		if err := x.h.LinkSetUp(l); err != nil {
			t.Fatalf("underlay %s up: %v", x.name, err)
		}
	}
}

// Ping sends one echo request from ns to dst and waits up to 1 s for the reply
// (ping(8) run with nsenter; it refuses to run in the host's namespace).
func Ping(t testing.TB, ns *netns.NS, dst netip.Addr) error {
	t.Helper()
	return PingFrom(t, ns, netip.Addr{}, dst)
}

// PingFrom is Ping with source address src (none when src is the zero Addr).
func PingFrom(t testing.TB, ns *netns.NS, src, dst netip.Addr) error {
	t.Helper()
	ns.Do(func() error { RefuseInit(t); return nil })
	args := []string{"--net=" + ns.Path(), "ping", "-c1", "-W1", "-n"}
	if src.IsValid() {
		args = append(args, "-I", src.String())
	}
	out, err := exec.Command("nsenter", append(args, dst.String())...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w: %s", dst, ns.Path(), err, out)
	}
	return nil
}

// PollPing pings dst from ns until a reply comes back and returns how long that took;
// it fails the test when none came within the given time.
func PollPing(t testing.TB, ns *netns.NS, dst netip.Addr, within time.Duration) time.Duration {
	t.Helper()
	return PollPingFrom(t, ns, netip.Addr{}, dst, within)
}

// PollPingFrom is PollPing with source address src.
func PollPingFrom(t testing.TB, ns *netns.NS, src, dst netip.Addr, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := PingFrom(t, ns, src, dst)
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatal(err)
		}
	}
}

// NFTList returns `nft list table FAMILY NAME` inside ns: the kernel's view of a table,
// the oracle golden rulesets are compared with.
func NFTList(t testing.TB, ns *netns.NS, family, name string) string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+ns.Path(), "nft", "list", "table", family, name).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table %s %s in %s: %v: %s", family, name, ns.Path(), err, out)
	}
	return string(out)
}
