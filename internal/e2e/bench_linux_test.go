package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
)

// BenchmarkConverge measures, on the booted default farm, the time from `zosnet network
// create` over all six nodes to every pair of workloads answering pings (the network
// is deleted after each run). Run with -benchtime=Nx; s/op-median is the median.
func BenchmarkConverge(b *testing.B) {
	m := upMesh(b)
	nodes := scenario.Names(lab.DefaultSpec())
	runs := converge(b, m, nodes, "bench", 110, 90*time.Second, 120*time.Second)
	b.Logf("create → all pairs green: %v", runs)
}

// converge creates a network over nodes once per benchmark round (named prefix<i>, range
// 10.<base+i>.0.0/16), attaches a workload on every member as soon as the member has
// its network resource, waits until every pair of workloads answers (and every member
// reports up, polled alongside), deletes it, and returns the time of each round; it reports their median, the
// median time until half the pairs answered, the lab's memory (RSS of all its
// processes, in total and per node) and CPU time per round and the box's load, and logs
// the critical path (the provisionds' convergence trace, median over the rounds).
func converge(b *testing.B, m *scenario.Mesh, nodes []string, prefix string, base int, upWithin, matrixWithin time.Duration) []time.Duration {
	return convergeCmp(b, m, nodes, prefix, base, upWithin, matrixWithin, false)
}

