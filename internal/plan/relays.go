package plan

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Relay choice (the package doc has the rules; docs/architecture.md the reasons).
//
// Candidates are the public members that peer directly with every member that needs
// relaying. Each relayed member gets two home relays among them by weighted rendezvous
// hashing with bounded load: members are taken in the order of their hash; each takes
// the candidate with the highest score among those carrying fewer than floor(share)
// members, and when all are full, fewer than ceil(share), where a candidate's share is
// the relayed members times its weight over the total weight. So every candidate
// carries floor(share) or ceil(share) members as primary. The second relays are
// assigned the same way, never equal to the primary (when only the primary has room
// left, the best other candidate takes one more). A relayed pair goes through the home
// relays of its owner, one of its two ends chosen by a hash of the pair, so both ends
// agree without talking.

// MaxRelayWeight is the largest Member.RelayWeight.
const MaxRelayWeight = gridapi.MaxRelayWeight

// RelayGroup is a set of a member's relayed destinations that travel through the same
// relays (the home relays of the pairs' owners, see the package doc). The allowed IPs
// of a group sit on the entry of its current relay and move to its second relay on
// failover; each group fails over on its own.
type RelayGroup struct {
	// Relays are the group's relays' node ids, primary first, then the failover relay
	// (absent when the network has a single relay candidate).
	Relays []string `json:"relays"`
	// Members are the node ids of the members reached through the group, sorted.
	Members []string `json:"members"`
	// AllowedIPs are the members' subnets, ULA twins and access devices, sorted.
	AllowedIPs []netip.Prefix `json:"allowed_ips"`
}

// Key identifies the group's relays (the failover state is kept per key).
func (g RelayGroup) Key() string { return strings.Join(g.Relays, ",") }

// chooseRelays picks the relay candidates (public members that peer directly with
// every member that needs relaying), or says what to add when there is none. The home
// relays are assigned on first use (homes).
func (p *Planner) chooseRelays() error {
	need := map[class]bool{}
	var who []string
	for i := range p.nodes {
		if p.nodes[i].relayed {
			need[p.nodes[i].class] = true
			who = append(who, p.nodes[i].name)
			p.relayed = append(p.relayed, i)
		}
	}
	if len(need) == 0 {
		return nil
	}
	for _, r := range p.public {
		if p.canRelay(p.nodes[r].class, need) {
			p.cands = append(p.cands, r)
		}
	}
	if len(p.cands) == 0 {
		return p.noRelay(who, need)
	}
	return nil
}

