package registry

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(10, 2)
	now := time.Unix(1000, 0)
	for i, want := range []bool{true, true, false} {
		if got := l.allow("a", now); got != want {
			t.Fatalf("request %d: allow=%v, want %v", i, got, want)
		}
	}
	if !l.allow("b", now) {
		t.Fatal("another client has its own bucket")
	}
	if !l.allow("a", now.Add(100*time.Millisecond)) || l.allow("a", now.Add(100*time.Millisecond)) {
		t.Fatal("one token per 100 ms at 10/s")
	}
	l.allow("c", now.Add(2*time.Minute)) // sweeps idle buckets
	if len(l.buckets) != 1 {
		t.Fatalf("idle buckets not dropped: %d left", len(l.buckets))
	}
}

// TestRateLimited: over the burst a client gets 429 with a message.
func TestRateLimited(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "g.db"))
	hs := serve(t, st, Config{Rate: 0.001, Burst: 3})
	c := &gridapi.Client{Base: hs.URL}
	for i := range 3 {
		if _, err := c.Health(context.Background()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := c.Health(context.Background()); !gridapi.IsStatus(err, 429) {
		t.Fatalf("over the burst: %v, want 429", err)
	}
}
