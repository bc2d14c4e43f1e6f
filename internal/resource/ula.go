package resource

import (
	"crypto/sha256"
	"net/netip"
)

// ULA48 returns the network's IPv6 unique local /48: fd00::/8 followed by the first
// 40 bits of sha256(networkID) (RFC 4193 asks for 40 pseudo-random bits; a hash of the
// stable id makes them the same on every node).
func ULA48(networkID string) netip.Prefix {
	h := sha256.Sum256([]byte(networkID))
	var b [16]byte
	b[0] = 0xfd
	copy(b[1:6], h[:5])
	return netip.PrefixFrom(netip.AddrFrom16(b), 48)
}

// ULAAddr returns the IPv6 twin of IPv4 address a.b.c.d in the network:
//
//	<ULA48> : b c : 0 : 0 : 0 : 00 d      (bytes 6,7 = b,c; byte 15 = d)
//
// The first octet is dropped (ranges are at least /8, so it is the same for every
// address of the network); octets 2-3 become the 16-bit subnet id and octet 4 the
// interface id. A /24 subnet 10.1.2.0/24 thus becomes <ULA48>:0102::/64.
func ULAAddr(networkID string, v4 netip.Addr) netip.Addr {
	b := ULA48(networkID).Addr().As16()
	a := v4.As4()
	b[6], b[7], b[15] = a[1], a[2], a[3]
	return netip.AddrFrom16(b)
}

// ULATwin returns the IPv6 twin of an IPv4 prefix in the network. The mapping keeps
// containment: a /L with 8 ≤ L ≤ 24 maps to a /(40+L) (a /24 to a /64, a /16 to a /56),
// a longer one to a /(96+L) (a /32 to a /128). Prefixes shorter than /8 map to the /48.
func ULATwin(networkID string, v4 netip.Prefix) netip.Prefix {
	l := v4.Bits()
	switch {
	case l <= 8:
		l = 48
	case l <= 24:
		l += 40
	default:
		l += 96
	}
	return netip.PrefixFrom(ULAAddr(networkID, v4.Masked().Addr()), l).Masked()
}

// ULASubnet returns the IPv6 ULA twin of a node's IPv4 subnet in network networkID,
// e.g. a /64 for a /24. The planner and the node both call it, so they always agree.
func ULASubnet(networkID string, v4subnet netip.Prefix) netip.Prefix {
	return ULATwin(networkID, v4subnet)
}
