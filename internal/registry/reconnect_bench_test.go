package registry

import (
	"context"

	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeagent"
)

// BenchmarkReconnect: $ZOSNET_RECONNECT_NODES (default 1,000) nodes watch with the
// node's real watcher (nodeagent.Watcher: jittered backoff capped at 1 s, Retry-After
// honoured) over loopback. Each iteration takes the registry down (every connection
// dropped, new ones refused) for 3 s, brings it back and measures until every node is
// watching again; it reports the median (reconnect-ms) and the 503s the registry sent
// to shed the burst. SQLite, default limits (64 requests in the store at once). The
// 10,000-node version needs the control-plane simulator (issue 13): it runs the same
// watchers against a registry process and reads zosnet_registry_watchers and
// zosnet_registry_requests_total{code="503"} from /metrics.
func BenchmarkReconnect(b *testing.B) {
	nodes := 1000
	if v := os.Getenv("ZOSNET_RECONNECT_NODES"); v != "" {
		nodes, _ = strconv.Atoi(v)
	}
	st := backends[0].open(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := New(ctx, Config{Store: st, Log: testLog(), Rate: 1e9, Burst: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	var down atomic.Bool
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() && r.URL.Path != "/metrics" {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close() // a dead registry: the connection just ends
					return
				}
			}
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	defer func() { cancel(); hs.Close() }() // the watchers end before the server
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: nodes + 10}}
	f, err := (&gridapi.Client{Base: hs.URL, Key: newKey(b), HTTP: hc}).CreateFarm(ctx, gridapi.FarmCreate{Name: "rc"})
	mustOK(b, err)
	ids := registerMany(b, hs.URL, hc, f.ID, nodes)
	for _, id := range ids {
		w := &nodeagent.Watcher{Client: &gridapi.Client{Base: hs.URL, HTTP: hc}, NodeID: id,
			Apply: func(context.Context, gridapi.Desired) error { return nil }}
		go w.Run(ctx)
	}
	waitWatchersB(b, hs.URL, nodes)
	var times []time.Duration
	shed0 := count503(b, hs.URL)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		down.Store(true)
		hs.CloseClientConnections()
		deadline := time.Now().Add(30 * time.Second)
		for srv.hub.count() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(3 * time.Second) // the outage: every node backs off to its cap
		b.StartTimer()
		t0 := time.Now()
		down.Store(false)
		waitWatchersB(b, hs.URL, nodes)
		times = append(times, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "reconnect-ms")
	b.ReportMetric(float64(count503(b, hs.URL)-shed0)/float64(b.N), "503s/op")
	b.Logf("%d nodes: back to watching in %v (sorted)", nodes, times)
}

// count503 sums zosnet_registry_requests_total over code 503.
func count503(b *testing.B, base string) int {
	n := 0
	for _, l := range strings.Split(metricsTextB(b, base), "\n") {
		if strings.HasPrefix(l, "zosnet_registry_requests_total{code=\"503\"") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}

func metricsTextB(b *testing.B, base string) string {
	resp, err := http.Get(base + "/metrics")
	mustOK(b, err)
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String()
}
