// Package ula derives a network's IPv6 unique local addresses (the "ULA twins" of its
// IPv4 subnets). It is the one definition that networkd (internal/resource) and the mesh
// planner (internal/plan) both use, so a node and the planner always agree. Pure and
// safe for concurrent use.
package ula

import (
	"crypto/sha256"
	"net/netip"
)

// Net48 returns the network's IPv6 unique local /48: fd00::/8 followed by the first 40
// bits of sha256(networkID) (RFC 4193 asks for 40 pseudo-random bits; a hash of the
// stable id makes them the same on every node).
func Net48(networkID string) netip.Prefix {
	h := sha256.Sum256([]byte(networkID))
	var b [16]byte
	b[0] = 0xfd
	copy(b[1:6], h[:5])
	return netip.PrefixFrom(netip.AddrFrom16(b), 48)
}

// Addr returns the IPv6 twin of IPv4 address a.b.c.d in the network:
//
//	<Net48> : b c : 0 : 0 : 0 : 00 d      (bytes 6,7 = b,c; byte 15 = d)
//
// The first octet is dropped (a network's range lies within one /8, so it is the same
// for every address of the network); octets 2-3 become the 16-bit subnet id and octet 4
// the interface id. A /24 subnet 10.1.2.0/24 thus becomes <Net48>:0102::/64.
func Addr(networkID string, v4 netip.Addr) netip.Addr {
	return AddrIn(Net48(networkID), v4)
}

// AddrIn is Addr with the network's /48 (Net48) already computed: callers deriving many
// addresses of one network hash its id once.
func AddrIn(net48 netip.Prefix, v4 netip.Addr) netip.Addr {
	b := net48.Addr().As16()
	a := v4.As4()
	b[6], b[7], b[15] = a[1], a[2], a[3]
	return netip.AddrFrom16(b)
}

// Twin returns the IPv6 twin of an IPv4 prefix in the network. The mapping keeps
// containment: a /L with 8 ≤ L ≤ 24 maps to a /(40+L) (a /24 to a /64, a /16 to a /56),
// a longer one to a /(96+L) (a /32 to a /128). Prefixes shorter than /8 map to the /48.
func Twin(networkID string, v4 netip.Prefix) netip.Prefix {
	return TwinIn(Net48(networkID), v4)
}

// TwinIn is Twin with the network's /48 (Net48) already computed.
func TwinIn(net48 netip.Prefix, v4 netip.Prefix) netip.Prefix {
	l := v4.Bits()
	switch {
	case l <= 8:
		l = 48
	case l <= 24:
		l += 40
	default:
		l += 96
	}
	return netip.PrefixFrom(AddrIn(net48, v4.Masked().Addr()), l).Masked()
}
