package firewall

import (
	"net"
	"net/netip"
	"sort"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
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
}

var linkLocal6 = netip.MustParsePrefix("fe80::/10")

// ApplyAntiSpoof rebuilds AntiSpoofTable (family bridge) in the namespace holding the
// workload bridges: a frame from a listed port with another source MAC, IPv4 (also
// as ARP sender), or IPv6 is dropped. Unlisted ports are not filtered.
func ApplyAntiSpoof(ns *netns.NS, ports []Port) error {
	b, err := begin(ns, AntiSpoofTable, nftables.TableFamilyBridge)
	if err != nil {
		return err
	}
	ch := b.filter("prerouting", nftables.ChainHookPrerouting, false)
	sort.Slice(ports, func(i, j int) bool { return ports[i].Iface < ports[j].Iface })
	for _, p := range ports {
		spoofRules(b, ch, p)
	}
	return b.commit()
}

func spoofRules(b *batch, ch *nftables.Chain, p Port) {
	in := iif(p.Iface)
	b.rule(ch, in, []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(p.MAC)},
	}, drop)
	v4 := etherType(unix.ETH_P_IP)
	if p.IPv4.Is4() {
		b.rule(ch, in, v4, prefixCmp(expr.PayloadBaseNetworkHeader, 12, netip.PrefixFrom(p.IPv4, 32), expr.CmpOpNeq), drop)
		b.rule(ch, in, etherType(unix.ETH_P_ARP),
			prefixCmp(expr.PayloadBaseNetworkHeader, 14, netip.PrefixFrom(p.IPv4, 32), expr.CmpOpNeq), drop)
	} else {
		b.rule(ch, in, v4, drop)
	}
	v6 := etherType(unix.ETH_P_IPV6)
	for _, ok := range []netip.Prefix{netip.PrefixFrom(p.IPv6, 128), linkLocal6, netip.PrefixFrom(netip.IPv6Unspecified(), 128)} {
		if ok.Addr().IsValid() {
			b.rule(ch, in, v6, prefixCmp(expr.PayloadBaseNetworkHeader, 8, ok, expr.CmpOpEq), accept)
		}
	}
	b.rule(ch, in, v6, drop)
}
