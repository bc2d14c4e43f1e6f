package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
)

// BenchmarkGateway measures, on the booted default farm, a service in a workload on
// hidden home1 exposed through farm1's gateway, in the same run:
//   - HTTP requests/s and p50/p99 latency (8 workers, 2 s per round, 3 rounds each,
//     alternated) from the user host through the gateway, and straight to the backend
//     over the overlay from a workload on farm1 (the gateway's own node, so the ratio is
//     what the gateway adds);
//   - bulk throughput (256 MiB over one TCP connection, 3 rounds each) the same two ways;
//   - time from `zosnet expose` to the first successful request by name (plain HTTP,
//     no ACME), 5 exposures, once farm1 reaches home1 over the overlay.
func BenchmarkGateway(b *testing.B) {
	m := upMesh(b)
	ctx := context.Background()
	_, bs, err := m.ServiceNetwork(ctx, "bench", "10.130.0.0/16", []string{"farm1", "home1"}, "--http", ":8080", "--as", "%s")
	if err != nil {
		b.Fatal(err)
	}
	defer scenario.StopAll(bs)
	backend := netip.AddrPortFrom(bs[1].IPv4.Addr(), 8080)
	user, err := m.UserClient()
	if err != nil {
		b.Fatal(err)
	}
	nsPath := fmt.Sprintf("/proc/%d/root/run/netns/%s", m.Lab.NodePID("farm1"), bs[0].Netns)
	direct := &http.Client{Transport: &http.Transport{DialContext: (&lab.NSDialer{Path: nsPath}).DialContext, MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
	via, straight := "http://web0."+gwDomain+"/", "http://"+backend.String()+"/"
	// farm1 → home1 over the overlay works before anything is timed (hidden home1's
	// first handshake is the mesh's business, not the gateway's)
	if _, _, err := scenario.WaitGet(ctx, direct, straight, 30*time.Second); err != nil {
		b.Fatal(err)
	}
	var firsts []time.Duration
	for i := range 5 {
		if _, err := m.Expose(ctx, "http", "bench", fmt.Sprintf("web%d", i), "--to", backend.String(), "--gateway", "farm1"); err != nil {
			b.Fatal(err)
		}
		_, took, err := scenario.WaitGet(ctx, user, fmt.Sprintf("http://web%d.%s/", i, gwDomain), 30*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		firsts = append(firsts, took)
	}
	var viaRuns, directRuns []load
	var viaBulk, directBulk []float64
	for b.Loop() {
		for range 3 {
			viaRuns = append(viaRuns, runLoad(b, user, via, 8, 2*time.Second))
			directRuns = append(directRuns, runLoad(b, direct, straight, 8, 2*time.Second))
			viaBulk = append(viaBulk, bulk(b, user, via+"bytes?n=268435456"))
			directBulk = append(directBulk, bulk(b, direct, straight+"bytes?n=268435456"))
		}
	}
	v, d := medianLoad(viaRuns), medianLoad(directRuns)
	vb, db := medianF(viaBulk), medianF(directBulk)
	b.ReportMetric(v.rps, "rps-gateway")
	b.ReportMetric(d.rps, "rps-direct")
	b.ReportMetric(v.rps/d.rps, "rps-ratio")
	b.ReportMetric(v.p50.Seconds()*1000, "p50-ms-gateway")
	b.ReportMetric(d.p50.Seconds()*1000, "p50-ms-direct")
	b.ReportMetric(v.p99.Seconds()*1000, "p99-ms-gateway")
	b.ReportMetric(d.p99.Seconds()*1000, "p99-ms-direct")
	b.ReportMetric(vb, "MB/s-gateway")
	b.ReportMetric(db, "MB/s-direct")
	b.ReportMetric(vb/db, "bulk-ratio")
	b.ReportMetric(median(firsts).Seconds(), "s-expose-to-first")
	b.Logf("expose → first request: %v", firsts)
	b.Logf("gateway rounds %+v; direct rounds %+v; bulk MB/s gateway %v direct %v", viaRuns, directRuns, viaBulk, directBulk)
}

// load is one round's requests/s and latency percentiles.
type load struct {
	rps      float64
	p50, p99 time.Duration
}

// runLoad sends GETs to url from workers goroutines for d and measures them.
func runLoad(b *testing.B, c *http.Client, url string, workers int, d time.Duration) load {
	var mu sync.Mutex
	var lat []time.Duration
	var errs int
	var lastErr string
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				t := time.Now()
				resp, err := c.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				if err != nil || resp.StatusCode != 200 {
					errs++
					if err != nil {
						lastErr = err.Error()
					} else {
						lastErr = resp.Status
					}
				} else {
					lat = append(lat, time.Since(t))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if errs > 0 || len(lat) == 0 {
		b.Fatalf("%s: %d failed requests (last: %s), %d answered", url, errs, lastErr, len(lat))
	}
	slices.Sort(lat)
	return load{rps: float64(len(lat)) / d.Seconds(), p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

// bulk downloads url over a fresh connection and returns MB/s.
func bulk(b *testing.B, c *http.Client, url string) float64 {
	c.CloseIdleConnections()
	t := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return float64(n) / 1e6 / time.Since(t).Seconds()
}

func medianLoad(ls []load) load {
	s := slices.Clone(ls)
	slices.SortFunc(s, func(a, b load) int { return int(a.rps - b.rps) })
	return s[len(s)/2]
}

func medianF(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
