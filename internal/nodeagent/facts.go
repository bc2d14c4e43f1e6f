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

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// endpointReason classifies an address as a WireGuard endpoint candidate:
// gridapi.ReasonGlobalIPv6 for global unicast IPv6 outside fc00::/7,
// gridapi.ReasonPublicIPv4 for IPv4 outside RFC1918, CGNAT, loopback and link-local; ""
// when it is not a candidate. Documentation prefixes count as public (the lab uses them
// as its Internet).
func endpointReason(a netip.Addr) string {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return ""
	}
	if a.Is4() {
		if cgnat.Contains(a) {
			return ""
		}
		return gridapi.ReasonPublicIPv4
	}
	return gridapi.ReasonGlobalIPv6
}

// classify fills f.Endpoints from the NICs' addresses (keeping any endpoints already
// there, e.g. from a public config), sorts them, and sets Hidden when none of them is
// reachable (gridapi.Endpoint.Reachable: a global IPv6 on a home LAN alone leaves the
// node hidden).
func classify(f *gridapi.NodeFacts) {
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
			if r := endpointReason(ip); r != "" && !seen[ip.String()] {
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
	f.Hidden = !slices.ContainsFunc(f.Endpoints, gridapi.Endpoint.Reachable)
}

// publicConfigEndpoints are the endpoints a farmer-set public config gives the node.
func publicConfigEndpoints(p *gridapi.PublicConfig) []gridapi.Endpoint {
	if p == nil {
		return nil
	}
	var out []gridapi.Endpoint
	for _, s := range []string{p.IPv6, p.IPv4} {
		if pr, err := netip.ParsePrefix(s); err == nil {
			out = append(out, gridapi.Endpoint{IP: pr.Addr().String(), Family: gridapi.Family(pr.Addr()), Reason: gridapi.ReasonPublicConfig})
		}
	}
	return out
}
