package public_test

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/ndmz"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/public"
	"github.com/zosnet/zosnet/internal/testkit"
)

var (
	registry4 = netip.MustParseAddr("198.51.100.10")
	registry6 = netip.MustParseAddr("2001:db8::10")
)

func oneNR(id, subnet string, port uint16) nodeapi.NRSpec {
	return nodeapi.NRSpec{NetworkID: id, IPRange: pfx("10.0.0.0/8"), Subnet: pfx(subnet), ListenPort: port}
}

// TestEgressUplinksAndHidden: on a farm node with two NICs, one with one NIC and two
// home nodes, a workload reaches the internet over IPv4 (NAT) and, where the node's
// segment has IPv6, over IPv6; br-pub picks the right uplink and the node status says
// hidden exactly as the lab's truth.
func TestEgressUplinksAndHidden(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t)
	for _, tt := range []struct {
		node   string
		v6     bool
		hidden bool
		mode   string
		prefix netip.Prefix // where the endpoint must be
		router string       // the LAN's router, for zos mode
		gw4    netip.Addr
	}{
		{"farm1", true, false, "nic", pfx("2001:db8:100::/64"), "", netip.Addr{}},
		{"farm3", false, true, "zos", netip.Prefix{}, "farmgw", netip.MustParseAddr("10.201.0.1")},
		{"home1", false, true, "zos", netip.Prefix{}, "homegw", netip.MustParseAddr("172.29.1.1")},
		{"home6", true, true, "zos", netip.Prefix{}, "home6gw", netip.MustParseAddr("172.29.6.1")},
	} {
		t.Run(tt.node, func(t *testing.T) {
			n := bootNode(t, l, tt.node)
			_, wns := n.nr(t, oneNR("net1", "10.1.1.0/24", 3001), "w1")
			took := testkit.PollPing(t, wns, registry4, 10*time.Second)
			t.Logf("%s: IPv4 egress after %s", tt.node, took)
			dmz := openNS(t, filepath.Join(n.dir, ndmz.NS))
			if tt.v6 {
				waitGlobal(t, dmz, ndmz.PubLink, true, 10*time.Second)
				testkit.PollPing(t, wns, registry6, 10*time.Second)
			} else if err := testkit.Ping(t, wns, registry6); err == nil {
				t.Errorf("%s has no IPv6 on its segment, yet the workload reached %s", tt.node, registry6)
			}
			if tt.mode == "nic" {
				waitGlobal(t, n.ns, public.Bridge, true, 10*time.Second)
			} else {
				brPubCarries(t, l, dmz, tt.router, tt.gw4)
			}
			st := n.up.Status()
			t.Logf("%s: %+v", tt.node, st)
			if st.Hidden != tt.hidden || st.Uplinks[1].Mode != tt.mode {
				t.Fatalf("%s: hidden=%v br-pub mode=%q, want %v %q", tt.node, st.Hidden, st.Uplinks[1].Mode, tt.hidden, tt.mode)
			}
			if tt.prefix.IsValid() && (len(st.Endpoints) == 0 || !tt.prefix.Contains(st.Endpoints[0].Addr)) {
				t.Fatalf("%s: endpoints %+v, want one in %s", tt.node, st.Endpoints, tt.prefix)
			}
		})
	}
}

// brPubCarries checks that br-pub, uplinked to zos, carries frames to the node's LAN:
// ndmz's leg on it pings the LAN router's link-local address (router has gw4 there).
func brPubCarries(t *testing.T, l *lab.Lab, dmz *netns.NS, router string, gw4 netip.Addr) {
	t.Helper()
	ll := linkLocalOf(t, openNS(t, l.NSPath(router)), gw4)
	testkit.PollPing(t, dmz, ll.WithZone(ndmz.PubLink), 10*time.Second) // br-pub via zos reaches the router
}

// linkLocalOf returns the IPv6 link-local address of the link holding a4 in ns.
func linkLocalOf(t *testing.T, ns *netns.NS, a4 netip.Addr) netip.Addr {
	t.Helper()
	h := testkit.Handle(t, ns)
	as, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if ip, _ := netip.AddrFromSlice(a.IP.To4()); ip == a4 {
			l, _ := h.LinkByIndex(a.LinkIndex)
			v6, _ := h.AddrList(l, netlink.FAMILY_V6)
			for _, b := range v6 {
				if ip, _ := netip.AddrFromSlice(b.IP); ip.IsLinkLocalUnicast() {
					return ip
				}
			}
		}
	}
	t.Fatalf("no link-local address next to %s", a4)
	return netip.Addr{}
}
