package plan

import (
	"testing"
	"time"
)

func TestFailoverNext(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := Failover{DownAfter: 2 * time.Second, StartGrace: 10 * time.Second, Hold: 20 * time.Second, MaxHold: 5 * time.Minute, Stable: 2 * time.Minute}
	relays := []string{"r1", "r2"}
	ago := func(d time.Duration) time.Time { return t0.Add(-d) }
	old := ago(time.Minute) // a group evaluated for a minute already
	on := func(cur string) RelayState { return RelayState{Current: cur, Started: old} }
	moved := func(since time.Time) RelayState { return RelayState{Current: "r2", Started: old, Since: since} }
	tests := []struct {
		name   string
		relays []string
		st     RelayState
		seen   map[string]time.Time
		want   RelayState
	}{
		{"new group, nothing answered: primary, start noted", relays, RelayState{}, nil, RelayState{Current: "r1", Started: t0}},
		{"new group, second answers first: stay on the primary (grace)", relays, RelayState{Started: ago(9 * time.Second)},
			map[string]time.Time{"r2": ago(0)}, RelayState{Current: "r1", Started: ago(9 * time.Second)}},
		{"primary never answered after the grace, second up: fail over", relays, RelayState{Started: ago(10 * time.Second)},
			map[string]time.Time{"r2": ago(0)}, RelayState{Current: "r2", Started: ago(10 * time.Second), Since: t0}},
		{"primary up", relays, on("r1"), map[string]time.Time{"r1": ago(500 * time.Millisecond)}, on("r1")},
		{"three probes missed (1.5 s): not down", relays, on("r1"),
			map[string]time.Time{"r1": ago(1500 * time.Millisecond), "r2": ago(0)}, on("r1")},
		{"slow primary, answer 2 s old: still up", relays, on("r1"),
			map[string]time.Time{"r1": ago(2 * time.Second), "r2": ago(0)}, on("r1")},
		{"four probes missed (2.1 s): fail over", relays, on("r1"),
			map[string]time.Time{"r1": ago(2100 * time.Millisecond), "r2": ago(100 * time.Millisecond)}, moved(t0)},
		{"primary down, second down too: stay on primary", relays, on("r1"),
			map[string]time.Time{"r1": ago(time.Hour), "r2": ago(time.Hour)}, on("r1")},
		{"both down: stay on second", relays, moved(ago(time.Minute)),
			map[string]time.Time{"r1": ago(time.Hour), "r2": ago(time.Hour)}, moved(ago(time.Minute))},
		{"primary back: start the hold", relays, moved(ago(time.Minute)),
			map[string]time.Time{"r1": ago(0), "r2": ago(0)},
			RelayState{Current: "r2", Started: old, Since: ago(time.Minute), PrimaryUpSince: t0}},
		{"primary back, hold not over", relays, RelayState{Current: "r2", Started: old, Since: old, PrimaryUpSince: ago(19 * time.Second)},
			map[string]time.Time{"r1": ago(0), "r2": ago(0)},
			RelayState{Current: "r2", Started: old, Since: old, PrimaryUpSince: ago(19 * time.Second)}},
		{"primary up for the hold: move back", relays, RelayState{Current: "r2", Started: old, Since: old, PrimaryUpSince: ago(20 * time.Second)},
			map[string]time.Time{"r1": ago(0), "r2": ago(0)}, RelayState{Current: "r1", Started: old, BackAt: t0}},
		{"primary silent again during the hold: the hold restarts", relays, RelayState{Current: "r2", Started: old, Since: old, PrimaryUpSince: ago(15 * time.Second)},
			map[string]time.Time{"r1": ago(3 * time.Second), "r2": ago(0)}, RelayState{Current: "r2", Started: old, Since: old}},
		{"second dies while the primary is back: move back at once", relays, RelayState{Current: "r2", Started: old, Since: old, PrimaryUpSince: ago(time.Second)},
			map[string]time.Time{"r1": ago(0), "r2": ago(time.Hour)}, RelayState{Current: "r1", Started: old, BackAt: t0}},
		{"flap: down again soon after moving back doubles the hold", relays, RelayState{Current: "r1", Started: old, BackAt: ago(30 * time.Second), Flaps: 1},
			map[string]time.Time{"r1": ago(3 * time.Second), "r2": ago(0)},
			RelayState{Current: "r2", Started: old, Since: t0, BackAt: ago(30 * time.Second), Flaps: 2}},
		{"down long after moving back: no flap", relays, RelayState{Current: "r1", Started: old, BackAt: ago(time.Hour), Flaps: 3},
			map[string]time.Time{"r1": ago(3 * time.Second), "r2": ago(0)},
			RelayState{Current: "r2", Started: old, Since: t0, BackAt: ago(time.Hour)}},
		{"flapped twice: hold is 80 s", relays, RelayState{Current: "r2", Started: old, Since: old, PrimaryUpSince: ago(79 * time.Second), Flaps: 2},
			map[string]time.Time{"r1": ago(0), "r2": ago(0)},
			RelayState{Current: "r2", Started: old, Since: old, PrimaryUpSince: ago(79 * time.Second), Flaps: 2}},
		{"single relay: always it", []string{"r1"}, RelayState{Current: "gone", Started: old},
			map[string]time.Time{"r1": ago(time.Hour)}, on("r1")},
		{"relay no longer planned: back to primary", relays, RelayState{Current: "old", Started: old, Since: old},
			map[string]time.Time{"r1": ago(time.Second)}, on("r1")},
		{"no relays", nil, on("r1"), nil, RelayState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.Next(tt.relays, tt.st, tt.seen, t0); got != tt.want {
				t.Fatalf("Next = %+v,\n want %+v", got, tt.want)
			}
		})
	}
}

