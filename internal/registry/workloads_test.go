package registry

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestWorkloads: a workload's life through the registry: deployed on a member, in
// the node's desired state, reported by its node only, kept from being orphaned by a
// member leaving or a range change, gone with its network.
func TestWorkloads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		n, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "wl", IPRange: "10.7.0.0/16", Members: []int64{w.idA, w.idB}})
		mustOK(t, err)
		d0, err := w.nodeA.Desired(ctx, w.idA, 0, time.Second)
		mustOK(t, err)
		wl, err := w.user.CreateWorkload(ctx, n.ID, gridapi.WorkloadSpec{Name: "web1", NodeID: w.idA})
		mustOK(t, err)
		if wl.Kind != gridapi.KindContainer || wl.Owner != w.userK.ID() || wl.NodeID != w.idA {
			t.Fatalf("created %+v", wl)
		}
		_, err = w.user.CreateWorkload(ctx, n.ID, gridapi.WorkloadSpec{Name: "vm1", NodeID: w.idB, Kind: gridapi.KindVM})
		mustOK(t, err)
		d, err := w.nodeA.Desired(ctx, w.idA, d0.Revision, time.Second)
		mustOK(t, err)
		if d.Revision <= d0.Revision || len(d.Workloads) != 1 || d.Workloads[0].Name != "web1" {
			t.Fatalf("node A's desired after the deploy: rev %d (was %d), workloads %+v", d.Revision, d0.Revision, d.Workloads)
		}
		for _, tc := range []struct {
			name string
			spec gridapi.WorkloadSpec
			code int
			want string
		}{
			{"duplicate", gridapi.WorkloadSpec{Name: "web1", NodeID: w.idB}, 409, "already has a workload"},
			{"bad name", gridapi.WorkloadSpec{Name: "Web_1", NodeID: w.idA}, 400, "name"},
			{"long name", gridapi.WorkloadSpec{Name: strings.Repeat("a", 29), NodeID: w.idA}, 400, "name"},
			{"bad kind", gridapi.WorkloadSpec{Name: "x", NodeID: w.idA, Kind: "lxc"}, 400, "kind"},
			{"no node", gridapi.WorkloadSpec{Name: "x"}, 400, "node_id"},
			{"not a member", gridapi.WorkloadSpec{Name: "x", NodeID: 9999}, 400, "not a member"},
		} {
			_, err := w.user.CreateWorkload(ctx, n.ID, tc.spec)
			if !gridapi.IsStatus(err, tc.code) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want %d with %q", tc.name, err, tc.code, tc.want)
			}
		}
		if _, err := w.user.CreateWorkload(ctx, "nosuchnet", gridapi.WorkloadSpec{Name: "x", NodeID: w.idA}); !gridapi.IsStatus(err, 404) {
			t.Errorf("unknown network: %v, want 404", err)
		}
		// the node reports; another node may not
		rep := gridapi.WorkloadReport{State: "up", IPv4: "10.7.0.9/24", IPv6: "fd00::9/64", MAC: "02:01:02:03:04:05"}
		mustOK(t, w.nodeA.ReportWorkload(ctx, w.idA, n.ID, "web1", rep))
		if err := w.nodeB.ReportWorkload(ctx, w.idB, n.ID, "web1", rep); !gridapi.IsStatus(err, 403) {
			t.Errorf("report by the wrong node: %v, want 403", err)
		}
		if err := w.nodeA.ReportWorkload(ctx, w.idA, n.ID, "web1", gridapi.WorkloadReport{State: "dancing"}); !gridapi.IsStatus(err, 400) {
			t.Errorf("bad report state: %v, want 400", err)
		}
		got, err := w.anon.Workload(ctx, n.ID, "web1")
		mustOK(t, err)
		if got.Report == nil || got.Report.IPv4 != rep.IPv4 || got.Report.MAC != rep.MAC || got.Report.Updated.IsZero() {
			t.Fatalf("workload show: %+v", got.Report)
		}
		ws, err := w.anon.Workloads(ctx, n.ID)
		mustOK(t, err)
		if len(ws) != 2 || ws[0].Name != "vm1" || ws[1].Name != "web1" {
			t.Fatalf("list: %+v", ws)
		}
		// a member running workloads cannot leave; nor can the range change under them
		_, err = w.user.UpdateNetwork(ctx, n.ID, gridapi.NetworkSpec{Name: "wl", IPRange: "10.7.0.0/16", Members: []int64{w.idB}})
		if !gridapi.IsStatus(err, 409) || !strings.Contains(err.Error(), "web1") {
			t.Errorf("member with workloads leaves: %v, want 409 naming web1", err)
		}
		_, err = w.user.UpdateNetwork(ctx, n.ID, gridapi.NetworkSpec{Name: "wl", IPRange: "10.8.0.0/16", Members: []int64{w.idA, w.idB}})
		if !gridapi.IsStatus(err, 409) {
			t.Errorf("range change under workloads: %v, want 409", err)
		}
		other := &gridapi.Client{Base: w.url, Key: newKey(t)}
		if err := other.DeleteWorkload(ctx, n.ID, "web1"); !gridapi.IsStatus(err, 403) {
			t.Errorf("delete by another user: %v, want 403", err)
		}
		mustOK(t, w.user.DeleteWorkload(ctx, n.ID, "web1"))
		if err := w.user.DeleteWorkload(ctx, n.ID, "web1"); !gridapi.IsStatus(err, 404) {
			t.Errorf("delete again: %v, want 404", err)
		}
		_, err = w.user.UpdateNetwork(ctx, n.ID, gridapi.NetworkSpec{Name: "wl", IPRange: "10.7.0.0/16", Members: []int64{w.idB}})
		mustOK(t, err)
		d, err = w.nodeA.Desired(ctx, w.idA, 0, time.Second)
		mustOK(t, err)
		if len(d.Workloads) != 0 {
			t.Errorf("node A still has workloads: %+v", d.Workloads)
		}
		mustOK(t, w.user.DeleteNetwork(ctx, n.ID))
		d, err = w.nodeB.Desired(ctx, w.idB, 0, time.Second)
		mustOK(t, err)
		if len(d.Workloads) != 0 {
			t.Errorf("network deleted, node B still has workloads: %+v", d.Workloads)
		}
	})
}

