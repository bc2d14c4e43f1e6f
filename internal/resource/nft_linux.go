package resource

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/zosnet/zosnet/internal/netns"
)

// NFTTable is the nftables table (family inet) every NR namespace owns.
const NFTTable = "zosnet-nr"

// ensureNFT rebuilds the NR's table in one batch (add, delete, add again, fill), so
// the swap is atomic and re-running it is idempotent. Forwarding policy: workloads on
// the bridge may go anywhere; from the tunnel only to the bridge or back into the
// tunnel (relaying between peers); replies always.
func ensureNFT(ns *netns.NS, n Names) error {
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", n.NS, err)
	}
	defer c.CloseLasting()
	t := &nftables.Table{Name: NFTTable, Family: nftables.TableFamilyINet}
	tag := []byte("zosnet-nr/v2/" + n.Bridge + "/" + n.WG)
	if nftCurrent(c, t, tag) {
		return nil // rebuilding costs an RCU grace period (~13 ms): only when needed
	}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	drop := nftables.ChainPolicyDrop
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: ctEstablished()})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: ifAccept(n.Bridge, "")})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: ifAccept(n.WG, n.Bridge)})
	// Relay: a public node forwards between peers (hidden nodes reach each other, and
	// the rest of the network, through it).
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: ifAccept(n.WG, n.WG), UserData: tag})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s in %s: %w", NFTTable, n.NS, err)
	}
	return nil
}

// nftCurrent reports whether the table holds exactly our forward chain: the drop
// policy, four rules, the last one tagged with this ruleset's version and names.
func nftCurrent(c *nftables.Conn, t *nftables.Table, tag []byte) bool {
	chains, err := c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return false
	}
	n := 0
	for _, ch := range chains {
		if ch.Table.Name != t.Name {
			continue
		}
		n++
		if ch.Name != "forward" || ch.Policy == nil || *ch.Policy != nftables.ChainPolicyDrop {
			return false
		}
	}
	if n != 1 {
		return false
	}
	rules, err := c.GetRules(t, &nftables.Chain{Name: "forward", Table: t})
	return err == nil && len(rules) == 4 && string(rules[3].UserData) == string(tag)
}

func ctEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// ifAccept accepts packets coming in on iif and, when oif is set, going out on oif.
func ifAccept(iif, oif string) []expr.Any {
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(iif)},
	}
	if oif != "" {
		e = append(e, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(oif)})
	}
	return append(e, &expr.Verdict{Kind: expr.VerdictAccept})
}

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}
