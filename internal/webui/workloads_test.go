package webui

import (
	"reflect"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/plan"
)

func TestWorkloadsOf(t *testing.T) {
	members := []plan.MemberStatus{{NodeID: 1, Name: "farm1"}, {NodeID: 3, Name: "home1"}}
	ws := []gridapi.Workload{
		{Name: "web", NodeID: 1, Report: &gridapi.WorkloadReport{State: "up", IPv4: "10.100.1.2/24", IPv6: "fd00:1::2/64", PublicIPv4: "203.0.113.50/24", PublicIPv6: "2001:db8:100::5/64"}},
		{Name: "db", NodeID: 3},
		{Name: "vm", NodeID: 3, Report: &gridapi.WorkloadReport{State: "pending", IPv4: "10.100.3.2/24"}},
		{Name: "bad", NodeID: 9, Report: &gridapi.WorkloadReport{State: "error", Error: "no public NIC"}},
	}
	want := []Workload{
		{Name: "web", Node: "farm1", Addrs: []string{"10.100.1.2", "fd00:1::2"}, Exposed: []string{"203.0.113.50 (public)", "2001:db8:100::5 (public)"}},
		{Name: "db", Node: "home1", Addrs: []string{"(not reported yet)"}},
		{Name: "vm", Node: "home1", Addrs: []string{"10.100.3.2", "(pending)"}},
		{Name: "bad", Node: "node 9", Addrs: []string{"error: no public NIC"}},
	}
	if got := workloadsOf(ws, members); !reflect.DeepEqual(got, want) {
		t.Errorf("workloadsOf:\n got %+v\nwant %+v", got, want)
	}
	if got := workloadsOf(nil, members); got == nil || len(got) != 0 {
		t.Errorf("no workloads: got %#v, want an empty list (the page's JSON is [])", got)
	}
}
