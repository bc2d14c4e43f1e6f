// Package firewall holds the nftables tables networkd owns outside the network
// resources' own table: the host's input and forward policy, the ndmz namespace, the
// socket (`public`) namespace, the NR side of every uplink, and workload anti-spoofing.
//
// Each table has a fixed name (zosnet-*) and is rebuilt whole in one netlink batch
// (add, delete, add again, fill, commit): the kernel swaps it atomically, re-running an
// apply is idempotent, and nothing else's rules are ever touched. Remove deletes one
// of our tables and is a no-op when it does not exist. All functions take the namespace
// explicitly (nftables.WithNetNSFd) and are safe for concurrent use on different
// namespaces; concurrent applies of the same table end with one of them in place.
//
// Policy (the seed: "the Nodes themselves have nothing listening that points into the
// host OS, and are by themselves also firewalled"):
//   - host input: replies, loopback, IPv6 neighbour discovery and router advertisements,
//     DHCP client replies and the WireGuard ports (when the sockets live there). No echo,
//     nothing else, from any side (farm LAN, public segment, ndmz).
//   - host forward: only ndmz's egress (masqueraded out of the node's own address) and
//     replies; bridged frames of the workload bridges are not routed here.
//   - ndmz: accepts nothing new for itself; forwards new connections only from NR
//     uplinks to its egress links (never uplink to uplink: users cannot reach each
//     other), masquerading them.
//   - socket namespace: only the WireGuard ports, ND/RA and replies.
//   - NR uplink (inside n-<id>): nothing new comes in from ndmz; traffic leaving
//     through the uplink is masqueraded to the uplink address.
//   - anti-spoofing: a workload port may only send its own MAC, IPv4 and IPv6.
package firewall

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/zosnet/zosnet/internal/netns"
)

// Table names, one per role.
const (
	HostTable      = "zosnet-host"
	NDMZTable      = "zosnet-ndmz"
	SocketTable    = "zosnet-socket"
	UplinkTable    = "zosnet-uplink"
	AntiSpoofTable = "zosnet-antispoof"
)

// batch is one table being rebuilt.
type batch struct {
	c  *nftables.Conn
	t  *nftables.Table
	ns *netns.NS
}

func begin(ns *netns.NS, name string, fam nftables.TableFamily) (*batch, error) {
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: %w", ns.Path(), err)
	}
	t := &nftables.Table{Name: name, Family: fam}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	return &batch{c: c, t: t, ns: ns}, nil
}

// chain adds a base chain; policy nil means accept.
func (b *batch) chain(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority, drop bool) *nftables.Chain {
	pol := nftables.ChainPolicyAccept
	if drop {
		pol = nftables.ChainPolicyDrop
	}
	return b.c.AddChain(&nftables.Chain{Name: name, Table: b.t, Type: typ, Hooknum: hook, Priority: prio, Policy: &pol})
}

func (b *batch) filter(name string, hook *nftables.ChainHook, drop bool) *nftables.Chain {
	return b.chain(name, nftables.ChainTypeFilter, hook, nftables.ChainPriorityFilter, drop)
}

func (b *batch) rule(ch *nftables.Chain, parts ...[]expr.Any) {
	var all []expr.Any
	for _, p := range parts {
		all = append(all, p...)
	}
	b.c.AddRule(&nftables.Rule{Table: b.t, Chain: ch, Exprs: all})
}

func (b *batch) commit() error {
	defer b.c.CloseLasting()
	if err := b.c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s in %s: %w", b.t.Name, b.ns.Path(), err)
	}
	return nil
}

// Remove deletes our table name (family inet, or bridge for AntiSpoofTable) in ns.
// A missing table is success.
func Remove(ns *netns.NS, name string) error {
	fam := nftables.TableFamilyINet
	if name == AntiSpoofTable {
		fam = nftables.TableFamilyBridge
	}
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", ns.Path(), err)
	}
	defer c.CloseLasting()
	t := &nftables.Table{Name: name, Family: fam}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("remove nftables table %s in %s: %w", name, ns.Path(), err)
	}
	return nil
}
