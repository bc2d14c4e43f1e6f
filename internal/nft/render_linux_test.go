package nft

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/testkit"
)

var mac, _ = net.ParseMAC("02:00:00:00:00:07")

// TestRenderRule: each fragment, alone and with the dependencies nft leaves out.
func TestRenderRule(t *testing.T) {
	inet, ip, bridge := nftables.TableFamilyINet, nftables.TableFamilyIPv4, nftables.TableFamilyBridge
	pfx := netip.MustParsePrefix
	cases := []struct {
		fam  nftables.TableFamily
		rule []expr.Any
		want string
	}{
		{inet, Join(Established(), Accept()), "ct state established,related accept"},
		{inet, Join(Invalid(), Drop()), "ct state invalid drop"},
		{inet, Join(CtState(expr.CtStateBitNEW | expr.CtStateBitUNTRACKED)), "ct state new,untracked"},
		{inet, Join(IIF("lo"), Accept()), `iifname "lo" accept`},
		{inet, Join(IIF("ndmz-h"), NotOIF("ndmz-h"), Accept()), `iifname "ndmz-h" oifname != "ndmz-h" accept`},
		{inet, Join(IIFPrefix("u-"), OIF("pub6"), Masquerade(false)), `iifname "u-*" oifname "pub6" masquerade`},
		{inet, Join(DPort(unix.IPPROTO_UDP, 68), Accept()), "udp dport 68 accept"},
		{inet, Join(DPort(unix.IPPROTO_TCP, 443)), "tcp dport 443"},
		{inet, Join(L4Proto(unix.IPPROTO_UDP), Drop()), "meta l4proto udp drop"},
		{inet, Join(ICMPv6Type(134), Accept()), "icmpv6 type nd-router-advert accept"},
		{inet, Join(ICMPv6Type(200)), "icmpv6 type 200"},
		{inet, Join(InetSAddr(pfx("100.126.0.0/30")), NotOIF("x"), Masquerade(false)), `ip saddr 100.126.0.0/30 oifname != "x" masquerade`},
		{inet, Join(InetSAddr(pfx("fd00::/8"))), "ip6 saddr fd00::/8"},
		{inet, Join(NFProto(unix.NFPROTO_IPV4), IIF("inet"), Drop()), `meta nfproto ipv4 iifname "inet" drop`},
		{ip, Join(OIF("inet"), SAddr(pfx("10.201.0.0/24")), Masquerade(true)), `oifname "inet" ip saddr 10.201.0.0/24 masquerade fully-random`},
		{ip, Join(SAddr(pfx("10.201.0.7/24"))), "ip saddr 10.201.0.0/24"},
		{bridge, Join(IIF("c-w1"), EtherSAddr(expr.CmpOpNeq, mac), Drop()), `iifname "c-w1" ether saddr != 02:00:00:00:00:07 drop`},
		{bridge, Join(Protocol(unix.ETH_P_IP), PrefixCmp(expr.PayloadBaseNetworkHeader, 12, pfx("10.1.1.2/32"), expr.CmpOpNeq)), "ip saddr != 10.1.1.2"},
		{bridge, Join(Protocol(unix.ETH_P_ARP), PrefixCmp(expr.PayloadBaseNetworkHeader, 14, pfx("10.1.1.2/32"), expr.CmpOpNeq)), "arp saddr ip != 10.1.1.2"},
		{bridge, Join(Protocol(unix.ETH_P_IPV6), PrefixCmp(expr.PayloadBaseNetworkHeader, 8, pfx("::/128"), expr.CmpOpEq), Accept()), "ip6 saddr :: accept"},
		{bridge, Join(Protocol(unix.ETH_P_IPV6), Drop()), "meta protocol ip6 drop"},
		{inet, []expr.Any{&expr.Counter{Packets: 3, Bytes: 9}}, "counter packets 3 bytes 9"},
		{inet, []expr.Any{&expr.Limit{}}, "<*expr.Limit>"},
	}
	for _, c := range cases {
		if got := RenderRule(c.fam, c.rule); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

// sample is a ruleset that uses every fragment, in three families.
func sample() []*Table {
	in := NewTable(nftables.TableFamilyINet, "zt-inet")
	input := in.Filter("input", nftables.ChainHookInput, nftables.ChainPolicyDrop)
	input.Add(Established(), Accept())
	input.Add(Invalid(), Drop())
	input.Add(IIF("lo"), Accept())
	input.Add(ICMPv6Type(135), Accept())
	input.Add(DPort(unix.IPPROTO_UDP, 68), Accept())
	input.Add(DPort(unix.IPPROTO_TCP, 22), Drop())
	input.Add(NFProto(unix.NFPROTO_IPV6), IIF("eth0"), Drop())
	fwd := in.Filter("forward", nftables.ChainHookForward, nftables.ChainPolicyAccept)
	fwd.Add(IIFPrefix("u-"), OIF("pub6"), Accept())
	fwd.Add(InetSAddr(netip.MustParsePrefix("fd00:1::/64")), NotOIF("w-x"), Drop())
	nat := in.SNAT("postrouting")
	nat.Add(InetSAddr(netip.MustParsePrefix("100.126.0.0/30")), NotOIF("ndmz-h"), Masquerade(false))
	ip := NewTable(nftables.TableFamilyIPv4, "zt-ip")
	ip.SNAT("postrouting").Add(OIF("inet"), SAddr(netip.MustParsePrefix("10.201.0.0/24")), Masquerade(true))
	br := NewTable(nftables.TableFamilyBridge, "zt-bridge")
	pre := br.Filter("prerouting", nftables.ChainHookPrerouting, nftables.ChainPolicyAccept)
	pre.Add(IIF("c-w1"), EtherSAddr(expr.CmpOpNeq, mac), Drop())
	pre.Add(IIF("c-w1"), Protocol(unix.ETH_P_IP), PrefixCmp(expr.PayloadBaseNetworkHeader, 12, netip.MustParsePrefix("10.1.1.2/32"), expr.CmpOpNeq), Drop())
	pre.Add(IIF("c-w1"), Protocol(unix.ETH_P_ARP), PrefixCmp(expr.PayloadBaseNetworkHeader, 14, netip.MustParsePrefix("10.1.1.2/32"), expr.CmpOpNeq), Drop())
	pre.Add(IIF("c-w1"), Protocol(unix.ETH_P_IPV6), PrefixCmp(expr.PayloadBaseNetworkHeader, 8, netip.MustParsePrefix("fe80::/10"), expr.CmpOpEq), Accept())
	pre.Add(IIF("c-w1"), Protocol(unix.ETH_P_IPV6), Drop())
	return []*Table{in, ip, br, setSample()}
}

// setSample: interval sets (up to the top of both address spaces, and empty), lookups,
// a regular chain reached by jump, counters and rejects.
func setSample() *Table {
	t := NewTable(nftables.TableFamilyINet, "zt-sets")
	v4, v6 := Ranges([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("224.0.0.0/3"),
		netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("ff00::/8"), netip.MustParsePrefix("fc00::/7")})
	t.AddSet(&Set{Name: "d4", Elements: append(v4, Range{netip.MustParseAddr("172.16.0.1"), netip.MustParseAddr("172.16.0.6")})})
	t.AddSet(&Set{Name: "d6", IPv6: true, Elements: v6})
	t.AddSet(&Set{Name: "e6", IPv6: true})
	fwd := t.Filter("forward", nftables.ChainHookForward, nftables.ChainPolicyAccept)
	fwd.Add(IIFPrefix("u-"), Jump("egress"))
	eg := t.Regular("egress")
	eg.Add(InetDAddr(netip.MustParsePrefix("10.201.0.50/32")), DPort(unix.IPPROTO_TCP, 873), Return())
	eg.Add(InetDAddr(netip.MustParsePrefix("fd00::/64")), Return())
	eg.Add(DAddrIn("d4", false), Jump("refuse"))
	eg.Add(DAddrIn("d6", true), Jump("refuse"))
	eg.Add(DAddrIn("e6", true), Jump("refuse"))
	ref := t.Regular("refuse")
	ref.Add(IIF("u-a"), Counter(0, 0))
	ref.Add(L4Proto(unix.IPPROTO_TCP), RejectTCPReset())
	ref.Add(RejectProhibited())
	return t
}

// TestRenderGolden: the sample ruleset, whole.
func TestRenderGolden(t *testing.T) {
	testkit.Golden(t, "testdata/sample.nft", Render(sample()...))
}
