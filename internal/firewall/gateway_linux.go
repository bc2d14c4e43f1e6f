package firewall

import (
	"net/netip"
	"sort"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nft"
)

// GatewayTable is the table of a gateway node inside an NR namespace (n-<id>): what
// the gateway may reach on that network.
const GatewayTable = "zosnet-gateway"

// Socket is what the socket namespace (`public` once a public config exists) lets in.
type Socket struct {
	// WGPorts are the WireGuard listen ports (UDP).
	WGPorts []uint16
	// GatewayTCP and GatewayUDP are a gateway's public ports (80 and 443 for names,
	// and its raw exposures' ports).
	GatewayTCP, GatewayUDP []uint16
}

// ApplySocketWith rebuilds SocketTable in the socket namespace with s: the WireGuard
// ports, a gateway's ports, ND/RA and replies come in; nothing is forwarded.
func ApplySocketWith(ns *netns.NS, s Socket) error { return nft.Apply(ns, socketTableWith(s)) }

func socketTableWith(s Socket) *nft.Table {
	t := socketTable(s.WGPorts)
	in := t.Chains[0]
	for _, p := range sortedPorts(s.GatewayTCP) {
		in.Add(nft.DPort(unix.IPPROTO_TCP, p), nft.Accept())
	}
	for _, p := range sortedPorts(s.GatewayUDP) {
		in.Add(nft.DPort(unix.IPPROTO_UDP, p), nft.Accept())
	}
	return t
}

func sortedPorts(ports []uint16) []uint16 {
	ps := append([]uint16(nil), ports...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	out := ps[:0]
	for i, p := range ps {
		if p != 0 && (i == 0 || ps[i-1] != p) {
			out = append(out, p)
		}
	}
	return out
}

// Backend is one address a gateway may reach on a network.
type Backend struct {
	Addr  netip.AddrPort // IPv4
	Proto string         // "tcp" or "udp"
}

// ApplyGateway rebuilds GatewayTable in an NR namespace of a gateway node: new TCP and
// UDP connections the node itself opens there (the gateway's, towards backends) may
// only go to the backends of its exposures on that network; replies, ICMP (overlay
// probes) and everything forwarded for workloads are not affected.
func ApplyGateway(ns *netns.NS, backends []Backend) error {
	return nft.Apply(ns, gatewayTable(backends))
}

func gatewayTable(backends []Backend) *nft.Table {
	t := nft.NewTable(nftables.TableFamilyINet, GatewayTable)
	elems := make([]nft.AddrProtoPort, 0, len(backends))
	for _, b := range backends {
		proto := byte(unix.IPPROTO_TCP)
		if b.Proto == "udp" {
			proto = unix.IPPROTO_UDP
		}
		elems = append(elems, nft.AddrProtoPort{Addr: b.Addr.Addr(), Proto: proto, Port: b.Addr.Port()})
	}
	t.AddPortSet("backends", elems)
	out := t.Filter("output", nftables.ChainHookOutput, nftables.ChainPolicyAccept)
	out.Add(nft.Established(), nft.Accept())
	out.Add(nft.OIF("lo"), nft.Accept())
	out.Add(nft.InetDAddrProtoDPortIn("backends"), nft.Accept())
	out.Add(nft.L4Proto(unix.IPPROTO_TCP), nft.Drop())
	out.Add(nft.L4Proto(unix.IPPROTO_UDP), nft.Drop())
	return t
}
