package nft

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Render returns tables as `nft list ruleset` (nftables 1.0) prints them: a reader can
// diff it with the kernel's listing. The fragments of this package render exactly as nft
// prints them (the root test of this package checks it); an expression outside them is
// shown as <Type> so a golden diff still shows that something changed.
func Render(ts ...*Table) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "table %s %s {\n", Family(t.Family), t.Name)
		for i, s := range t.Sets {
			if i > 0 {
				b.WriteString("\n")
			}
			renderSet(&b, s)
		}
		for i, s := range t.PortSets {
			if i > 0 || len(t.Sets) > 0 {
				b.WriteString("\n")
			}
			renderPortSet(&b, s)
		}
		for i, c := range t.Chains {
			if i > 0 || len(t.Sets)+len(t.PortSets) > 0 {
				b.WriteString("\n")
			}
			renderChain(&b, t.Family, c)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func renderChain(b *strings.Builder, fam nftables.TableFamily, c *Chain) {
	fmt.Fprintf(b, "\tchain %s {\n", c.Name)
	if c.Hook != nil {
		pol := "accept"
		if c.Policy == nftables.ChainPolicyDrop {
			pol = "drop"
		}
		fmt.Fprintf(b, "\t\ttype %s hook %s priority %s; policy %s;\n", c.Type, hookName(*c.Hook), prioName(fam, c.Priority), pol)
	}
	for _, r := range c.Rules {
		fmt.Fprintf(b, "\t\t%s\n", RenderRule(fam, r.Exprs))
	}
	b.WriteString("\t}\n")
}

// Family returns nft's name of a table family.
func Family(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprintf("family-%d", f)
}

func hookName(h nftables.ChainHook) string {
	names := map[nftables.ChainHook]string{
		*nftables.ChainHookPrerouting: "prerouting", *nftables.ChainHookInput: "input",
		*nftables.ChainHookForward: "forward", *nftables.ChainHookOutput: "output",
		*nftables.ChainHookPostrouting: "postrouting",
	}
	if n, ok := names[h]; ok {
		return n
	}
	return fmt.Sprint(uint32(h))
}

// prioName is nft's name of a standard priority (exact values only), else the number.
func prioName(fam nftables.TableFamily, p *nftables.ChainPriority) string {
	if p == nil {
		return "0"
	}
	names := map[nftables.ChainPriority]string{-300: "raw", -150: "mangle", -100: "dstnat", 0: "filter", 50: "security", 100: "srcnat"}
	if fam == nftables.TableFamilyBridge {
		names = map[nftables.ChainPriority]string{-300: "dstnat", -200: "filter", 100: "out", 300: "srcnat"}
	}
	if n, ok := names[*p]; ok {
		return n
	}
	return fmt.Sprint(int32(*p))
}

// RenderRule returns one rule's expressions as nft prints them in a table of family
// fam, without the dependencies nft leaves out (the meta l4proto before a port match,
// the meta nfproto or protocol before an address match).
func RenderRule(fam nftables.TableFamily, es []expr.Any) string {
	r := &ruleText{fam: fam, es: es}
	for r.i < len(r.es) {
		r.step()
	}
	return strings.Join(r.out, " ")
}

// ruleText walks a rule's expressions, keeping the protocol context dependencies set.
type ruleText struct {
	fam nftables.TableFamily
	es  []expr.Any
	i   int
	out []string
	net string // network protocol known from a dependency: ip, ip6, arp
	l4  byte   // transport protocol known from a dependency (0: none)
}

func (r *ruleText) peek(k int) expr.Any {
	if r.i+k < len(r.es) {
		return r.es[r.i+k]
	}
	return nil
}

func (r *ruleText) emit(s string, n int) {
	r.out = append(r.out, s)
	r.i += n
}

func (r *ruleText) step() {
	switch e := r.es[r.i].(type) {
	case *expr.Meta:
		r.meta(e)
	case *expr.Ct:
		r.ct(e)
	case *expr.Payload:
		if !r.concatLookup() {
			r.payload(e)
		}
	case *expr.Masq:
		s := "masquerade"
		for _, f := range []struct {
			on   bool
			name string
		}{{e.Random, "random"}, {e.FullyRandom, "fully-random"}, {e.Persistent, "persistent"}} {
			if f.on {
				s += " " + f.name
			}
		}
		r.emit(s, 1)
	case *expr.Immediate:
		if n, ok := r.peek(1).(*expr.NAT); ok {
			a, _ := netip.AddrFromSlice(e.Data)
			r.emit(fmt.Sprintf("%s to %s", map[expr.NATType]string{expr.NATTypeDestNAT: "dnat", expr.NATTypeSourceNAT: "snat"}[n.Type], a), 2)
			return
		}
		r.emit("<immediate>", 1)
	case *expr.Verdict:
		r.emit(verdict(e), 1)
	case *expr.Reject:
		r.emit(rejectText(e), 1)
	case *expr.Counter:
		r.emit(fmt.Sprintf("counter packets %d bytes %d", e.Packets, e.Bytes), 1)
	default:
		r.emit(fmt.Sprintf("<%T>", e), 1)
	}
}

func verdict(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictContinue:
		return "continue"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	}
	return fmt.Sprintf("<verdict %d>", v.Kind)
}

