package firewall

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nft"
)

// Port is a workload's port on a workload bridge and what it may send.
type Port struct {
	// Iface is the host end on the bridge (c-… or t-…).
	Iface string
	// MAC is the workload's MAC address.
	MAC net.HardwareAddr
	// IPv4 and IPv6 are the workload's addresses (IPv6 link-local and the unspecified
	// address for duplicate address detection are always allowed).
	IPv4, IPv6 netip.Addr
	// DHCP lets the port ask for its lease: UDP to port 67 from 0.0.0.0 (a VM's
	// DHCPDISCOVER, before it has its address).
	DHCP bool
}

var linkLocal6 = netip.MustParsePrefix("fe80::/10")

// ApplyAntiSpoof rebuilds AntiSpoofTable (family bridge) in the namespace holding the
// workload bridges: a frame from a listed port with another source MAC, IPv4 (also
// as ARP sender), or IPv6 is dropped. Unlisted ports are not filtered.
func ApplyAntiSpoof(ns *netns.NS, ports []Port) error {
	return nft.Apply(ns, antiSpoofTable(ports))
}

// antiSpoofTable builds the rules, ports sorted by interface (ports is not changed).
func antiSpoofTable(ports []Port) *nft.Table {
	t := nft.NewTable(nftables.TableFamilyBridge, AntiSpoofTable)
	ch := t.Filter("prerouting", nftables.ChainHookPrerouting, nftables.ChainPolicyAccept)
	ps := slices.Clone(ports)
	slices.SortFunc(ps, func(a, b Port) int { return strings.Compare(a.Iface, b.Iface) })
	for _, p := range ps {
		spoofRules(ch, p)
	}
	return t
}

func spoofRules(ch *nft.Chain, p Port) {
	in := nft.IIF(p.Iface)
	ch.Add(in, nft.EtherSAddr(expr.CmpOpNeq, p.MAC), nft.Drop())
	v4 := nft.Protocol(unix.ETH_P_IP)
	if p.IPv4.Is4() {
		if p.DHCP {
			ch.Add(in, v4, nft.PrefixCmp(expr.PayloadBaseNetworkHeader, 12, netip.PrefixFrom(netip.IPv4Unspecified(), 32), expr.CmpOpEq),
				nft.DPort(unix.IPPROTO_UDP, 67), nft.Accept())
		}
		ch.Add(in, v4, nft.PrefixCmp(expr.PayloadBaseNetworkHeader, 12, netip.PrefixFrom(p.IPv4, 32), expr.CmpOpNeq), nft.Drop())
		ch.Add(in, nft.Protocol(unix.ETH_P_ARP),
			nft.PrefixCmp(expr.PayloadBaseNetworkHeader, 14, netip.PrefixFrom(p.IPv4, 32), expr.CmpOpNeq), nft.Drop())
	} else {
		ch.Add(in, v4, nft.Drop())
		ch.Add(in, nft.Protocol(unix.ETH_P_ARP), nft.Drop())
	}
	v6 := nft.Protocol(unix.ETH_P_IPV6)
	for _, ok := range []netip.Prefix{netip.PrefixFrom(p.IPv6, 128), linkLocal6, netip.PrefixFrom(netip.IPv6Unspecified(), 128)} {
		if ok.Addr().IsValid() {
			ch.Add(in, v6, nft.PrefixCmp(expr.PayloadBaseNetworkHeader, 8, ok, expr.CmpOpEq), nft.Accept())
		}
	}
	ch.Add(in, v6, nft.Drop())
}
