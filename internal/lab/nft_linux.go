package lab

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

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
	return nil
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

// natTable: ip zoslab postrouting: oifname OUT ip saddr PREFIX masquerade [fully-random].
func natTable(spec *Spec, rt *Router) *nft.Table {
	t := nft.NewTable(nftables.TableFamilyIPv4, "zoslab")
	ch := t.SNAT("postrouting")
	for _, seg := range rt.NAT.Segments {
		p, err := netip.ParsePrefix(spec.segment(seg).IPv4)
		if err != nil {
			continue // validated: an inside segment without IPv4 has nothing to masquerade
		}
		ch.Add(nft.OIF(rt.NAT.Out), nft.SAddr(p), nft.Masquerade(rt.NAT.Mode == NATFullyRandom))
	}
	return t
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
