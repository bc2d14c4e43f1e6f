package nft

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// PortSet is a named set of a table whose keys are (IPv4 address, layer-4 protocol,
// port) triples: `type ipv4_addr . inet_proto . inet_service`. Rules match it with
// InetDAddrProtoDPortIn.
type PortSet struct {
	// Name is the set's name in its table.
	Name string
	// Elems are the set's elements (order does not matter; Render sorts them).
	Elems []AddrProtoPort
}

// AddrProtoPort is one element of a PortSet.
type AddrProtoPort struct {
	Addr  netip.Addr // IPv4
	Proto byte       // unix.IPPROTO_TCP or unix.IPPROTO_UDP
	Port  uint16
}

func (e AddrProtoPort) compare(o AddrProtoPort) int {
	return cmp.Or(e.Addr.Compare(o.Addr), cmp.Compare(e.Proto, o.Proto), cmp.Compare(e.Port, o.Port))
}

// key is the element's key as the kernel stores a concatenation: each field in its own
// 4-byte register (the protocol and the port padded with zeros).
func (e AddrProtoPort) key() []byte {
	k := make([]byte, 12)
	a := e.Addr.As4()
	copy(k, a[:])
	k[4] = e.Proto
	binary.BigEndian.PutUint16(k[8:], e.Port)
	return k
}

// AddPortSet adds a port set to the table and returns it.
func (t *Table) AddPortSet(name string, elems []AddrProtoPort) *PortSet {
	s := &PortSet{Name: name, Elems: elems}
	t.PortSets = append(t.PortSets, s)
	return s
}

var addrProtoPortType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)

// queuePortSet adds s to nt in the batch and returns the kernel set (its ID ties the
// rules' lookups to it within the batch). Elements that are not IPv4 are left out
// (callers build them from parsed IPv4 addresses).
func queuePortSet(c *nftables.Conn, nt *nftables.Table, s *PortSet) *nftables.Set {
	ks := &nftables.Set{Table: nt, Name: s.Name, KeyType: addrProtoPortType, Concatenation: true}
	elems := make([]nftables.SetElement, 0, len(s.Elems))
	for _, e := range s.Elems {
		if e.Addr.Is4() {
			elems = append(elems, nftables.SetElement{Key: e.key()})
		}
	}
	// AddSet fails only for anonymous sets without the constant flag: never here.
	_ = c.AddSet(ks, elems)
	return ks
}

// InetDAddrProtoDPortIn matches, in an inet table, IPv4 packets whose destination
// address, layer-4 protocol and destination port are an element of set name:
// `ip daddr . meta l4proto . th dport @name`.
func InetDAddrProtoDPortIn(name string) []expr.Any {
	return append(NFProto(unix.NFPROTO_IPV4),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
		&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: name},
	)
}

// renderPortSet prints a port set as nft lists it: elements sorted (the kernel lists
// a hash set in its own order; root tests sort its listing with SortSetElements).
func renderPortSet(b *strings.Builder, s *PortSet) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype ipv4_addr . inet_proto . inet_service\n", s.Name)
	if len(s.Elems) > 0 {
		es := slices.Clone(s.Elems)
		slices.SortFunc(es, AddrProtoPort.compare)
		es = slices.CompactFunc(es, func(a, b AddrProtoPort) bool { return a.compare(b) == 0 })
		parts := make([]string, len(es))
		for i, e := range es {
			parts[i] = fmt.Sprintf("%s . %s . %d", e.Addr, l4Name([]byte{e.Proto}), e.Port)
		}
		fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(parts, ",\n\t\t\t     "))
	}
	b.WriteString("\t}\n")
}

// SortSetElements sorts the elements of every port set (concatenated keys) in an `nft
// list` text, so that the kernel's listing (hash order) compares with Render's (sorted).
// Other sets are left as they are (the kernel lists interval sets sorted).
func SortSetElements(text string) string {
	lines := strings.Split(text, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(strings.TrimSpace(l), "elements = {") {
			out = append(out, l)
			continue
		}
		start := i
		indent := l[:strings.Index(l, "elements")]
		body := strings.TrimPrefix(strings.TrimSpace(l), "elements = { ")
		for !strings.HasSuffix(body, "}") && i+1 < len(lines) {
			i++
			body += " " + strings.TrimSpace(lines[i])
		}
		items := strings.Split(strings.TrimSuffix(strings.TrimSpace(body), " }"), ", ")
		for j := range items {
			items[j] = strings.TrimSuffix(strings.TrimSpace(items[j]), ",")
		}
		if !strings.Contains(items[0], " . ") {
			out = append(out, lines[start:i+1]...)
			continue
		}
		slices.SortFunc(items, compareElemText)
		out = append(out, indent+"elements = { "+strings.Join(items, ",\n"+indent+"\t     ")+" }")
	}
	return strings.Join(out, "\n")
}

// compareElemText orders "ADDR . PROTO . PORT" texts like AddrProtoPort.compare.
func compareElemText(a, b string) int {
	pa, pb := strings.Split(a, " . "), strings.Split(b, " . ")
	if len(pa) != 3 || len(pb) != 3 {
		return strings.Compare(a, b)
	}
	aa, err1 := netip.ParseAddr(pa[0])
	ab, err2 := netip.ParseAddr(pb[0])
	if err1 != nil || err2 != nil {
		return strings.Compare(a, b)
	}
	var na, nb int
	fmt.Sscan(pa[2], &na)
	fmt.Sscan(pb[2], &nb)
	return cmp.Or(aa.Compare(ab), cmp.Compare(protoNum(pa[1]), protoNum(pb[1])), cmp.Compare(na, nb))
}

func protoNum(s string) int {
	return map[string]int{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}[s]
}

// concatLookup renders InetDAddrProtoDPortIn's expressions (after the nfproto
// dependency); false when the rule is not at such a lookup.
func (r *ruleText) concatLookup() bool {
	p1, ok1 := r.peek(0).(*expr.Payload)
	m, ok2 := r.peek(1).(*expr.Meta)
	p2, ok3 := r.peek(2).(*expr.Payload)
	l, ok4 := r.peek(3).(*expr.Lookup)
	if !ok1 || !ok2 || !ok3 || !ok4 || p1.Base != expr.PayloadBaseNetworkHeader || p1.Offset != 16 || p1.Len != 4 ||
		m.Key != expr.MetaKeyL4PROTO || p2.Base != expr.PayloadBaseTransportHeader || p2.Offset != 2 || p2.Len != 2 {
		return false
	}
	not := ""
	if l.Invert {
		not = "!= "
	}
	r.emit(fmt.Sprintf("ip daddr . meta l4proto . th dport %s@%s", not, l.SetName), 4)
	return true
}