func TestFailoverHoldFor(t *testing.T) {
	f := Failover{Hold: 20 * time.Second, MaxHold: 5 * time.Minute}
	for flaps, want := range []time.Duration{20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute} {
		if got := f.HoldFor(flaps); got != want {
			t.Errorf("HoldFor(%d) = %v, want %v", flaps, got, want)
		}
	}
	if got := (Failover{}).HoldFor(1000); got != DefaultMaxHold {
		t.Errorf("defaults, 1000 flaps: %v, want %v", got, DefaultMaxHold)
	}
}

// TestFailoverTimeline plays, probe by probe (every 500 ms), a relay outage, a slow and
// lossy relay and a flapping relay, and counts the moves.
func TestFailoverTimeline(t *testing.T) {
	const tick = 500 * time.Millisecond
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	relays := []string{"r1", "r2"}
	type event struct {
		at       time.Duration
		from, to string
	}
	// play runs for total, with answers(i) saying whether probe i to r1 is answered
	// (r2 always answers), and returns the moves.
	play := func(total time.Duration, answers func(i int, at time.Duration) bool, delay time.Duration) []event {
		var f Failover
		var st RelayState
		seen := map[string]time.Time{}
		var pending []time.Time // answer times of r1 still in flight
		var out []event
		for i := 0; time.Duration(i)*tick <= total; i++ {
			at := time.Duration(i) * tick
			now := t0.Add(at)
			seen["r2"] = now
			if answers(i, at) {
				pending = append(pending, now.Add(delay))
			}
			for len(pending) > 0 && !pending[0].After(now) {
				seen["r1"], pending = pending[0], pending[1:]
			}
			prev := st.Current
			st = f.Next(relays, st, seen, now)
			if prev != "" && prev != st.Current {
				out = append(out, event{at, prev, st.Current})
			}
		}
		return out
	}
	t.Run("outage 60 s: over within 2.5 s, back after the 20 s hold", func(t *testing.T) {
		ev := play(3*time.Minute, func(_ int, at time.Duration) bool { return at < 30*time.Second || at >= 90*time.Second }, 0)
		if len(ev) != 2 {
			t.Fatalf("moves %+v, want over and back", ev)
		}
		if d := ev[0].at - 30*time.Second; ev[0].to != "r2" || d > 2500*time.Millisecond {
			t.Errorf("failover %v after the outage began (%+v), want ≤ 2.5 s", d, ev[0])
		}
		if d := ev[1].at - 90*time.Second; ev[1].to != "r1" || d < DefaultHold || d > DefaultHold+tick {
			t.Errorf("back %v after r1 returned (%+v), want the %v hold", d, ev[1], DefaultHold)
		}
	})
	t.Run("slow relay (1.5 s late) losing every other answer: no move", func(t *testing.T) {
		if ev := play(10*time.Minute, func(i int, _ time.Duration) bool { return i%2 == 0 }, 1500*time.Millisecond); len(ev) != 0 {
			t.Fatalf("moves %+v on a slow, lossy relay", ev)
		}
	})
	t.Run("three misses in a row, again and again: no move", func(t *testing.T) {
		if ev := play(10*time.Minute, func(i int, _ time.Duration) bool { return i%4 == 0 }, 0); len(ev) != 0 {
			t.Fatalf("moves %+v on a relay answering one probe in four", ev)
		}
	})
	t.Run("flapping relay: the hold doubles until the member stays on the second", func(t *testing.T) {
		// r1 up 50 s, down 5 s, over and over: back after 20 s, then 40 s, then the
		// 80 s hold outlasts r1's up time
		ev := play(10*time.Minute, func(_ int, at time.Duration) bool { return at%(55*time.Second) < 50*time.Second }, 0)
		if len(ev) != 5 || ev[4].to != "r2" {
			t.Fatalf("%d moves in 10 min on a relay flapping every 55 s (%+v), want over and back twice, then over for good", len(ev), ev)
		}
		var onR2 []time.Duration
		for i := 0; i+1 < len(ev); i += 2 {
			onR2 = append(onR2, ev[i+1].at-ev[i].at)
		}
		for i := 1; i < len(onR2); i++ {
			if onR2[i] <= onR2[i-1] {
				t.Errorf("time on r2 per failover %v: want it growing with each flap", onR2)
			}
		}
		t.Logf("moves %+v, time on r2 %v", ev, onR2)
	})
}
