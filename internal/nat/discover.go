package nat

import (
	"net/netip"
	"slices"
	"time"
)

// Observation is one public member's view of a hidden peer's NR socket: the endpoint its
// packets arrive from (WireGuard's roaming endpoint, as wgctrl reports it) and when
// the peer last completed a handshake (fresh observations only count).
type Observation struct {
	// Observer is the public member's node id.
	Observer string `json:"observer"`
	// Endpoint is the peer's mapped address and port as the observer sees it.
	Endpoint netip.AddrPort `json:"endpoint"`
	// At is the peer's latest handshake with the observer.
	At time.Time `json:"at"`
}

// Discovery is what a hidden node's NR socket looks like from outside.
type Discovery struct {
	// Endpoints are the distinct fresh mapped endpoints, sorted.
	Endpoints []netip.AddrPort `json:"endpoints,omitempty"`
	// Observers is how many distinct public members with distinct addresses saw it.
	Observers int `json:"observers"`
	// Mapping is MapIndependent when at least two observers at different addresses saw
	// the same endpoint, MapDependent when they saw different ones; MapNone (unknown)
	// with fewer than two.
	Mapping Mapping `json:"mapping"`
}

// Discover sums up the observations of one hidden node's socket that are at most fresh
// old at now. observerAddr gives each observer's own address: two observers behind the
// same address cannot tell the mappings apart and count once.
func Discover(obs []Observation, observerAddr map[string]netip.Addr, now time.Time, fresh time.Duration) Discovery {
	byAddr := map[netip.Addr]netip.AddrPort{}
	var d Discovery
	for _, o := range obs {
		a, ok := observerAddr[o.Observer]
		if !ok || !o.Endpoint.IsValid() || o.At.IsZero() || now.Sub(o.At) > fresh {
			continue
		}
		if _, dup := byAddr[a]; !dup {
			byAddr[a] = o.Endpoint
		}
		if !slices.Contains(d.Endpoints, o.Endpoint) {
			d.Endpoints = append(d.Endpoints, o.Endpoint)
		}
	}
	slices.SortFunc(d.Endpoints, func(x, y netip.AddrPort) int { return x.Compare(y) })
	d.Observers = len(byAddr)
	if d.Observers >= 2 {
		d.Mapping = MapIndependent
		if len(d.Endpoints) > 1 {
			d.Mapping = MapDependent
		}
	}
	return d
}

// Behavior is what the planner may assume about the NAT from a discovery: the mapping
// seen, and the strictest filtering (discovery cannot see filtering). Unknown mapping
// (fewer than two observers) is assumed endpoint-independent, so the pair is tried and
// the state machine decides.
func (d Discovery) Behavior() Behavior {
	m := d.Mapping
	if m == MapNone {
		m = MapIndependent
	}
	return Behavior{Mapping: m, Filtering: FilterAddressPort}
}

// Verdict decides for two hidden sockets from what discovery saw of each (d and o).
// Discovery sees mappings but never filtering, so only a pair whose NATs both map
// endpoint-dependently is known to be impossible; every other pair is worth a try
// (one symmetric side gets through a NAT that filters by address only, by WireGuard's
// roaming, and the try's timeout and hold-downs settle the rest).
func (d Discovery) Verdict(o Discovery) Verdict {
	if d.Mapping == MapDependent && o.Mapping == MapDependent {
		return Verdict{Reason: "both NATs map endpoint-dependently (symmetric): neither side's port towards the other can be learned"}
	}
	v := PunchableBehavior(d.Behavior(), o.Behavior())
	if !v.Possible {
		v = Verdict{Possible: true, Method: MethodRoaming}
	}
	return v
}
