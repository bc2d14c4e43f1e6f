package plan

import (
	"encoding/base64"
	"net/netip"
)

// key returns a distinct valid WireGuard key for each i.
func key(i byte) string {
	var b [32]byte
	for j := range b {
		b[j] = i
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

func pfx(s string) netip.Prefix  { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr   { return netip.MustParseAddr(s) }
func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func pfxs(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = pfx(s)
	}
	return out
}

func pub(s string) Endpoint  { return Endpoint{Addr: addr(s), Reachable: true} }
func priv(s string) Endpoint { return Endpoint{Addr: addr(s)} }

// labInput is the lab's default farm: two public farm nodes, a one-NIC farm node behind
// the farm NAT, two home nodes on one LAN behind a NAT and a dual-stack home node whose
// IPv6 is firewalled.
func labInput() Input {
	return Input{
		Network: Network{ID: "net1", Range: pfx("10.1.0.0/16")},
		Members: []Member{
			{NodeID: "farm1", PublicKey: key(1), ListenPort: 51820, Subnet: pfx("10.1.1.0/24"),
				Endpoints: []Endpoint{pub("198.51.100.11"), pub("2001:db8:1::11"), priv("192.168.10.11")}},
			{NodeID: "farm2", PublicKey: key(2), ListenPort: 51820, Subnet: pfx("10.1.2.0/24"),
				Endpoints: []Endpoint{pub("198.51.100.12"), pub("2001:db8:1::12")}},
			{NodeID: "farm3", PublicKey: key(3), ListenPort: 51820, Subnet: pfx("10.1.3.0/24"),
				Endpoints: []Endpoint{priv("192.168.10.13")},
				LAN:       LAN{PublicSource: addr("198.51.100.1"), Addresses: pfxs("192.168.10.13/24")}},
			{NodeID: "home1", PublicKey: key(4), ListenPort: 51820, Subnet: pfx("10.1.4.0/24"),
				Endpoints: []Endpoint{priv("192.168.1.10")},
				LAN:       LAN{PublicSource: addr("203.0.113.10"), Addresses: pfxs("192.168.1.10/24")}},
			{NodeID: "home2", PublicKey: key(5), ListenPort: 51821, Subnet: pfx("10.1.5.0/24"),
				Endpoints: []Endpoint{priv("192.168.1.11")},
				LAN:       LAN{PublicSource: addr("203.0.113.10"), Addresses: pfxs("192.168.1.11/24")}},
			{NodeID: "home6", PublicKey: key(6), ListenPort: 51820, Subnet: pfx("10.1.6.0/24"),
				Endpoints: []Endpoint{priv("192.168.2.10"), priv("2001:db8:6::10")},
				LAN:       LAN{PublicSource: addr("203.0.113.20"), Addresses: pfxs("192.168.2.10/24")}},
		},
		Access: []AccessPeer{{Name: "laptop", PublicKey: key(9), Address: addr("10.1.255.10")}},
	}
}

// primaries returns the current relays of mp's groups when all are on their primary.
func primaries(mp MemberPlan) []string {
	out := make([]string, len(mp.RelayGroups))
	for k, g := range mp.RelayGroups {
		out[k] = g.Relays[0]
	}
	return out
}

// onSecond returns the current relays of mp's groups when all moved to their second.
func onSecond(mp MemberPlan) []string {
	out := primaries(mp)
	for k, g := range mp.RelayGroups {
		if len(g.Relays) > 1 {
			out[k] = g.Relays[1]
		}
	}
	return out
}

// failedOver returns the current relays of mp's groups after relay died: the groups
// whose primary it is move to their second, the others stay.
func failedOver(mp MemberPlan, relay string) []string {
	out := primaries(mp)
	for k, g := range mp.RelayGroups {
		if g.Relays[0] == relay && len(g.Relays) > 1 {
			out[k] = g.Relays[1]
		}
	}
	return out
}
