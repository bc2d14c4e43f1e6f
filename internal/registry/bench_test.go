package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
)

// BenchmarkHeartbeat measures signed heartbeats per second over HTTP on loopback
// (signing, verification, replay cache and one UPDATE each), 16 nodes in parallel.
func BenchmarkHeartbeat(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			hs := serve(b, st, Config{Rate: 1e9, Burst: 1 << 30})
			ctx := context.Background()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			farmer := &gridapi.Client{Base: hs.URL, Key: newKey(b), HTTP: hc}
			f, err := farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "bench"})
			mustOK(b, err)
			const nodes = 16
			clients := make([]*gridapi.Client, nodes)
			ids := make([]int64, nodes)
			for i := range clients {
				clients[i] = &gridapi.Client{Base: hs.URL, Key: newKey(b), HTTP: hc}
				n, err := clients[i].Register(ctx, gridapi.NodeRegister{FarmID: f.ID, Name: fmt.Sprintf("b%d", i)})
				mustOK(b, err)
				ids[i] = n.ID
			}
			var next atomic.Int64
			b.SetParallelism(4) // 4×GOMAXPROCS client goroutines
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1)) % nodes
				for pb.Next() {
					if err := clients[i].Heartbeat(ctx, ids[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "heartbeats/s")
		})
	}
}

// BenchmarkHeartbeatServer measures what the registry alone sustains: heartbeats of
// 1,000 nodes signed before the timer starts (the nodes' signing is not the registry's
// cost), sent over HTTP on loopback by 64 client goroutines. It reports heartbeats/s
// and the process CPU per heartbeat (registry plus the HTTP client side; verification
// alone is identity's BenchmarkVerify).
func BenchmarkHeartbeatServer(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			hs := serve(b, st, Config{Rate: 1e9, Burst: 1 << 30})
			ctx := context.Background()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			farmer := &gridapi.Client{Base: hs.URL, Key: newKey(b), HTTP: hc}
			f, err := farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "bench"})
			mustOK(b, err)
			const nodes = 1000
			keys := make([]*identity.Key, nodes)
			ids := make([]int64, nodes)
			for i := range keys {
				keys[i] = newKey(b)
				c := &gridapi.Client{Base: hs.URL, Key: keys[i], HTTP: hc}
				n, err := c.Register(ctx, gridapi.NodeRegister{FarmID: f.ID, Name: fmt.Sprintf("b%d", i)})
				mustOK(b, err)
				ids[i] = n.ID
			}
			reqs := make([]*http.Request, b.N)
			for i := range reqs {
				n := i % nodes
				r, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/v1/nodes/%d/heartbeat", hs.URL, ids[n]), nil)
				mustOK(b, err)
				mustOK(b, keys[n].SignRequest(r, nil, time.Now()))
				reqs[i] = r
			}
			var next atomic.Int64
			cpu0 := cpuTime()
			start := time.Now()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(len(reqs)) {
							return
						}
						resp, err := hc.Do(reqs[i])
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
							b.Errorf("heartbeat: %s", resp.Status)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			el := time.Since(start)
			b.ReportMetric(float64(b.N)/el.Seconds(), "heartbeats/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/heartbeat")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWatchLatency: 1,000 simulated nodes long-poll their desired state over
// loopback; each iteration changes a network of 10 (or 100) of them and measures the
// time until all its members' watches have answered (ns/op is that latency; p50/p99
// reported).
func BenchmarkWatchLatency(b *testing.B) {
	for _, be := range backends {
		for _, members := range []int{10, 100} {
			b.Run(fmt.Sprintf("%s/members=%d", be.name, members), func(b *testing.B) { benchWatch(b, be.open(b), 1000, members) })
		}
	}
}

