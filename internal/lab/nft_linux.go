package lab

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// applyNFT gives a router its NAT and inbound firewall, as one table per family named
// "zoslab", rebuilt in one batch. A router with neither gets no table.
func applyNFT(r *nsh, spec *Spec, rt *Router) error {
	if rt.NAT.Mode == NATNone && !rt.Firewall.Inbound4 && !rt.Firewall.Inbound6 {
		return nil
	}
	c, err := nftables.New(nftables.WithNetNSFd(r.ns.Fd()))
	if err != nil {
		return fmt.Errorf("%s: nftables: %w", r.name, err)
	}
	defer c.CloseLasting()
	if rt.NAT.Mode != NATNone {
		natRules(c, spec, rt)
	}
	if rt.Firewall.Inbound4 || rt.Firewall.Inbound6 {
		firewallRules(c, rt)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("%s: apply nftables: %w", r.name, err)
	}
	return nil
}

// natRules: ip zoslab postrouting: oifname OUT ip saddr PREFIX masquerade [fully-random].
func natRules(c *nftables.Conn, spec *Spec, rt *Router) {
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "zoslab"})
	ch := c.AddChain(&nftables.Chain{
		Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	})
	for _, seg := range rt.NAT.Segments {
		p, err := netip.ParsePrefix(spec.segment(seg).IPv4)
		if err != nil {
			continue // validated: an inside segment without IPv4 has nothing to masquerade
		}
		ex := append(ifname(expr.MetaKeyOIFNAME, rt.NAT.Out), saddr4(p)...)
		ex = append(ex, &expr.Masq{FullyRandom: rt.NAT.Mode == NATFullyRandom})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: ex})
	}
}

// firewallRules: inet zoslab forward: ct state established,related accept; then drop
// what comes in from OUT, per family asked for.
func firewallRules(c *nftables.Conn, rt *Router) {
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "zoslab"})
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{
		Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}})
	for _, f := range []struct {
		on    bool
		proto byte
	}{{rt.Firewall.Inbound4, unix.NFPROTO_IPV4}, {rt.Firewall.Inbound6, unix.NFPROTO_IPV6}} {
		if !f.on {
			continue
		}
		ex := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f.proto}},
		}
		ex = append(ex, ifname(expr.MetaKeyIIFNAME, rt.Firewall.Out)...)
		ex = append(ex, &expr.Verdict{Kind: expr.VerdictDrop})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: ex})
	}
}

func ifname(key expr.MetaKey, name string) []expr.Any {
	b := make([]byte, 16)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b},
	}
}

func saddr4(p netip.Prefix) []expr.Any {
	mask := ipNet(p).Mask
	a := p.Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}
