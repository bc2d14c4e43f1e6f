package provision

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeagent"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// Self is what the local node knows about its own network resource before the
// registry does: its key and port as networkd reports them.
type Self struct {
	NodeID     int64
	PublicKey  string
	ListenPort int
}

// Reachable reports whether peers may initiate connections to an endpoint candidate
// (nodeagent.Reachable: only addresses networkd vouches for, never a home LAN's IPv6).
func Reachable(e gridapi.Endpoint) bool { return nodeagent.Reachable(e) }

// Input converts one desired network into the planner's input. Members that have not
// reported a network resource yet (no key) are left out, except self, whose key and
// port come from the node itself; they join the plan once they report.
func Input(n gridapi.DesiredNetwork, self Self) (plan.Input, error) {
	rng, err := netip.ParsePrefix(n.IPRange)
	if err != nil {
		return plan.Input{}, fmt.Errorf("network %s: ip_range %q: %w", n.ID, n.IPRange, err)
	}
	in := plan.Input{Network: plan.Network{ID: n.ID, Range: rng, SubnetBits: n.SubnetSize}}
	for _, p := range n.Peers {
		m, ok, err := member(p, self)
		if err != nil {
			return plan.Input{}, fmt.Errorf("network %s: %w", n.ID, err)
		}
		if ok {
			in.Members = append(in.Members, m)
		}
	}
	for _, a := range n.AccessPeers {
		addr, err := netip.ParsePrefix(a.Address)
		if err != nil {
			return plan.Input{}, fmt.Errorf("network %s: access peer %s: address %q: %w", n.ID, a.Name, a.Address, err)
		}
		in.Access = append(in.Access, plan.AccessPeer{Name: a.Name, PublicKey: a.PublicKey, Address: addr.Addr()})
	}
	return in, nil
}

func member(p gridapi.PeerFacts, self Self) (plan.Member, bool, error) {
	m := plan.Member{NodeID: strconv.FormatInt(p.NodeID, 10), Name: p.Name}
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
		return m, false, fmt.Errorf("member %s: subnet %q: %w", p.Name, p.Subnet, err)
	}
	m.Subnet = sub
	m.Endpoints = endpoints(p.Facts.Endpoints)
	m.Hidden = !slices.ContainsFunc(m.Endpoints, func(e plan.Endpoint) bool { return e.Reachable })
	m.LAN = lanOf(p)
	return m, true, nil
}

func endpoints(es []gridapi.Endpoint) []plan.Endpoint {
	var out []plan.Endpoint
	seen := map[netip.Addr]int{}
	for _, e := range es {
		a, err := netip.ParseAddr(e.IP)
		if err != nil {
			continue
		}
		a = a.Unmap()
		if i, ok := seen[a]; ok {
			out[i].Reachable = out[i].Reachable || Reachable(e)
			continue
		}
		if len(out) == plan.MaxAddresses {
			continue
		}
		seen[a] = len(out)
		out = append(out, plan.Endpoint{Addr: a, Reachable: Reachable(e)})
	}
	return out
}

// lanOf derives a member's LAN facts: the source address the registry saw and the
// private IPv4 addresses of its NICs (the overlay's own links left out).
func lanOf(p gridapi.PeerFacts) plan.LAN {
	var lan plan.LAN
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
			if err != nil || !pf.Addr().Is4() || !pf.Addr().IsPrivate() || len(lan.Addresses) == plan.MaxAddresses {
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

// Spec builds the network resource spec networkd applies for a member's plan with the
// given peer entries (plan.WithRelay's result after a failover). IPv6 allowed IPs
// inside the network's ULA are left out: networkd adds the twin of every IPv4 one.
func Spec(pl plan.MemberPlan, rng netip.Prefix, netID string, peers []plan.Peer, port int) nodeapi.NRSpec {
	ula := plan.ULA48(netID)
	s := nodeapi.NRSpec{NetworkID: netID, IPRange: rng, Subnet: pl.Subnet, ListenPort: uint16(port), Peers: []nodeapi.Peer{}}
	for _, p := range peers {
		rp := nodeapi.Peer{PublicKey: p.PublicKey, PersistentKeepalive: p.Keepalive, AllowedIPs: []netip.Prefix{}}
		if p.Endpoint.IsValid() {
			rp.Endpoint = p.Endpoint.String()
		}
		for _, a := range p.AllowedIPs {
			if a.Addr().Is6() && ula.Overlaps(a) {
				continue
			}
			rp.AllowedIPs = append(rp.AllowedIPs, a)
		}
		s.Peers = append(s.Peers, rp)
	}
	return s
}

// Gateway returns the probe address of a member: the first host of its subnet, where
// its network resource answers.
func Gateway(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }
