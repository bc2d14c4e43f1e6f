package scenario

import (
	"strings"
	"testing"
	"time"
)

// TestParseTraceAndPath parses a provisiond log with trace lines of two networks, other
// lines and broken trace lines, and checks the critical path of one network.
func TestParseTraceAndPath(t *testing.T) {
	log := `time=2026-12-07T02:00:00.000Z level=INFO msg=registered node=2
time=2026-12-07T02:00:01.000Z level=INFO msg=converge step=desired network=n1 at=2026-12-07T02:00:01.100Z
time=2026-12-07T02:00:01.000Z level=INFO msg=converge step=desired network=n2 at=2026-12-07T02:00:01.000Z
time=2026-12-07T02:00:01.000Z level=INFO msg=converge step=nr-created network=n1 at=2026-12-07T02:00:01.300Z
time=2026-12-07T02:00:01.000Z level=INFO msg=converge step=answer network=n1 at=2026-12-07T02:00:03Z peer=3
time=2026-12-07T02:00:01.000Z level=INFO msg=converge step=answer network=n1 at=2026-12-07T02:00:02.500Z peer=4
time=2026-12-07T02:00:01.000Z level=INFO msg=converge step=answer network=n1 at=2026-12-07T02:00:02Z peer=5
time=2026-12-07T02:00:01.000Z level=INFO msg=converge step=answer network=n1 at=yesterday peer=6
time=2026-12-07T02:00:01.000Z level=INFO msg=converge step=answer network=n1 at=2026-12-07T02:00:02Z peer=x
time=2026-12-07T02:00:01.000Z level=INFO msg=convergence step=answer network=n1 at=2026-12-07T02:00:02Z peer=7
`
	ev, err := ParseTrace(strings.NewReader(log), "home1", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 5 {
		t.Fatalf("%d events, want 5: %+v", len(ev), ev)
	}
	if ev[0].Node != "home1" || ev[2].Peer != 3 {
		t.Errorf("events: %+v", ev)
	}
	t0 := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	rows := CriticalPath(ev, t0)
	if len(rows) != len(PathSteps) {
		t.Fatalf("%d rows", len(rows))
	}
	got := map[string]PathRow{}
	for _, r := range rows {
		got[r.Step] = r
	}
	for _, c := range []struct {
		step         string
		n            int
		median, last time.Duration
	}{
		{"desired", 1, 1100 * time.Millisecond, 1100 * time.Millisecond},
		{"nr-created", 1, 1300 * time.Millisecond, 1300 * time.Millisecond},
		{"answer", 3, 2500 * time.Millisecond, 3 * time.Second},
		{"handshake", 0, 0, 0},
	} {
		r := got[c.step]
		if r.Count != c.n || r.Median != c.median || r.Last != c.last {
			t.Errorf("%s: %+v, want count %d median %v last %v", c.step, r, c.n, c.median, c.last)
		}
	}
	med := MedianPath([][]PathRow{
		{{Step: "a", Count: 1, Median: 1, Last: 9}},
		{{Step: "a", Count: 3, Median: 5, Last: 2}},
		{{Step: "a", Count: 2, Median: 3, Last: 4}},
	})
	if want := (PathRow{Step: "a", Count: 2, Median: 3, Last: 4}); len(med) != 1 || med[0] != want {
		t.Errorf("MedianPath: %+v, want %+v", med, want)
	}
	if s := FormatPath(med); !strings.Contains(s, "| a | 2 | 0 ms | 0 ms |") {
		t.Errorf("FormatPath:\n%s", s)
	}
}
