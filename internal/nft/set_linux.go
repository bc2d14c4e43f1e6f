package nft

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
)

// Set is a named interval set of IPv4 or IPv6 addresses in a table, with its elements.
// Rules refer to it by name (DAddrIn); Apply creates it with the table, and
// ReplaceElements swaps its elements alone, atomically, without touching the rules.
type Set struct {
	// Name is the set's name in its table.
	Name string
	// IPv6 selects the key type: ipv6_addr, else ipv4_addr.
	IPv6 bool
	// Elements are sorted, disjoint, non-adjacent ranges of the set's family (Ranges);
	// none in a dynamic set.
	Elements []Range
	// Key is the element type (default addresses).
	Key SetKey
	// Timeout, when set, makes the set dynamic (flags dynamic,timeout): rules fill it
	// with Update, and an element lasts Timeout after its last update.
	Timeout time.Duration
}

// AddSet appends s to the table's sets and returns it.
func (t *Table) AddSet(s *Set) *Set {
	t.Sets = append(t.Sets, s)
	return s
}

// Regular adds a regular chain (no hook: reached by jump) and returns it.
func (t *Table) Regular(name string) *Chain { return t.add(&Chain{Name: name}) }

func (s *Set) kernel(t *nftables.Table) *nftables.Set {
	typ, _ := s.keyType()
	if s.dynamic() {
		return &nftables.Set{Table: t, Name: s.Name, KeyType: typ, Dynamic: true, HasTimeout: true, Timeout: s.Timeout}
	}
	return &nftables.Set{Table: t, Name: s.Name, KeyType: typ, Interval: true}
}

// elements encodes ranges as the kernel's interval set wants them: a start element,
// and an end element (flagged) at the address after the range, except at the top of
// the address space.
func elements(rs []Range) []nftables.SetElement {
	var out []nftables.SetElement
	for _, r := range rs {
		out = append(out, nftables.SetElement{Key: r.From.AsSlice()})
		if next := r.To.Next(); next.IsValid() {
			out = append(out, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
		}
	}
	return out
}

// DAddrIn matches a destination address in set name (ip daddr @name or ip6 daddr
// @name) in an inet table; the family is checked first.
func DAddrIn(name string, v6 bool) []expr.Any {
	fam, off, n := byte(unix.NFPROTO_IPV4), uint32(16), uint32(4)
	if v6 {
		fam, off, n = unix.NFPROTO_IPV6, 24, 16
	}
	return append(NFProto(fam),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: name})
}

// InetDAddr matches a destination inside p in an inet table (the family is checked
// first).
func InetDAddr(p netip.Prefix) []expr.Any {
	fam, off := byte(unix.NFPROTO_IPV4), uint32(16)
	if p.Addr().Is6() {
		fam, off = unix.NFPROTO_IPV6, 24
	}
	return append(NFProto(fam), PrefixCmp(expr.PayloadBaseNetworkHeader, off, p, expr.CmpOpEq)...)
}

// Counter counts packets and bytes, starting from the values given (a rebuilt table
// carries its counts over).
func Counter(packets, bytes uint64) []expr.Any {
	return []expr.Any{&expr.Counter{Packets: packets, Bytes: bytes}}
}

// RejectTCPReset answers a TCP packet with a reset (reject with tcp reset).
func RejectTCPReset() []expr.Any {
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}
}

// RejectProhibited answers with ICMP (v4 or v6) administratively prohibited (reject
// with icmpx admin-prohibited).
func RejectProhibited() []expr.Any {
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}}
}

// Jump is the verdict jump to chain.
func Jump(chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}
}

// Return is the verdict return (back to the calling chain).
func Return() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictReturn}} }

