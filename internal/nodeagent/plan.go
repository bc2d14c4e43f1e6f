package nodeagent

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// PlanInput turns one network of a node's desired state into the planner's input
// (package plan). Members that have not reported their network resource yet (no
// WireGuard key and port) cannot be peered and are left out; their node ids are
// returned in pending so the caller can say what it waits for. Endpoint candidates
// count as reachable unless the member reported itself hidden; LAN facts are the
// registry-observed source address and the member's private IPv4 prefixes.
func PlanInput(dn gridapi.DesiredNetwork) (in plan.Input, pending []int64, err error) {
	rng, err := netip.ParsePrefix(dn.IPRange)
	if err != nil {
		return in, nil, fmt.Errorf("network %s: ip_range: %w", dn.ID, err)
	}
	in.Network = plan.Network{ID: dn.ID, Range: rng, SubnetBits: dn.SubnetSize}
	for _, p := range dn.Peers {
		if p.NR == nil || p.NR.PublicKey == "" || p.NR.ListenPort == 0 {
			pending = append(pending, p.NodeID)
			continue
		}
		m, err := planMember(p)
		if err != nil {
			return in, nil, fmt.Errorf("network %s: member %d: %w", dn.ID, p.NodeID, err)
		}
		in.Members = append(in.Members, m)
	}
	for _, a := range dn.AccessPeers {
		addr, err := netip.ParsePrefix(a.Address)
		if err != nil {
			return in, nil, fmt.Errorf("network %s: access peer %s: %w", dn.ID, a.Name, err)
		}
		in.Access = append(in.Access, plan.AccessPeer{Name: a.Name, PublicKey: a.PublicKey, Address: addr.Addr()})
	}
	return in, pending, nil
}

func planMember(p gridapi.PeerFacts) (plan.Member, error) {
	m := plan.Member{NodeID: strconv.FormatInt(p.NodeID, 10), Name: p.Name, PublicKey: p.NR.PublicKey,
		ListenPort: p.NR.ListenPort, Hidden: p.Facts.Hidden}
	if p.Subnet != "" {
		s, err := netip.ParsePrefix(p.Subnet)
		if err != nil {
			return m, fmt.Errorf("subnet: %w", err)
		}
		m.Subnet = s
	}
	eps := append(PublicConfigEndpoints(p.PublicConfig), p.Facts.Endpoints...)
	seen := map[netip.Addr]bool{}
	for _, e := range eps {
		a, err := netip.ParseAddr(e.IP)
		if err != nil || seen[a] || len(m.Endpoints) == plan.MaxAddresses {
			continue
		}
		seen[a] = true
		m.Endpoints = append(m.Endpoints, plan.Endpoint{Addr: a, Reachable: !p.Facts.Hidden})
	}
	if src, err := netip.ParseAddr(p.SourceAddr); err == nil {
		m.LAN.PublicSource = src.Unmap()
	}
	m.LAN.Addresses = lanAddrs(p.Facts)
	return m, nil
}

// lanAddrs are the member's private IPv4 addresses with prefixes, sorted, at most
// plan.MaxAddresses.
func lanAddrs(f gridapi.NodeFacts) []netip.Prefix {
	var out []netip.Prefix
	for _, nic := range f.NICs {
		for _, s := range nic.Addrs {
			p, err := netip.ParsePrefix(s)
			if err == nil && p.Addr().Is4() && p.Addr().IsPrivate() && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	if len(out) > plan.MaxAddresses {
		out = out[:plan.MaxAddresses]
	}
	return out
}
