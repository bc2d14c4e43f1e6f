package plan

import (
	"slices"
	"time"
)

// Failover decides, on a member that needs relaying, which of the planned relays carries
// the relayed set, from the latest WireGuard handshake with each relay (as wgctrl
// reports it). It is pure: the caller passes the time and keeps the returned state.
//
// Rules: a relay is healthy when its latest handshake is at most DownAfter old. The
// member leaves the primary relay for the failover relay when the primary is not healthy
// and the failover relay is; it goes back to the primary once the primary has been
// healthy for Hold without a break (hysteresis, so a flapping relay does not move traffic
// back and forth). When neither is healthy it stays where it is.
//
// Every hidden member sees the same relay fail, so all switch within about one
// keepalive interval of each other; while they disagree, relayed packets between them
// are dropped (the far end checks the source against the relay it expects).
type Failover struct {
	// DownAfter is the handshake age past which a relay counts as down. WireGuard
	// re-handshakes every 2 minutes while packets (keepalives included) flow, so it must
	// be above 120 s plus a keepalive interval; 0 means DefaultDownAfter.
	DownAfter time.Duration
	// Hold is how long the primary must stay healthy before traffic moves back to it;
	// 0 means DefaultHold.
	Hold time.Duration
}

// Defaults for Failover.
const (
	DefaultDownAfter = 150 * time.Second
	DefaultHold      = 30 * time.Second
)

// RelayState is what a member remembers between two Failover.Next calls. The zero value
// means "on the primary".
type RelayState struct {
	// Current is the node id of the relay carrying the relayed set; empty means the
	// primary.
	Current string `json:"current,omitempty"`
	// PrimaryUpSince is when the primary was first seen healthy again while Current is
	// the failover relay; zero otherwise.
	PrimaryUpSince time.Time `json:"primary_up_since,omitzero"`
}

// Next returns the new state given the planned relays (primary first, as in
// MemberPlan.Relays), the latest handshake time per relay node id (zero or missing:
// never) and the current time. With fewer than two relays it always returns the primary.
func (f Failover) Next(relays []string, st RelayState, handshakes map[string]time.Time, now time.Time) RelayState {
	if len(relays) == 0 {
		return RelayState{}
	}
	primary := relays[0]
	if len(relays) < 2 {
		return RelayState{Current: primary}
	}
	if !slices.Contains(relays, st.Current) {
		st = RelayState{Current: primary}
	}
	healthy := func(id string) bool {
		t := handshakes[id]
		return !t.IsZero() && now.Sub(t) <= f.downAfter()
	}
	if st.Current == primary {
		if !healthy(primary) && healthy(relays[1]) {
			return RelayState{Current: relays[1]}
		}
		return RelayState{Current: primary}
	}
	if !healthy(primary) {
		return RelayState{Current: st.Current}
	}
	if st.PrimaryUpSince.IsZero() || st.PrimaryUpSince.After(now) {
		st.PrimaryUpSince = now
	}
	if now.Sub(st.PrimaryUpSince) >= f.hold() || !healthy(st.Current) {
		return RelayState{Current: primary}
	}
	return st
}

func (f Failover) downAfter() time.Duration {
	if f.DownAfter <= 0 {
		return DefaultDownAfter
	}
	return f.DownAfter
}

func (f Failover) hold() time.Duration {
	if f.Hold <= 0 {
		return DefaultHold
	}
	return f.Hold
}
