package nodeagent

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

func TestBackoffBounds(t *testing.T) {
	b := backoff{min: 200 * time.Millisecond, max: time.Second}
	steps := []time.Duration{200, 400, 800, 1000, 1000}
	for i, step := range steps {
		step *= time.Millisecond
		d := b.next()
		if d < step/2 || d > step {
			t.Fatalf("step %d: %v, want in [%v, %v]", i, d, step/2, step)
		}
	}
	busy := &gridapi.APIError{Status: http.StatusServiceUnavailable, RetryAfter: 3 * time.Second}
	for range 100 {
		if d := b.after(busy); d < 3*time.Second || d >= 4*time.Second {
			t.Fatalf("after a 503 with Retry-After 3 s: %v, want in [3 s, 4 s)", d)
		}
	}
	if d := b.after(errors.New("connection refused")); d > time.Second {
		t.Fatalf("after a transport error: %v, want ≤ the 1 s cap", d)
	}
}

func TestConnState(t *testing.T) {
	var flips []ConnState
	c := &Conn{OnChange: func(s ConnState) { flips = append(flips, s) }}
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	c.Record(errors.New("dial tcp: connection refused"), t0)
	c.Record(errors.New("dial tcp: no route to host"), t0.Add(time.Second))
	st := c.State()
	if st.Connected || !st.Since.Equal(t0) || st.LastError != "dial tcp: no route to host" {
		t.Fatalf("retrying: %+v, want retrying since t0 with the last error", st)
	}
	c.Record(&gridapi.APIError{Status: http.StatusNotFound, Message: "no node"}, t0.Add(2*time.Second))
	if st := c.State(); !st.Connected || !st.Since.Equal(t0.Add(2*time.Second)) || st.LastError == "" {
		t.Fatalf("a 404 is an answer: %+v", st)
	}
	c.Record(&gridapi.APIError{Status: http.StatusServiceUnavailable}, t0.Add(3*time.Second))
	c.OK(t0.Add(4 * time.Second))
	if len(flips) != 4 || flips[0].Connected || !flips[1].Connected || flips[2].Connected || !flips[3].Connected {
		t.Fatalf("flips %+v, want retrying, connected, retrying, connected", flips)
	}
	// load shed (503 with Retry-After): the registry answers, so it stays connected
	c.Record(&gridapi.APIError{Status: http.StatusServiceUnavailable, Message: "busy", RetryAfter: time.Second}, t0.Add(5*time.Second))
	if st := c.State(); len(flips) != 4 || !st.Connected || st.LastError == "" {
		t.Fatalf("a 503 with Retry-After is an answer: %+v, flips %d", st, len(flips))
	}
	var nilConn *Conn
	nilConn.OK(t0) // a watcher without a Conn
	nilConn.Record(errors.New("x"), t0)
}

// busyRegistry answers the first n long-polls with 503 + Retry-After, then a revision.
type busyRegistry struct {
	Registry
	mu    sync.Mutex
	n     int
	ra    time.Duration
	calls []time.Time
}

func (b *busyRegistry) Desired(ctx context.Context, node, rev int64, timeout time.Duration) (gridapi.Desired, error) {
	b.mu.Lock()
	b.calls = append(b.calls, time.Now())
	busy := len(b.calls) <= b.n
	b.mu.Unlock()
	if busy {
		return gridapi.Desired{}, &gridapi.APIError{Status: http.StatusServiceUnavailable, Message: "busy", RetryAfter: b.ra}
	}
	if rev >= 7 {
		<-ctx.Done()
		return gridapi.Desired{}, ctx.Err()
	}
	return gridapi.Desired{NodeID: node, Revision: 7}, nil
}

// TestWatcherHonoursRetryAfter: a shed long-poll is retried no sooner than the
// registry asked, although the watcher's own backoff is far shorter.
func TestWatcherHonoursRetryAfter(t *testing.T) {
	reg := &busyRegistry{n: 2, ra: 300 * time.Millisecond}
	conn := &Conn{}
	applied := make(chan int64, 1)
	w := &Watcher{Client: reg, NodeID: 1, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Conn: conn,
		Apply: func(_ context.Context, d gridapi.Desired) error { applied <- d.Revision; return nil }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	select {
	case rev := <-applied:
		if rev != 7 {
			t.Fatalf("applied revision %d", rev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("never applied")
	}
	reg.mu.Lock()
	calls := append([]time.Time(nil), reg.calls[:3]...)
	reg.mu.Unlock()
	for i := 1; i < 3; i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < reg.ra {
			t.Errorf("retry %d came %v after a 503 with Retry-After %v", i, gap, reg.ra)
		}
	}
	if st := conn.State(); !st.Connected {
		t.Errorf("connection state after the answer: %+v", st)
	}
}
