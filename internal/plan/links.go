package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// class is what decides whether two members can peer directly, apart from LAN facts:
// bit 0 public, bits 1-2 reachable over IPv4/IPv6, bits 3-4 can send over IPv4/IPv6.
type class uint8

func classOf(n *node) class {
	c := class(0)
	if n.public {
		c |= 1
	}
	for f := range 2 {
		if n.reach[f].IsValid() {
			c |= 2 << f
		}
		if n.use[f] {
			c |= 8 << f
		}
	}
	return c
}

func (c class) public() bool     { return c&1 != 0 }
func (c class) reach(f int) bool { return c&(2<<f) != 0 }
func (c class) use(f int) bool   { return c&(8<<f) != 0 }

// family returns the family two members use to peer directly over their endpoints
// (IPv6 first), or -1 when they cannot: both must be able to send over it and at least
// one must be reachable over it; two hidden members never peer over endpoints.
func (c class) family(d class) int {
	if !c.public() && !d.public() {
		return -1
	}
	for _, f := range []int{1, 0} {
		if c.use(f) && d.use(f) && (c.reach(f) || d.reach(f)) {
			return f
		}
	}
	return -1
}

// link is how member a reaches member b directly.
type link struct {
	path Path
	ep   netip.AddrPort // b's endpoint as seen from a; zero when b cannot be reached
	ka   int
}

// link returns how a reaches b directly, or ok false when the pair is relayed.
func (p *Planner) link(a, b *node) (link, bool) {
	if f := a.class.family(b.class); f >= 0 {
		l := link{path: PathDirect}
		if b.reach[f].IsValid() {
			l.ep = netip.AddrPortFrom(b.reach[f], uint16(b.port))
			if !a.reach[f].IsValid() {
				l.ka = Keepalive // a is behind NAT or a firewall for this family
			}
		}
		return l, true
	}
	if a.public || b.public {
		return link{}, false
	}
	if ep, ok := sameLAN(a, b); ok {
		// Only the member with the lower node id dials: when both send the first
		// handshake at once, each drops the other's answer and both wait 5 s to retry.
		if a.id > b.id {
			return link{path: PathSameLAN}, true
		}
		return link{path: PathSameLAN, ep: ep, ka: Keepalive}, true
	}
	return link{}, false
}

// sameLAN returns b's LAN address in the lowest private prefix a and b share behind the
// same observed public address (and the same router, when both know it).
func sameLAN(a, b *node) (netip.AddrPort, bool) {
	if !a.lanSrc.IsValid() || a.lanSrc != b.lanSrc || (a.router != "" && b.router != "" && a.router != b.router) {
		return netip.AddrPort{}, false
	}
	for _, x := range a.lanAddrs {
		for _, y := range b.lanAddrs {
			if x.Masked() == y.Masked() && x.Addr() != y.Addr() {
				return netip.AddrPortFrom(y.Addr(), uint16(b.port)), true
			}
		}
	}
	return netip.AddrPort{}, false
}

// lanPeers returns the hidden members sharing a LAN with hidden member i, sorted: from
// the LAN index lans (lanIndex) when given, else by a scan (cheaper for a single view).
func (p *Planner) lanPeers(i int, lans map[lanKey][]int) []int {
	n := &p.nodes[i]
	if n.public || !n.lanSrc.IsValid() {
		return nil
	}
	var out []int
	if lans == nil {
		for j := range p.nodes {
			if b := &p.nodes[j]; j != i && !b.public && b.lanSrc == n.lanSrc {
				if _, ok := sameLAN(n, b); ok {
					out = append(out, j)
				}
			}
		}
		return out
	}
	for _, a := range n.lanAddrs {
		for _, j := range lans[lanKey{n.lanSrc, a.Masked()}] {
			if j != i {
				out = append(out, j)
			}
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(j int) bool { _, ok := sameLAN(n, &p.nodes[j]); return !ok })
}

// classNeedsRelay reports whether a member of class c has another member it cannot
// peer with over endpoints, by class alone (LAN neighbours aside).
func (p *Planner) classNeedsRelay(c class) bool {
	for d, cnt := range p.classes {
		if class(d) == c {
			cnt--
		}
		if cnt > 0 && (class(d).public() || c.public()) && c.family(class(d)) < 0 {
			return true
		}
	}
	return false
}

func (p *Planner) canRelay(r class, need map[class]bool) bool {
	for c := range need {
		if r.family(c) < 0 {
			return false
		}
	}
	return true
}

func (p *Planner) noRelay(who []string, need map[class]bool) error {
	if len(who) > 5 {
		who = append(who[:5:5], fmt.Sprintf("and %d more", len(who)-5))
	}
	if len(p.public) == 0 {
		return fmt.Errorf("%w: network %s: members %s cannot reach each other directly and there is no public member to relay: add a node with a reachable endpoint (a public IPv4 address or an unfirewalled global IPv6 address)",
			ErrImpossible, p.netID, strings.Join(who, ", "))
	}
	var mute []string
	for i := range p.nodes {
		if c := p.nodes[i].class; p.nodes[i].relayed && !c.use(0) && !c.use(1) {
			mute = append(mute, p.nodes[i].name)
		}
	}
	if len(mute) > 0 {
		return fmt.Errorf("%w: network %s: members %s report no address they can send from: report an endpoint candidate or the observed public source address for each",
			ErrImpossible, p.netID, strings.Join(mute, ", "))
	}
	var fams []string
	for _, f := range []int{0, 1} {
		for c := range need {
			if c.use(f) {
				fams = append(fams, string(families[f]))
				break
			}
		}
	}
	return fmt.Errorf("%w: network %s: no public member peers directly with all of %s (they differ in address family): add a public member reachable over %s",
		ErrImpossible, p.netID, strings.Join(who, ", "), strings.Join(fams, " and "))
}
