package networkd_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// TestEgressFollowsUnderlay: with the resync an hour away, only the netlink watch can
// make the egress rule follow the host: an address put on zos (a new lease) adds its
// prefix to the refused destinations within a poll, a changed one replaces it, an IPv6
// prefix counts too; the allow list set through the API shows in the status, and so
// does the workloads' resolver.
func TestEgressFollowsUnderlay(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	n := newNode(t)
	h := handle(t, n.host)
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "zos"}}); err != nil {
		t.Fatal(err)
	}
	zos, _ := h.LinkByName("zos")
	if err := h.LinkSetUp(zos); err != nil {
		t.Fatal(err)
	}
	n.resync = time.Hour
	n.start(t)
	ctx := context.Background()
	addr := func(s string) *netlink.Addr {
		a, err := netlink.ParseAddr(s)
		if err != nil {
			t.Fatal(err)
		}
		a.Flags |= 0x80 // IFA_F_NODAD: no DAD wait for the IPv6 one
		return a
	}
	waitDenied := func(want, gone string) nodeapi.EgressStatus {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := n.cl.NodeStatus(ctx)
			if err == nil && st.Egress != nil && slices.Contains(st.Egress.Denied, want) && (gone == "" || !slices.Contains(st.Egress.Denied, gone)) {
				return *st.Egress
			}
			if time.Now().After(deadline) {
				t.Fatalf("refused destinations never had %s without %q: %+v %v", want, gone, st.Egress, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := h.AddrAdd(zos, addr("192.0.2.5/24")); err != nil {
		t.Fatal(err)
	}
	eg := waitDenied("192.0.2.0/24", "")
	if !slices.Contains(eg.Resolvers, nodeapi.WorkloadResolver4.String()) {
		t.Errorf("resolvers %v, want %s", eg.Resolvers, nodeapi.WorkloadResolver4)
	}
	if err := h.AddrDel(zos, addr("192.0.2.5/24")); err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(zos, addr("198.18.7.5/24")); err != nil {
		t.Fatal(err)
	}
	waitDenied("198.18.7.0/24", "192.0.2.0/24")
	if err := h.AddrAdd(zos, addr("2001:db8:77::5/64")); err != nil {
		t.Fatal(err)
	}
	waitDenied("2001:db8:77::/64", "")
	a, _ := nodeapi.ParseEgressAllow("198.18.7.9/32:873/tcp")
	if err := n.cl.SetEgressAllow(ctx, []nodeapi.EgressAllow{a}); err != nil {
		t.Fatal(err)
	}
	if st, err := n.cl.NodeStatus(ctx); err != nil || len(st.Egress.Allow) != 1 || st.Egress.Allow[0] != a {
		t.Errorf("allow list in the status: %+v %v", st.Egress, err)
	}
	n.stop(t)
}
