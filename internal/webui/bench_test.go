package webui

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/zosnet/zosnet/internal/webui/browsertest"
)

// BenchmarkFirstPaint100 loads the page of a 100-member network (simulated nodes in a
// real registry) in chromium: ns/op is from navigation to the graph drawn (100 nodes,
// 4950 edges); fcp-ms is the browser's first contentful paint.
func BenchmarkFirstPaint100(b *testing.B) {
	w := newWorld(b, 100)
	s, base := w.ui(b, 2*time.Second)
	ctx := browsertest.New(b, nil)
	var fcp float64
	b.ResetTimer()
	for range b.N {
		browsertest.Do(b, ctx, "open the page", 60*time.Second, chromedp.Navigate(base+"/?token="+s.token+"#net="+w.network.ID))
		browsertest.Wait[bool](b, ctx, "the graph", `document.querySelectorAll("#graph svg g.node").length === 100 && document.querySelectorAll("#graph svg line.edge").length === 4950`, 60*time.Second)
		b.StopTimer()
		fcp += browsertest.Eval[float64](b, ctx, `(performance.getEntriesByName("first-contentful-paint")[0] || {startTime: -1}).startTime`)
		browsertest.Do(b, ctx, "blank", 10*time.Second, chromedp.Navigate("about:blank"))
		b.StartTimer()
	}
	b.ReportMetric(fcp/float64(b.N), "fcp-ms")
}

// BenchmarkRegistryCostPerView: the registry requests that open views of one network
// cause, per refresh and per view (one poller per network, so views share its reads).
func BenchmarkRegistryCostPerView(b *testing.B) {
	for _, views := range []int{1, 10} {
		b.Run(fmt.Sprintf("views=%d", views), func(b *testing.B) {
			w := newWorld(b, 6)
			refresh := 100 * time.Millisecond
			s, base := w.ui(b, refresh)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			streams := make([]*bufio.Scanner, views)
			for i := range streams {
				req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/networks/"+w.network.ID+"/events", nil)
				req.Header.Set("X-Zosnet-Token", s.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				streams[i] = bufio.NewScanner(resp.Body)
				streams[i].Buffer(make([]byte, 1<<20), 16<<20)
			}
			next := func(sc *bufio.Scanner) {
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "event: view") {
						return
					}
				}
				b.Fatalf("stream ended: %v", sc.Err())
			}
			for _, sc := range streams {
				next(sc)
			}
			r0, t0 := w.requests.Load(), time.Now()
			b.ResetTimer()
			for range b.N {
				for _, sc := range streams {
					next(sc)
				}
			}
			elapsed := time.Since(t0)
			reqs := float64(w.requests.Load() - r0)
			refreshes := float64(elapsed) / float64(refresh)
			b.ReportMetric(reqs/refreshes/float64(views), "req/refresh/view")
			b.ReportMetric(reqs/refreshes/float64(views)/2, "req/s/view@2s")
		})
	}
}
