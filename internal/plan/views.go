package plan

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// Plan returns the whole network's plan: every member's view and every device's.
func (p *Planner) Plan() Plan {
	pl := Plan{NetworkID: p.netID, Range: p.rng, ULA: p.ula, Relays: p.ids(p.relays),
		Members: make([]MemberPlan, len(p.nodes))}
	for i := range p.nodes {
		pl.Members[i] = p.member(i)
	}
	for i := range p.devices {
		pl.Devices = append(pl.Devices, p.device(i))
	}
	return pl
}

// Relays returns the network's relays, current first (empty when none is needed).
func (p *Planner) Relays() []string { return p.ids(p.relays) }

// Member returns the view of the member with node id nodeID.
func (p *Planner) Member(nodeID string) (MemberPlan, error) {
	i, ok := p.byID[nodeID]
	if !ok {
		return MemberPlan{}, fmt.Errorf("%w: node %q is not a member of network %s", ErrInvalid, nodeID, p.netID)
	}
	return p.member(i), nil
}

// Device returns the view of the access device called name.
func (p *Planner) Device(name string) (DevicePlan, error) {
	i, ok := slices.BinarySearchFunc(p.devices, name, func(d device, n string) int { return cmp.Compare(d.Name, n) })
	if !ok {
		return DevicePlan{}, fmt.Errorf("%w: no access device %q in network %s", ErrInvalid, name, p.netID)
	}
	return p.device(i), nil
}

func (p *Planner) member(i int) MemberPlan {
	n := &p.nodes[i]
	mp := MemberPlan{NodeID: n.id, Name: n.name, Hidden: !n.public, Subnet: n.subnet, ULA: n.ula,
		ListenPort: n.port, Routes: []netip.Prefix{p.rng, p.ula}}
	for _, j := range p.candidates(i) {
		if l, ok := p.link(n, &p.nodes[j]); ok {
			mp.Peers = append(mp.Peers, p.memberPeer(j, l))
		}
	}
	for _, d := range p.devOf[i] {
		mp.Peers = append(mp.Peers, p.devicePeer(d))
	}
	if n.relayed && len(p.relays) > 0 {
		mp.Relays = p.ids(p.relays)
		mp.Relayed = p.relayedSet(n, mp.Peers)
		for k := range mp.Peers {
			if pe := &mp.Peers[k]; pe.NodeID == mp.Relays[0] {
				pe.AllowedIPs = append(pe.AllowedIPs, mp.Relayed...)
				sortPrefixes(pe.AllowedIPs)
			}
		}
	}
	return mp
}

// candidates are the members that may be direct peers of member i: everyone for a public
// member; public members and LAN neighbours for a hidden one.
func (p *Planner) candidates(i int) []int {
	if p.nodes[i].public {
		out := make([]int, 0, len(p.nodes)-1)
		for j := range p.nodes {
			if j != i {
				out = append(out, j)
			}
		}
		return out
	}
	out := append(slices.Clone(p.public), p.lanPeers(i)...)
	slices.Sort(out)
	return out
}

func (p *Planner) memberPeer(j int, l link) Peer {
	b := &p.nodes[j]
	allowed := []netip.Prefix{b.subnet, b.ula}
	for _, d := range p.devOf[j] {
		allowed = append(allowed, p.deviceIPs(d)...)
	}
	sortPrefixes(allowed)
	return Peer{NodeID: b.id, Name: b.name, PublicKey: b.key, Endpoint: l.ep, AllowedIPs: allowed,
		Keepalive: l.ka, Path: l.path}
}

func (p *Planner) deviceIPs(d int) []netip.Prefix {
	return []netip.Prefix{netip.PrefixFrom(p.devices[d].Address, 32)}
}

func (p *Planner) devicePeer(d int) Peer {
	return Peer{Name: p.devices[d].Name, PublicKey: p.devices[d].PublicKey, AllowedIPs: p.deviceIPs(d), Path: PathAccess}
}

// relayedSet is the range and its ULA twin minus the member's own subnet and everything
// its direct entries carry.
func (p *Planner) relayedSet(n *node, peers []Peer) []netip.Prefix {
	ex := []netip.Prefix{n.subnet, n.ula}
	for _, pe := range peers {
		ex = append(ex, pe.AllowedIPs...)
	}
	return append(Remainder(p.rng, ex), Remainder(p.ula, ex)...)
}

// WithRelay returns mp's peers with mp.Relayed carried by the entry of relay nodeID
// instead of any other entry: the failover move. An empty nodeID means the primary
// (as in a zero RelayState). The result is a new slice; mp is not changed. A relay that
// is not one of mp's peers leaves every entry without the relayed set.
func WithRelay(mp MemberPlan, nodeID string) []Peer {
	if nodeID == "" && len(mp.Relays) > 0 {
		nodeID = mp.Relays[0]
	}
	peers := make([]Peer, len(mp.Peers))
	for i, pe := range mp.Peers {
		pe.AllowedIPs = slices.DeleteFunc(slices.Clone(pe.AllowedIPs), func(a netip.Prefix) bool {
			_, found := slices.BinarySearchFunc(mp.Relayed, a, cmpPrefix)
			return found
		})
		if pe.NodeID == nodeID && nodeID != "" {
			pe.AllowedIPs = append(pe.AllowedIPs, mp.Relayed...)
			sortPrefixes(pe.AllowedIPs)
		}
		peers[i] = pe
	}
	return peers
}