func opText(op expr.CmpOp) string {
	switch op {
	case expr.CmpOpEq:
		return ""
	case expr.CmpOpNeq:
		return "!= "
	case expr.CmpOpLt:
		return "< "
	case expr.CmpOpLte:
		return "<= "
	case expr.CmpOpGt:
		return "> "
	}
	return ">= "
}

func (r *ruleText) meta(m *expr.Meta) {
	c, ok := r.peek(1).(*expr.Cmp)
	if !ok {
		r.emit(fmt.Sprintf("<meta %d>", m.Key), 1)
		return
	}
	_, payloadNext := r.peek(2).(*expr.Payload)
	switch m.Key {
	case expr.MetaKeyIIFNAME, expr.MetaKeyOIFNAME:
		key := map[expr.MetaKey]string{expr.MetaKeyIIFNAME: "iifname", expr.MetaKeyOIFNAME: "oifname"}[m.Key]
		r.emit(fmt.Sprintf("%s %s%q", key, opText(c.Op), ifText(c.Data)), 2)
	case expr.MetaKeyL4PROTO:
		if len(c.Data) == 1 && c.Op == expr.CmpOpEq && payloadNext {
			r.l4, r.i = c.Data[0], r.i+2
			return
		}
		r.emit(fmt.Sprintf("meta l4proto %s%s", opText(c.Op), l4Name(c.Data)), 2)
	case expr.MetaKeyNFPROTO:
		name := nfprotoName(c.Data)
		if c.Op == expr.CmpOpEq && payloadNext {
			r.net, r.i = map[string]string{"ipv4": "ip", "ipv6": "ip6"}[name], r.i+2
			return
		}
		r.emit(fmt.Sprintf("meta nfproto %s%s", opText(c.Op), name), 2)
	case expr.MetaKeyPROTOCOL:
		name := etherName(c.Data)
		if c.Op == expr.CmpOpEq && payloadNext {
			r.net, r.i = name, r.i+2
			return
		}
		r.emit(fmt.Sprintf("meta protocol %s%s", opText(c.Op), name), 2)
	default:
		r.emit(fmt.Sprintf("<meta %d>", m.Key), 2)
	}
}

// ifText is an interface name compared by a cmp: the whole 16 bytes (NUL padded) for
// an exact name, fewer without NUL for a prefix (printed with nft's trailing *).
func ifText(d []byte) string {
	if i := strings.IndexByte(string(d), 0); i >= 0 {
		return string(d[:i])
	}
	return string(d) + "*"
}

func l4Name(d []byte) string {
	names := map[byte]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp", unix.IPPROTO_ICMP: "icmp", unix.IPPROTO_ICMPV6: "ipv6-icmp"}
	if len(d) == 1 {
		if n, ok := names[d[0]]; ok {
			return n
		}
		return fmt.Sprint(d[0])
	}
	return fmt.Sprintf("%x", d)
}

func nfprotoName(d []byte) string {
	if len(d) == 1 {
		if n, ok := map[byte]string{unix.NFPROTO_IPV4: "ipv4", unix.NFPROTO_IPV6: "ipv6"}[d[0]]; ok {
			return n
		}
	}
	return fmt.Sprintf("%x", d)
}

func etherName(d []byte) string {
	if len(d) != 2 {
		return fmt.Sprintf("%x", d)
	}
	t := binary.BigEndian.Uint16(d)
	if n, ok := map[uint16]string{unix.ETH_P_IP: "ip", unix.ETH_P_IPV6: "ip6", unix.ETH_P_ARP: "arp"}[t]; ok {
		return n
	}
	return fmt.Sprintf("0x%04x", t)
}

