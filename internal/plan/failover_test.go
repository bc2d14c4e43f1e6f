package plan

import (
	"testing"
	"time"
)

func TestFailoverNext(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := Failover{DownAfter: 150 * time.Second, Hold: 30 * time.Second}
	relays := []string{"r1", "r2"}
	ago := func(d time.Duration) time.Time { return t0.Add(-d) }
	tests := []struct {
		name   string
		relays []string
		st     RelayState
		hs     map[string]time.Time
		want   RelayState
	}{
		{"fresh start, no handshakes: primary", relays, RelayState{}, nil, RelayState{Current: "r1"}},
		{"primary healthy", relays, RelayState{}, map[string]time.Time{"r1": ago(10 * time.Second)}, RelayState{Current: "r1"}},
		{"primary at threshold still healthy", relays, RelayState{Current: "r1"},
			map[string]time.Time{"r1": ago(150 * time.Second), "r2": ago(time.Second)}, RelayState{Current: "r1"}},
		{"primary stale, secondary fresh: fail over", relays, RelayState{Current: "r1"},
			map[string]time.Time{"r1": ago(151 * time.Second), "r2": ago(20 * time.Second)}, RelayState{Current: "r2"}},
		{"primary never, secondary fresh: fail over", relays, RelayState{},
			map[string]time.Time{"r2": ago(20 * time.Second)}, RelayState{Current: "r2"}},
		{"both stale: stay on primary", relays, RelayState{Current: "r1"},
			map[string]time.Time{"r1": ago(time.Hour), "r2": ago(time.Hour)}, RelayState{Current: "r1"}},
		{"both stale: stay on secondary", relays, RelayState{Current: "r2"},
			map[string]time.Time{"r1": ago(time.Hour), "r2": ago(time.Hour)}, RelayState{Current: "r2"}},
		{"primary back: start the hold", relays, RelayState{Current: "r2"},
			map[string]time.Time{"r1": ago(5 * time.Second), "r2": ago(5 * time.Second)}, RelayState{Current: "r2", PrimaryUpSince: t0}},
		{"primary back, hold not over", relays, RelayState{Current: "r2", PrimaryUpSince: ago(29 * time.Second)},
			map[string]time.Time{"r1": ago(5 * time.Second), "r2": ago(5 * time.Second)}, RelayState{Current: "r2", PrimaryUpSince: ago(29 * time.Second)}},
		{"primary back for the hold: switch back", relays, RelayState{Current: "r2", PrimaryUpSince: ago(30 * time.Second)},
			map[string]time.Time{"r1": ago(5 * time.Second), "r2": ago(5 * time.Second)}, RelayState{Current: "r1"}},
		{"primary flaps during the hold: hold restarts later", relays, RelayState{Current: "r2", PrimaryUpSince: ago(20 * time.Second)},
			map[string]time.Time{"r1": ago(200 * time.Second), "r2": ago(5 * time.Second)}, RelayState{Current: "r2"}},
		{"secondary dies while primary back: switch back at once", relays, RelayState{Current: "r2", PrimaryUpSince: ago(time.Second)},
			map[string]time.Time{"r1": ago(5 * time.Second), "r2": ago(time.Hour)}, RelayState{Current: "r1"}},
		{"single relay: always it", []string{"r1"}, RelayState{Current: "gone"},
			map[string]time.Time{"r1": ago(time.Hour)}, RelayState{Current: "r1"}},
		{"relay no longer planned: back to primary", relays, RelayState{Current: "old"},
			map[string]time.Time{"r1": ago(time.Second)}, RelayState{Current: "r1"}},
		{"no relays", nil, RelayState{Current: "r1"}, nil, RelayState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.Next(tt.relays, tt.st, tt.hs, t0); got != tt.want {
				t.Fatalf("Next = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestFailoverTimeline plays a relay outage and its return minute by minute, with
// handshakes renewed every 2 minutes on live relays, as WireGuard does.
func TestFailoverTimeline(t *testing.T) {
	var f Failover // defaults
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	relays := []string{"r1", "r2"}
	down := func(m int) bool { return m >= 10 && m < 20 } // r1 is down from minute 10 to 20
	hs := map[string]time.Time{}
	var st RelayState
	var switchedAt, backAt time.Duration
	for s := 0; s <= 30*60; s += 5 {
		now := t0.Add(time.Duration(s) * time.Second)
		for _, r := range relays {
			if (r != "r1" || !down(s/60)) && now.Sub(hs[r]) >= 2*time.Minute {
				hs[r] = now
			}
		}
		prev := st.Current
		st = f.Next(relays, st, hs, now)
		if prev != st.Current {
			t.Logf("%ds: %q -> %q (r1 age %v)", s, prev, st.Current, now.Sub(hs["r1"]))
		}
		switch {
		case prev == "r1" && st.Current == "r2":
			switchedAt = time.Duration(s)*time.Second - 10*time.Minute
		case prev == "r2" && st.Current == "r1":
			backAt = time.Duration(s)*time.Second - 20*time.Minute
		}
	}
	if switchedAt <= 0 || switchedAt > DefaultDownAfter {
		t.Fatalf("switched to r2 %v after r1 died, want within %v", switchedAt, DefaultDownAfter)
	}
	if backAt < DefaultHold || backAt > DefaultHold+2*time.Minute+10*time.Second {
		t.Fatalf("back on r1 %v after it returned, want between %v and hold + one rekey", backAt, DefaultHold)
	}
	if st.Current != "r1" {
		t.Fatalf("ended on %q", st.Current)
	}
}
