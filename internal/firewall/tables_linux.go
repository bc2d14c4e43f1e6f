package firewall

import (
	"net/netip"
	"sort"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nft"
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
func ApplyHost(ns *netns.NS, h Host) error { return nft.Apply(ns, hostTable(h)) }

func hostTable(h Host) *nft.Table {
	t := nft.NewTable(nftables.TableFamilyINet, HostTable)
	in := t.Filter("input", nftables.ChainHookInput, nftables.ChainPolicyDrop)
	inputBase(in)
	wgPorts(in, h.WGPorts)
	fwd := t.Filter("forward", nftables.ChainHookForward, nftables.ChainPolicyDrop)
	fwd.Add(nft.Established(), nft.Accept())
	if h.NDMZLink != "" {
		fwd.Add(nft.IIF(h.NDMZLink), nft.NotOIF(h.NDMZLink), nft.Accept())
		t.SNAT("postrouting").Add(nft.InetSAddr(h.NDMZNet), nft.NotOIF(h.NDMZLink), nft.Masquerade(false))
	}
	return t
}

// ndTypes are what IPv6 needs to work: router solicitation/advertisement, neighbour
// solicitation/advertisement, MLDv2 reports.
var ndTypes = []byte{133, 134, 135, 136, 143}

// inputBase: replies, loopback, IPv6 ND/RA; invalid is dropped.
func inputBase(in *nft.Chain) {
	in.Add(nft.Established(), nft.Accept())
	in.Add(nft.Invalid(), nft.Drop())
	in.Add(nft.IIF("lo"), nft.Accept())
	for _, t := range ndTypes {
		in.Add(nft.ICMPv6Type(t), nft.Accept())
	}
}

func wgPorts(in *nft.Chain, ports []uint16) {
	ps := append([]uint16(nil), ports...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for i, p := range ps {
		if p != 0 && (i == 0 || ps[i-1] != p) {
			in.Add(nft.DPort(unix.IPPROTO_UDP, p), nft.Accept())
		}
	}
}

// ApplySocket rebuilds SocketTable in the socket namespace: only the WireGuard ports
// (UDP), ND/RA and replies come in; nothing is forwarded.
func ApplySocket(ns *netns.NS, wgPortList []uint16) error {
	return nft.Apply(ns, socketTable(wgPortList))
}

func socketTable(wgPortList []uint16) *nft.Table {
	t := nft.NewTable(nftables.TableFamilyINet, SocketTable)
	in := t.Filter("input", nftables.ChainHookInput, nftables.ChainPolicyDrop)
	inputBase(in)
	wgPorts(in, wgPortList)
	t.Filter("forward", nftables.ChainHookForward, nftables.ChainPolicyDrop)
	return t
}

// ApplyUplink rebuilds UplinkTable in an NR namespace whose uplink to ndmz is link:
// nothing new comes in from it, and what leaves by it is masqueraded.
func ApplyUplink(ns *netns.NS, link string) error { return nft.Apply(ns, uplinkTable(link)) }

func uplinkTable(link string) *nft.Table {
	t := nft.NewTable(nftables.TableFamilyINet, UplinkTable)
	in := t.Filter("input", nftables.ChainHookInput, nftables.ChainPolicyAccept)
	in.Add(nft.IIF(link), nft.Established(), nft.Accept())
	in.Add(nft.IIF(link), nft.ICMPv6Type(135), nft.Accept())
	in.Add(nft.IIF(link), nft.ICMPv6Type(136), nft.Accept())
	in.Add(nft.IIF(link), nft.Drop())
	t.SNAT("postrouting").Add(nft.OIF(link), nft.Masquerade(false))
	return t
}