// renderSet prints a set as nft lists it: IPv4 elements two to a line, IPv6 one.
func renderSet(b *strings.Builder, s *Set) {
	_, typ := s.keyType()
	per := 2
	if s.IPv6 {
		per = 1
	}
	if s.dynamic() {
		fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\ttimeout %s\n\t}\n",
			s.Name, typ, durationText(s.Timeout))
		return
	}
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n", s.Name, typ)
	if len(s.Elements) > 0 {
		els := append([]Range(nil), s.Elements...) // the kernel lists them sorted
		sort.Slice(els, func(i, j int) bool { return els[i].From.Compare(els[j].From) < 0 })
		b.WriteString("\t\telements = { ")
		for i, r := range els {
			if i > 0 {
				b.WriteString(",")
				if i%per == 0 {
					b.WriteString("\n\t\t\t     ")
				} else {
					b.WriteString(" ")
				}
			}
			b.WriteString(r.String())
		}
		b.WriteString(" }\n")
	}
	b.WriteString("\t}\n")
}

func rejectText(r *expr.Reject) string {
	switch {
	case r.Type == unix.NFT_REJECT_TCP_RST:
		return "reject with tcp reset"
	case r.Type == unix.NFT_REJECT_ICMPX_UNREACH && r.Code == unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED:
		return "reject with icmpx admin-prohibited"
	case r.Type == unix.NFT_REJECT_ICMPX_UNREACH && r.Code == unix.NFT_REJECT_ICMPX_PORT_UNREACH:
		return "reject"
	}
	return fmt.Sprintf("<reject %d %d>", r.Type, r.Code)
}

// ReplaceElements makes set s of table t (which must exist, as Apply made it) hold
// exactly s.Elements: the set is flushed and refilled in one batch, which the kernel
// commits atomically (a packet sees the old elements or the new ones). The table's
// rules and counters are not touched.
func ReplaceElements(ns *netns.NS, t *Table, s *Set) error {
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", ns.Path(), err)
	}
	defer c.CloseLasting()
	ks := s.kernel(&nftables.Table{Name: t.Name, Family: t.Family})
	c.FlushSet(ks)
	if els := elements(s.Elements); len(els) > 0 {
		if err := c.SetAddElements(ks, els); err != nil {
			return fmt.Errorf("set %s of %s: %w", s.Name, t.Name, err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("set %s of %s %s in %s: %w", s.Name, Family(t.Family), t.Name, ns.Path(), err)
	}
	return nil
}

// Count is a rule counter's values.
type Count struct {
	// Packets counted.
	Packets uint64
	// Bytes counted.
	Bytes uint64
}

// Counters reads the counters of chain in table (fam, name) of ns, keyed by the input
// interface name each counting rule matches (rules `iifname "x" counter`); other
// rules are skipped. A missing table or chain gives an empty map and no error.
func Counters(ns *netns.NS, fam nftables.TableFamily, table, chain string) (map[string]Count, error) {
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: %w", ns.Path(), err)
	}
	defer c.CloseLasting()
	out := map[string]Count{}
	rules, err := c.GetRules(&nftables.Table{Name: table, Family: fam}, &nftables.Chain{Name: chain})
	if err != nil {
		if isNotExist(err) {
			return out, nil
		}
		return nil, fmt.Errorf("nftables in %s: read %s %s chain %s: %w", ns.Path(), Family(fam), table, chain, err)
	}
	for _, r := range rules {
		name, cnt, ok := counted(r.Exprs)
		if ok {
			out[name] = cnt
		}
	}
	return out, nil
}

func counted(es []expr.Any) (string, Count, bool) {
	var name string
	for i, e := range es {
		switch e := e.(type) {
		case *expr.Meta:
			if c, ok := at[*expr.Cmp](es, i+1); ok && e.Key == expr.MetaKeyIIFNAME {
				name = ifText(c.Data)
			}
		case *expr.Counter:
			return name, Count{Packets: e.Packets, Bytes: e.Bytes}, name != ""
		}
	}
	return "", Count{}, false
}

func at[T any](es []expr.Any, i int) (T, bool) {
	var zero T
	if i >= len(es) {
		return zero, false
	}
	v, ok := es[i].(T)
	return v, ok
}

func isNotExist(err error) bool {
	return strings.Contains(err.Error(), "no such file or directory") || strings.Contains(err.Error(), "ENOENT")
}
