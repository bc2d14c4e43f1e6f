package nft

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// A fragment is a slice of expressions matching one thing (`iifname "lo"`, `udp dport
// 68`) or acting (a verdict, masquerade); a rule is fragments in a row (Chain.Add).
// Each call returns new expressions, so fragments may be kept and reused.

// Accept is the verdict accept.
func Accept() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}} }

// Drop is the verdict drop.
func Drop() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}} }

// Masquerade is source NAT to the outgoing link's address; fullyRandom also picks a new
// source port per destination (a "hard", endpoint-dependent NAT).
func Masquerade(fullyRandom bool) []expr.Any {
	return []expr.Any{&expr.Masq{FullyRandom: fullyRandom}}
}

// CtState matches packets whose conntrack state has any of bits (expr.CtStateBit*).
func CtState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

// Established matches replies: ct state established,related.
func Established() []expr.Any {
	return CtState(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED)
}

// Invalid matches ct state invalid.
func Invalid() []expr.Any { return CtState(expr.CtStateBitINVALID) }

func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	b := make([]byte, 16)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: b}}
}

// IIF matches the input interface name (iifname "name").
func IIF(name string) []expr.Any { return ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, name) }

// OIF matches the output interface name (oifname "name").
func OIF(name string) []expr.Any { return ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, name) }

// NotOIF matches any output interface but name (oifname != "name").
func NotOIF(name string) []expr.Any { return ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, name) }

// IIFPrefix matches input interface names starting with p (iifname "p*").
func IIFPrefix(p string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(p)}}
}

// L4Proto matches the transport protocol (unix.IPPROTO_*), in any family.
func L4Proto(proto byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}}}
}

// DPort matches a destination port of proto (udp dport 68).
func DPort(proto byte, port uint16) []expr.Any {
	return append(L4Proto(proto),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)})
}

// ICMPv6Type matches an ICMPv6 message type.
func ICMPv6Type(typ byte) []expr.Any {
	return append(L4Proto(unix.IPPROTO_ICMPV6),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{typ}})
}

// NFProto matches the network family in an inet table (unix.NFPROTO_IPV4 or _IPV6).
func NFProto(fam byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}}}
}

// SAddr matches an IPv4 or IPv6 source inside p in a table of p's own family (ip or
// ip6), where the network header is known.
func SAddr(p netip.Prefix) []expr.Any {
	off := uint32(12)
	if p.Addr().Is6() {
		off = 8
	}
	return PrefixCmp(expr.PayloadBaseNetworkHeader, off, p, expr.CmpOpEq)
}

// InetSAddr matches an IPv4 or IPv6 source inside p in an inet table (the family is
// checked first).
func InetSAddr(p netip.Prefix) []expr.Any {
	fam := byte(unix.NFPROTO_IPV4)
	if p.Addr().Is6() {
		fam = unix.NFPROTO_IPV6
	}
	return append(NFProto(fam), SAddr(p)...)
}

// PrefixCmp loads the address at off of base and compares its first p.Bits() bits with
// p's (op CmpOpEq or CmpOpNeq).
func PrefixCmp(base expr.PayloadBase, off uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
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

// Protocol matches the link layer protocol, an EtherType (bridge tables: meta protocol).
func Protocol(ethertype uint16) []expr.Any {
	b := make([]byte, 2)
	binary.BigEndian.PutUint16(b, ethertype)
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b}}
}

// EtherSAddr compares the Ethernet source address with mac (bridge tables).
func EtherSAddr(op expr.CmpOp, mac net.HardwareAddr) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		&expr.Cmp{Op: op, Register: 1, Data: []byte(mac)},
	}
}
