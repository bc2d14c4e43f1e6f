package nft

import (
	"bytes"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/zosnet/zosnet/internal/netns"
)

// Table is one nftables table as data: what Apply makes the kernel hold.
type Table struct {
	// Family is the table's family (inet, ip, bridge, ...).
	Family nftables.TableFamily
	// Name is the table's name; zosnet's own tables are named zosnet-*.
	Name string
	// Sets are the table's named sets, created before its chains.
	Sets []*Set
	// PortSets are the table's named (address, protocol, port) sets, after Sets.
	PortSets []*PortSet
	// Chains are the table's chains, in order.
	Chains []*Chain
}

// Chain is a base chain (Hook set) or a regular one (Hook nil) and its rules.
type Chain struct {
	// Name is the chain's name.
	Name string
	// Type is filter, nat or route (base chains).
	Type nftables.ChainType
	// Hook is where the chain is attached; nil for a regular chain.
	Hook *nftables.ChainHook
	// Priority orders base chains on the same hook.
	Priority *nftables.ChainPriority
	// Policy is the verdict of a base chain for packets no rule decided (zero: accept).
	Policy nftables.ChainPolicy
	// Rules are the chain's rules, in order.
	Rules []Rule
}

// Rule is one rule.
type Rule struct {
	// Exprs are the rule's expressions, fragments in a row (see Chain.Add).
	Exprs []expr.Any
	// UserData is opaque to the kernel and not rendered; Current compares it, so a
	// version tag there tells whether a table is up to date.
	UserData []byte
}

// NewTable returns an empty table.
func NewTable(fam nftables.TableFamily, name string) *Table {
	return &Table{Family: fam, Name: name}
}

// Filter adds a filter base chain on hook (priority filter) and returns it.
func (t *Table) Filter(name string, hook *nftables.ChainHook, policy nftables.ChainPolicy) *Chain {
	return t.add(&Chain{Name: name, Type: nftables.ChainTypeFilter, Hook: hook,
		Priority: nftables.ChainPriorityFilter, Policy: policy})
}

// SNAT adds a nat base chain on postrouting (priority srcnat, policy accept) and
// returns it.
func (t *Table) SNAT(name string) *Chain {
	return t.add(&Chain{Name: name, Type: nftables.ChainTypeNAT, Hook: nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource, Policy: nftables.ChainPolicyAccept})
}

func (t *Table) add(c *Chain) *Chain {
	t.Chains = append(t.Chains, c)
	return c
}

// Add appends a rule made of fragments in a row.
func (c *Chain) Add(fragments ...[]expr.Any) {
	c.Rules = append(c.Rules, Rule{Exprs: Join(fragments...)})
}

// Join concatenates fragments into one expression list.
func Join(fragments ...[]expr.Any) []expr.Any {
	var all []expr.Any
	for _, f := range fragments {
		all = append(all, f...)
	}
	return all
}

// Apply makes ns hold exactly tables ts (other tables are not touched), all in one
// netlink batch that the kernel commits atomically. A table that exists is replaced
// whole (added, deleted, added again and filled); one that does not is created
// exclusively and filled, which spares the RCU grace period a delete costs (~10 ms).
// When that batch fails (say another applier created the table meanwhile), it is
// retried once replacing every table. Re-running Apply is idempotent.
func Apply(ns *netns.NS, ts ...*Table) error {
	have, err := existing(ns)
	if err != nil {
		return err
	}
	return apply(ns, ts, have)
}

// apply is Apply with the tables ns was seen to hold (have).
func apply(ns *netns.NS, ts []*Table, have map[string]bool) error {
	fresh := false
	for _, t := range ts {
		fresh = fresh || !have[key(t.Family, t.Name)]
	}
	err := flush(ns, ts, have)
	if err != nil && fresh {
		err = flush(ns, ts, nil)
	}
	if err != nil {
		return fmt.Errorf("nftables table %s in %s: %w", names(ts), ns.Path(), err)
	}
	return nil
}

func key(fam nftables.TableFamily, name string) string { return fmt.Sprint(fam, "/", name) }

// existing returns the tables ns holds, by key.
func existing(ns *netns.NS) (map[string]bool, error) {
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: %w", ns.Path(), err)
	}
	defer c.CloseLasting()
	ts, err := c.ListTables()
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: list tables: %w", ns.Path(), err)
	}
	have := map[string]bool{}
	for _, t := range ts {
		have[key(t.Family, t.Name)] = true
	}
	return have, nil
}

