package nft

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// DNATChain adds a nat base chain on prerouting (priority dstnat, policy accept) and
// returns it.
func (t *Table) DNATChain(name string) *Chain {
	return t.add(&Chain{Name: name, Type: nftables.ChainTypeNAT, Hook: nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityNATDest, Policy: nftables.ChainPolicyAccept})
}

// DNAT rewrites the destination address to a (ip tables: dnat to a).
func DNAT(a netip.Addr) []expr.Any { return natTo(expr.NATTypeDestNAT, a) }

// SNAT rewrites the source address to a (ip tables: snat to a).
func SNAT(a netip.Addr) []expr.Any { return natTo(expr.NATTypeSourceNAT, a) }

func natTo(typ expr.NATType, a netip.Addr) []expr.Any {
	fam := uint32(unix.NFPROTO_IPV4)
	if a.Is6() {
		fam = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: a.AsSlice()},
		&expr.NAT{Type: typ, Family: fam, RegAddrMin: 1, RegAddrMax: 1},
	}
}

// DAddr matches exactly destination address a (ip daddr a in an ip or ip6 table).
func DAddr(a netip.Addr) []expr.Any {
	off := uint32(16)
	if a.Is6() {
		off = 24
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(a.BitLen() / 8)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
	}
}

// IPv4 header fields and UDP ports, loaded into register 1 for a lookup or an update
// (ip tables).
var (
	// IPSAddr is the IPv4 source address.
	IPSAddr = []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}}
	// IPDAddr is the IPv4 destination address.
	IPDAddr = []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}}
	// UDPSPort is the UDP source port (the protocol is checked first).
	UDPSPort = append(L4Proto(unix.IPPROTO_UDP), &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2})
	// UDPDPort is the UDP destination port (the protocol is checked first).
	UDPDPort = append(L4Proto(unix.IPPROTO_UDP), &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
)

// In matches when the field (IPSAddr, UDPDPort, ...) is an element of set name
// (field @name).
func In(field []expr.Any, name string) []expr.Any {
	return append(append([]expr.Any(nil), field...), &expr.Lookup{SourceRegister: 1, SetName: name})
}

// Update adds the field's value to dynamic set name, or refreshes its timeout
// (update @name { field }).
func Update(field []expr.Any, name string) []expr.Any {
	return append(append([]expr.Any(nil), field...),
		&expr.Dynset{SrcRegKey: 1, SetName: name, Operation: unix.NFT_DYNSET_OP_UPDATE})
}

// SetKey is the type of a set's elements.
type SetKey int

// Set key types.
const (
	// KeyAddr: IPv4 or IPv6 addresses (Set.IPv6 chooses), the default.
	KeyAddr SetKey = iota
	// KeyPort: transport ports (inet_service).
	KeyPort
)

// dynamic reports whether the set is filled by the packet path (Timeout set).
func (s *Set) dynamic() bool { return s.Timeout > 0 }

func (s *Set) keyType() (nftables.SetDatatype, string) {
	switch {
	case s.Key == KeyPort:
		return nftables.TypeInetService, "inet_service"
	case s.IPv6:
		return nftables.TypeIP6Addr, "ipv6_addr"
	}
	return nftables.TypeIPAddr, "ipv4_addr"
}

// durationText prints a timeout as nft does (30s, 2m, 1h30m).
func durationText(d time.Duration) string {
	var s string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / u.d; n > 0 {
			s += fmt.Sprintf("%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return s
}
