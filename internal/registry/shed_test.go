package registry

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// syncBuf is a log sink safe for concurrent writers.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// shedServer is a registry on SQLite with one store slot and the Server at hand.
func shedServer(t *testing.T, log io.Writer) (*Server, *httptest.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := openStore(t, filepath.Join(t.TempDir(), "grid.db"))
	srv, err := New(ctx, Config{Store: st, Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Rate: 1e6, Burst: 1e6, MaxInflight: 1, ShedWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); cancel() })
	return srv, hs
}

// TestShedding: with every store slot taken, requests get 503 with a Retry-After the
// client reads (health still answers); a parked long-poll holds no slot.
func TestShedding(t *testing.T) {
	srv, hs := shedServer(t, io.Discard)
	ctx := context.Background()
	node := &gridapi.Client{Base: hs.URL, Key: newKey(t)}
	farmer := &gridapi.Client{Base: hs.URL, Key: newKey(t)}
	f, err := farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "shed"})
	mustOK(t, err)
	n, err := node.Register(ctx, gridapi.NodeRegister{FarmID: f.ID, Name: "n1"})
	mustOK(t, err)

	// a parked long-poll holds no slot: other requests still get one
	pctx, stopPoll := context.WithCancel(ctx)
	parked := make(chan error, 1)
	go func() { _, err := node.Desired(pctx, n.ID, 1<<40, time.Minute); parked <- err }()
	// Parked: watching, and its first read done (that read takes the slot for a moment).
	waitFor(t, func() bool { return srv.hub.count() == 1 && srv.shed.inflight() == 0 })
	// A loaded machine can still interleave that first read with ours (20 ms ShedWait):
	// a 503 is retried for a while, but a poll that kept the slot fails here.
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, err := farmer.Farms(ctx)
		if err == nil {
			break
		}
		if !gridapi.IsStatus(err, http.StatusServiceUnavailable) || time.Now().After(deadline) {
			t.Fatalf("with a parked long-poll: %v (in flight %d)", err, srv.shed.inflight())
		}
		time.Sleep(50 * time.Millisecond)
	}

	srv.shed.slots <- struct{}{} // the registry is busy
	_, err = farmer.Farms(ctx)
	if !gridapi.IsStatus(err, http.StatusServiceUnavailable) || gridapi.RetryAfter(err) < time.Second {
		t.Fatalf("busy registry: %v (retry after %v), want 503 with a Retry-After", err, gridapi.RetryAfter(err))
	}
	if _, err := node.Desired(ctx, n.ID, 0, time.Second); !gridapi.IsStatus(err, http.StatusServiceUnavailable) {
		t.Fatalf("a new long-poll on a busy registry: %v, want 503", err)
	}
	if err := node.Heartbeat(ctx, n.ID); !gridapi.IsStatus(err, http.StatusServiceUnavailable) {
		t.Fatalf("heartbeat on a busy registry: %v, want 503", err)
	}
	if _, err := farmer.Health(ctx); err != nil {
		t.Fatalf("health on a busy registry: %v", err)
	}
	srv.shed.release()
	if _, err := farmer.Farms(ctx); err != nil {
		t.Fatalf("after the load: %v", err)
	}
	stopPoll()
	<-parked
}

// TestClientGoneIsNoServerError: a node dropping its long-poll is counted as 499 and
// logged below ERROR.
func TestClientGoneIsNoServerError(t *testing.T) {
	var logs syncBuf
	srv, hs := shedServer(t, &logs)
	ctx := context.Background()
	node := &gridapi.Client{Base: hs.URL, Key: newKey(t)}
	farmer := &gridapi.Client{Base: hs.URL, Key: newKey(t)}
	f, err := farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "gone"})
	mustOK(t, err)
	n, err := node.Register(ctx, gridapi.NodeRegister{FarmID: f.ID, Name: "n1"})
	mustOK(t, err)
	pctx, drop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := node.Desired(pctx, n.ID, 1<<40, time.Minute); done <- err }()
	waitFor(t, func() bool { return srv.hub.count() == 1 })
	drop()
	<-done
	waitFor(t, func() bool { return srv.hub.count() == 0 })
	route := `route="GET /v1/nodes/{node}/desired"`
	waitFor(t, func() bool {
		return strings.Contains(metricsText(t, hs.URL), `zosnet_registry_requests_total{code="499",`+route+`} 1`)
	})
	if m := metricsText(t, hs.URL); strings.Contains(m, `code="500",`+route) {
		t.Errorf("a dropped long-poll counted as 500:\n%s", m)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a dropped long-poll logged at ERROR:\n%s", logs.String())
	}
}

// TestRetryAfterSpread: the Retry-After spread grows with the refusals per slot and
// stays within [1 s, maxRetryAfter].
func TestRetryAfterSpread(t *testing.T) {
	for _, c := range []struct{ refused, capacity, maxS int }{
		{1, 64, 1}, {64, 64, 2}, {640, 64, 11}, {10000, 64, 30}, {5, 0, 6},
	} {
		seen := map[time.Duration]bool{}
		for range 2000 {
			d := retryAfter(c.refused, c.capacity)
			if d < time.Second || d > time.Duration(c.maxS)*time.Second || d%time.Second != 0 {
				t.Fatalf("retryAfter(%d, %d) = %v, want whole seconds in [1, %d]", c.refused, c.capacity, d, c.maxS)
			}
			seen[d] = true
		}
		if len(seen) != c.maxS {
			t.Errorf("retryAfter(%d, %d) took %d distinct values, want %d (spread)", c.refused, c.capacity, len(seen), c.maxS)
		}
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	mustOK(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
