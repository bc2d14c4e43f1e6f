package plan

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/zosnet/zosnet/internal/ula"
)

// Planner holds a validated network, ready to answer per-member views. Building it costs
// O(n log n) in the number of members; [Planner.Member] then costs O(peers + LAN
// neighbours + n) for a hidden member, so the whole network costs O(total peer entries).
// A Planner is immutable and safe for concurrent use.
type Planner struct {
	netID  string
	rng    netip.Prefix
	ula    netip.Prefix
	net48  netip.Prefix // ula.Net48 of the network
	nodes  []node       // sorted by node id
	public []int        // indexes of public nodes, by node id
	// lans maps a (public source, LAN prefix) to the hidden nodes on it, when New
	// needed it (else nil: a single view scans, Plan builds its own).
	lans map[lanKey][]int
	// classes counts nodes per class; hidden counts hidden nodes.
	classes [32]int
	hidden  int
	// shipped: the home relays come from the input (Input.HomesFor), checked by
	// loadHomes, instead of assignHomes.
	shipped bool
	// relayed are the members that need relaying and cands the relay candidates.
	relayed, cands []int
	// relays are the home relays in use, sorted; home[i] is relayed member i's primary
	// and second relay (-1: none); nil when no member is relayed. Set once by homes.
	// homeID numbers the distinct home relay pairs (nHomes of them), by node index;
	// homePairs and homeRelays are each pair by number, as node indexes and node ids.
	homesOnce  sync.Once
	homeID     []int32
	nHomes     int
	homePairs  [][2]int
	homeRelays [][]string
	relays     []int
	home       [][2]int
	// hashes holds each node's nodeHash, by node index (dense: the relay choice reads
	// them for every pair), and bySubnet the node indexes in the order of their subnets;
	// both set by homes.
	hashes   []uint64
	bySubnet []int
	devices  []device // sorted by name
	devOf    map[int][]int
	// keys holds the members' public keys while New runs (loadDevices checks devices'
	// keys against them).
	keys map[string]struct{}
}

type lanKey struct {
	src netip.Addr
	pfx netip.Prefix
}

// node is a member after validation, with everything the rules need precomputed.
type node struct {
	id, name string
	key      string
	port     int
	subnet   netip.Prefix
	ula      netip.Prefix
	public   bool
	reach    [2]netip.Addr // lowest reachable endpoint per family, public nodes only
	use      [2]bool       // the node can send over the family
	lanSrc   netip.Addr
	router   string
	lanAddrs []netip.Prefix // sorted
	class    class
	relayed  bool     // some other member is not a direct peer
	weight   int      // relay weight, at least 1
	homes    []string // Member.Homes
	at       int      // position in Input.Members, for messages
}

type device struct {
	AccessPeer
	node int // access node
	fam  int
}

// Compute validates in and plans the whole network.
func Compute(in Input) (Plan, error) {
	p, err := New(in)
	if err != nil {
		return Plan{}, err
	}
	return p.Plan(), nil
}

