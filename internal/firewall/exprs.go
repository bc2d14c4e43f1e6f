package firewall

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Expression fragments; a rule is the concatenation of fragments and a verdict.

var (
	accept = []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	drop   = []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	masq   = []expr.Any{&expr.Masq{}}
)

func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

// established matches replies (ct state established,related).
func established() []expr.Any {
	return ctState(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED)
}

func invalid() []expr.Any { return ctState(expr.CtStateBitINVALID) }

func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	b := make([]byte, 16)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: b}}
}

func iif(name string) []expr.Any    { return ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, name) }
func oif(name string) []expr.Any    { return ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, name) }
func notOif(name string) []expr.Any { return ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, name) }

// ifPrefix matches interface names starting with p (nft's `iifname "p*"`).
func ifPrefix(key expr.MetaKey, p string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(p)}}
}

func l4(proto byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}}}
}

func dport(proto byte, port uint16) []expr.Any {
	return append(l4(proto),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)})
}

// icmp6Type matches an ICMPv6 message type.
func icmp6Type(typ byte) []expr.Any {
	return append(l4(unix.IPPROTO_ICMPV6),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{typ}})
}

// ndTypes are what IPv6 needs to work: router solicitation/advertisement, neighbour
// solicitation/advertisement, MLDv2 reports.
var ndTypes = []byte{133, 134, 135, 136, 143}

func nfproto(fam byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}}}
}

// saddrIn matches an IPv4 or IPv6 source inside p (inet/ip tables: network header).
func saddrIn(p netip.Prefix) []expr.Any {
	off, fam := uint32(12), byte(unix.NFPROTO_IPV4)
	if p.Addr().Is6() {
		off, fam = 8, unix.NFPROTO_IPV6
	}
	return append(nfproto(fam), prefixCmp(expr.PayloadBaseNetworkHeader, off, p, expr.CmpOpEq)...)
}

// prefixCmp loads the address at off and compares its first p.Bits() bits with p.
func prefixCmp(base expr.PayloadBase, off uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	n := uint32(p.Addr().BitLen() / 8)
	mask := make([]byte, n)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: base, Offset: off, Len: n},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)},
		&expr.Cmp{Op: op, Register: 1, Data: p.Masked().Addr().AsSlice()},
	}
}

// etherType matches the link layer protocol (bridge family).
func etherType(t uint16) []expr.Any {
	b := make([]byte, 2)
	binary.BigEndian.PutUint16(b, t)
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b}}
}
