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

// WorkloadSpec is a workload as asked for.
type WorkloadSpec struct {
	Name      string `json:"name"`       // [a-z0-9-]{1,40}, unique on the node
	NetworkID string `json:"network_id"` // the NR it joins
	Kind      string `json:"kind"`       // KindNetns (default) or KindTap
}

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
	return nil
}