func benchWatch(b *testing.B, st Store, watchers, members int) {
	hs := serve(b, st, Config{Rate: 1e9, Burst: 1 << 30, WatchTimeout: time.Minute, MaxInflight: 2 * watchers}) // latency, not shedding
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: watchers + 10, MaxConnsPerHost: 0}}
	user := &gridapi.Client{Base: hs.URL, Key: newKey(b), HTTP: hc}
	f, err := user.CreateFarm(ctx, gridapi.FarmCreate{Name: "bench"})
	mustOK(b, err)
	ids := registerMany(b, hs.URL, hc, f.ID, watchers)
	fired := make(chan time.Time, watchers*4)
	var wg, ready sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c := &gridapi.Client{Base: hs.URL, HTTP: hc}
			// The first answer (revision 0) is the node's current state. Only once it
			// is in does a later answer count as a change: a watcher counted as parked
			// while its first request is still in flight would take the change as its
			// initial state and never report it (the cause of "only k of n watches
			// fired within 60 s": every handler was parked, none was stuck).
			d, err := c.Desired(ctx, id, 0, time.Minute)
			ready.Done()
			if err != nil {
				b.Error(err)
				return
			}
			rev := d.Revision
			for ctx.Err() == nil {
				d, err := c.Desired(ctx, id, rev, time.Minute)
				if err != nil {
					if ctx.Err() == nil {
						b.Error(err)
					}
					return
				}
				if d.Revision > rev {
					fired <- time.Now()
				}
				rev = d.Revision
			}
		}()
	}
	ready.Wait()
	waitWatchersB(b, hs.URL, watchers)
	spec := gridapi.NetworkSpec{Name: "bench", IPRange: "10.0.0.0/16", Members: ids[:members]}
	n, err := user.CreateNetwork(ctx, spec)
	mustOK(b, err)
	drain(b, fired, members)
	waitWatchersB(b, hs.URL, watchers)
	lat := make([]time.Duration, 0, b.N)
	writes := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spec.Name = fmt.Sprintf("bench%d", i)
		start := time.Now()
		_, err := user.UpdateNetwork(ctx, n.ID, spec)
		mustOK(b, err)
		writes = append(writes, time.Since(start))
		last := drain(b, fired, members)
		lat = append(lat, last.Sub(start))
		b.StopTimer()
		waitWatchersB(b, hs.URL, watchers) // all re-parked before the next change
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	slices.Sort(writes)
	b.ReportMetric(float64(writes[len(writes)/2].Microseconds())/1000, "write-p50-ms")
	cancel()
	wg.Wait()
}

func registerMany(b *testing.B, base string, hc *http.Client, farm int64, n int) []int64 {
	ids := make([]int64, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c := &gridapi.Client{Base: base, Key: newKey(b), HTTP: hc}
			nd, err := c.Register(context.Background(), gridapi.NodeRegister{FarmID: farm, Name: fmt.Sprintf("w%d", i)})
			if err != nil {
				b.Error(err)
				return
			}
			ids[i] = nd.ID
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return ids
}

func drain(b *testing.B, fired chan time.Time, n int) time.Time {
	var last time.Time
	timeout := time.After(60 * time.Second)
	for i := range n {
		select {
		case t := <-fired:
			last = t
		case <-timeout:
			b.Fatalf("only %d of %d watches fired within 60 s", i, n)
		}
	}
	return last
}

func waitWatchersB(b *testing.B, base string, n int) {
	deadline := time.Now().Add(60 * time.Second)
	for watchersMetric(b, base) != n {
		if time.Now().After(deadline) {
			b.Fatalf("watchers: %d, want %d", watchersMetric(b, base), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkStoreHeartbeat measures the store's share of a heartbeat alone (no HTTP, no
// signature): 1,000 registered nodes, 64 goroutines calling Store.Heartbeat.
func BenchmarkStoreHeartbeat(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			ctx := context.Background()
			f, err := st.CreateFarm(ctx, newKey(b).ID(), gridapi.FarmCreate{Name: "bench"})
			mustOK(b, err)
			const nodes = 1000
			keys := make([]string, nodes)
			ids := make([]int64, nodes)
			for i := range keys {
				keys[i] = newKey(b).ID()
				n, err := st.RegisterNode(ctx, keys[i], gridapi.NodeRegister{FarmID: f.ID, Name: fmt.Sprintf("b%d", i)}, "198.51.100.7")
				mustOK(b, err)
				ids[i] = n.ID
			}
			var next atomic.Int64
			b.SetParallelism(32) // 64 goroutines on 2 CPUs
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) % nodes
					if err := st.Heartbeat(ctx, keys[i], ids[i], "198.51.100.7"); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "heartbeats/s")
		})
	}
}
