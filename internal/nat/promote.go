package nat

import (
	"fmt"
	"time"
)

// Phase is where a pair of hidden peers stands on its way to a direct path.
type Phase string

// Phases of State. The zero value (empty) is PhaseRelayed.
const (
	// PhaseRelayed: not trying; traffic goes through the relay.
	PhaseRelayed Phase = "relayed"
	// PhaseTrying: both sides hold the other as a direct peer at its observed endpoint
	// with a short keepalive, so both NATs open at once; traffic still goes through the
	// relay (the direct peer has no allowed IPs yet).
	PhaseTrying Phase = "trying"
	// PhasePunched: promoted; the pair's allowed IPs moved from the relay peer to the
	// direct one. The relay peer stays, so a demotion is one allowed-IPs move.
	PhasePunched Phase = "punched"
	// PhaseHeld: demoted or a try failed; back on the relay until HoldUntil, so a path
	// that flaps does not move traffic back and forth.
	PhaseHeld Phase = "held"
	// PhaseGaveUp: no more tries until the pair's endpoints or NAT types change
	// (the caller calls Start again); Reason says why.
	PhaseGaveUp Phase = "gave-up"
)

// Probe is one overlay probe's outcome over the direct path since the previous Next.
type Probe int

// Probe outcomes.
const (
	// ProbeNone: no probe result since the last call.
	ProbeNone Probe = iota
	// ProbeOK: a probe over the direct path was answered.
	ProbeOK
	// ProbeMissed: a probe over the direct path went unanswered.
	ProbeMissed
)

// Config tunes the promotion state machine. Zero fields take the defaults below.
type Config struct {
	// TryFor is how long a try waits for a handshake on the direct peer.
	TryFor time.Duration
	// Missed is how many probes in a row must go unanswered to demote a punched pair.
	// With probes every second, the default demotes within about three seconds.
	Missed int
	// HoldDown is the first hold-down after a failed try or a demotion; each further
	// failure in a row doubles it, up to MaxHoldDown.
	HoldDown    time.Duration
	MaxHoldDown time.Duration
	// Stable is how long a punched path must last before the failure count (and with it
	// the hold-down) resets.
	Stable time.Duration
	// MaxFailures is how many failed tries or demotions in a row end in PhaseGaveUp.
	MaxFailures int
}

// Defaults for Config.
const (
	DefaultTryFor      = 10 * time.Second
	DefaultMissed      = 3
	DefaultHoldDown    = 10 * time.Second
	DefaultMaxHoldDown = 5 * time.Minute
	DefaultStable      = 2 * time.Minute
	DefaultMaxFailures = 6
)

// State is what a member remembers about one hidden peer between two Next calls. The
// zero value is PhaseRelayed, never tried.
type State struct {
	Phase Phase `json:"phase,omitempty"`
	// Since is when Phase was entered.
	Since time.Time `json:"since,omitzero"`
	// Failures counts failed tries and demotions in a row.
	Failures int `json:"failures,omitempty"`
	// Missed counts unanswered probes in a row while punched.
	Missed int `json:"missed,omitempty"`
	// Answered: a probe over the direct path was answered since it was punched. A
	// demotion says whether the path never carried a probe (something between the two
	// NATs dropped the traffic from the start, though the handshake crossed) or stopped.
	Answered bool `json:"answered,omitempty"`
	// HoldUntil ends PhaseHeld.
	HoldUntil time.Time `json:"hold_until,omitzero"`
	// Reason says why the pair is held or gave up (empty otherwise).
	Reason string `json:"reason,omitempty"`
}

// Input is what the caller saw since the previous Next.
type Input struct {
	// Now is the current time.
	Now time.Time
	// Handshake is the latest handshake with the direct peer as wgctrl reports it
	// (zero: never).
	Handshake time.Time
	// Probe is the latest overlay probe's outcome over the direct path.
	Probe Probe
}

// Direct reports whether the pair's allowed IPs belong on the direct peer.
func (s State) Direct() bool { return s.Phase == PhasePunched }

// DirectPeer reports whether the direct peer must be configured (trying or punched).
func (s State) DirectPeer() bool { return s.Phase == PhaseTrying || s.Phase == PhasePunched }

// Start begins (or restarts) a pair from its verdict: trying when a direct path is
// possible, gave up with the verdict's reason otherwise.
func (c Config) Start(v Verdict, now time.Time) State {
	if !v.Possible {
		return State{Phase: PhaseGaveUp, Since: now, Reason: v.Reason}
	}
	return State{Phase: PhaseTrying, Since: now}
}

// Next returns the state after in. It is pure; see the Phase constants for the rules.
func (c Config) Next(s State, in Input) State {
	switch s.Phase {
	case PhaseTrying:
		if !in.Handshake.IsZero() && !in.Handshake.Before(s.Since) {
			return State{Phase: PhasePunched, Since: in.Now, Failures: s.Failures}
		}
		if in.Now.Sub(s.Since) >= c.tryFor() {
			return c.fail(s, in.Now, fmt.Sprintf("no handshake on the direct path within %s", c.tryFor()))
		}
	case PhasePunched:
		switch in.Probe {
		case ProbeOK:
			s.Missed, s.Answered = 0, true
		case ProbeMissed:
			s.Missed++
		}
		if s.Missed >= c.missed() {
			why := "stopped answering"
			if !s.Answered {
				why = "never answered a probe since it was punched"
			}
			return c.fail(s, in.Now, fmt.Sprintf("direct path %s (%d probes missed)", why, s.Missed))
		}
		if s.Failures > 0 && in.Now.Sub(s.Since) >= c.stable() {
			s.Failures = 0
		}
	case PhaseHeld:
		if !in.Now.Before(s.HoldUntil) {
			return State{Phase: PhaseTrying, Since: in.Now, Failures: s.Failures}
		}
	case PhaseGaveUp:
	default: // relayed, never tried
		return State{Phase: PhaseTrying, Since: in.Now}
	}
	return s
}

// fail moves to held (or gave up after MaxFailures in a row).
func (c Config) fail(s State, now time.Time, why string) State {
	n := s.Failures + 1
	if n >= c.maxFailures() {
		return State{Phase: PhaseGaveUp, Since: now, Failures: n,
			Reason: fmt.Sprintf("%s; gave up after %d failures in a row", why, n)}
	}
	hold := c.holdDown()
	for i := 1; i < n && hold < c.maxHoldDown(); i++ {
		hold *= 2
	}
	hold = min(hold, c.maxHoldDown())
	return State{Phase: PhaseHeld, Since: now, Failures: n, HoldUntil: now.Add(hold), Reason: why}
}

func (c Config) tryFor() time.Duration      { return orDefault(c.TryFor, DefaultTryFor) }
func (c Config) holdDown() time.Duration    { return orDefault(c.HoldDown, DefaultHoldDown) }
func (c Config) maxHoldDown() time.Duration { return orDefault(c.MaxHoldDown, DefaultMaxHoldDown) }
func (c Config) stable() time.Duration      { return orDefault(c.Stable, DefaultStable) }

func (c Config) missed() int {
	if c.Missed > 0 {
		return c.Missed
	}
	return DefaultMissed
}

func (c Config) maxFailures() int {
	if c.MaxFailures > 0 {
		return c.MaxFailures
	}
	return DefaultMaxFailures
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