// New validates in and prepares the plan. Errors wrap ErrInvalid or ErrImpossible and
// name the field or the member concerned; several problems are joined.
func New(in Input) (*Planner, error) {
	bits, err := validateNetwork(in.Network)
	if err != nil {
		return nil, err
	}
	n48 := ula.Net48(in.Network.ID)
	p := &Planner{netID: in.Network.ID, rng: in.Network.Range, net48: n48, ula: ula.TwinIn(n48, in.Network.Range)}
	sp := newSpace(p.netID, p.rng, bits)
	sp.memberAt = func(slot uint32) string {
		for i := range p.nodes {
			if n := &p.nodes[i]; n.subnet.IsValid() && sp.rng.Contains(n.subnet.Addr()) && sp.slotOf(n.subnet.Addr()) == slot {
				return n.id
			}
		}
		return "?"
	}
	if err := p.loadMembers(in.Members, sp); err != nil {
		return nil, err
	}
	err = p.loadDevices(in.Access, sp)
	p.keys = nil
	if err != nil {
		return nil, err
	}
	if err := p.assignSubnets(sp); err != nil {
		return nil, err
	}
	p.index()
	if err := p.chooseRelays(); err != nil {
		return nil, err
	}
	if err := p.chooseAccessNodes(); err != nil {
		return nil, err
	}
	if in.HomesFor > 0 && in.HomesFor == len(in.Members) {
		if err := p.loadHomes(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// loadMembers validates the members and keeps them sorted by node id. The common case
// (every member valid) takes a fast path that formats nothing; on the first problem the
// members are loaded again by loadMembersSlow, which names every problem.
func (p *Planner) loadMembers(ms []Member, sp *space) error {
	p.nodes = make([]node, 0, len(ms))
	keys := make(map[string]struct{}, len(ms))
	p.keys = keys
	for i := range ms {
		m := &ms[i]
		_, dupKey := keys[m.PublicKey]
		if dupKey || !memberOK(m) || (m.Subnet.IsValid() && !sp.claimOK(m.Subnet)) {
			return p.loadMembersSlow(ms, sp)
		}
		keys[m.PublicKey] = struct{}{}
		p.nodes = append(p.nodes, node{})
		initNode(&p.nodes[len(p.nodes)-1], m, i)
	}
	byID := func(a, b node) int { return cmp.Compare(a.id, b.id) }
	if !slices.IsSortedFunc(p.nodes, byID) {
		slices.SortFunc(p.nodes, byID)
	}
	for i := 1; i < len(p.nodes); i++ {
		if p.nodes[i].id == p.nodes[i-1].id {
			return p.loadMembersSlow(ms, sp)
		}
	}
	return nil
}

func (p *Planner) loadMembersSlow(ms []Member, sp *space) error {
	sp.reset()
	var errs []error
	byID := make(map[string]int, len(ms))
	p.nodes = make([]node, 0, len(ms))
	keys := make(map[string]string, len(ms))
	p.keys = make(map[string]struct{}, len(ms))
	for i := range ms {
		m := &ms[i]
		field := fmt.Sprintf("members[%d]", i)
		if err := validateMember(*m, field); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := byID[m.NodeID]; dup {
			errs = append(errs, invalid(field+".node_id", "%q appears twice", m.NodeID))
			continue
		}
		if prev, dup := keys[m.PublicKey]; dup {
			errs = append(errs, invalid(field+".public_key", "already used by member %q", prev))
		}
		keys[m.PublicKey] = m.NodeID
		p.keys[m.PublicKey] = struct{}{}
		if m.Subnet.IsValid() {
			errs = append(errs, sp.claim(m.Subnet, owner{"member", m.NodeID}, field+".subnet"))
		}
		byID[m.NodeID] = len(p.nodes)
		p.nodes = append(p.nodes, node{})
		initNode(&p.nodes[len(p.nodes)-1], m, i)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	slices.SortFunc(p.nodes, func(a, b node) int { return cmp.Compare(a.id, b.id) })
	return nil
}

// find returns the index of the member with node id id.
func (p *Planner) find(id string) (int, bool) {
	return slices.BinarySearchFunc(p.nodes, id, func(n node, id string) int { return cmp.Compare(n.id, id) })
}

// initNode fills n (zero) from m, the member at position at of the input.
func initNode(n *node, m *Member, at int) {
	*n = node{id: m.NodeID, name: cmp.Or(m.Name, m.NodeID), key: m.PublicKey, port: m.ListenPort,
		subnet: m.Subnet, lanSrc: m.LAN.PublicSource, router: m.LAN.Router, weight: max(m.RelayWeight, 1), homes: m.Homes, at: at}
	for _, e := range m.Endpoints {
		f := fam(familyOf(e.Addr))
		if f == 0 || globalV6(e.Addr) {
			n.use[f] = true
		}
		if e.Reachable && !m.Hidden && (!n.reach[f].IsValid() || e.Addr.Less(n.reach[f])) {
			n.reach[f] = e.Addr
		}
	}
	n.public = n.reach[0].IsValid() || n.reach[1].IsValid()
	if m.LAN.PublicSource.IsValid() && (m.LAN.PublicSource.Is4() || globalV6(m.LAN.PublicSource)) {
		n.use[fam(familyOf(m.LAN.PublicSource))] = true
	}
	if len(m.LAN.Addresses) > 0 {
		n.lanAddrs = slices.Clone(m.LAN.Addresses)
		sortPrefixes(n.lanAddrs)
		n.lanAddrs = slices.Compact(n.lanAddrs)
	}
	n.class = classOf(n)
}

func (p *Planner) assignSubnets(sp *space) error {
	var ids []string
	var at []int
	for i := range p.nodes {
		if !p.nodes[i].subnet.IsValid() {
			ids, at = append(ids, p.nodes[i].id), append(at, i)
		}
	}
	if len(ids) > 0 {
		subnets, err := sp.assign(ids)
		if err != nil {
			return err
		}
		for k, i := range at {
			p.nodes[i].subnet = subnets[k]
		}
	}
	for i := range p.nodes {
		p.nodes[i].ula = ula.TwinIn(p.net48, p.nodes[i].subnet)
	}
	return nil
}

// index counts the classes, lists the public members and marks the members that need
// relaying, in O(n): a hidden member needs relaying unless every other hidden member is
// its LAN neighbour, which can only be when all hidden members share one observed
// public source (then the LAN index is built and asked).
func (p *Planner) index() {
	one, same := netip.Addr{}, true
	for i := range p.nodes {
		n := &p.nodes[i]
		p.classes[n.class]++
		if n.public {
			p.public = append(p.public, i)
			continue
		}
		if p.hidden == 0 {
			one = n.lanSrc
		}
		same = same && n.lanSrc == one
		p.hidden++
	}
	var byClass [32]int8 // per class: 0 unknown, 1 relayed, 2 not
	for i := range p.nodes {
		n := &p.nodes[i]
		if byClass[n.class] == 0 {
			byClass[n.class] = 2
			if p.classNeedsRelay(n.class) {
				byClass[n.class] = 1
			}
		}
		switch {
		case byClass[n.class] == 1:
			n.relayed = true
		case n.public:
		case !same || !one.IsValid():
			n.relayed = p.hidden > 1
		default:
			if p.lans == nil {
				p.lans = p.lanIndex()
			}
			n.relayed = p.hidden-1-len(p.lanPeers(i, p.lans)) > 0
		}
	}
}

// lanIndex maps each (public source, LAN prefix) to the hidden members on it.
func (p *Planner) lanIndex() map[lanKey][]int {
	lans := map[lanKey][]int{}
	for i := range p.nodes {
		n := &p.nodes[i]
		if n.public || !n.lanSrc.IsValid() {
			continue
		}
		for _, a := range n.lanAddrs {
			k := lanKey{n.lanSrc, a.Masked()}
			lans[k] = append(lans[k], i)
		}
	}
	return lans
}

// rank orders nodes for a deterministic choice that spreads load over networks.
func (p *Planner) rank(purpose string, ids []int) []int {
	type ranked struct {
		h [32]byte
		i int
	}
	rs := make([]ranked, len(ids))
	for j, i := range ids {
		rs[j] = ranked{sha256.Sum256([]byte(p.netID + "\x00" + purpose + "\x00" + p.nodes[i].id)), i}
	}
	slices.SortFunc(rs, func(a, b ranked) int { return slices.Compare(a.h[:], b.h[:]) })
	out := make([]int, len(rs))
	for j, r := range rs {
		out[j] = r.i
	}
	return out
}

func (p *Planner) ids(idx []int) []string {
	if len(idx) == 0 {
		return nil
	}
	out := make([]string, len(idx))
	for j, i := range idx {
		out[j] = p.nodes[i].id
	}
	return out
}
