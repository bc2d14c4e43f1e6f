package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Self is what a member node knows about its own network resource before the registry
// does: its WireGuard key and port as networkd reports them. The zero value (NodeID 0)
// is an outside view, e.g. the CLI's: every member as the registry has it.
type Self struct {
	NodeID     int64
	PublicKey  string
	ListenPort int
}

// FromGrid converts one network of the registry's view (a node's desired state, or a
// network's status) into the planner's input. It is the one conversion: provisiond
// plans its peers with it, and the CLI its `network status` and device files.
//
//   - Members that have not reported a network resource yet (no key or port) are left
//     out, except self, whose key and port come from the node itself; they join the
//     plan once they report.
//   - Endpoint candidates are the member's reported ones (duplicates merged, at most
//     MaxAddresses); one is reachable when gridapi.Endpoint.Reachable says so, and a
//     member without a reachable one is hidden, whatever its hidden flag says.
//   - A member's relay weight is its reported relay_weight (out of range: the default).
//   - LAN facts are the source address the registry saw and the member's private IPv4
//     addresses, the overlay's own links (b-, v-, w-) left out.
//   - The home relays the registry assigned (gridapi.PeerFacts.Homes) and the number of
//     members it assigned them for (DesiredNetwork.HomesFor) pass through; New uses
//     them when that number matches the input (see Input.HomesFor).
//
// Errors name the network, the member or access peer, and the field.
func FromGrid(n gridapi.DesiredNetwork, self Self) (Input, error) {
	rng, err := netip.ParsePrefix(n.IPRange)
	if err != nil {
		return Input{}, fmt.Errorf("network %s: ip_range %q is not an IPv4 prefix", n.ID, n.IPRange)
	}
	in := Input{Network: Network{ID: n.ID, Range: rng, SubnetBits: n.SubnetSize}, HomesFor: n.HomesFor}
	for _, p := range n.Peers {
		m, ok, err := gridMember(p, self)
		if err != nil {
			return Input{}, fmt.Errorf("network %s: %w", n.ID, err)
		}
		if ok {
			in.Members = append(in.Members, m)
		}
	}
	for _, a := range n.AccessPeers {
		addr, err := netip.ParsePrefix(a.Address)
		if err != nil {
			return Input{}, fmt.Errorf("network %s: access peer %s: address %q is not an address/prefix", n.ID, a.Name, a.Address)
		}
		in.Access = append(in.Access, AccessPeer{Name: a.Name, PublicKey: a.PublicKey, Address: addr.Addr()})
	}
	return in, nil
}

func gridMember(p gridapi.PeerFacts, self Self) (Member, bool, error) {
	m := Member{NodeID: strconv.FormatInt(p.NodeID, 10), Name: p.Name}
	if p.NodeID == self.NodeID {
		m.PublicKey, m.ListenPort = self.PublicKey, self.ListenPort
	} else if p.NR != nil {
		m.PublicKey, m.ListenPort = p.NR.PublicKey, p.NR.ListenPort
	}
	if m.PublicKey == "" || m.ListenPort == 0 {
		return m, false, nil
	}
	sub, err := netip.ParsePrefix(p.Subnet)
	if err != nil {
		return m, false, fmt.Errorf("member %s: subnet %q is not an IPv4 prefix", p.Name, p.Subnet)
	}
	m.Subnet = sub
	m.Endpoints = gridEndpoints(p.Facts.Endpoints)
	m.Hidden = !slices.ContainsFunc(m.Endpoints, func(e Endpoint) bool { return e.Reachable })
	m.LAN = gridLAN(p)
	if w := p.Facts.RelayWeight; w > 0 && w <= MaxRelayWeight { // the registry checked it
		m.RelayWeight = w
	}
	for _, h := range p.Homes {
		m.Homes = append(m.Homes, strconv.FormatInt(h, 10))
	}
	return m, true, nil
}

func gridEndpoints(es []gridapi.Endpoint) []Endpoint {
	var out []Endpoint
	seen := map[netip.Addr]int{}
	for _, e := range es {
		a, err := netip.ParseAddr(e.IP)
		if err != nil {
			continue
		}
		a = a.Unmap()
		if i, ok := seen[a]; ok {
			out[i].Reachable = out[i].Reachable || e.Reachable()
			continue
		}
		if len(out) == MaxAddresses {
			continue
		}
		seen[a] = len(out)
		out = append(out, Endpoint{Addr: a, Reachable: e.Reachable()})
	}
	return out
}

// gridLAN derives a member's LAN facts: the source address the registry saw and the
// private IPv4 addresses of its NICs (the overlay's own links left out).
func gridLAN(p gridapi.PeerFacts) LAN {
	var lan LAN
	if a, err := netip.ParseAddr(p.SourceAddr); err == nil {
		lan.PublicSource = a.Unmap()
	} else if ap, err := netip.ParseAddrPort(p.SourceAddr); err == nil {
		lan.PublicSource = ap.Addr().Unmap()
	}
	for _, nic := range p.Facts.NICs {
		if overlayLink(nic.Name) {
			continue
		}
		for _, s := range nic.Addrs {
			pf, err := netip.ParsePrefix(s)
			if err != nil || !pf.Addr().Is4() || !pf.Addr().IsPrivate() || len(lan.Addresses) == MaxAddresses {
				continue
			}
			lan.Addresses = append(lan.Addresses, pf)
		}
	}
	return lan
}

// overlayLink reports whether a link belongs to a network resource (b-, v-, w- + id).
func overlayLink(name string) bool {
	for _, p := range []string{"b-", "v-", "w-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// NodeName returns the name of the member of n with node id id (a plan's node id), or
// id itself when n has no such member.
func NodeName(n gridapi.DesiredNetwork, id string) string {
	for _, p := range n.Peers {
		if strconv.FormatInt(p.NodeID, 10) == id {
			return p.Name
		}
	}
	return id
}
