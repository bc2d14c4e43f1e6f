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
// 10.<base+i>.0.0/16), waits until every member is up and every pair of workloads
// answers, deletes it, and returns the time of each round; it reports their median and
// logs the critical path (the provisionds' convergence trace, median over the rounds).
func converge(b *testing.B, m *scenario.Mesh, nodes []string, prefix string, base int, upWithin, matrixWithin time.Duration) []time.Duration {
	ctx := context.Background()
	var runs []time.Duration
	var paths [][]scenario.PathRow
	pairs := len(nodes) * (len(nodes) - 1)
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		n, err := m.CreateNetwork(ctx, fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("10.%d.0.0/16", base+i%100), nodes)
		if err != nil {
			b.Fatal(err)
		}
		written := time.Since(t0)
		if _, err := m.WaitUp(ctx, n.ID, len(nodes), upWithin); err != nil {
			b.Fatal(err)
		}
		up := time.Since(t0)
		ws, err := m.AddWorkloads(ctx, n.ID, nodes)
		if err != nil {
			b.Fatal(err)
		}
		attached := time.Since(t0)
		if _, err := m.WaitMatrix(ctx, ws, matrixWithin); err != nil {
			b.Fatal(err)
		}
		runs = append(runs, time.Since(t0))
		b.StopTimer()
		ev, err := m.Trace(n.ID)
		if err != nil {
			b.Fatal(err)
		}
		path := append([]scenario.PathRow{{Step: "registry write (create returned)", Count: 1, Median: written, Last: written}},
			scenario.CriticalPath(ev, t0)...)
		path = append(path,
			scenario.PathRow{Step: "all members up (status polled)", Count: len(nodes), Median: up, Last: up},
			scenario.PathRow{Step: "workloads attached", Count: len(nodes), Median: attached, Last: attached},
			scenario.PathRow{Step: "all pairs ping (matrix polled)", Count: pairs, Median: runs[len(runs)-1], Last: runs[len(runs)-1]})
		paths = append(paths, path)
		if err := m.Zosnet(ctx, nil, "network", "delete", n.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(median(runs).Seconds(), "s/op-median")
	b.Logf("critical path, median of %d runs (time since network create was sent):\n%s", len(paths), scenario.FormatPath(scenario.MedianPath(paths)))
	return runs
}

// BenchmarkConverge20 is BenchmarkConverge on the 20-node spec (internal/lab/specs/
// farm20.yaml, every node booting the whole OS): 10 two-NIC farm nodes, public through
// the SLAAC address on their PUBLIC NIC (f1–f4 also get public IPv4 configs), 6 OOB-only
// and 4 home nodes, hidden. From `zosnet network create` over all 20 to all 380 pairs
// answering.
func BenchmarkConverge20(b *testing.B) {
	spec, err := lab.LoadSpec("../lab/specs/farm20.yaml")
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
		if err := scenario.Poll(ctx, 60*time.Second, func() error { return m.Zosnet(ctx, nil, "node", "show", n) }); err != nil {
			b.Fatal(err)
		}
	}
	// The OOB-only and home nodes have IPv4 only, so some public member needs a public
	// IPv4 (a peer is reached over one family): the farmer gives f1–f4 public configs.
	for i, n := range nodes[:4] {
		_, err := m.Run(ctx, lab.UserHost, m.ZosnetPath(), "node", "public-config", "set", n, "--profile", "farmer",
			"--ipv4", fmt.Sprintf("203.0.113.%d/24", 20+i), "--gw4", "203.0.113.1")
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range nodes[:4] {
		err := scenario.Poll(ctx, 60*time.Second, func() error {
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
	runs := converge(b, m, nodes, "big", 150, 180*time.Second, 240*time.Second)
	b.Logf("20 nodes: create → all 380 pairs green: %v", runs)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