func (r *ruleText) ct(c *expr.Ct) {
	bw, ok1 := r.peek(1).(*expr.Bitwise)
	cmp, ok2 := r.peek(2).(*expr.Cmp)
	if c.Key != expr.CtKeySTATE || !ok1 || !ok2 || len(bw.Mask) != 4 || cmp.Op != expr.CmpOpNeq {
		r.emit(fmt.Sprintf("<ct %d>", c.Key), 1)
		return
	}
	mask := binary.NativeEndian.Uint32(bw.Mask)
	var names []string
	for _, s := range []struct {
		bit  uint32
		name string
	}{{expr.CtStateBitINVALID, "invalid"}, {expr.CtStateBitESTABLISHED, "established"},
		{expr.CtStateBitRELATED, "related"}, {expr.CtStateBitNEW, "new"}, {expr.CtStateBitUNTRACKED, "untracked"}} {
		if mask&s.bit != 0 {
			names = append(names, s.name)
		}
	}
	r.emit("ct state "+strings.Join(names, ","), 3)
}

// payload renders a payload load, an optional mask and the comparison.
func (r *ruleText) payload(p *expr.Payload) {
	n := 2
	var mask []byte
	if bw, ok := r.peek(1).(*expr.Bitwise); ok {
		mask, n = bw.Mask, 3
	}
	if d, ok := r.peek(1).(*expr.Dynset); ok && n == 2 {
		field, _ := r.field(p, make([]byte, p.Len), nil)
		r.emit(fmt.Sprintf("update @%s { %s }", d.SetName, field), 2)
		return
	}
	if l, ok := r.peek(1).(*expr.Lookup); ok && n == 2 {
		field, _ := r.field(p, make([]byte, p.Len), nil)
		neg := ""
		if l.Invert {
			neg = "!= "
		}
		r.emit(fmt.Sprintf("%s %s@%s", field, neg, l.SetName), 2)
		return
	}
	c, ok := r.peek(n - 1).(*expr.Cmp)
	if !ok {
		r.emit(fmt.Sprintf("<payload %d+%d>", p.Offset, p.Len), 1)
		return
	}
	field, value := r.field(p, c.Data, mask)
	r.emit(fmt.Sprintf("%s %s%s", field, opText(c.Op), value), n)
}

func (r *ruleText) field(p *expr.Payload, data, mask []byte) (string, string) {
	at := fmt.Sprintf("%d/%d", p.Offset, p.Len)
	switch p.Base {
	case expr.PayloadBaseLLHeader:
		f := map[string]string{"6/6": "ether saddr", "0/6": "ether daddr"}[at]
		return orRaw(f, p), net.HardwareAddr(data).String()
	case expr.PayloadBaseNetworkHeader:
		proto := r.net
		if proto == "" {
			proto = map[nftables.TableFamily]string{nftables.TableFamilyIPv4: "ip", nftables.TableFamilyIPv6: "ip6"}[r.fam]
		}
		f := map[string]string{"ip 12/4": "ip saddr", "ip 16/4": "ip daddr", "ip6 8/16": "ip6 saddr",
			"ip6 24/16": "ip6 daddr", "arp 14/4": "arp saddr ip", "arp 24/4": "arp daddr ip"}[proto+" "+at]
		return orRaw(f, p), addrText(data, mask)
	case expr.PayloadBaseTransportHeader:
		return r.transport(at, p, data)
	}
	return orRaw("", p), fmt.Sprintf("0x%x", data)
}

func (r *ruleText) transport(at string, p *expr.Payload, data []byte) (string, string) {
	switch {
	case r.l4 == unix.IPPROTO_ICMPV6 && at == "0/1":
		return "icmpv6 type", icmp6Name(data[0])
	case at == "0/2" || at == "2/2":
		proto := map[byte]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp"}[r.l4]
		if proto == "" {
			proto = "th"
		}
		dir := map[string]string{"0/2": "sport", "2/2": "dport"}[at]
		return proto + " " + dir, fmt.Sprint(binary.BigEndian.Uint16(data))
	}
	return orRaw("", p), fmt.Sprintf("0x%x", data)
}

func orRaw(field string, p *expr.Payload) string {
	if field != "" {
		return field
	}
	return fmt.Sprintf("@%d,%d,%d", p.Base, p.Offset*8, p.Len*8)
}

// addrText prints an address, or a prefix when mask is not all ones.
func addrText(data, mask []byte) string {
	a, ok := netip.AddrFromSlice(data)
	if !ok {
		return fmt.Sprintf("0x%x", data)
	}
	ones := 0
	for _, m := range mask {
		ones += bits.OnesCount8(m)
	}
	if mask == nil || ones == a.BitLen() {
		return a.String()
	}
	return netip.PrefixFrom(a, ones).String()
}

func icmp6Name(t byte) string {
	names := map[byte]string{1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded",
		4: "parameter-problem", 128: "echo-request", 129: "echo-reply", 133: "nd-router-solicit",
		134: "nd-router-advert", 135: "nd-neighbor-solicit", 136: "nd-neighbor-advert", 143: "mld2-listener-report"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprint(t)
}
