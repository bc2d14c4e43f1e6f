package resource

import (
	"net/netip"

	"github.com/zosnet/zosnet/internal/ula"
)

// ULA48 returns the network's IPv6 unique local /48 (see internal/ula).
func ULA48(networkID string) netip.Prefix { return ula.Net48(networkID) }

// ULAAddr returns the IPv6 twin of an IPv4 address in the network (see internal/ula).
func ULAAddr(networkID string, v4 netip.Addr) netip.Addr { return ula.Addr(networkID, v4) }

// ULATwin returns the IPv6 twin of an IPv4 prefix in the network (see internal/ula).
func ULATwin(networkID string, v4 netip.Prefix) netip.Prefix { return ula.Twin(networkID, v4) }

// ULASubnet returns the IPv6 ULA twin of a node's IPv4 subnet in network networkID,
// e.g. a /64 for a /24. The planner and the node both call it, so they always agree.
func ULASubnet(networkID string, v4subnet netip.Prefix) netip.Prefix {
	return ULATwin(networkID, v4subnet)
}
