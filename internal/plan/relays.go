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
		p.home = p.assignHomes(p.relayed, p.cands)
		used := map[int]bool{}
		for _, i := range p.relayed {
			used[p.home[i][0]] = true
			if h := p.home[i][1]; h >= 0 {
				used[h] = true
			}
		}
		for r := range used {
			p.relays = append(p.relays, r)
		}
		slices.Sort(p.relays)
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
		weights[c], hashes[c] = p.nodes[r].weight, mix(p.nodes[r].hash)
		total += weights[c]
		equal = equal && weights[c] == weights[0]
	}
	n := len(members)
	limits := make([][3]int, len(cands)) // floor(share), ceil(share), no limit
	for c, w := range weights {
		limits[c] = [3]int{n * w / total, (n*w + total - 1) / total, math.MaxInt}
	}
	order := slices.Clone(members)
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(p.nodes[a].hash, p.nodes[b].hash), cmp.Compare(a, b))
	})
	load := [2][]int{make([]int, len(cands)), make([]int, len(cands))}
	scores := make([]relayScore, len(cands))
	out := make([][2]int, len(p.nodes))
	for _, i := range order {
		for c := range cands {
			scores[c] = scoreOf(p.nodes[i].hash, hashes[c], weights[c], equal)
		}
		prim := pickHome(scores, limits, load[0], -1)
		h := [2]int{cands[prim], -1}
		if len(cands) > 1 {
			h[1] = cands[pickHome(scores, limits, load[1], prim)]
		}
		out[i] = h
	}
	return out
}

// pickHome returns the best-scoring candidate other than not whose load is under its
// floor(share), else under its ceil(share), else any, and counts it in load.
func pickHome(scores []relayScore, limits [][3]int, load []int, not int) int {
	for t := range 3 {
		best := -1
		for c, s := range scores {
			if c != not && load[c] < limits[c][t] && (best < 0 || s.beats(scores[best])) {
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

// relayScore is a candidate's weighted rendezvous score for one member: -w/ln(u) for
// u the pair's hash in (0,1) (all weights equal: u itself, the same order), ties
// broken by the hash.
type relayScore struct {
	s float64
	u uint64
}

func (a relayScore) beats(b relayScore) bool {
	if a.s != b.s {
		return a.s > b.s
	}
	return a.u > b.u
}

// scoreOf scores a candidate whose mixed hash is relay for a member whose hash is
// member.
func scoreOf(member, relay uint64, weight int, equal bool) relayScore {
	u := mix(member ^ relay)
	if equal {
		return relayScore{u: u}
	}
	f := (float64(u>>11) + 0.5) / (1 << 53)
	return relayScore{s: float64(weight) / -math.Log(f), u: u}
}

// owner returns which end of the relayed pair (i, j) owns it: the pair's relays are
// the owner's home relays. Each end owns about half of its pairs.
func (p *Planner) owner(i, j int) int {
	a, b := min(i, j), max(i, j)
	if mix(p.nodes[a].hash^mix(p.nodes[b].hash+0x632be59bd9b4e019))&1 == 0 {
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

// relayGroups returns member i's relay groups: every member that is not a direct peer
// (direct marks them) travels through the home relays of the pair's owner. It also
// returns, per primary relay (node index), everything its entry carries for the groups,
// sorted. Members are taken in subnet order, so IPv4 and IPv6 (twin) prefixes come out
// sorted without sorting.
func (p *Planner) relayGroups(i int, direct []bool) ([]RelayGroup, map[int][]netip.Prefix) {
	type build struct {
		v4, v6 []netip.Prefix
		dev    bool
	}
	home, _ := p.homes()
	byHome := map[[2]int]int{}
	var groups []RelayGroup
	var builds []build
	onPrimary := map[int]*build{}
	for _, j := range p.bySubnet {
		if j == i || direct[j] {
			continue
		}
		h := home[p.owner(i, j)]
		g, ok := byHome[h]
		if !ok {
			g = len(groups)
			byHome[h] = g
			groups = append(groups, RelayGroup{Relays: p.homeIDs(h)})
			builds = append(builds, build{})
			if onPrimary[h[0]] == nil {
				onPrimary[h[0]] = &build{}
			}
		}
		groups[g].Members = append(groups[g].Members, p.nodes[j].id)
		for _, b := range []*build{&builds[g], onPrimary[h[0]]} {
			b.v4, b.v6 = append(b.v4, p.nodes[j].subnet), append(b.v6, p.nodes[j].ula)
			for _, d := range p.devOf[j] {
				b.v4, b.dev = append(b.v4, p.deviceIPs(d)...), true
			}
		}
	}
	for g := range groups {
		groups[g].AllowedIPs = append(builds[g].v4, builds[g].v6...)
		if builds[g].dev {
			sortPrefixes(groups[g].AllowedIPs)
		}
		slices.Sort(groups[g].Members)
	}
	slices.SortFunc(groups, func(a, b RelayGroup) int { return slices.Compare(a.Relays, b.Relays) })
	carry := make(map[int][]netip.Prefix, len(onPrimary))
	for r, b := range onPrimary {
		carry[r] = append(b.v4, b.v6...)
		if b.dev {
			sortPrefixes(carry[r])
		}
	}
	return groups, carry
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
