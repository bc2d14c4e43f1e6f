package registry

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

func TestAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		// farms by id and name
		f, err := w.anon.Farm(ctx, w.farm.Name)
		if err != nil || f.ID != w.farm.ID || f.Owner != w.farmerK.ID() {
			t.Fatalf("farm by name: %+v %v", f, err)
		}
		if _, err := w.farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: w.farm.Name}); !gridapi.IsStatus(err, 409) {
			t.Fatalf("duplicate farm: %v, want 409", err)
		}
		// register is idempotent; a name taken by another key is a conflict
		again, err := w.nodeA.Register(ctx, gridapi.NodeRegister{FarmID: w.farm.ID, Name: "farm1"})
		if err != nil || again.ID != w.idA {
			t.Fatalf("re-register: %+v %v", again, err)
		}
		thief := &gridapi.Client{Base: w.url, Key: newKey(t)}
		if _, err := thief.Register(ctx, gridapi.NodeRegister{FarmID: w.farm.ID, Name: "farm1"}); !gridapi.IsStatus(err, 409) {
			t.Fatalf("name theft: %v, want 409", err)
		}
		if _, err := thief.Register(ctx, gridapi.NodeRegister{FarmID: 999, Name: "x1"}); !gridapi.IsStatus(err, 400) {
			t.Fatalf("unknown farm: %v, want 400", err)
		}
		facts := gridapi.NodeFacts{
			NICs: []gridapi.NIC{{Name: "zos", MAC: "52:54:00:00:00:01", Up: true, Addrs: []string{"10.0.1.5/24", "2001:db8:1::5/64"},
				Routes: []gridapi.Route{{Dst: "0.0.0.0/0", Gw: "10.0.1.1"}}}},
			Endpoints: []gridapi.Endpoint{{IP: "2001:db8:1::5", Family: 6, Reason: "global-ipv6"}},
			WGPorts:   []int{3000}, Version: "v1",
		}
		mustOK(t, w.nodeA.ReportFacts(ctx, w.idA, facts))
		mustOK(t, w.nodeA.Heartbeat(ctx, w.idA))
		n, err := w.anon.Node(ctx, "farm1")
		if err != nil || n.ID != w.idA || !n.Online || len(n.Facts.NICs) != 1 || n.SourceAddr != "127.0.0.1" {
			t.Fatalf("node by name: %+v %v", n, err)
		}
		nodes, err := w.anon.Nodes(ctx, w.farm.ID)
		if err != nil || len(nodes) != 2 {
			t.Fatalf("nodes: %d %v", len(nodes), err)
		}
		pc := gridapi.PublicConfig{IPv4: "198.51.100.10/24", GW4: "198.51.100.1", IPv6: "2001:db8:100::10/64", GW6: "2001:db8:100::1"}
		if _, err := w.farmer.SetPublicConfig(ctx, w.idA, pc); err != nil {
			t.Fatal(err)
		}
		d, err := w.nodeA.Desired(ctx, w.idA, 0, time.Second)
		if err != nil || d.PublicConfig == nil || *d.PublicConfig != pc {
			t.Fatalf("desired public config: %+v %v", d, err)
		}
		testFarmEgressAllow(t, w, d.Revision)
		testNetworkLifecycle(t, w, facts)
		mustOK(t, w.farmer.UnsetPublicConfig(ctx, w.idA))
		d2, err := w.nodeA.Desired(ctx, w.idA, 0, time.Second)
		if err != nil || d2.PublicConfig != nil || d2.Revision <= d.Revision {
			t.Fatalf("desired after unset: %+v %v", d2, err)
		}
	})
}

