package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab/guest"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/provision"
	"github.com/zosnet/zosnet/internal/workload"
)

// workloadBenchNet is a network over farm1 and hidden home1 with a container workload
// "target" on home1, for the workload benchmarks.
func workloadBenchNet(b *testing.B, m *scenario.Mesh) (string, scenario.Workload) {
	ctx := context.Background()
	n, err := m.CreateNetwork(ctx, "wlbench", "10.140.0.0/16", []string{"farm1", "home1"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.WaitUp(ctx, n.ID, 2, 90*time.Second); err != nil {
		b.Fatal(err)
	}
	if err := m.Zosnet(ctx, nil, "workload", "add", n.ID, "home1", "target"); err != nil {
		b.Fatal(err)
	}
	target, _, err := m.GridWorkload(ctx, n.ID, "home1", "target", 60*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	return n.ID, target
}

// BenchmarkWorkloadAdd measures `zosnet workload add` of a container on farm1 until it
// pings a workload on hidden home1 over the mesh (the report polled, then pings),
// once per round; the workload is removed between rounds. s/op-median is the median.
func BenchmarkWorkloadAdd(b *testing.B) {
	m := upMesh(b)
	ctx := context.Background()
	netID, target := workloadBenchNet(b, m)
	var runs []time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("b%d", i)
		t0 := time.Now()
		if err := m.Zosnet(ctx, nil, "workload", "add", netID, "farm1", name); err != nil {
			b.Fatal(err)
		}
		w, _, err := m.GridWorkload(ctx, netID, "farm1", name, 60*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if err := scenario.Poll(ctx, 60*time.Second, func() error { return m.Ping(ctx, w, target.IPv4.Addr(), 1) }); err != nil {
			b.Fatal(err)
		}
		runs = append(runs, time.Since(t0))
		b.StopTimer()
		if err := m.Zosnet(ctx, nil, "workload", "rm", netID, name); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(median(runs).Seconds(), "s/op-median")
	b.Logf("workload add → pings hidden home1: %v", runs)
}

// BenchmarkVMWorkloadBoot boots the workload guest (qemu TCG) on a tap workload on farm1, once
// per round, and reports the medians from qemu's start to its DHCP lease and to its
// first ping of a workload on hidden home1 over the mesh (a figure for TCG on this
// machine, not a bar).
func BenchmarkVMWorkloadBoot(b *testing.B) {
	f, err := guest.Build(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	m := upMesh(b)
	ctx := context.Background()
	netID, target := workloadBenchNet(b, m)
	if err := m.Zosnet(ctx, nil, "workload", "add", netID, "farm1", "vm", "--kind", "vm"); err != nil {
		b.Fatal(err)
	}
	_, vm, err := m.GridWorkload(ctx, netID, "farm1", "vm", 60*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	tap := workload.HostIf(nodeapi.WorkloadSpec{Name: provision.LocalName(netID, "vm"), NetworkID: netID, Kind: nodeapi.KindTap})
	var lease, ping []time.Duration
	for b.Loop() {
		r, err := bootGuest(ctx, m, f, "farm1", tap, vm.Report.MAC, 180*time.Second, target.IPv4.Addr())
		if err != nil {
			b.Fatalf("%v\n%s", err, r.console)
		}
		_, l, ok1 := r.find(guest.MarkDHCP, "")
		_, p, ok2 := r.find(guest.MarkPing, target.IPv4.Addr().String())
		if !ok1 || !ok2 {
			b.Fatalf("guest: no lease or no ping:\n%s", r.console)
		}
		lease, ping = append(lease, l), append(ping, p)
	}
	b.ReportMetric(median(lease).Seconds(), "s-to-lease-median")
	b.ReportMetric(median(ping).Seconds(), "s-to-ping-median")
	b.Logf("qemu start → lease %v, → first ping %v", lease, ping)
}
