package firewall

import (
	"net/netip"
	"sort"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
)

// Host is the host namespace's policy.
type Host struct {
	// WGPorts are opened (UDP) when the WireGuard sockets live in the host namespace.
	WGPorts []uint16
	// NDMZLink is the host end of the veth to ndmz ("" when ndmz does not exist).
	NDMZLink string
	// NDMZNet is the transit prefix of that veth; its sources are masqueraded out of
	// every other link.
	NDMZNet netip.Prefix
}

// ApplyHost rebuilds HostTable in ns. The caller must keep bridged frames out of the
// ip/ip6 hooks (net.bridge.bridge-nf-call-ip{,6}tables=0 in ns, see ndmz), else the
// forward policy would drop the workload bridges' traffic.
func ApplyHost(ns *netns.NS, h Host) error {
	b, err := begin(ns, HostTable, nftables.TableFamilyINet)
	if err != nil {
		return err
	}
	in := b.filter("input", nftables.ChainHookInput, true)
	inputBase(b, in)
	b.rule(in, dport(unix.IPPROTO_UDP, 68), accept) // DHCP client (renewals)
	wgPorts(b, in, h.WGPorts)
	fwd := b.filter("forward", nftables.ChainHookForward, true)
	b.rule(fwd, established(), accept)
	if h.NDMZLink != "" {
		b.rule(fwd, iif(h.NDMZLink), notOif(h.NDMZLink), accept)
		nat := b.chain("postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, false)
		b.rule(nat, saddrIn(h.NDMZNet), notOif(h.NDMZLink), masq)
	}
	return b.commit()
}

// inputBase: replies, loopback, IPv6 ND/RA; invalid is dropped.
func inputBase(b *batch, in *nftables.Chain) {
	b.rule(in, established(), accept)
	b.rule(in, invalid(), drop)
	b.rule(in, iif("lo"), accept)
	for _, t := range ndTypes {
		b.rule(in, icmp6Type(t), accept)
	}
}

func wgPorts(b *batch, in *nftables.Chain, ports []uint16) {
	ps := append([]uint16(nil), ports...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for i, p := range ps {
		if p != 0 && (i == 0 || ps[i-1] != p) {
			b.rule(in, dport(unix.IPPROTO_UDP, p), accept)
		}
	}
}

// NDMZ is the ndmz namespace's policy.
type NDMZ struct {
	// UplinkPrefix is the name prefix of the NR uplinks in ndmz (e.g. "u-").
	UplinkPrefix string
	// Egress are the links new connections from uplinks may leave by (masqueraded).
	Egress []string
}

// ApplyNDMZ rebuilds NDMZTable in ns.
func ApplyNDMZ(ns *netns.NS, d NDMZ) error {
	b, err := begin(ns, NDMZTable, nftables.TableFamilyINet)
	if err != nil {
		return err
	}
	in := b.filter("input", nftables.ChainHookInput, true)
	inputBase(b, in)
	fwd := b.filter("forward", nftables.ChainHookForward, true)
	b.rule(fwd, established(), accept)
	nat := b.chain("postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, false)
	for _, e := range d.Egress {
		b.rule(fwd, ifPrefix(expr.MetaKeyIIFNAME, d.UplinkPrefix), oif(e), accept)
		b.rule(nat, ifPrefix(expr.MetaKeyIIFNAME, d.UplinkPrefix), oif(e), masq)
	}
	return b.commit()
}

// ApplySocket rebuilds SocketTable in the socket namespace: only the WireGuard ports
// (UDP), ND/RA and replies come in; nothing is forwarded.
func ApplySocket(ns *netns.NS, wgPortList []uint16) error {
	b, err := begin(ns, SocketTable, nftables.TableFamilyINet)
	if err != nil {
		return err
	}
	in := b.filter("input", nftables.ChainHookInput, true)
	inputBase(b, in)
	wgPorts(b, in, wgPortList)
	b.filter("forward", nftables.ChainHookForward, true)
	return b.commit()
}

// ApplyUplink rebuilds UplinkTable in an NR namespace whose uplink to ndmz is link:
// nothing new comes in from it, and what leaves by it is masqueraded.
func ApplyUplink(ns *netns.NS, link string) error {
	b, err := begin(ns, UplinkTable, nftables.TableFamilyINet)
	if err != nil {
		return err
	}
	in := b.filter("input", nftables.ChainHookInput, false)
	b.rule(in, iif(link), established(), accept)
	b.rule(in, iif(link), icmp6Type(135), accept)
	b.rule(in, iif(link), icmp6Type(136), accept)
	b.rule(in, iif(link), drop)
	nat := b.chain("postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, false)
	b.rule(nat, oif(link), masq)
	return b.commit()
}
