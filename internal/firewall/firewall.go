// Package firewall holds the nftables tables networkd owns outside the network
// resources' own table: the host's input and forward policy, the ndmz namespace, the
// socket (`public`) namespace, the NR side of every uplink, and workload anti-spoofing.
//
// Each table has a fixed name (zosnet-*). Its rules are built as data by a pure function
// (hostTable, ndmzTable, ...; golden tests under testdata show them as `nft list table`
// prints them) and flushed whole in one netlink batch by nft.Apply: the kernel swaps it
// atomically, re-running an apply is idempotent, and nothing else's rules are ever
// touched. Remove deletes one of our tables and is a no-op when it does not exist. All
// functions take the namespace explicitly and are safe for concurrent use on different
// namespaces; concurrent applies of the same table end with one of them in place.
//
// Policy (the seed: "the Nodes themselves have nothing listening that points into the
// host OS, and are by themselves also firewalled"):
//   - host input: replies, loopback, IPv6 neighbour discovery and router advertisements,
//     DHCP client replies and the WireGuard ports (when the sockets live there). No echo,
//     nothing else, from any side (farm LAN, public segment, ndmz).
//   - host forward: only ndmz's egress (masqueraded out of the node's own address) and
//     replies; bridged frames of the workload bridges are not routed here.
//   - ndmz: accepts nothing new for itself; forwards new connections only from NR
//     uplinks to its egress links (never uplink to uplink: users cannot reach each
//     other), masquerading them.
//   - socket namespace: only the WireGuard ports, ND/RA and replies; on a gateway also
//     its public ports (80, 443 and its raw exposures' ports; ApplySocketWith).
//   - gateway (inside n-<id> of a gateway node): new TCP/UDP connections the node opens
//     there may only go to its exposures' backends (a set), nowhere else on the network.
//   - NR uplink (inside n-<id>): nothing new comes in from ndmz; traffic leaving
//     through the uplink is masqueraded to the uplink address.
//   - anti-spoofing: a workload port may only send its own MAC, IPv4 and IPv6.
package firewall

import (
	"github.com/google/nftables"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nft"
)

// Table names, one per role.
const (
	HostTable      = "zosnet-host"
	NDMZTable      = "zosnet-ndmz"
	SocketTable    = "zosnet-socket"
	UplinkTable    = "zosnet-uplink"
	AntiSpoofTable = "zosnet-antispoof"
)

// Remove deletes our table name (family inet, or bridge for AntiSpoofTable) in ns.
// A missing table is success.
func Remove(ns *netns.NS, name string) error {
	fam := nftables.TableFamilyINet
	if name == AntiSpoofTable {
		fam = nftables.TableFamilyBridge
	}
	return nft.Remove(ns, fam, name)
}
