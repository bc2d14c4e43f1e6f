package ndmz

import (
	"net/netip"
	"sort"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

// Egress rule (issue 17). Traffic from an NR leaves the node only towards the
// Internet: ndmz refuses (TCP reset, else ICMP administratively prohibited) every
// destination in the deny list, which is Special plus what the kernel says about the
// node's underlay: the on-link (and LAN-routed) prefixes of the LAN links, IPv4 and
// IPv6 (a home's global IPv6 prefix too), every address of the node's own, and the
// default gateways. The farm's PUBLIC segment is not a LAN link: it stays reachable
// (it is reachable from the Internet anyway). The NR-to-NR overlay never crosses
// ndmz, and an NR's own subnet is on its own bridge: neither is affected. The
// farmer's allow list (nodeapi.EgressAllow) is checked before the deny list.

// Special are the special-purpose destinations no NR may reach: "this network",
// RFC 1918, shared address space (100.64/10, also every uplink inside the node),
// loopback, link-local, multicast and reserved (240/4 with the broadcast address);
// IPv6 unspecified, loopback, ULA (fc00::/7), link-local and multicast.
var Special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// Underlay is what the kernel says about the node's underlay (LearnUnderlay).
type Underlay struct {
	// LAN are the prefixes on-link on (or routed through) the LAN links.
	LAN []netip.Prefix
	// Own are the node's own addresses (host, ndmz's public leg, public namespace).
	Own []netip.Addr
	// Gateways are the default routes' gateways.
	Gateways []netip.Addr
}

// DenyList is Special plus u, as prefixes (addresses as /32 or /128), sorted and
// without duplicates; nft.Ranges merges it for the kernel. Pure.
func DenyList(u Underlay) []netip.Prefix {
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	add := func(p netip.Prefix) {
		p = p.Masked()
		if p.IsValid() && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range Special {
		add(p)
	}
	for _, p := range u.LAN {
		add(netip.PrefixFrom(p.Addr().Unmap().WithZone(""), p.Bits()-unmapped(p.Addr())))
	}
	for _, a := range append(append([]netip.Addr(nil), u.Own...), u.Gateways...) {
		a = a.Unmap().WithZone("")
		if a.IsValid() {
			add(netip.PrefixFrom(a, a.BitLen()))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Addr().Compare(out[j].Addr()); c != 0 {
			return c < 0
		}
		return out[i].Bits() < out[j].Bits()
	})
	return out
}

func unmapped(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// EgressConfig is what the egress rule needs besides the kernel's facts.
type EgressConfig struct {
	// LAN are host links whose on-link and routed prefixes are the node's LAN: zos,
	// and br-pub when it is uplinked to zos (then ndmz's leg on it is on the LAN too).
	LAN []string
	// PubOnLAN says ndmz's public leg (pub6) sits on the LAN (br-pub uplinked to zos).
	PubOnLAN bool
	// PublicNS is the name of the public namespace (its addresses and gateways are
	// the node's own); "" = none.
	PublicNS string
	// Allow is the farmer's allow list (valid: nodeapi.ValidateEgressAllow).
	Allow []nodeapi.EgressAllow
}
