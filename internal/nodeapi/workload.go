package nodeapi

import (
	"net/netip"
	"regexp"
)

// Kinds of workload (WorkloadSpec.Kind).
const (
	KindNetns = "netns" // a namespace wl-<name> joined by a veth
	KindTap   = "tap"   // a tap t-<hash> on the NR's bridge, for a VM
)

// ManagedByGrid marks a workload provisiond made from the registry
// (WorkloadSpec.ManagedBy): provisiond removes only those, and only when the
// registry no longer lists them.
const ManagedByGrid = "grid"

// WorkloadSpec is a workload as asked for. It is comparable: the same spec again is
// the same workload.
type WorkloadSpec struct {
	Name      string `json:"name"`       // [a-z0-9-]{1,40}, unique on the node
	NetworkID string `json:"network_id"` // the NR it joins
	Kind      string `json:"kind"`       // KindNetns (default) or KindTap
	// ManagedBy is "" for a workload added by hand, ManagedByGrid for provisiond's.
	ManagedBy string `json:"managed_by,omitempty"`
	// PublicIPv4 (with its on-link prefix) and PublicGW4 give the workload a second
	// interface on br-pub with that address (a farm pool address); zero: none.
	PublicIPv4 netip.Prefix `json:"public_ipv4,omitzero"`
	PublicGW4  netip.Addr   `json:"public_gw4,omitzero"`
	// PublicIPv6 gives that interface an address of br-pub's /64 (SLAAC prefix).
	PublicIPv6 bool `json:"public_ipv6,omitempty"`
}

// Public reports whether the workload has an interface on br-pub.
func (s WorkloadSpec) Public() bool { return s.PublicIPv4.IsValid() || s.PublicIPv6 }

// Workload is a workload as attached: its spec and its deterministic addresses
// (package workload plans them).
type Workload struct {
	WorkloadSpec
	IPv4    netip.Prefix `json:"ipv4"`
	IPv6    netip.Prefix `json:"ipv6"`
	Gateway netip.Addr   `json:"gateway"`
	MAC     string       `json:"mac"`
	Netns   string       `json:"netns,omitempty"` // namespace name, for KindNetns
	HostIf  string       `json:"host_if"`         // host end on the bridge (c-… or t-…)
	Tap     string       `json:"tap,omitempty"`   // for KindTap, the same as HostIf
	// NetworkRange is the whole network's IPv4 range: a public workload routes it
	// (and the network's ULA /48) through the NR, and the rest through br-pub.
	NetworkRange netip.Prefix `json:"network_range,omitzero"`
	// PublicIf is the host end of the br-pub interface (p-…) of a public workload,
	// PublicMAC its MAC; PublicAddr6 the global IPv6 it got (when PublicIPv6) and
	// PublicGW6 its IPv6 router on the public segment.
	PublicIf    string       `json:"public_if,omitempty"`
	PublicMAC   string       `json:"public_mac,omitempty"`
	PublicAddr6 netip.Prefix `json:"public_ipv6_addr,omitzero"`
	PublicGW6   netip.Addr   `json:"public_gw6,omitzero"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

func invalidWL(field, format string, args ...any) error {
	return invalid("workload", field, format, args...)
}

// Validate checks the spec and fills the default kind.
func (s *WorkloadSpec) Validate() error {
	if !nameRE.MatchString(s.Name) {
		return invalidWL("name", "%q must be 1 to 40 of [a-z0-9-], starting with a letter or digit", s.Name)
	}
	if !idRE.MatchString(s.NetworkID) {
		return invalidWL("network_id", "%q must be 1 to 11 characters of [a-z0-9]", s.NetworkID)
	}
	switch s.Kind {
	case "":
		s.Kind = KindNetns
	case KindNetns, KindTap:
	default:
		return invalidWL("kind", "%q must be netns or tap", s.Kind)
	}
	if s.ManagedBy != "" && s.ManagedBy != ManagedByGrid {
		return invalidWL("managed_by", "%q must be empty or %q", s.ManagedBy, ManagedByGrid)
	}
	return s.validatePublic()
}

func (s *WorkloadSpec) validatePublic() error {
	if !s.PublicIPv4.IsValid() {
		if s.PublicGW4.IsValid() {
			return invalidWL("public_gw4", "set without public_ipv4")
		}
		return nil
	}
	p := s.PublicIPv4
	if !p.Addr().Is4() || p.Bits() < 8 || p.Bits() > 30 {
		return invalidWL("public_ipv4", "%s must be an IPv4 address with its on-link prefix (/8 to /30)", p)
	}
	if !s.PublicGW4.Is4() || !p.Contains(s.PublicGW4) || s.PublicGW4 == p.Addr() {
		return invalidWL("public_gw4", "%v must be an IPv4 address on the link of %s, not the address itself", s.PublicGW4, p)
	}
	return nil
}
