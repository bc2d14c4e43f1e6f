package boot

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/cmdline"
	"github.com/zosnet/zosnet/internal/dhcp/dhcptest"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

// benchFarm is a farm namespace with bridge br0 (10.0.0.1/24, dnsmasq, registry on
// :8080) and n node namespaces, each with eth0 plugged into br0.
func benchFarm(b *testing.B, n int, ping bool) (nodes []*netns.NS, reg *farm) {
	f := &farm{farm: testkit.NewNS(b)}
	h := testkit.Handle(b, f.farm)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := h.LinkAdd(br); err != nil {
		b.Fatal(err)
	}
	dhcptest.SetUp(b, f.farm, "br0", true)
	dhcptest.AddAddr(b, f.farm, "br0", "10.0.0.1/24")
	for i := range n {
		node := testkit.NewNS(b)
		port := fmt.Sprintf("p%d", i)
		dhcptest.Veth(b, f.farm, port, node, "eth0", net.HardwareAddr{2, 0, 0, 1, byte(i >> 8), byte(i)})
		l, err := h.LinkByName(port)
		if err == nil {
			err = h.LinkSetMaster(l, br)
		}
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, node)
	}
	dhcptest.StartDnsmasq(b, f.farm, dhcptest.Server{Iface: "br0", Range: "10.0.0.100,10.0.0.250", Ping: ping})
	return nodes, f
}

// bootAll runs netinit on every node at once and returns each node's time from start
// to registry reachable.
func bootAll(b *testing.B, nodes []*netns.NS, reg *farm, u string) []time.Duration {
	ru, _ := cmdline.ParseRegistry(u)
	out := make([]time.Duration, len(nodes))
	var wg sync.WaitGroup
	for i, ns := range nodes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			start := time.Now()
			_, err := Run(ctx, Options{NS: ns, Cmdline: cmdline.Config{Registry: ru}, Log: testLog()})
			out[i] = time.Since(start)
			if err != nil {
				b.Errorf("node %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkNetinit measures netinit start → registry reachable (one node, or 12 at
// once on one segment), with dnsmasq --no-ping and with its default 3 s address probe.
// Reported: median-ms (median over nodes and iterations) and max-ms.
func BenchmarkNetinit(b *testing.B) {
	for _, c := range []struct {
		nodes int
		ping  bool
	}{{1, false}, {1, true}, {12, false}, {12, true}} {
		b.Run(fmt.Sprintf("nodes=%d/ping=%v", c.nodes, c.ping), func(b *testing.B) {
			testkit.RequireRoot(b)
			var all []time.Duration
			for b.Loop() {
				b.StopTimer()
				nodes, f := benchFarm(b, c.nodes, c.ping)
				u := f.registry(b, "10.0.0.1:8080")
				b.StartTimer()
				all = append(all, bootAll(b, nodes, f, u.String())...)
			}
			b.ReportMetric(float64(median(all).Milliseconds()), "median-ms")
			b.ReportMetric(float64(slices.Max(all).Milliseconds()), "max-ms")
		})
	}
}
