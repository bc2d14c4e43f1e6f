package plan

import (
	"slices"
	"time"
)

// Failover decides, on a member that needs relaying, which of a relay group's planned
// relays carries it, from when each relay last answered an overlay probe (or relayed an
// answer from a member behind it). It is pure: the caller passes the time and keeps the
// returned state.
//
// Rules: a relay is up when it answered within DownAfter (the member probes its relays
// every 250 ms, so the default 2 s is eight probes in a row without an answer); it is
// down when its last answer is older than DownAfter, or, when it never answered, once
// StartGrace has passed since the group first appeared (a new group's first
// handshakes take a moment, and both ends of a pair must start on the same relay). A
// relay that answers late or loses some answers is neither: it stays in use.
//
// The member leaves the primary for the second relay when the primary is down and the
// second relay is up; it goes back once the primary has been up for the hold without
// a break, or at once when the second relay goes down while the primary is up. The
// hold is Hold, doubled for every failover that follows a move back within Stable (a
// flapping primary), up to MaxHold; a primary that stayed for Stable resets it.
// When neither relay is up the member stays where it is.
//
// Every hidden member sees the same relay fail, so all switch within about one probe
// interval of each other; while they disagree, relayed packets between them are dropped
// (the far end checks the source against the relay it expects).
type Failover struct {
	// DownAfter is the silence after a relay's last answer past which it is down;
	// 0 means DefaultDownAfter.
	DownAfter time.Duration
	// StartGrace is how long a relay that never answered counts as not down yet,
	// from the group's first appearance; 0 means DefaultStartGrace.
	StartGrace time.Duration
	// Hold is how long the primary must be up before traffic moves back to it, before
	// doubling; 0 means DefaultHold.
	Hold time.Duration
	// MaxHold caps the doubled hold; 0 means DefaultMaxHold.
	MaxHold time.Duration
	// Stable is how long after a move back a new failover counts as a flap (doubling
	// the next hold); 0 means DefaultStable.
	Stable time.Duration
}

// Defaults for Failover.
const (
	DefaultDownAfter  = 2 * time.Second
	DefaultStartGrace = 10 * time.Second
	DefaultHold       = 20 * time.Second
	DefaultMaxHold    = 5 * time.Minute
	DefaultStable     = 2 * time.Minute
)

// RelayState is what a member remembers about one relay group between two
// Failover.Next calls. The zero value means "new, on the primary".
type RelayState struct {
	// Current is the node id of the relay carrying the group; empty means the primary.
	Current string `json:"current,omitempty"`
	// Started is when the group was first evaluated (set by Next).
	Started time.Time `json:"started,omitzero"`
	// Since is when the group left its primary; zero while on the primary.
	Since time.Time `json:"since,omitzero"`
	// PrimaryUpSince is when the primary was first seen up again while Current is
	// the second relay; zero otherwise.
	PrimaryUpSince time.Time `json:"primary_up_since,omitzero"`
	// BackAt is when the group last moved back to its primary.
	BackAt time.Time `json:"back_at,omitzero"`
	// Flaps counts the failovers that each followed a move back within Stable; the
	// hold is Hold << Flaps.
	Flaps int `json:"flaps,omitempty"`
}

// Next returns the new state given the planned relays (primary first, as in
// RelayGroup.Relays), the latest answer time per relay node id (zero or missing:
// never) and the current time. With fewer than two relays it always returns the primary.
func (f Failover) Next(relays []string, st RelayState, answered map[string]time.Time, now time.Time) RelayState {
	if len(relays) == 0 {
		return RelayState{}
	}
	if st.Started.IsZero() {
		st.Started = now
	}
	primary := relays[0]
	if len(relays) < 2 || !slices.Contains(relays, st.Current) {
		st.Current, st.Since, st.PrimaryUpSince = primary, time.Time{}, time.Time{}
	}
	if len(relays) < 2 {
		return st
	}
	up := func(id string) bool {
		t := answered[id]
		return !t.IsZero() && now.Sub(t) <= f.downAfter()
	}
	down := func(id string) bool {
		t := answered[id]
		if t.IsZero() {
			return now.Sub(st.Started) >= or(f.StartGrace, DefaultStartGrace)
		}
		return now.Sub(t) > f.downAfter()
	}
	if st.Current == primary {
		if down(primary) && up(relays[1]) {
			if !st.BackAt.IsZero() && now.Sub(st.BackAt) < or(f.Stable, DefaultStable) {
				st.Flaps++
			} else {
				st.Flaps = 0
			}
			st.Current, st.Since = relays[1], now
		}
		return st
	}
	if !up(primary) {
		st.PrimaryUpSince = time.Time{}
		return st
	}
	if st.PrimaryUpSince.IsZero() || st.PrimaryUpSince.After(now) {
		st.PrimaryUpSince = now
	}
	if now.Sub(st.PrimaryUpSince) >= f.HoldFor(st.Flaps) || down(st.Current) {
		st.Current, st.Since, st.PrimaryUpSince, st.BackAt = primary, time.Time{}, time.Time{}, now
	}
	return st
}

// HoldFor is the hold before moving back after flaps flaps: Hold doubled flaps times,
// at most MaxHold.
func (f Failover) HoldFor(flaps int) time.Duration {
	h, maxHold := or(f.Hold, DefaultHold), or(f.MaxHold, DefaultMaxHold)
	for range flaps {
		if h *= 2; h >= maxHold {
			return maxHold
		}
	}
	return min(h, maxHold)
}

func (f Failover) downAfter() time.Duration { return or(f.DownAfter, DefaultDownAfter) }

func or(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