// publicFacts are the facts of a node whose br-pub has its own NIC.
var publicFacts = gridapi.NodeFacts{Endpoints: []gridapi.Endpoint{{IP: "2001:db8:1::5", Family: 6, Reason: gridapi.ReasonPublicSegment}}}

// TestPublicIPs: a farm's pool, public workloads only on nodes with a public NIC, the
// address held until the workload goes, and of concurrent requests for the last
// address exactly one wins.
func TestPublicIPs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		farm := fmt.Sprint(w.farm.ID)
		pool, err := w.farmer.AddPublicIPs(ctx, farm, gridapi.PublicIPsAdd{IPs: []string{"203.0.113.51/24", "203.0.113.50/24"}, Gateway: "203.0.113.1"})
		mustOK(t, err)
		if len(pool) != 2 || pool[0].IP != "203.0.113.50/24" || pool[0].Workload != "" {
			t.Fatalf("pool: %+v", pool)
		}
		for _, tc := range []struct {
			name string
			add  gridapi.PublicIPsAdd
			code int
		}{
			{"again", gridapi.PublicIPsAdd{IPs: []string{"203.0.113.50/24"}, Gateway: "203.0.113.1"}, 409},
			{"no prefix", gridapi.PublicIPsAdd{IPs: []string{"203.0.113.52"}, Gateway: "203.0.113.1"}, 400},
			{"gateway off-link", gridapi.PublicIPsAdd{IPs: []string{"203.0.113.52/24"}, Gateway: "198.51.100.1"}, 400},
			{"ipv6", gridapi.PublicIPsAdd{IPs: []string{"2001:db8::5/64"}, Gateway: "203.0.113.1"}, 400},
			{"broadcast", gridapi.PublicIPsAdd{IPs: []string{"203.0.113.255/24"}, Gateway: "203.0.113.1"}, 400},
			{"twice", gridapi.PublicIPsAdd{IPs: []string{"203.0.113.60/24", "203.0.113.60/24"}, Gateway: "203.0.113.1"}, 400},
			{"none", gridapi.PublicIPsAdd{Gateway: "203.0.113.1"}, 400},
		} {
			if _, err := w.farmer.AddPublicIPs(ctx, farm, tc.add); !gridapi.IsStatus(err, tc.code) {
				t.Errorf("add %s: %v, want %d", tc.name, err, tc.code)
			}
		}
		if _, err := w.user.AddPublicIPs(ctx, farm, gridapi.PublicIPsAdd{IPs: []string{"203.0.113.70/24"}, Gateway: "203.0.113.1"}); !gridapi.IsStatus(err, 403) {
			t.Errorf("a user adds to the farm's pool: %v, want 403", err)
		}
		n, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "pub", IPRange: "10.9.0.0/16", Members: []int64{w.idA, w.idB}})
		mustOK(t, err)
		// A reports no public NIC yet, B is hidden
		if _, err := w.user.CreateWorkload(ctx, n.ID, gridapi.WorkloadSpec{Name: "p0", NodeID: w.idA, PublicIPv4: true}); !gridapi.IsStatus(err, 400) || !strings.Contains(err.Error(), "no public NIC") {
			t.Errorf("public IP on a node without a public NIC: %v, want 400 naming it", err)
		}
		mustOK(t, w.nodeB.ReportFacts(ctx, w.idB, gridapi.NodeFacts{Hidden: true}))
		if _, err := w.user.CreateWorkload(ctx, n.ID, gridapi.WorkloadSpec{Name: "p0", NodeID: w.idB, PublicIPv6: true}); !gridapi.IsStatus(err, 400) || !strings.Contains(err.Error(), "hidden") {
			t.Errorf("public IP on a hidden node: %v, want 400 naming it", err)
		}
		mustOK(t, w.nodeA.ReportFacts(ctx, w.idA, publicFacts))
		p1, err := w.user.CreateWorkload(ctx, n.ID, gridapi.WorkloadSpec{Name: "p1", NodeID: w.idA, PublicIPv4: true, PublicIPv6: true})
		mustOK(t, err)
		if p1.PublicIPv4 != "203.0.113.50/24" || p1.PublicGW4 != "203.0.113.1" || !p1.PublicIPv6 {
			t.Fatalf("public workload: %+v", p1)
		}
		if err := w.farmer.RemovePublicIP(ctx, farm, "203.0.113.50"); !gridapi.IsStatus(err, 409) || !strings.Contains(err.Error(), "p1") {
			t.Errorf("remove an address in use: %v, want 409 naming p1", err)
		}
		// one address left, eight users of the network race for it
		var wg sync.WaitGroup
		codes := make([]error, 8)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, codes[i] = w.user.CreateWorkload(ctx, n.ID, gridapi.WorkloadSpec{Name: fmt.Sprintf("race%d", i), NodeID: w.idA, PublicIPv4: true})
			}()
		}
		wg.Wait()
		won := 0
		for i, err := range codes {
			switch {
			case err == nil:
				won++
			case !gridapi.IsStatus(err, 409):
				t.Errorf("racer %d: %v, want success or 409", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("%d racers got the last address, want exactly 1", won)
		}
		pool, err = w.anon.PublicIPs(ctx, farm)
		mustOK(t, err)
		if pool[0].Workload != "p1" || pool[1].Workload == "" || pool[1].NetworkID != n.ID {
			t.Fatalf("pool after the race: %+v", pool)
		}
		// deleting the workload frees its address; deleting the network frees the rest
		mustOK(t, w.user.DeleteWorkload(ctx, n.ID, "p1"))
		mustOK(t, w.farmer.RemovePublicIP(ctx, farm, "203.0.113.50"))
		mustOK(t, w.user.DeleteNetwork(ctx, n.ID))
		pool, err = w.anon.PublicIPs(ctx, farm)
		mustOK(t, err)
		if len(pool) != 1 || pool[0].Workload != "" {
			t.Fatalf("pool after the network went: %+v", pool)
		}
		if err := w.farmer.RemovePublicIP(ctx, farm, "203.0.113.99"); !gridapi.IsStatus(err, 404) {
			t.Errorf("remove an unknown address: %v, want 404", err)
		}
	})
}
