package provision

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

func TestLocalSpec(t *testing.T) {
	for _, tc := range []struct {
		w       gridapi.Workload
		want    nodeapi.WorkloadSpec
		wantErr string
	}{
		{gridapi.Workload{NetworkID: "net1", Name: "web1", Kind: gridapi.KindContainer},
			nodeapi.WorkloadSpec{Name: "net1-web1", NetworkID: "net1", Kind: nodeapi.KindNetns, ManagedBy: nodeapi.ManagedByGrid}, ""},
		{gridapi.Workload{NetworkID: "abcdefghijk", Name: strings.Repeat("v", 28), Kind: gridapi.KindVM, PublicIPv6: true},
			nodeapi.WorkloadSpec{Name: "abcdefghijk-" + strings.Repeat("v", 28), NetworkID: "abcdefghijk", Kind: nodeapi.KindTap,
				ManagedBy: nodeapi.ManagedByGrid, PublicIPv6: true}, ""},
		{gridapi.Workload{NetworkID: "net1", Name: "www", PublicIPv4: "203.0.113.50/24", PublicGW4: "203.0.113.1"},
			nodeapi.WorkloadSpec{Name: "net1-www", NetworkID: "net1", Kind: nodeapi.KindNetns, ManagedBy: nodeapi.ManagedByGrid,
				PublicIPv4: mustPrefix("203.0.113.50/24"), PublicGW4: mustAddr("203.0.113.1")}, ""},
		{gridapi.Workload{NetworkID: "net1", Name: "www", PublicIPv4: "203.0.113.50/24", PublicGW4: "nope"}, nodeapi.WorkloadSpec{}, "public_gw4"},
	} {
		got, err := localSpec(tc.w)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: err %v, want one naming %s", tc.w, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v:\n got %+v %v\nwant %+v", tc.w, got, err, tc.want)
		}
	}
}

// TestPassWorkloads drives the loop's workload part on fakes: grid workloads are
// attached through networkd and reported with their addresses; an unchanged state
// changes and reports nothing; a workload whose network has no NR is reported as an
// error; a workload the registry drops is removed; a workload added by hand is never
// touched; a provisiond that has not heard from the registry changes nothing.
func TestPassWorkloads(t *testing.T) {
	f := newFakeNode()
	ctx := context.Background()
	dn := gridLab(t)
	wls := []gridapi.Workload{
		{NetworkID: "net1", Name: "web1", NodeID: 2, Kind: gridapi.KindContainer},
		{NetworkID: "net1", Name: "vm1", NodeID: 2, Kind: gridapi.KindVM},
		{NetworkID: "ghost", Name: "x", NodeID: 2, Kind: gridapi.KindContainer},
	}
	d := gridapi.Desired{NodeID: 2, Revision: 1, Networks: []gridapi.DesiredNetwork{dn}, Workloads: wls}
	f.pass(t, d)
	if _, err := f.nd.AddWorkload(ctx, nodeapi.WorkloadSpec{Name: "mine", NetworkID: "net1"}); err != nil { // by hand
		t.Fatal(err)
	}
	web, ok := f.nd.workload("net1-web1")
	if !ok || web.Kind != nodeapi.KindNetns || web.ManagedBy != nodeapi.ManagedByGrid {
		t.Fatalf("net1-web1 in networkd: %+v %v", web, ok)
	}
	if vm, ok := f.nd.workload("net1-vm1"); !ok || vm.Kind != nodeapi.KindTap {
		t.Fatalf("net1-vm1 in networkd: %+v %v", vm, ok)
	}
	reps := f.reg.wlSent("net1/web1")
	if len(reps) != 1 || reps[0].State != "up" || reps[0].IPv4 != web.IPv4.String() || reps[0].MAC != web.MAC {
		t.Fatalf("web1's reports: %+v (attached as %+v)", reps, web)
	}
	if g := f.reg.wlSent("ghost/x"); len(g) != 1 || g[0].State != "error" || !strings.Contains(g[0].Error, "ghost") {
		t.Fatalf("a workload without its NR: %+v", g)
	}
	adds := f.nd.wlAdds      // "mine" included
	for i := range wls[:2] { // the registry now holds the reports
		wls[i].Report = &gridapi.WorkloadReport{State: "up"}
	}
	f.pass(t, d)
	if f.nd.wlAdds != adds || len(f.reg.wlSent("net1/web1")) != 1 {
		t.Fatalf("an unchanged pass added %d workloads and sent %d reports of web1", f.nd.wlAdds-adds, len(f.reg.wlSent("net1/web1"))-1)
	}
	// the registry drops web1
	d.Workloads = wls[1:]
	f.pass(t, d)
	if _, ok := f.nd.workload("net1-web1"); ok {
		t.Fatal("net1-web1 still attached after the registry dropped it")
	}
	if _, ok := f.nd.workload("mine"); !ok {
		t.Fatal("a workload added by hand was removed")
	}
	// a restarted provisiond that has not reached the registry changes nothing
	g := newFakeNode()
	g.nd = f.nd
	g.p.cfg.Networkd = f.nd
	rms := f.nd.wlRms
	g.p.pass(ctx)
	if f.nd.wlRms != rms {
		t.Fatal("provisiond removed workloads before hearing from the registry")
	}
	if _, ok := f.nd.workload("net1-vm1"); !ok {
		t.Fatal("net1-vm1 gone after a provisiond restart")
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
