package plan

import (
	"cmp"
	"net/netip"
	"slices"
	"sort"
)

var (
	cgnat   = netip.MustParsePrefix("100.64.0.0/10")
	global6 = netip.MustParsePrefix("2000::/3")
)

func familyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// fam is an index for per-family arrays: 0 IPv4, 1 IPv6.
func fam(f Family) int {
	if f == IPv6 {
		return 1
	}
	return 0
}

var families = [2]Family{IPv4, IPv6}

func globalV6(a netip.Addr) bool { return a.Is6() && global6.Contains(a) }

func sharedCGN(a netip.Addr) bool { return cgnat.Contains(a) }

// halves splits p into its two halves (p must be shorter than a host prefix).
func halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	b := p.Bits()
	lo := netip.PrefixFrom(p.Addr(), b+1)
	if p.Addr().Is4() {
		a := p.Addr().As4()
		a[b/8] |= 0x80 >> (b % 8)
		return lo, netip.PrefixFrom(netip.AddrFrom4(a), b+1)
	}
	a := p.Addr().As16()
	a[b/8] |= 0x80 >> (b % 8)
	return lo, netip.PrefixFrom(netip.AddrFrom16(a), b+1)
}

// sortPrefixes sorts by address, then by length (shorter first).
func sortPrefixes(ps []netip.Prefix) { slices.SortFunc(ps, cmpPrefix) }

func cmpPrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// Remainder returns the smallest sorted set of prefixes that covers within minus every
// prefix of excluded (prefixes of the other family or outside within are ignored;
// excluded prefixes must not overlap each other). Its size is at most
// len(excluded) × (host bits of within), so it stays small however big the range is.
func Remainder(within netip.Prefix, excluded []netip.Prefix) []netip.Prefix {
	ex := make([]netip.Prefix, 0, len(excluded))
	for _, p := range excluded {
		if p.Addr().BitLen() == within.Addr().BitLen() && within.Overlaps(p) {
			ex = append(ex, p.Masked())
		}
	}
	sortPrefixes(ex)
	var out []netip.Prefix
	return remainder(within.Masked(), ex, out)
}

func remainder(p netip.Prefix, ex []netip.Prefix, out []netip.Prefix) []netip.Prefix {
	if len(ex) == 0 {
		return append(out, p)
	}
	if ex[0].Bits() <= p.Bits() {
		return out // p lies inside an excluded prefix
	}
	lo, hi := halves(p)
	i := sort.Search(len(ex), func(i int) bool { return !lo.Contains(ex[i].Addr()) })
	out = remainder(lo, ex[:i], out)
	return remainder(hi, ex[i:], out)
}
