package plan

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// Plan returns the whole network's plan: every member's view and every device's.
func (p *Planner) Plan() Plan {
	_, relays := p.homes()
	pl := Plan{NetworkID: p.netID, Range: p.rng, ULA: p.ula, Relays: p.ids(relays),
		Members: make([]MemberPlan, len(p.nodes))}
	lans := p.lans
	if lans == nil {
		lans = p.lanIndex()
	}
	for i := range p.nodes {
		pl.Members[i] = p.member(i, lans)
	}
	for i := range p.devices {
		pl.Devices = append(pl.Devices, p.device(i))
	}
	return pl
}

// Relays returns the members that are some member's home relay, sorted (empty when no
// pair is relayed).
func (p *Planner) Relays() []string {
	_, relays := p.homes()
	return p.ids(relays)
}

// Member returns the view of the member with node id nodeID.
func (p *Planner) Member(nodeID string) (MemberPlan, error) {
	i, ok := p.find(nodeID)
	if !ok {
		return MemberPlan{}, fmt.Errorf("%w: node %q is not a member of network %s", ErrInvalid, nodeID, p.netID)
	}
	return p.member(i, p.lans), nil
}

// Device returns the view of the access device called name.
func (p *Planner) Device(name string) (DevicePlan, error) {
	i, ok := slices.BinarySearchFunc(p.devices, name, func(d device, n string) int { return cmp.Compare(d.Name, n) })
	if !ok {
		return DevicePlan{}, fmt.Errorf("%w: no access device %q in network %s", ErrInvalid, name, p.netID)
	}
	return p.device(i), nil
}

// member returns member i's view; lans is the LAN index, or nil (see lanPeers).
func (p *Planner) member(i int, lans map[lanKey][]int) MemberPlan {
	n := &p.nodes[i]
	mp := MemberPlan{NodeID: n.id, Name: n.name, Hidden: !n.public, Subnet: n.subnet, ULA: n.ula,
		ListenPort: n.port, Routes: []netip.Prefix{p.rng, p.ula}}
	var direct []bool
	if n.relayed {
		direct = make([]bool, len(p.nodes))
	}
	for _, j := range p.candidates(i, lans) {
		if l, ok := p.link(n, &p.nodes[j]); ok {
			mp.Peers = append(mp.Peers, p.memberPeer(j, l))
			if direct != nil {
				direct[j] = true
			}
		}
	}
	for _, d := range p.devOf[i] {
		mp.Peers = append(mp.Peers, p.devicePeer(d))
	}
	if !n.relayed {
		return mp
	}
	if home, _ := p.homes(); home != nil {
		mp.Relays = p.homeIDs(home[i])
		groups, carry := p.relayGroups(i, direct)
		mp.RelayGroups = groups
		for k := range mp.Peers { // the groups on their primaries: WithRelay(mp, nil)
			pe := &mp.Peers[k]
			if j, ok := p.find(pe.NodeID); ok && pe.Path != PathAccess && len(carry[j]) > 0 {
				pe.AllowedIPs = mergePrefixes(pe.AllowedIPs, carry[j])
			}
		}
	}
	return mp
}

// candidates are the members that may be direct peers of member i: everyone for a public
// member; public members and LAN neighbours for a hidden one.
func (p *Planner) candidates(i int, lans map[lanKey][]int) []int {
	if p.nodes[i].public {
		out := make([]int, 0, len(p.nodes)-1)
		for j := range p.nodes {
			if j != i {
				out = append(out, j)
			}
		}
		return out
	}
	out := append(slices.Clone(p.public), p.lanPeers(i, lans)...)
	slices.Sort(out)
	return out
}

func (p *Planner) memberPeer(j int, l link) Peer {
	b := &p.nodes[j]
	return Peer{NodeID: b.id, Name: b.name, PublicKey: b.key, Endpoint: l.ep, AllowedIPs: p.peerIPs(j),
		Keepalive: l.ka, Path: l.path}
}

// peerIPs are what member j's entry carries on another member: its subnet, its ULA twin
// and its access devices, sorted.
func (p *Planner) peerIPs(j int) []netip.Prefix {
	b := &p.nodes[j]
	allowed := []netip.Prefix{b.subnet, b.ula}
	for _, d := range p.devOf[j] {
		allowed = append(allowed, p.deviceIPs(d)...)
	}
	sortPrefixes(allowed)
	return allowed
}

func (p *Planner) deviceIPs(d int) []netip.Prefix {
	return []netip.Prefix{netip.PrefixFrom(p.devices[d].Address, 32)}
}

func (p *Planner) devicePeer(d int) Peer {
	return Peer{Name: p.devices[d].Name, PublicKey: p.devices[d].PublicKey, AllowedIPs: p.deviceIPs(d), Path: PathAccess}
}
