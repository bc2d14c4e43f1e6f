package nodeapi

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// WorkloadResolver4 is the DNS server every workload should use (what VM DHCP hands
// out, what a container's resolv.conf names): networkd's forwarder in ndmz, reached
// through the NR's uplink on every node, which relays to the node's own resolvers
// (package dnsfwd). It is inside 100.64.0.0/10, which never leaves the node.
var WorkloadResolver4 = netip.MustParseAddr("100.126.53.53")

// MaxEgressAllow bounds the farmer's allow list.
const MaxEgressAllow = 64

// EgressAllow is one exception of the farmer's allow list: workloads may reach Prefix
// (only Port of Proto when set) although it is on the node's LAN or in a
// special-purpose range (a local mirror, a NAS the farmer offers tenants). Written
// "prefix[:port/proto]" on the command line: 10.201.0.50/32:873/tcp, 10.201.0.0/24,
// 2001:db8:600::/64:53/udp.
type EgressAllow struct {
	// Prefix is the destination (host bits zero; not a default route).
	Prefix netip.Prefix `json:"prefix"`
	// Proto is "tcp" or "udp"; "" allows any protocol (then Port is 0).
	Proto string `json:"proto,omitempty"`
	// Port is the destination port (1-65535); 0 = any port of Proto.
	Port uint16 `json:"port,omitempty"`
}

// ParseEgressAllow reads "prefix[:port/proto]" (a bare address is a /32 or /128).
func ParseEgressAllow(s string) (EgressAllow, error) {
	var a EgressAllow
	addr, rest, hasBits := strings.Cut(s, "/")
	bits, port := rest, ""
	if hasBits {
		bits, port, _ = strings.Cut(rest, ":")
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return a, fmt.Errorf("%w: allow %q: %q is not an IP address (want prefix[:port/proto], e.g. 10.201.0.50/32:873/tcp)", ErrInvalid, s, addr)
	}
	n := ip.BitLen()
	if hasBits {
		if n, err = strconv.Atoi(bits); err != nil || n < 0 || n > ip.BitLen() {
			return a, fmt.Errorf("%w: allow %q: prefix length %q is not 0-%d", ErrInvalid, s, bits, ip.BitLen())
		}
	}
	a.Prefix = netip.PrefixFrom(ip, n)
	if port != "" {
		num, proto, ok := strings.Cut(port, "/")
		p, err := strconv.ParseUint(num, 10, 16)
		if !ok || err != nil {
			return a, fmt.Errorf("%w: allow %q: %q is not port/proto (e.g. 873/tcp)", ErrInvalid, s, port)
		}
		a.Port, a.Proto = uint16(p), proto
	}
	return a, a.Validate()
}

// String is the command-line form, prefix[:port/proto] (proto alone: prefix:0/proto).
func (a EgressAllow) String() string {
	if a.Proto == "" {
		return a.Prefix.String()
	}
	return fmt.Sprintf("%s:%d/%s", a.Prefix, a.Port, a.Proto)
}

// Validate checks one entry; the error names the entry and the reason.
func (a EgressAllow) Validate() error {
	switch {
	case !a.Prefix.IsValid():
		return fmt.Errorf("%w: allow: prefix is required", ErrInvalid)
	case a.Prefix.Addr().Zone() != "" || a.Prefix.Addr().Is4In6():
		return fmt.Errorf("%w: allow %s: an IPv4-mapped or zoned address is not a destination", ErrInvalid, a.Prefix)
	case a.Prefix.Masked() != a.Prefix:
		return fmt.Errorf("%w: allow %s: host bits set (did you mean %s?)", ErrInvalid, a.Prefix, a.Prefix.Masked())
	case a.Prefix.Bits() == 0:
		return fmt.Errorf("%w: allow %s: a default route would open the whole LAN; list the prefixes you offer", ErrInvalid, a.Prefix)
	case a.Proto != "" && a.Proto != "tcp" && a.Proto != "udp":
		return fmt.Errorf("%w: allow %s: proto %q is not tcp or udp", ErrInvalid, a, a.Proto)
	case a.Port != 0 && a.Proto == "":
		return fmt.Errorf("%w: allow %s: a port needs a proto (port/tcp or port/udp)", ErrInvalid, a.Prefix)
	}
	return nil
}

// ValidateEgressAllow checks a whole allow list (at most MaxEgressAllow entries, each
// valid); the error names the entry by index.
func ValidateEgressAllow(list []EgressAllow) error {
	if len(list) > MaxEgressAllow {
		return fmt.Errorf("%w: allow: %d entries, at most %d", ErrInvalid, len(list), MaxEgressAllow)
	}
	for i, a := range list {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("allow[%d]: %w", i, err)
		}
	}
	return nil
}

// EgressAllowList is the body of GET|PUT /v1/egress-allow.
type EgressAllowList struct {
	// Allow is the whole list (empty: none).
	Allow []EgressAllow `json:"allow"`
}

// EgressStatus is what workloads may reach from this node: the destinations refused
// now (learned from the kernel), the farmer's exceptions, the packets refused per
// network resource, and the resolvers workloads should use.
type EgressStatus struct {
	// Denied are the refused destinations, merged (addresses, prefixes, ranges).
	Denied []string `json:"denied"`
	// Allow is the farmer's allow list in force.
	Allow []EgressAllow `json:"allow"`
	// Refused counts the packets refused per NR (network id), since the NR's uplink
	// was made.
	Refused map[string]uint64 `json:"refused"`
	// Resolvers are the DNS servers a workload on this node should use (what VM DHCP
	// hands out); empty when the node knows none.
	Resolvers []string `json:"resolvers"`
}