// homes returns every relayed member's home relays (indexed by node, see assignHomes)
// and the relays in use, sorted; nil when no member is relayed. They are computed once,
// on first use: a public member's view does not need them.
func (p *Planner) homes() ([][2]int, []int) {
	p.homesOnce.Do(func() {
		if len(p.cands) == 0 {
			return
		}
		p.hashes = make([]uint64, len(p.nodes))
		order := make([]uint64, len(p.nodes)) // subnet address, node index: subnets are IPv4 of one length
		for i := range p.nodes {
			p.hashes[i] = nodeHash(p.netID, p.nodes[i].id)
			order[i] = uint64(u32(p.nodes[i].subnet.Addr()))<<32 | uint64(i)
		}
		slices.Sort(order)
		p.bySubnet = make([]int, len(p.nodes))
		for k, o := range order {
			p.bySubnet[k] = int(uint32(o))
		}
		if !p.shipped {
			p.home = p.assignHomes(p.relayed, p.cands)
		}
		// number the distinct home pairs in the order of their node ids (node indexes
		// follow node ids), so relay groups come out sorted by their relays
		pairKey := func(h [2]int) uint64 { return uint64(h[0])<<32 | uint64(uint32(h[1]+1)) }
		ids := make(map[uint64]int32, 2*len(p.cands))
		used := make([]bool, len(p.nodes))
		for _, i := range p.relayed {
			if _, ok := ids[pairKey(p.home[i])]; !ok {
				ids[pairKey(p.home[i])] = 0
				p.homePairs = append(p.homePairs, p.home[i])
			}
			used[p.home[i][0]] = true
			if h := p.home[i][1]; h >= 0 {
				used[h] = true
			}
		}
		slices.SortFunc(p.homePairs, func(a, b [2]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
		for n, h := range p.homePairs {
			ids[pairKey(h)] = int32(n)
			r := p.homeIDs(h)
			p.homeRelays = append(p.homeRelays, r[:len(r):len(r)])
		}
		p.homeID = make([]int32, len(p.nodes))
		for _, i := range p.relayed {
			p.homeID[i] = ids[pairKey(p.home[i])]
		}
		for _, r := range p.cands { // the relays are candidates
			if used[r] {
				p.relays = append(p.relays, r)
			}
		}
		slices.Sort(p.relays)
		p.nHomes = len(ids)
	})
	return p.home, p.relays
}

// assignHomes returns each of members' (indexes of p.nodes) primary and second relay
// among cands by weighted rendezvous hashing with bounded load; the second is -1 with a
// single candidate (indexed by node; other nodes' entries are zero). Primaries and
// seconds are counted apart, in one pass over the members in hash order, each member's
// scores computed once.
func (p *Planner) assignHomes(members, cands []int) [][2]int {
	weights, total, equal := make([]int, len(cands)), 0, true
	hashes := make([]uint64, len(cands))
	for c, r := range cands {
		weights[c], hashes[c] = p.nodes[r].weight, mix(p.hashes[r])
		total += weights[c]
		equal = equal && weights[c] == weights[0]
	}
	n := len(members)
	// per tier: floor(share), ceil(share), no limit
	limits := [3][]int{make([]int, len(cands)), make([]int, len(cands)), make([]int, len(cands))}
	for c, w := range weights {
		limits[0][c], limits[1][c], limits[2][c] = n*w/total, (n*w+total-1)/total, math.MaxInt
	}
	type keyed struct {
		h uint64
		i int
	}
	order := make([]keyed, len(members))
	for k, i := range members {
		order[k] = keyed{p.hashes[i], i}
	}
	slices.SortFunc(order, func(a, b keyed) int { return cmp.Or(cmp.Compare(a.h, b.h), cmp.Compare(a.i, b.i)) })
	load := [2][]int{make([]int, len(cands)), make([]int, len(cands))}
	scores := make([]uint64, len(cands))
	out := make([][2]int, len(p.nodes))
	for _, o := range order {
		top1, top2 := -1, -1 // the two best, first index on ties (as pickHome)
		for c, rh := range hashes {
			var s uint64
			if equal {
				s = mix(o.h ^ rh) // scoreOf, inlined for the common case
			} else {
				s = scoreOf(o.h, rh, weights[c], false)
			}
			scores[c] = s
			if top1 < 0 || s > scores[top1] {
				top1, top2 = c, top1
			} else if top2 < 0 || s > scores[top2] {
				top2 = c
			}
		}
		// Most members get their best candidate(s): pickHome's first tier without a scan.
		prim := top1
		if load[0][prim] < limits[0][prim] {
			load[0][prim]++
		} else {
			prim = pickHome(scores, &limits, load[0], -1)
		}
		h := [2]int{cands[prim], -1}
		if len(cands) > 1 {
			sec := top1
			if sec == prim {
				sec = top2
			}
			if load[1][sec] < limits[0][sec] { // sec is the best candidate but prim
				load[1][sec]++
			} else {
				sec = pickHome(scores, &limits, load[1], prim)
			}
			h[1] = cands[sec]
		}
		out[o.i] = h
	}
	return out
}

// pickHome returns the best-scoring candidate other than not whose load is under its
// floor(share), else under its ceil(share), else any, and counts it in load. Equal
// scores go to the first candidate (the lower node id).
func pickHome(scores []uint64, limits *[3][]int, load []int, not int) int {
	for t := range limits {
		best, lim := -1, limits[t]
		for c, s := range scores {
			if c != not && load[c] < lim[c] && (best < 0 || s > scores[best]) {
				best = c
			}
		}
		if best >= 0 {
			load[best]++
			return best
		}
	}
	return -1 // unreachable: with no limit every candidate but not qualifies
}

// scoreOf is the weighted rendezvous score of a candidate whose mixed hash is relay for
// a member whose hash is member, as an ordered key: with all weights equal u, the pair's
// hash, itself; else -w/ln(u) for u in (0,1), whose IEEE-754 bits order like the
// (positive) value. The same facts give the same scores on every node (a difference in
// the last bit of math.Log between architectures could only swap two scores equal to
// 1e-16, which 64-bit hashes make practically impossible).
func scoreOf(member, relay uint64, weight int, equal bool) uint64 {
	u := mix(member ^ relay)
	if equal {
		return u
	}
	f := (float64(u>>11) + 0.5) / (1 << 53)
	return math.Float64bits(float64(weight) / -math.Log(f))
}

// owner returns which end of the relayed pair (i, j) owns it: the pair's relays are
// the owner's home relays. Each end owns about half of its pairs. After homes.
func (p *Planner) owner(i, j int) int {
	a, b := min(i, j), max(i, j)
	if mix(p.hashes[a]^mix(p.hashes[b]+0x632be59bd9b4e019))&1 == 0 {
		return a
	}
	return b
}

// nodeHash is a node's 64-bit hash in its network (FNV-1a, mixed).
func nodeHash(netID, id string) uint64 {
	h := uint64(14695981039346656037)
	for _, s := range []string{netID, "\x00", id} {
		for k := 0; k < len(s); k++ {
			h = (h ^ uint64(s[k])) * 1099511628211
		}
	}
	return mix(h)
}

// mix is splitmix64's finalizer: every input bit affects every output bit.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// span is a list being filled inside a shared array: n4 IPv4 prefixes from at, then n6
// IPv6 (twin) prefixes; v4 and v6 are the next free positions of each part.
type span struct {
	at, n4, n6, v4, v6 int
	dev                bool // holds access devices' addresses: sort when filled
}

func (s *span) start() { s.v4, s.v6 = s.at, s.at+s.n4 }

func (s *span) of(a []netip.Prefix) []netip.Prefix {
	end := s.at + s.n4 + s.n6
	if s.dev {
		sortPrefixes(a[s.at:end])
	}
	return a[s.at:end:end]
}

// relayGroups returns member i's relay groups: every member that is not a direct peer
// (direct marks them) travels through the home relays of the pair's owner. It also
// returns, per primary relay (node index), everything its entry carries for the groups,
// sorted. Destinations are counted first, so that all groups share a few allocations;
// they are taken in node-id order for the members and in subnet order for the prefixes,
// so both come out sorted without sorting (but for access devices' addresses).
func (p *Planner) relayGroups(i int, direct []bool) ([]RelayGroup, map[int][]netip.Prefix) {
	p.homes()
	gOf := make([]int32, len(p.nodes)) // the home id of each destination, + 1; 0: none
	cnt := make([]int32, p.nHomes)     // destinations per home id, then 1 + its group
	for j := range p.nodes {
		if j != i && !direct[j] {
			h := p.homeID[p.owner(i, j)]
			gOf[j], cnt[h] = h+1, cnt[h]+1
		}
	}
	// groups in home id order, which is the order of their relays' node ids
	var spans []span   // per group
	var homeOf []int32 // per group, its home id
	for h, n := range cnt {
		if n > 0 {
			spans, homeOf = append(spans, span{n6: int(n)}), append(homeOf, int32(h))
			cnt[h] = int32(len(spans))
		}
	}
	for j, h := range gOf {
		if h > 0 {
			g := cnt[h-1] - 1
			gOf[j] = g + 1
			nd := len(p.devOf[j])
			spans[g].n4, spans[g].dev = spans[g].n4+1+nd, spans[g].dev || nd > 0
		}
	}
	carry := map[int]*span{} // per primary relay
	var prims []int          // in first-seen order, for deterministic offsets
	members, total := 0, 0
	for g := range spans {
		f := &spans[g]
		f.at, members, total = total, members+f.n6, total+f.n4+f.n6
		r := p.homePairs[homeOf[g]][0]
		if carry[r] == nil {
			carry[r] = &span{}
			prims = append(prims, r)
		}
		c := carry[r]
		c.n4, c.n6, c.dev = c.n4+f.n4, c.n6+f.n6, c.dev || f.dev
	}
	at := 0
	for _, r := range prims {
		carry[r].at, at = at, at+carry[r].n4+carry[r].n6
	}
	for g := range spans {
		spans[g].start()
		carry[p.homePairs[homeOf[g]][0]].start()
	}
	ids, ips, onRelays := make([]string, members), make([]netip.Prefix, total), make([]netip.Prefix, total)
	groups := make([]RelayGroup, len(spans))
	at = 0
	for g := range groups {
		groups[g].Relays = p.homeRelays[homeOf[g]]
		groups[g].Members = ids[at : at : at+spans[g].n6] // filled by append, within capacity
		at += spans[g].n6
	}
	for j := range p.nodes {
		if g := gOf[j] - 1; g >= 0 {
			groups[g].Members = append(groups[g].Members, p.nodes[j].id)
		}
	}
	for _, j := range p.bySubnet {
		g := gOf[j] - 1
		if g < 0 {
			continue
		}
		fillSpan(&spans[g], ips, p.nodes[j].subnet, p.nodes[j].ula, p.devOf[j], p)
		fillSpan(carry[p.homePairs[homeOf[g]][0]], onRelays, p.nodes[j].subnet, p.nodes[j].ula, p.devOf[j], p)
	}
	for g := range groups {
		groups[g].AllowedIPs = spans[g].of(ips)
	}
	out := make(map[int][]netip.Prefix, len(carry))
	for r, c := range carry {
		out[r] = c.of(onRelays)
	}
	return groups, out
}

// fillSpan adds one destination (subnet, its twin, its access devices) to s in a.
func fillSpan(s *span, a []netip.Prefix, subnet, twin netip.Prefix, devs []int, p *Planner) {
	a[s.v4], a[s.v6] = subnet, twin
	s.v4, s.v6 = s.v4+1, s.v6+1
	for _, d := range devs {
		a[s.v4], s.v4 = netip.PrefixFrom(p.devices[d].Address, 32), s.v4+1
	}
}

// mergePrefixes merges two sorted lists into a new sorted one.
func mergePrefixes(a, b []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if cmpPrefix(a[0], b[0]) <= 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

func (p *Planner) homeIDs(h [2]int) []string {
	if h[1] < 0 {
		return []string{p.nodes[h[0]].id}
	}
	return []string{p.nodes[h[0]].id, p.nodes[h[1]].id}
}

// WithRelay returns mp's peers with each relay group's allowed IPs carried by the entry
// of its current relay: current[k] is the node id of the relay carrying
// mp.RelayGroups[k]; a missing or empty one means the group's primary. This is the
// failover move. The result is a new slice; mp is not changed (entries that are no
// group's relay share their allowed IPs with mp). A relay that is not one of mp's peers
// leaves its group's allowed IPs on no entry.
func WithRelay(mp MemberPlan, current []string) []Peer {
	carry := map[string][]netip.Prefix{}
	var relayed []netip.Prefix
	for _, g := range mp.RelayGroups {
		for _, r := range g.Relays {
			carry[r] = carry[r][:0:0] // a relay of some group
		}
		relayed = append(relayed, g.AllowedIPs...)
	}
	for k, g := range mp.RelayGroups {
		via := g.Relays[0]
		if k < len(current) && current[k] != "" {
			via = current[k]
		}
		carry[via] = append(carry[via], g.AllowedIPs...)
	}
	sortPrefixes(relayed)
	peers := slices.Clone(mp.Peers)
	for i, pe := range peers {
		add, isRelay := carry[pe.NodeID]
		if pe.NodeID == "" || !isRelay {
			continue
		}
		pe.AllowedIPs = slices.DeleteFunc(slices.Clone(pe.AllowedIPs), func(a netip.Prefix) bool {
			_, found := slices.BinarySearchFunc(relayed, a, cmpPrefix)
			return found
		})
		if len(add) > 0 {
			pe.AllowedIPs = append(pe.AllowedIPs, add...)
			sortPrefixes(pe.AllowedIPs)
		}
		peers[i] = pe
	}
	return peers
}
