package nat

import "fmt"

// Method is how a direct path between two peers gets through their NATs.
type Method string

// Methods of Verdict.
const (
	// MethodOpen: one side takes unsolicited packets at its endpoint (public or 1:1);
	// the other side simply sends to it.
	MethodOpen Method = "open"
	// MethodSimultaneous: both map endpoint-independently, so the endpoint each public
	// node observed is the one the other side must use; both send at once and each
	// NAT's filter opens for the other.
	MethodSimultaneous Method = "simultaneous-open"
	// MethodRoaming: one side is symmetric, the other filters by address only; the
	// symmetric side's packets arrive from an unpredicted port that the other NAT lets
	// in, and WireGuard's endpoint roaming answers to that port.
	MethodRoaming Method = "roaming"
)

// Verdict says whether a direct UDP path between two NATed peers can be punched.
type Verdict struct {
	// Possible is true when the NAT pair lets a direct path through.
	Possible bool `json:"possible"`
	// Method is how (empty when not possible).
	Method Method `json:"method,omitempty"`
	// Reason explains an impossible pair in a user's words, naming the NAT types.
	Reason string `json:"reason,omitempty"`
}

// Punchable decides for two peers' NAT types, symmetric in a and b. An unknown type is
// an error naming it.
func Punchable(a, b Type) (Verdict, error) {
	ba, err := a.Behavior()
	if err != nil {
		return Verdict{}, err
	}
	bb, err := b.Behavior()
	if err != nil {
		return Verdict{}, err
	}
	v := PunchableBehavior(ba, bb)
	if !v.Possible {
		v.Reason = reason(a, ba, b, bb)
	}
	return v, nil
}

// PunchableBehavior is Punchable on behaviours (say a chain of NATs, or what endpoint
// discovery measured).
func PunchableBehavior(a, b Behavior) Verdict {
	switch {
	case open(a) || open(b):
		return Verdict{Possible: true, Method: MethodOpen}
	case a.Mapping != MapDependent && b.Mapping != MapDependent:
		return Verdict{Possible: true, Method: MethodSimultaneous}
	case a.Mapping == MapDependent && b.Mapping == MapDependent:
		return Verdict{Reason: "both NATs map endpoint-dependently (symmetric): neither side's port towards the other can be learned"}
	case a.Mapping == MapDependent && b.Filtering <= FilterAddress,
		b.Mapping == MapDependent && a.Filtering <= FilterAddress:
		return Verdict{Possible: true, Method: MethodRoaming}
	}
	return Verdict{Reason: "one NAT maps endpoint-dependently (symmetric) and the other filters by address and port: the symmetric side's new port is not let in"}
}

// open: unsolicited packets reach the endpoint.
func open(b Behavior) bool { return b.Mapping == MapNone && b.Filtering == FilterNone }

// reason words an impossible verdict.
func reason(a Type, ba Behavior, b Type, bb Behavior) string {
	if ba.Mapping == MapDependent && bb.Mapping == MapDependent {
		return fmt.Sprintf("both NATs are symmetric (%s and %s): neither side's port towards the other can be learned", a, b)
	}
	sym, other := a, b
	if bb.Mapping == MapDependent {
		sym, other = b, a
	}
	return fmt.Sprintf("%s NAT is symmetric and %s NAT filters by address and port: the symmetric side's new port is not let in", sym, other)
}
