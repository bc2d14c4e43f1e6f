// Package ndmz is the node's DMZ: the `ndmz` network namespace through which every
// network resource (NR) reaches the Internet, and nothing reaches in.
//
// Design (no second DHCP lease). 0-OS gives ndmz its own DHCP lease on the management
// LAN, which farmers complained about (one extra address per node, MAC games). Here
// ndmz has no address on any farm segment for IPv4: a veth (ndmz-h in the host ↔
// to-host in ndmz, transit 100.126.0.0/30) joins it to the host namespace, ndmz's
// default route points at the host, and the host routes and masquerades that transit
// prefix out of its own address on `zos` (the lease netinit already holds). IPv4
// egress is thus NAT twice on the node and then the farm's NAT; the farm sees one
// address per node. The host forwards nothing else (firewall.ApplyHost).
//
// IPv6 egress: ndmz has a leg (ndmz-p, a port of br-pub ↔ pub6 in ndmz) that takes a
// SLAAC address and default route from the public segment's router advertisements
// (accept_ra=2 because ndmz forwards). On a node whose br-pub is uplinked to `zos`,
// that is the management LAN's IPv6 (if any).
//
// NR uplinks: every NR namespace n-<id> gets a veth u-<id> (same name on both ends)
// to ndmz, addressed from a /30 of 100.127.0.0/16 and a /64 of fd64:6e64:7a00::/48
// (the ndmz end .1/::1, the NR end .2/::2). The block is picked by a hash of the id,
// probing past blocks other uplinks use, and kept while the uplink exists. n-<id>
// routes its default through the uplink and masquerades to the uplink address (NRs'
// subnets may overlap between users); ndmz masquerades again out of its egress links
// and forwards only uplink → egress, never uplink → uplink, and accepts nothing new.
// All those prefixes stay inside the node (they are always translated before leaving).
//
// Every method is idempotent and safe to re-run after a crash; DMZ serializes its
// methods on one lock.
package ndmz

import (
	"hash/fnv"
	"net/netip"
)

// Kernel object names.
const (
	NS           = "ndmz"    // the namespace
	HostLink     = "ndmz-h"  // host end of the transit veth
	InnerLink    = "to-host" // ndmz end of the transit veth
	PubPort      = "ndmz-p"  // host end of the public leg, a port of br-pub
	PubLink      = "pub6"    // ndmz end of the public leg (SLAAC)
	UplinkPrefix = "u-"      // NR uplinks: u-<id> in ndmz and in n-<id>
)

// Prefixes used inside the node only.
var (
	Transit   = netip.MustParsePrefix("100.126.0.0/30")
	HostAddr  = netip.MustParseAddr("100.126.0.1")
	InnerAddr = netip.MustParseAddr("100.126.0.2")
	Uplinks4  = netip.MustParsePrefix("100.127.0.0/16")
	Uplinks6  = netip.MustParsePrefix("fd64:6e64:7a00::/48")
)

// Blocks is the number of uplink /30 blocks in Uplinks4.
const Blocks = 1 << 14

// UplinkName is the uplink link name of NR id.
func UplinkName(id string) string { return UplinkPrefix + id }

// Block picks NR id's uplink block: its hash, then the next free one (used says which
// are taken by other uplinks). It returns -1 when all are used.
func Block(id string, used map[int]bool) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	start := int(h.Sum32() % Blocks)
	for i := 0; i < Blocks; i++ {
		b := (start + i) % Blocks
		if !used[b] {
			return b
		}
	}
	return -1
}

// Addrs returns the ndmz end and the NR end of block b, IPv4 /30 and IPv6 /64.
func Addrs(b int) (dmz4, nr4, dmz6, nr6 netip.Prefix) {
	base := Uplinks4.Addr().As4()
	base[2], base[3] = byte(b>>6), byte(b<<2)
	a4 := netip.AddrFrom4(base)
	six := Uplinks6.Addr().As16()
	six[6], six[7] = byte(b>>8), byte(b)
	six[15] = 1
	d6 := netip.AddrFrom16(six)
	six[15] = 2
	return netip.PrefixFrom(a4.Next(), 30), netip.PrefixFrom(a4.Next().Next(), 30),
		netip.PrefixFrom(d6, 64), netip.PrefixFrom(netip.AddrFrom16(six), 64)
}

// BlockOf returns the block an ndmz-end IPv4 address belongs to, or -1.
func BlockOf(a netip.Addr) int {
	if !Uplinks4.Contains(a) {
		return -1
	}
	b := a.As4()
	return int(b[2])<<6 | int(b[3])>>2
}
