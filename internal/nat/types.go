package nat

import (
	"fmt"
	"slices"
)

// Mapping is how a NAT picks the outside endpoint of an inside endpoint (RFC 4787 §4.1).
type Mapping int

// Mappings, from the easiest to punch to the hardest.
const (
	// MapNone: no translation; the inside endpoint is the outside one.
	MapNone Mapping = iota
	// MapIndependent: one outside endpoint per inside endpoint, whatever the destination
	// (endpoint-independent mapping, "cone"; Linux masquerade keeps the port).
	MapIndependent
	// MapDependent: a new outside endpoint per destination (address-and-port-dependent
	// mapping, "symmetric"; masquerade fully-random).
	MapDependent
)

// Filtering is which outside packets a NAT lets in to a mapping (RFC 4787 §5).
type Filtering int

// Filterings, from the most open to the strictest.
const (
	// FilterNone: everything gets in (no NAT, or a 1:1 NAT without a firewall).
	FilterNone Filtering = iota
	// FilterIndependent: anyone may send to an existing mapping ("full cone").
	FilterIndependent
	// FilterAddress: only addresses the inside endpoint has sent to ("restricted cone").
	FilterAddress
	// FilterAddressPort: only address:port pairs the inside endpoint has sent to
	// ("port-restricted"; Linux conntrack's behaviour).
	FilterAddressPort
)

// Behavior is a NAT's (or a chain of NATs') mapping and filtering.
type Behavior struct {
	Mapping   Mapping
	Filtering Filtering
}

// Type names a NAT type as specs, the registry and status show it.
type Type string

// The NAT types zosnet knows. The zero value (empty) is unknown.
const (
	// Public: no NAT; the node's own address is its endpoint.
	Public Type = "public"
	// OneToOne: a static 1:1 NAT (dnat+snat of a whole address, ports kept).
	OneToOne Type = "one-to-one"
	// FullCone: endpoint-independent mapping and filtering.
	FullCone Type = "full-cone"
	// AddressRestricted: endpoint-independent mapping, address-dependent filtering.
	AddressRestricted Type = "address-restricted"
	// Easy: endpoint-independent mapping, address-and-port-dependent filtering (Linux
	// masquerade, most home routers).
	Easy Type = "easy"
	// Hard: symmetric NAT (endpoint-dependent mapping, address-and-port filtering).
	Hard Type = "hard"
	// CGNAT: carrier-grade NAT, an easy NAT in series behind an easy home router.
	CGNAT Type = "cgnat"
)

// Types lists every known type, in the order of the const block.
var Types = []Type{Public, OneToOne, FullCone, AddressRestricted, Easy, Hard, CGNAT}

// behaviors gives each type's behaviour; CGNAT is Series(Easy, Easy).
var behaviors = map[Type]Behavior{
	Public:            {MapNone, FilterNone},
	OneToOne:          {MapNone, FilterNone},
	FullCone:          {MapIndependent, FilterIndependent},
	AddressRestricted: {MapIndependent, FilterAddress},
	Easy:              {MapIndependent, FilterAddressPort},
	Hard:              {MapDependent, FilterAddressPort},
}

// Behavior returns t's behaviour, or an error naming t when it is not a known type.
func (t Type) Behavior() (Behavior, error) {
	if t == CGNAT {
		e := behaviors[Easy]
		return Series(e, e), nil
	}
	b, ok := behaviors[t]
	if !ok {
		return Behavior{}, fmt.Errorf("nat type %q: unknown (want one of %v)", string(t), Types)
	}
	return b, nil
}

// Validate reports whether t is a known type.
func (t Type) Validate() error {
	if !slices.Contains(Types, t) {
		return fmt.Errorf("nat type %q: unknown (want one of %v)", string(t), Types)
	}
	return nil
}

// Series is the behaviour of a packet crossing inner then outer (say a home router behind
// a carrier's NAT): the mapping is as dependent as the worse of the two, and the outside
// gets in only past both filters, so the stricter one decides.
func Series(inner, outer Behavior) Behavior {
	return Behavior{Mapping: max(inner.Mapping, outer.Mapping), Filtering: max(inner.Filtering, outer.Filtering)}
}

// String names a mapping as RFC 4787 does.
func (m Mapping) String() string {
	switch m {
	case MapNone:
		return "none"
	case MapIndependent:
		return "endpoint-independent"
	case MapDependent:
		return "endpoint-dependent"
	}
	return fmt.Sprintf("mapping(%d)", int(m))
}

// String names a filtering as RFC 4787 does.
func (f Filtering) String() string {
	switch f {
	case FilterNone:
		return "none"
	case FilterIndependent:
		return "endpoint-independent"
	case FilterAddress:
		return "address-dependent"
	case FilterAddressPort:
		return "address-and-port-dependent"
	}
	return fmt.Sprintf("filtering(%d)", int(f))
}