// flush queues ts in one batch, replacing the tables have holds (nil: all) and
// creating the others exclusively, and commits it.
func flush(ns *netns.NS, ts []*Table, have map[string]bool) error {
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	for _, t := range ts {
		queue(c, t, have == nil || have[key(t.Family, t.Name)])
	}
	return c.Flush()
}

func queue(c *nftables.Conn, t *Table, replace bool) {
	nt := &nftables.Table{Name: t.Name, Family: t.Family}
	if replace {
		c.AddTable(nt)
		c.DelTable(nt)
		c.AddTable(nt)
	} else {
		c.CreateTable(nt)
	}
	sets := map[string]*nftables.Set{}
	for _, s := range t.Sets {
		ks := s.kernel(nt)
		// AddSet fails only for anonymous sets without the constant flag: never here.
		_ = c.AddSet(ks, elements(s.Elements))
		sets[s.Name] = ks
	}
	for _, s := range t.PortSets {
		sets[s.Name] = queuePortSet(c, nt, s)
	}
	chains := make([]*nftables.Chain, len(t.Chains))
	for i, ch := range t.Chains { // all chains first: rules may jump to a later one
		chains[i] = &nftables.Chain{Name: ch.Name, Table: nt, Type: ch.Type, Hooknum: ch.Hook, Priority: ch.Priority}
		if ch.Hook != nil {
			pol := ch.Policy
			chains[i].Policy = &pol
		}
		c.AddChain(chains[i])
	}
	for i, ch := range t.Chains {
		for _, r := range ch.Rules {
			c.AddRule(&nftables.Rule{Table: nt, Chain: chains[i], Exprs: withSetIDs(r.Exprs, sets), UserData: r.UserData})
		}
	}
}

// withSetIDs returns es with every lookup of a set created in the same batch carrying
// that set's transaction id (a copy: the table's data is not changed).
func withSetIDs(es []expr.Any, sets map[string]*nftables.Set) []expr.Any {
	out := es
	copied := false
	for i, e := range es {
		var cp expr.Any
		switch l := e.(type) {
		case *expr.Lookup:
			if s := sets[l.SetName]; s != nil {
				c := *l
				c.SetID, cp = s.ID, &c
			}
		case *expr.Dynset:
			if s := sets[l.SetName]; s != nil {
				c := *l
				c.SetID, cp = s.ID, &c
			}
		}
		if cp == nil {
			continue
		}
		if !copied {
			out, copied = append([]expr.Any(nil), es...), true
		}
		out[i] = cp
	}
	return out
}

func names(ts []*Table) string {
	var b bytes.Buffer
	for i, t := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", Family(t.Family), t.Name)
	}
	return b.String()
}

// Remove deletes table name of family fam in ns; a missing table is success.
func Remove(ns *netns.NS, fam nftables.TableFamily, name string) error {
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", ns.Path(), err)
	}
	defer c.CloseLasting()
	t := &nftables.Table{Name: name, Family: fam}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("remove nftables table %s %s in %s: %w", Family(fam), name, ns.Path(), err)
	}
	return nil
}

// Current reports whether ns holds t as Apply made it, judged cheaply: the same chains
// (names and policies), the same number of rules in each, and the same user data on
// every rule. Rebuilding a table costs an RCU grace period (~13 ms), so callers that
// re-apply often tag a rule with a version of what they build and skip Apply when
// Current. Any error reading the kernel's table counts as not current.
func Current(ns *netns.NS, t *Table) bool {
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		return false
	}
	defer c.CloseLasting()
	chains, err := c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return false
	}
	n := 0
	for _, ch := range chains {
		if ch.Table.Name == t.Name {
			n++
		}
	}
	if n != len(t.Chains) {
		return false
	}
	nt := &nftables.Table{Name: t.Name, Family: t.Family}
	for _, want := range t.Chains {
		if !chainCurrent(c, nt, chains, want) {
			return false
		}
	}
	return true
}

func chainCurrent(c *nftables.Conn, nt *nftables.Table, have []*nftables.Chain, want *Chain) bool {
	found := false
	for _, ch := range have {
		if ch.Table.Name == nt.Name && ch.Name == want.Name {
			found = want.Hook == nil || (ch.Policy != nil && *ch.Policy == want.Policy)
		}
	}
	if !found {
		return false
	}
	rules, err := c.GetRules(nt, &nftables.Chain{Name: want.Name, Table: nt})
	if err != nil || len(rules) != len(want.Rules) {
		return false
	}
	for i, r := range rules {
		if !bytes.Equal(r.UserData, want.Rules[i].UserData) {
			return false
		}
	}
	return true
}
