package nft

import (
	"net/netip"
	"sort"
)

// Range is an inclusive span of addresses of one family, an element of an interval
// set. Ranges makes them from prefixes; a Range that is exactly a prefix is printed as
// one (as nft does).
type Range struct {
	// From is the first address.
	From netip.Addr
	// To is the last address (same family as From, not before it).
	To netip.Addr
}

// Ranges merges prefixes (any mix of families; invalid ones are skipped; an IPv4-mapped
// IPv6 prefix stays IPv6) into sorted,
// disjoint, non-adjacent ranges per family: the kernel refuses overlapping intervals,
// and nft lists adjacent ones merged. Pure; the input is not changed.
func Ranges(ps []netip.Prefix) (v4, v6 []Range) {
	var rs []Range
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		rs = append(rs, Range{From: p.Addr(), To: last(p)})
	}
	sort.Slice(rs, func(i, j int) bool {
		if c := rs[i].From.Compare(rs[j].From); c != 0 {
			return c < 0
		}
		return rs[i].To.Compare(rs[j].To) > 0
	})
	for _, r := range rs {
		out := &v4
		if r.From.Is6() {
			out = &v6
		}
		n := len(*out)
		if n > 0 && joins((*out)[n-1], r) {
			if r.To.Compare((*out)[n-1].To) > 0 {
				(*out)[n-1].To = r.To
			}
			continue
		}
		*out = append(*out, r)
	}
	return v4, v6
}

// joins reports whether r starts inside prev or right after it.
func joins(prev, r Range) bool {
	if r.From.Compare(prev.To) <= 0 {
		return true
	}
	next := prev.To.Next()
	return next.IsValid() && next == r.From
}

// last returns the last address of p.
func last(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Prefix returns r as a prefix when it is exactly one.
func (r Range) Prefix() (netip.Prefix, bool) {
	for bits := 0; bits <= r.From.BitLen(); bits++ {
		p := netip.PrefixFrom(r.From, bits)
		if p.Masked().Addr() == r.From && last(p) == r.To {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// String prints r as nft does: an address, a prefix, or first-last.
func (r Range) String() string {
	if p, ok := r.Prefix(); ok {
		if p.IsSingleIP() {
			return p.Addr().String()
		}
		return p.String()
	}
	return r.From.String() + "-" + r.To.String()
}