// convergeCmp is converge; with cmpPing, each round also pings all pairs of the
// converged mesh again, the old way (Matrix: a ping process per pair, six at a time)
// and the new way (WaitMatrix), and reports both times side by side.
func convergeCmp(b *testing.B, m *scenario.Mesh, nodes []string, prefix string, base int, upWithin, matrixWithin time.Duration, cmpPing bool) []time.Duration {
	ctx := context.Background()
	var runs, halves, oldPing, newPing []time.Duration
	var paths [][]scenario.PathRow
	var rss, cpu, load, updates []float64
	pairs := len(nodes) * (len(nodes) - 1)
	for i := 0; b.Loop(); i++ {
		cpu0 := m.Lab.Usage().CPU
		t0 := time.Now()
		n, err := m.CreateNetwork(ctx, fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("10.%d.0.0/16", base+i%100), nodes)
		if err != nil {
			b.Fatal(err)
		}
		written := time.Since(t0)
		// workloads are attached while the members converge, each as soon as its
		// node has the network resource
		type attach struct {
			ws  []scenario.Workload
			err error
			at  time.Duration
		}
		attachc := make(chan attach, 1)
		go func() {
			ws, err := m.AddWorkloadsWhenReady(ctx, n.ID, nodes, upWithin)
			attachc <- attach{ws, err, time.Since(t0)}
		}()
		// the status is polled alongside (its time is a row of the critical path)
		upc := make(chan error, 1)
		var up time.Duration
		go func() {
			_, err := m.WaitUp(ctx, n.ID, len(nodes), upWithin)
			up = time.Since(t0)
			upc <- err
		}()
		a := <-attachc
		if a.err != nil {
			b.Fatal(a.err)
		}
		ws, attached := a.ws, a.at
		cells, err := m.WaitMatrix(ctx, ws, matrixWithin)
		if err != nil {
			b.Fatal(err)
		}
		runs = append(runs, time.Since(t0))
		b.StopTimer()
		if err := <-upc; err != nil {
			b.Fatal(err)
		}
		u := m.Lab.Usage()
		l, _ := lab.LoadAvg()
		rss, cpu, load = append(rss, float64(u.RSS)/(1<<20)), append(cpu, u.CPU-cpu0), append(load, l)
		half, _ := scenario.Answered(cells, (pairs+1)/2)
		halves = append(halves, half.Sub(t0))
		if cmpPing {
			o, n := pingBoth(b, m, ws)
			oldPing, newPing = append(oldPing, o), append(newPing, n)
		}
		ev, err := m.Trace(n.ID)
		if err != nil {
			b.Fatal(err)
		}
		upd, err := m.NRUpdates(n.ID)
		if err != nil {
			b.Fatal(err)
		}
		updates = append(updates, float64(upd)/float64(len(nodes)))
		b.Logf("run %d: all pairs %v, half %v; NR updates per member %.1f; lab: %s; load %.1f",
			i, runs[i].Round(time.Millisecond), halves[i].Round(time.Millisecond), updates[i], u, l)
		path := append([]scenario.PathRow{{Step: "registry write (create returned)", Count: 1, Median: written, Last: written}},
			scenario.CriticalPath(ev, t0)...)
		path = append(path,
			scenario.PathRow{Step: "all members up (status polled)", Count: len(nodes), Median: up, Last: up},
			scenario.PathRow{Step: "workloads attached", Count: len(nodes), Median: attached, Last: attached},
			scenario.PathRow{Step: "all pairs ping (matrix)", Count: pairs, Median: halves[i], Last: runs[i]})
		paths = append(paths, path)
		// a loaded registry sheds requests (503, retry after 1 s): retry the delete
		if err := scenario.Poll(ctx, 60*time.Second, func() error { return m.Zosnet(ctx, nil, "network", "delete", n.ID) }); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	// also logged: a benchmark whose cleanup fails prints no metrics
	b.Logf("medians of %d runs: all pairs %v, half %v, NR updates per member %.1f, lab RSS %.0f MB (%.1f MB per node), lab CPU %.1f s per run, load %.1f",
		len(runs), median(runs).Round(time.Millisecond), median(halves).Round(time.Millisecond), medianF(updates), medianF(rss),
		medianF(rss)/float64(len(nodes)), medianF(cpu), medianF(load))
	b.ReportMetric(median(runs).Seconds(), "s/op-median")
	b.ReportMetric(median(halves).Seconds(), "s-half-median")
	b.ReportMetric(medianF(rss), "MB-rss")
	b.ReportMetric(medianF(rss)/float64(len(nodes)), "MB-rss/node")
	b.ReportMetric(medianF(cpu), "cpu-s/op")
	b.ReportMetric(medianF(load), "load1")
	b.ReportMetric(medianF(updates), "nr-updates/member")
	if cmpPing {
		b.ReportMetric(median(oldPing).Seconds(), "s-ping-old")
		b.ReportMetric(median(newPing).Seconds(), "s-ping-new")
		b.Logf("all %d pairs of the converged mesh pinged once: old way %v, new way %v", pairs, oldPing, newPing)
	}
	b.Logf("critical path, median of %d runs (time since network create was sent; the matrix row's median is when half the pairs answered):\n%s",
		len(paths), scenario.FormatPath(scenario.MedianPath(paths)))
	return runs
}

// pingBoth pings every pair of a converged mesh the old way (a process per pair, six at
// a time) and the new way (WaitMatrix), and returns both times.
func pingBoth(b *testing.B, m *scenario.Mesh, ws []scenario.Workload) (time.Duration, time.Duration) {
	ctx := context.Background()
	t0 := time.Now()
	for _, c := range m.Matrix(ctx, ws, 3) {
		if !c.OK {
			b.Fatalf("converged mesh, old pinger: %s→%s: %v", c.From, c.To, c.Err)
		}
	}
	old := time.Since(t0)
	t0 = time.Now()
	if _, err := m.WaitMatrix(ctx, ws, 60*time.Second); err != nil {
		b.Fatalf("converged mesh, new pinger: %v", err)
	}
	return old, time.Since(t0)
}

// BenchmarkConverge20 is BenchmarkConverge on the 20-node spec (internal/lab/specs/
// farm20.yaml, every node booting the whole OS): 10 two-NIC farm nodes, public through
// the SLAAC address on their PUBLIC NIC (f1–f4 also get public IPv4 configs), 6 OOB-only
// and 4 home nodes, hidden. From `zosnet network create` over all 20 to all 380 pairs
// answering.
func BenchmarkConverge20(b *testing.B) {
	m, nodes := upFarm(b, "../lab/specs/farm20.yaml", 4)
	runs := convergeCmp(b, m, nodes, "big", 150, 180*time.Second, 240*time.Second, true)
	b.Logf("20 nodes: create → all 380 pairs green: %v", runs)
}

// BenchmarkConverge50 is BenchmarkConverge on the 50-node spec (internal/lab/specs/
// farm50.yaml, every node booting the whole OS): 20 two-NIC farm nodes, public (f1–f6
// with public IPv4 configs too), 14 OOB-only, 10 behind a home NAT and 6 behind a
// dual-stack home router, hidden. From `zosnet network create` over all 50 to all 2,450
// pairs answering; it also reports when half the pairs answered and the lab's memory.
func BenchmarkConverge50(b *testing.B) {
	m, nodes := upFarm(b, "../lab/specs/farm50.yaml", 6)
	b.Logf("50 nodes booted; lab: %s", m.Lab.Usage())
	runs := converge(b, m, nodes, "huge", 170, 600*time.Second, 600*time.Second)
	b.Logf("50 nodes: create → all 2450 pairs green: %v", runs)
}

// upFarm boots a farm spec with the whole OS on every node, waits until every node is
// registered, gives the first publicV4 nodes public IPv4 configs (203.0.113.20 on: the
// OOB-only and home nodes have IPv4 only, and a peer is reached over one family) and
// waits until they applied them. It returns the mesh and the node names.
func upFarm(b *testing.B, file string, publicV4 int) (*scenario.Mesh, []string) {
	spec, err := lab.LoadSpec(file)
	if err != nil {
		b.Fatal(err)
	}
	for i := range spec.Nodes {
		spec.Nodes[i].Boot = []string{"netinit", "networkd", "provisiond"}
	}
	m := upMeshSpec(b, spec, false)
	ctx := context.Background()
	nodes := scenario.Names(spec)
	for _, n := range nodes { // without public configs, Up does not wait for registrations
		if err := scenario.Poll(ctx, 120*time.Second, func() error { return m.Zosnet(ctx, nil, "node", "show", n) }); err != nil {
			b.Fatal(err)
		}
	}
	for i, n := range nodes[:publicV4] {
		_, err := m.Run(ctx, lab.UserHost, m.ZosnetPath(), "node", "public-config", "set", n, "--profile", "farmer",
			"--ipv4", fmt.Sprintf("203.0.113.%d/24", 20+i), "--gw4", "203.0.113.1")
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range nodes[:publicV4] {
		err := scenario.Poll(ctx, 120*time.Second, func() error {
			var nd struct {
				Facts struct{ Endpoints []struct{ Reason string } } `json:"facts"`
			}
			if err := m.Zosnet(ctx, &nd, "node", "show", n); err != nil {
				return err
			}
			for _, e := range nd.Facts.Endpoints {
				if e.Reason == "public-config" {
					return nil
				}
			}
			return fmt.Errorf("%s has not applied its public config", n)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return m, nodes
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
