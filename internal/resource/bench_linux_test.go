package resource_test

import (
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/zosnet/zosnet/internal/testkit"
)

// BenchmarkReapply is the cost of re-applying an unchanged NR (what each resync pays).
func BenchmarkReapply(b *testing.B) {
	testkit.RequireRoot(b)
	n := newNodeB(b)
	if os.Getenv("BENCH_DEBUG") != "" {
		n.app.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sa, _ := pair(n, n)
	if err := n.app.Apply(sa, n.key); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := n.app.Apply(sa, n.key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreate is the cost of creating (and removing) one NR.
func BenchmarkCreate(b *testing.B) {
	testkit.RequireRoot(b)
	n := newNodeB(b)
	sa, _ := pair(n, n)
	for i := 0; i < b.N; i++ {
		s := sa
		s.NetworkID = fmt.Sprintf("b%d", i%100)
		if err := n.app.Apply(s, n.key); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		n.app.Remove(s.NetworkID)
		b.StartTimer()
	}
}
