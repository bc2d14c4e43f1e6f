package lab

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/testkit"
)

// benchUpDown measures Up and Down of a spec; it reports the median of each (ms).
func benchUpDown(b *testing.B, s *Spec) {
	testkit.RequireRoot(b)
	testkit.LeakCheck(b)
	ctx := context.Background()
	var ups, downs []float64
	for b.Loop() {
		name := testkit.Name("lbb")
		t := time.Now()
		if _, err := Up(ctx, s, Options{Name: name}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := Down(ctx, name); err != nil {
			b.Fatal(err)
		}
		ups = append(ups, float64(t2.Sub(t).Microseconds())/1000)
		downs = append(downs, float64(time.Since(t2).Microseconds())/1000)
	}
	b.ReportMetric(median(ups), "up-ms")
	b.ReportMetric(median(downs), "down-ms")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func BenchmarkUpDownDefault(b *testing.B) { benchUpDown(b, DefaultSpec()) }

func BenchmarkUpDownFarm20(b *testing.B) {
	s, err := LoadSpec("specs/farm20.yaml")
	if err != nil {
		b.Fatal(err)
	}
	benchUpDown(b, s)
}
