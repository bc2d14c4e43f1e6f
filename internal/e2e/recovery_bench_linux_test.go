package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
)

// BenchmarkRecovery (issue 18), on the booted default farm with one network over all
// six nodes: per round, farm1 rebooted with the registry up, farm1 and the hidden home1
// rebooted with it down (each: netinit's end, i.e. lease with an answering gateway → all
// 30 pairs answer), then the registry stopped for $ZOSNET_OUTAGE (default 60 s) and a
// change (farm3 removed) made right after it returns → applied on every member. Reports
// the medians. Run with -benchtime=Nx.
func BenchmarkRecovery(b *testing.B) {
	outage := 60 * time.Second
	if v := os.Getenv("ZOSNET_OUTAGE"); v != "" {
		var err error
		if outage, err = time.ParseDuration(v); err != nil {
			b.Fatalf("ZOSNET_OUTAGE=%q: %v", v, err)
		}
	}
	r := upRecoveryNet(b)
	ctx := context.Background()
	var up, down, hidden, change []time.Duration
	for b.Loop() {
		up = append(up, r.reboot(b, "farm1"))
		if err := r.m.Lab.StopService(ctx, lab.Registry, "registry", 10*time.Second); err != nil {
			b.Fatal(err)
		}
		down = append(down, r.reboot(b, "farm1"))
		hidden = append(hidden, r.reboot(b, "home1"))
		if err := startRegistry(ctx, r.m); err != nil {
			b.Fatal(err)
		}
		change = append(change, changeAfterOutage(b, r, outage, "farm3"))
	}
	b.ReportMetric(median(up).Seconds(), "s-reboot-registry-up")
	b.ReportMetric(median(down).Seconds(), "s-reboot-registry-down")
	b.ReportMetric(median(hidden).Seconds(), "s-reboot-hidden-registry-down")
	b.ReportMetric(median(change).Seconds(), "s-change-after-outage")
	b.Logf("reboot → all pairs, registry up %v; down %v; hidden node, down %v; change after a %v outage %v", up, down, hidden, outage, change)
}

// BenchmarkKillAfterHandshake (issue 22): a new network over farm1, farm3 and the
// hidden home1; as soon as home1's workload reaches farm1's (their first handshake),
// pings run farm3→farm1 and home1→farm1 every 100 ms while farm1's networkd is killed
// (SIGKILL) 1 s later and started again at once. Reports the median outage per pair
// (lost pings × 100 ms; farm3 is public, home1 hidden: farm1 has no endpoint for it but
// the one it learned). Run with -benchtime=Nx.
func BenchmarkKillAfterHandshake(b *testing.B) {
	m := upMesh(b)
	ctx := context.Background()
	nodes := []string{"farm1", "farm3", "home1"}
	var public, hidden []time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		n, err := m.CreateNetwork(ctx, "kill"+strconv.Itoa(i), "10."+strconv.Itoa(130+i%100)+".0.0/16", nodes)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.WaitUp(ctx, n.ID, len(nodes), 60*time.Second); err != nil {
			b.Fatal(err)
		}
		ws, err := m.AddWorkloads(ctx, n.ID, nodes)
		if err != nil {
			b.Fatal(err)
		}
		wl := map[string]scenario.Workload{}
		for _, w := range ws {
			wl[w.Node] = w
		}
		if err := scenario.Poll(ctx, 60*time.Second, func() error { return m.Ping(ctx, wl["home1"], wl["farm1"].IPv4.Addr(), 1) }); err != nil {
			b.Fatal(err)
		}
		first := time.Since(t0)
		type loss struct {
			from string
			d    time.Duration
		}
		lost := make(chan loss, 2)
		for _, from := range []string{"farm3", "home1"} {
			go func() { lost <- loss{from, pingLoss(ctx, m, wl[from], wl["farm1"])} }()
		}
		time.Sleep(time.Second) // the scenario: the kill comes 1 s into the pings
		killNetworkd(b, m, "farm1")
		if err := m.Lab.StartService(ctx, "farm1", "networkd"); err != nil {
			b.Fatal(err)
		}
		for range 2 {
			l := <-lost
			if l.from == "farm3" {
				public = append(public, l.d)
			} else {
				hidden = append(hidden, l.d)
			}
		}
		b.Logf("network %s: first handshake %v after create; outage farm3→farm1 %v, home1→farm1 %v", n.ID,
			first.Round(10*time.Millisecond), public[len(public)-1], hidden[len(hidden)-1])
		if err := m.Zosnet(ctx, nil, "network", "delete", n.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(median(public).Seconds(), "s-outage-farm3-farm1")
	b.ReportMetric(median(hidden).Seconds(), "s-outage-home1-farm1")
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// pingLoss pings from a to b's workload every 100 ms for 15 s and returns the lost
// time (lost pings × 100 ms); -1 s when ping gave no summary.
func pingLoss(ctx context.Context, m *scenario.Mesh, a, b scenario.Workload) time.Duration {
	out, _ := m.Run(ctx, a.Node, "ip", "netns", "exec", a.Netns, "ping", "-n", "-q", "-i", "0.1", "-c", "150", "-W", "1", b.IPv4.Addr().String())
	mm := pingSummary.FindSubmatch(out)
	if mm == nil {
		return -time.Second
	}
	tx, _ := strconv.Atoi(string(mm[1]))
	rx, _ := strconv.Atoi(string(mm[2]))
	return time.Duration(tx-rx) * 100 * time.Millisecond
}

// killNetworkd SIGKILLs node's networkd and waits until it is gone.
func killNetworkd(b *testing.B, m *scenario.Mesh, node string) {
	b.Helper()
	for _, pid := range m.Lab.ServicePIDs(node, "networkd") {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	err := scenario.Poll(context.Background(), 10*time.Second, func() error {
		if pids := m.Lab.ServicePIDs(node, "networkd"); len(pids) > 0 {
			return fmt.Errorf("networkd on %s still runs: %v", node, pids)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
