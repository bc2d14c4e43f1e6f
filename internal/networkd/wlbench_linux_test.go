package networkd_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// BenchmarkWorkloads200 attaches 200 workloads (namespaces, and every 4th a VM's tap)
// to one NR of one in-process networkd through its API, and reports the time for all
// 200, the median and p99 add latency, the RSS growth per workload and a restart of
// networkd with them in place. Run with -benchtime=1x.
func BenchmarkWorkloads200(b *testing.B) {
	testkit.RequireRoot(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		n := benchNode(b)
		n.start(b)
		if _, err := n.cl.PutNR(bg, spec("wl", "10.1.0.0/24")); err != nil {
			b.Fatal(err)
		}
		rss0 := rssKB(b)
		lat := make([]time.Duration, 0, 200)
		b.StartTimer()
		start := time.Now()
		for j := 0; j < 200; j++ {
			s := nodeapi.WorkloadSpec{Name: fmt.Sprintf("w%d", j), NetworkID: "wl", Kind: nodeapi.KindNetns}
			if j%4 == 3 {
				s.Kind = nodeapi.KindTap
			}
			t0 := time.Now()
			if _, err := n.cl.AddWorkload(bg, s); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		total := time.Since(start)
		b.StopTimer()
		rss := rssKB(b) - rss0
		n.stop(b)
		t0 := time.Now()
		n.start(b) // until its API answers again
		restart := time.Since(t0)
		ws, err := n.cl.ListWorkloads(bg)
		if err != nil || len(ws) != 200 {
			b.Fatalf("after the restart: %d workloads, err %v", len(ws), err)
		}
		b.ReportMetric(total.Seconds(), "s-200-workloads")
		b.ReportMetric(float64(pct(lat, 0.5).Microseconds())/1000, "ms-add-p50")
		b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "ms-add-p99")
		b.ReportMetric(restart.Seconds(), "s-restart")
		b.ReportMetric(float64(rss)/200, "KB-RSS/workload")
		n.stop(b)
		b.StartTimer()
	}
}
