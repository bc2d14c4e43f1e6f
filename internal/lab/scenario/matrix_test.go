package scenario

import (
	"testing"
	"time"
)

// TestCellsOf: every ordered pair once, from-major, so WaitMatrix's row i is
// cells[i*(n-1):(i+1)*(n-1)] in ws order.
func TestCellsOf(t *testing.T) {
	ws := []Workload{{Node: "a"}, {Node: "b"}, {Node: "c"}}
	var got []string
	for _, c := range cellsOf(ws) {
		got = append(got, c.From+c.To)
	}
	want := []string{"ab", "ac", "ba", "bc", "ca", "cb"}
	if len(got) != len(want) {
		t.Fatalf("cellsOf = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("cellsOf = %v, want %v", got, want)
		}
	}
}

func TestAnswered(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	cells := []Cell{
		{From: "a", To: "b", OK: true, At: at(300)},
		{From: "b", To: "a", OK: true, At: at(100)},
		{From: "a", To: "c"}, // never answered
		{From: "c", To: "a", OK: true, At: at(200)},
	}
	for _, tc := range []struct {
		k    int
		want time.Time
		ok   bool
	}{
		{1, at(100), true},
		{2, at(200), true}, // half of the four pairs
		{3, at(300), true},
		{4, time.Time{}, false}, // only three answered
		{0, time.Time{}, false},
	} {
		got, ok := Answered(cells, tc.k)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("Answered(k=%d) = %v, %v; want %v, %v", tc.k, got, ok, tc.want, tc.ok)
		}
	}
}