func testNetworkLifecycle(t *testing.T, w *world, factsA gridapi.NodeFacts) {
	ctx := context.Background()
	spec := gridapi.NetworkSpec{Name: "net1", IPRange: "10.20.0.0/16", Members: []int64{w.idA, w.idB},
		AccessPeers: []gridapi.AccessPeerSpec{{Name: "laptop", PublicKey: wgKey1}}}
	n, err := w.user.CreateNetwork(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.ID) < 1 || len(n.ID) > 11 || n.SubnetSize != 24 || n.Members[0].Subnet != "10.20.0.0/24" ||
		n.Members[1].Subnet != "10.20.1.0/24" || n.AccessPeers[0].Address != "10.20.255.2/32" {
		t.Fatalf("created network: %+v", n)
	}
	if _, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "net2", IPRange: "10.20.128.0/17"}); !gridapi.IsStatus(err, 409) {
		t.Fatalf("overlapping network of the same owner: %v, want 409", err)
	}
	// another user may use the same range
	other := &gridapi.Client{Base: w.url, Key: newKey(t)}
	if _, err := other.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "net1", IPRange: "10.20.0.0/16"}); err != nil {
		t.Fatalf("same range, other owner: %v", err)
	}
	// update: drop A, keep B's subnet, stale revision refused
	spec.Members, spec.Revision = []int64{w.idB}, n.Revision
	n2, err := w.user.UpdateNetwork(ctx, n.ID, spec)
	if err != nil || len(n2.Members) != 1 || n2.Members[0].Subnet != "10.20.1.0/24" || n2.Revision <= n.Revision {
		t.Fatalf("update: %+v %v", n2, err)
	}
	if _, err := w.user.UpdateNetwork(ctx, n.ID, spec); !gridapi.IsStatus(err, 409) {
		t.Fatalf("stale revision: %v, want 409", err)
	}
	spec.Members, spec.Revision = []int64{w.idB, w.idA}, 0
	n3, err := w.user.UpdateNetwork(ctx, n.ID, spec)
	if err != nil || n3.Members[1].Subnet != "10.20.0.0/24" {
		t.Fatalf("re-add A: %+v %v", n3, err)
	}
	rep := gridapi.NRReport{PublicKey: wgKey2, ListenPort: 3000, Endpoints: []string{"[2001:db8:1::5]:3000"}, State: "up"}
	mustOK(t, w.nodeA.ReportNR(ctx, w.idA, n.ID, rep))
	d, err := w.nodeB.Desired(ctx, w.idB, 0, time.Second)
	if err != nil || len(d.Networks) != 1 || len(d.Networks[0].Peers) != 2 {
		t.Fatalf("desired of B: %+v %v", d, err)
	}
	pa := d.Networks[0].Peers[1]
	if pa.NodeID != w.idA || pa.NR == nil || pa.NR.ListenPort != 3000 || len(pa.Facts.Endpoints) != 1 || pa.PublicConfig == nil {
		t.Fatalf("peer A in B's desired: %+v", pa)
	}
	st, err := w.anon.NetworkStatus(ctx, n.ID)
	if err != nil || len(st.Peers) != 2 || st.Peers[1].NR == nil || st.Peers[1].NR.State != "up" || st.Peers[0].NR != nil {
		t.Fatalf("network status: %+v %v", st, err)
	}
	if nets, err := w.anon.Networks(ctx, w.userK.ID()); err != nil || len(nets) != 1 {
		t.Fatalf("networks of user: %d %v", len(nets), err)
	}
	mustOK(t, w.user.DeleteNetwork(ctx, n.ID))
	if _, err := w.anon.Network(ctx, n.ID); !gridapi.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("deleted network: %v, want 404", err)
	}
	d, err = w.nodeB.Desired(ctx, w.idB, 0, time.Second)
	if err != nil || len(d.Networks) != 0 {
		t.Fatalf("desired of B after delete: %+v %v", d, err)
	}
}

// testFarmEgressAllow: the farm owner's allow list is validated (each entry named by
// index), stored, shown on the farm, and reaches the farm's nodes in their desired
// state with a new revision; clearing it gives an empty list.
func testFarmEgressAllow(t *testing.T, w *world, rev int64) {
	ctx := context.Background()
	for _, bad := range []struct {
		list []string
		want string
	}{
		{[]string{"10.201.0.7/24"}, "host bits set (did you mean 10.201.0.0/24?) (field allow[0])"},
		{[]string{"10.201.0.50/32:873/tcp", "10.0.0.0/8:53"}, "is not port/proto (e.g. 873/tcp) (field allow[1])"},
		{[]string{"10.201.0.9"}, `write "10.201.0.9" as "10.201.0.9/32" (field allow[0])`},
		{[]string{"10.201.0.0/24", "10.201.0.0/24"}, "listed twice"},
	} {
		if _, err := w.farmer.SetFarmEgressAllow(ctx, w.farm.ID, bad.list); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("allow list %v: %v, want an error with %q", bad.list, err, bad.want)
		}
	}
	allow := []string{"10.201.0.50/32:873/tcp", "2001:db8:600::/64"}
	f, err := w.farmer.SetFarmEgressAllow(ctx, w.farm.ID, allow)
	if err != nil || !slices.Equal(f.EgressAllow, allow) {
		t.Fatalf("set farm egress allow: %+v %v", f, err)
	}
	if f, err := w.anon.Farm(ctx, fmt.Sprint(w.farm.ID)); err != nil || !slices.Equal(f.EgressAllow, allow) {
		t.Errorf("farm after set: %+v %v", f, err)
	}
	for _, n := range []struct {
		c  *gridapi.Client
		id int64
	}{{w.nodeA, w.idA}, {w.nodeB, w.idB}} {
		d, err := n.c.Desired(ctx, n.id, 0, time.Second)
		if err != nil || !slices.Equal(d.EgressAllow, allow) || (n.id == w.idA && d.Revision <= rev) {
			t.Errorf("node %d desired: allow %v rev %d (was %d) %v", n.id, d.EgressAllow, d.Revision, rev, err)
		}
	}
	if f, err := w.farmer.SetFarmEgressAllow(ctx, w.farm.ID, nil); err != nil || f.EgressAllow == nil || len(f.EgressAllow) != 0 {
		t.Errorf("clear: %+v %v", f, err)
	}
}
