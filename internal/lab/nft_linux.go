package lab

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/nft"
)

// applyNFT gives a router its NAT and inbound firewall (routerTables), flushed in one
// batch. A router with neither gets no table.
func applyNFT(r *nsh, spec *Spec, rt *Router) error {
	ts := routerTables(spec, rt)
	if len(ts) == 0 {
		return nil
	}
	if err := nft.Apply(r.ns, ts...); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return r.sysctls(conntrackSysctls(rt)) // conntrack is loaded once NAT rules exist
}

// routerTables are a router's tables, both named "zoslab": ip for NAT, inet for the
// inbound firewall; none when the router has neither.
func routerTables(spec *Spec, rt *Router) []*nft.Table {
	var ts []*nft.Table
	if rt.NAT.Mode != NATNone {
		ts = append(ts, natTable(spec, rt))
	}
	if rt.Firewall.Inbound4 || rt.Firewall.Inbound6 {
		ts = append(ts, firewallTable(rt))
	}
	return ts
}

// natTable is the router's ip zoslab table for its NAT mode:
//
//	postrouting: oifname OUT ip saddr PREFIX masquerade [fully-random]
//	             (one-to-one first: oifname OUT ip saddr HOST snat to OUTADDR)
//	prerouting:  one-to-one: iifname OUT ip daddr OUTADDR dnat to HOST
//	             full-cone:  iifname OUT udp dport @mapped dnat to HOST
//	             address-restricted: iifname OUT ip saddr @peers udp dport @mapped dnat to HOST
//	forward:     full-cone, address-restricted: iifname IN update @mapped { udp sport }
//	             [update @peers { ip daddr }]
//	input:       home routers (full-cone, address-restricted, or an IPv4 inbound
//	             firewall): iifname OUT meta l4proto udp ct state new drop
//
// Masquerade keeps Host's source port, so @mapped holds its outside ports.
func natTable(spec *Spec, rt *Router) *nft.Table {
	t := nft.NewTable(nftables.TableFamilyIPv4, "zoslab")
	n := &rt.NAT
	host, _ := netip.ParseAddr(n.Host) // validated when the mode needs it
	timeout := n.UDPTimeout
	if timeout == 0 {
		timeout = defaultConeTimeout
	}
	switch n.Mode {
	case NATFullCone, NATAddressRestricted:
		t.AddSet(&nft.Set{Name: "mapped", Key: nft.KeyPort, Timeout: timeout})
		match := [][]expr.Any{nft.IIF(n.Out)}
		if n.Mode == NATAddressRestricted {
			t.AddSet(&nft.Set{Name: "peers", Timeout: timeout})
			match = append(match, nft.In(nft.IPSAddr, "peers"))
		}
		t.DNATChain("prerouting").Add(append(match, nft.In(nft.UDPDPort, "mapped"), nft.DNAT(host))...)
		fwd := t.Filter("forward", nftables.ChainHookForward, nftables.ChainPolicyAccept)
		for _, seg := range n.Segments {
			upd := [][]expr.Any{nft.IIF(seg), nft.Update(nft.UDPSPort, "mapped")}
			if n.Mode == NATAddressRestricted {
				upd = append(upd, nft.Update(nft.IPDAddr, "peers"))
			}
			fwd.Add(upd...)
		}
	case NATOneToOne:
		if out, ok := rt.addr4(n.Out); ok {
			t.DNATChain("prerouting").Add(nft.IIF(n.Out), nft.DAddr(out), nft.DNAT(host))
		}
	}
	if n.Mode == NATFullCone || n.Mode == NATAddressRestricted || rt.Firewall.Inbound4 {
		// Like a home router, drop unsolicited UDP to the router itself (the farm's
		// router, unfirewalled, is left alone). Accepted (and
		// answered with port unreachable), it would leave a conntrack entry from the
		// far peer to the mapped port, and the inside host's own packets to that peer
		// would then be masqueraded to another port: simultaneous open never meets.
		in := t.Filter("input", nftables.ChainHookInput, nftables.ChainPolicyAccept)
		in.Add(nft.IIF(n.Out), nft.L4Proto(unix.IPPROTO_UDP), nft.CtState(expr.CtStateBitNEW), nft.Drop())
	}
	ch := t.SNAT("postrouting")
	if out, ok := rt.addr4(n.Out); ok && n.Mode == NATOneToOne {
		ch.Add(nft.OIF(n.Out), nft.SAddr(netip.PrefixFrom(host, 32)), nft.SNAT(out))
	}
	for _, seg := range n.Segments {
		p, err := netip.ParsePrefix(spec.segment(seg).IPv4)
		if err != nil {
			continue // validated: an inside segment without IPv4 has nothing to masquerade
		}
		ch.Add(nft.OIF(n.Out), nft.SAddr(p), nft.Masquerade(n.Mode == NATFullyRandom))
	}
	return t
}

// defaultConeTimeout is how long a full-cone or address-restricted port stays open
// without UDPTimeout: the kernel's UDP stream timeout.
const defaultConeTimeout = 120 * time.Second

// addr4 is the router's IPv4 address on segment seg.
func (r *Router) addr4(seg string) (netip.Addr, bool) {
	for _, it := range r.Interfaces {
		if it.Segment == seg {
			p, err := netip.ParsePrefix(it.IPv4)
			return p.Addr(), err == nil
		}
	}
	return netip.Addr{}, false
}

// conntrackSysctls: the router's UDP conntrack timeouts (NAT.UDPTimeout), none unset.
func conntrackSysctls(rt *Router) link.Sysctls {
	if rt.NAT.UDPTimeout == 0 {
		return nil
	}
	s := fmt.Sprint(int(rt.NAT.UDPTimeout / time.Second))
	return link.Sysctls{"net/netfilter/nf_conntrack_udp_timeout": s, "net/netfilter/nf_conntrack_udp_timeout_stream": s}
}

// firewallTable: inet zoslab forward: ct state established,related accept; then drop
// what comes in from OUT, per family asked for.
func firewallTable(rt *Router) *nft.Table {
	t := nft.NewTable(nftables.TableFamilyINet, "zoslab")
	ch := t.Filter("forward", nftables.ChainHookForward, nftables.ChainPolicyAccept)
	ch.Add(nft.Established(), nft.Accept())
	for _, f := range []struct {
		on    bool
		proto byte
	}{{rt.Firewall.Inbound4, unix.NFPROTO_IPV4}, {rt.Firewall.Inbound6, unix.NFPROTO_IPV6}} {
		if f.on {
			ch.Add(nft.NFProto(f.proto), nft.IIF(rt.Firewall.Out), nft.Drop())
		}
	}
	return t
}
