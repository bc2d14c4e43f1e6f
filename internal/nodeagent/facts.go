package nodeagent

import (
	"context"
	"net/netip"
	"slices"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// FactsSource is where a node's facts come from: netlink on a node (NetlinkFacts), a
// fake in tests. Facts must be deterministic for an unchanged system (sorted), so that
// unchanged facts are recognised and not re-sent.
type FactsSource interface {
	Facts(ctx context.Context) (gridapi.NodeFacts, error)
}

// FactsFunc adapts a function to FactsSource.
type FactsFunc func(ctx context.Context) (gridapi.NodeFacts, error)

// Facts implements FactsSource.
func (f FactsFunc) Facts(ctx context.Context) (gridapi.NodeFacts, error) { return f(ctx) }

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// EndpointReason classifies an address as a WireGuard endpoint candidate: "global-ipv6"
// for global unicast IPv6 outside fc00::/7, "public-ipv4" for IPv4 outside RFC1918,
// CGNAT, loopback and link-local; "" when it is not a candidate. Documentation
// prefixes count as public (the lab uses them as its Internet).
func EndpointReason(a netip.Addr) string {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return ""
	}
	if a.Is4() {
		if cgnat.Contains(a) {
			return ""
		}
		return "public-ipv4"
	}
	return "global-ipv6"
}

// The reasons of endpoints networkd vouches for (peers may initiate to them).
const (
	ReasonPublicConfig  = "public-config"       // the farmer's static public address
	ReasonPublicIPv4    = "public-ipv4"         // a public IPv4 on a NIC
	ReasonPublicSegment = "public-segment-ipv6" // SLAAC on br-pub's own NIC (unfirewalled segment)
	ReasonNetworkd      = "networkd"            // networkd said so, for a reason not listed here
)

// Reachable reports whether peers may initiate connections to an endpoint candidate:
// one networkd vouches for (a farmer-set public address, a public IPv4 on a NIC, or a
// SLAAC address on br-pub's own NIC, the unfirewalled public segment). A global IPv6
// on the management/home LAN (reason "global-ipv6", from the NIC fallback) does not
// count: a home router may firewall it inbound (home6), so such a node stays hidden.
func Reachable(e gridapi.Endpoint) bool {
	switch e.Reason {
	case ReasonPublicConfig, ReasonPublicIPv4, ReasonPublicSegment:
		return true
	}
	return false
}

// Classify fills f.Endpoints from the NICs' addresses (keeping any endpoints already
// there, e.g. from a public config), sorts them, and sets Hidden when none of them is
// Reachable (a global IPv6 on a home LAN alone leaves the node hidden).
func Classify(f *gridapi.NodeFacts) {
	seen := make(map[string]bool)
	for _, e := range f.Endpoints {
		seen[e.IP] = true
	}
	for _, nic := range f.NICs {
		for _, a := range nic.Addrs {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				continue
			}
			ip := p.Addr().Unmap()
			if r := EndpointReason(ip); r != "" && !seen[ip.String()] {
				seen[ip.String()] = true
				f.Endpoints = append(f.Endpoints, gridapi.Endpoint{IP: ip.String(), Family: gridapi.Family(ip), Reason: r})
			}
		}
	}
	slices.SortFunc(f.Endpoints, func(a, b gridapi.Endpoint) int {
		if a.Family != b.Family {
			return b.Family - a.Family // IPv6 first
		}
		return netip.MustParseAddr(a.IP).Compare(netip.MustParseAddr(b.IP))
	})
	if f.Endpoints == nil {
		f.Endpoints = []gridapi.Endpoint{}
	}
	f.Endpoints = f.Endpoints[:min(len(f.Endpoints), gridapi.MaxEndpoints)]
	f.Hidden = !slices.ContainsFunc(f.Endpoints, Reachable)
}

// PublicConfigEndpoints are the endpoints a farmer-set public config gives the node.
func PublicConfigEndpoints(p *gridapi.PublicConfig) []gridapi.Endpoint {
	if p == nil {
		return nil
	}
	var out []gridapi.Endpoint
	for _, s := range []string{p.IPv6, p.IPv4} {
		if pr, err := netip.ParsePrefix(s); err == nil {
			out = append(out, gridapi.Endpoint{IP: pr.Addr().String(), Family: gridapi.Family(pr.Addr()), Reason: "public-config"})
		}
	}
	return out
}
