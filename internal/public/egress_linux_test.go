package public_test

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/ndmz"
	"github.com/zosnet/zosnet/internal/public"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/testkit"
)

var (
	registry4 = netip.MustParseAddr("198.51.100.10")
	registry6 = netip.MustParseAddr("2001:db8::10")
)

func oneNR(id, subnet string, port uint16) resource.Spec {
	return resource.Spec{NetworkID: id, IPRange: pfx("10.0.0.0/8"), Subnet: pfx(subnet), ListenPort: port}
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
	}{
		{"farm1", true, false, "nic", pfx("2001:db8:100::/64")},
		{"farm3", false, true, "zos", netip.Prefix{}},
		{"home1", false, true, "zos", netip.Prefix{}},
		{"home6", true, true, "zos", netip.Prefix{}},
	} {
		t.Run(tt.node, func(t *testing.T) {
			n := bootNode(t, l, tt.node)
			_, wns := n.nr(t, oneNR("net1", "10.1.1.0/24", 3001), "w1")
			took := pollPing(t, wns, registry4, 10*time.Second)
			t.Logf("%s: IPv4 egress after %s", tt.node, took)
			dmz := openNS(t, filepath.Join(n.dir, ndmz.NS))
			if tt.v6 {
				waitGlobal(t, dmz, ndmz.PubLink, true, 10*time.Second)
				pollPing(t, wns, registry6, 10*time.Second)
			} else if err := ping(t, wns, registry6); err == nil {
				t.Errorf("%s has no IPv6 on its segment, yet the workload reached %s", tt.node, registry6)
			}
			if tt.mode == "nic" {
				waitGlobal(t, n.ns, public.Bridge, true, 10*time.Second)
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
