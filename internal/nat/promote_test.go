package nat

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func TestNextTransitions(t *testing.T) {
	c := Config{}
	for _, tc := range []struct {
		name  string
		st    State
		in    Input
		phase Phase
		check func(*testing.T, State)
	}{
		{name: "zero state starts trying", st: State{}, in: Input{Now: at(1)}, phase: PhaseTrying},
		{name: "trying, no handshake yet", st: State{Phase: PhaseTrying, Since: at(0)}, in: Input{Now: at(5)}, phase: PhaseTrying},
		{name: "trying, stale handshake from before the try", st: State{Phase: PhaseTrying, Since: at(10)},
			in: Input{Now: at(12), Handshake: at(3)}, phase: PhaseTrying},
		{name: "trying, fresh handshake promotes", st: State{Phase: PhaseTrying, Since: at(0), Failures: 2},
			in: Input{Now: at(2), Handshake: at(1)}, phase: PhasePunched,
			check: func(t *testing.T, s State) {
				if s.Failures != 2 || !s.Direct() || !s.Since.Equal(at(2)) {
					t.Errorf("got %+v: want failures kept, direct, since now", s)
				}
			}},
		{name: "trying times out into hold-down", st: State{Phase: PhaseTrying, Since: at(0)},
			in: Input{Now: at(10)}, phase: PhaseHeld,
			check: func(t *testing.T, s State) {
				if !s.HoldUntil.Equal(at(20)) || s.Failures != 1 || !strings.Contains(s.Reason, "no handshake") {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "punched, probe ok clears misses", st: State{Phase: PhasePunched, Since: at(0), Missed: 2},
			in: Input{Now: at(3), Probe: ProbeOK}, phase: PhasePunched,
			check: func(t *testing.T, s State) {
				if s.Missed != 0 {
					t.Errorf("missed %d", s.Missed)
				}
			}},
		{name: "punched, two misses stay", st: State{Phase: PhasePunched, Since: at(0), Missed: 1},
			in: Input{Now: at(3), Probe: ProbeMissed}, phase: PhasePunched},
		{name: "punched, third miss demotes", st: State{Phase: PhasePunched, Since: at(0), Missed: 2, Answered: true},
			in: Input{Now: at(3), Probe: ProbeMissed}, phase: PhaseHeld,
			check: func(t *testing.T, s State) {
				if s.Direct() || s.DirectPeer() || !strings.Contains(s.Reason, "stopped answering (3 probes missed)") {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "punched, never answered, third miss says so", st: State{Phase: PhasePunched, Since: at(0), Missed: 2},
			in: Input{Now: at(3), Probe: ProbeMissed}, phase: PhaseHeld,
			check: func(t *testing.T, s State) {
				if !strings.Contains(s.Reason, "never answered a probe since it was punched (3 probes missed)") {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "punched, an answer is remembered", st: State{Phase: PhasePunched, Since: at(0)},
			in: Input{Now: at(1), Probe: ProbeOK}, phase: PhasePunched,
			check: func(t *testing.T, s State) {
				if !s.Answered {
					t.Errorf("got %+v: want answered", s)
				}
			}},
		{name: "promotion forgets earlier answers", st: State{Phase: PhaseTrying, Since: at(0), Answered: true},
			in: Input{Now: at(2), Handshake: at(1)}, phase: PhasePunched,
			check: func(t *testing.T, s State) {
				if s.Answered {
					t.Errorf("got %+v: want not answered yet", s)
				}
			}},
		{name: "hold-down doubles per failure in a row", st: State{Phase: PhasePunched, Since: at(0), Missed: 2, Failures: 3},
			in: Input{Now: at(3), Probe: ProbeMissed}, phase: PhaseHeld,
			check: func(t *testing.T, s State) {
				if !s.HoldUntil.Equal(at(3 + 80)) {
					t.Errorf("hold until %v, want +80s", s.HoldUntil.Sub(at(3)))
				}
			}},
		{name: "hold-down is capped", st: State{Phase: PhaseTrying, Since: at(0), Failures: 4},
			in: Input{Now: at(10)}, phase: PhaseHeld,
			check: func(t *testing.T, s State) {
				c := Config{MaxHoldDown: 100 * time.Second}
				s2 := c.Next(State{Phase: PhaseTrying, Since: at(0), Failures: 4}, Input{Now: at(10)})
				if !s2.HoldUntil.Equal(at(110)) {
					t.Errorf("capped hold until %v", s2.HoldUntil.Sub(at(10)))
				}
			}},
		{name: "stable punched path resets failures", st: State{Phase: PhasePunched, Since: at(0), Failures: 3},
			in: Input{Now: at(120), Probe: ProbeOK}, phase: PhasePunched,
			check: func(t *testing.T, s State) {
				if s.Failures != 0 {
					t.Errorf("failures %d", s.Failures)
				}
			}},
		{name: "held before its end stays", st: State{Phase: PhaseHeld, HoldUntil: at(20), Failures: 1},
			in: Input{Now: at(19), Handshake: at(19)}, phase: PhaseHeld},
		{name: "held at its end tries again", st: State{Phase: PhaseHeld, HoldUntil: at(20), Failures: 1},
			in: Input{Now: at(20)}, phase: PhaseTrying,
			check: func(t *testing.T, s State) {
				if s.Failures != 1 || !s.DirectPeer() || s.Direct() {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "too many failures gives up", st: State{Phase: PhaseTrying, Since: at(0), Failures: 5},
			in: Input{Now: at(10)}, phase: PhaseGaveUp,
			check: func(t *testing.T, s State) {
				if !strings.Contains(s.Reason, "gave up after 6") {
					t.Errorf("reason %q", s.Reason)
				}
			}},
		{name: "gave up stays", st: State{Phase: PhaseGaveUp, Reason: "x"},
			in: Input{Now: at(1000), Handshake: at(999), Probe: ProbeOK}, phase: PhaseGaveUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Next(tc.st, tc.in)
			if got.Phase != tc.phase {
				t.Fatalf("phase %q, want %q (%+v)", got.Phase, tc.phase, got)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

// TestAllPairsLifecycle runs every pair of types through Start and a simulated minute:
// pairs whose NATs allow it reach punched once a handshake comes, survive, are demoted
// within Missed probes when the path breaks, and never flap faster than the hold-down;
// the others give up at once with a reason naming both types.
func TestAllPairsLifecycle(t *testing.T) {
	c := Config{}
	for _, a := range Types {
		for _, b := range Types {
			v, _ := Punchable(a, b)
			s := c.Start(v, at(0))
			if !v.Possible {
				if s.Phase != PhaseGaveUp || !strings.Contains(s.Reason, string(a)) {
					t.Errorf("%s/%s: %+v", a, b, s)
				}
				continue
			}
			s = c.Next(s, Input{Now: at(1), Handshake: at(1)})
			if s.Phase != PhasePunched {
				t.Fatalf("%s/%s: not promoted: %+v", a, b, s)
			}
			var demoted time.Time
			moves := 0
			for sec := 2; sec <= 60; sec++ {
				probe := ProbeOK
				if sec >= 30 { // the path breaks at 30 s and stays broken
					probe = ProbeMissed
				}
				prev := s.Direct()
				s = c.Next(s, Input{Now: at(sec), Handshake: at(1), Probe: probe})
				if prev != s.Direct() {
					moves++
					if demoted.IsZero() {
						demoted = at(sec)
					}
				}
			}
			if got := demoted.Sub(at(30)); got != 2*time.Second || moves != 1 {
				t.Errorf("%s/%s: demoted %v after the break with %d moves, want 2s and 1", a, b, got, moves)
			}
		}
	}
}
