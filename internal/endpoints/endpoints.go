// Package endpoints works out which of a node's addresses can be WireGuard endpoints
// (reachable from the Internet for a new handshake) and whether the node is hidden.
//
// It is pure: the caller reads the addresses of the socket namespace (host, or
// `public` once the farmer set a public config) and says where each one sits; Compute
// returns the endpoints and, for every address it refused, the reason. The rules:
//
//   - addresses of the farmer's public config are endpoints (the farmer vouches for them);
//   - a global IPv6 address on the public segment (br-pub uplinked to the second NIC) is
//     an endpoint: the seed asks farmers not to firewall that prefix;
//   - a public (non-RFC1918, non-shared) IPv4 address on `zos` is an endpoint;
//   - a global IPv6 address on `zos` (the management or home LAN) is not: home routers
//     firewall IPv6 inbound and the node cannot tell, so the seed counts such nodes as hidden;
//   - link-local, loopback, multicast, private, shared (100.64/10), ULA, tentative and
//     deprecated addresses are never endpoints.
//
// A node with no endpoint is hidden: it peers only with public nodes and keeps its
// NAT/firewall state alive with keepalives.
package endpoints

import (
	"net/netip"
	"sort"
)

// Where says where an address sits on the node.
type Where string

// Places an address can sit.
const (
	// PublicConfig is an address of the farmer's public config (in the `public` namespace).
	PublicConfig Where = "public-config"
	// PublicSegment is an address learned on br-pub when br-pub is uplinked to its own
	// NIC on the segment that carries the farm's public IPv6 prefix.
	PublicSegment Where = "public-segment"
	// Management is an address on `zos`, the NIC the node booted from (OOB or home LAN).
	Management Where = "management"
)

// Addr is one address of the socket namespace as the kernel reports it.
type Addr struct {
	// Prefix is the address with its prefix length.
	Prefix netip.Prefix `json:"address"`
	// Iface is the interface holding it (for the report only).
	Iface string `json:"iface"`
	// Where says which kind of link Iface is.
	Where Where `json:"where"`
	// Tentative is true while duplicate address detection runs.
	Tentative bool `json:"tentative,omitempty"`
	// Deprecated is true once the preferred lifetime ran out.
	Deprecated bool `json:"deprecated,omitempty"`
}

// Endpoint is an address peers can send a first handshake to.
type Endpoint struct {
	Addr   netip.Addr `json:"address"`
	Family string     `json:"family"` // "ipv4" or "ipv6"
	Iface  string     `json:"iface"`
	Where  Where      `json:"where"`
	Reason string     `json:"reason"`
}

// Refused is an address that cannot be an endpoint, with the reason.
type Refused struct {
	Addr   netip.Addr `json:"address"`
	Iface  string     `json:"iface"`
	Reason string     `json:"reason"`
	// Outgoing is true for an address the node can still dial out from, though peers
	// may not reach it: a global IPv6 on the management or home LAN (firewalled
	// inbound). A hidden node with one dials IPv6-only public nodes directly.
	Outgoing bool `json:"outgoing,omitempty"`
}

// Result is Compute's answer.
type Result struct {
	// Hidden is true when there is no endpoint at all.
	Hidden    bool       `json:"hidden"`
	Endpoints []Endpoint `json:"endpoints"`
	Refused   []Refused  `json:"refused"`
}

var shared = netip.MustParsePrefix("100.64.0.0/10")

// Compute classifies addrs. The output is sorted (endpoints IPv6 first, then by address)
// so that equal inputs give equal results whatever their order.
func Compute(addrs []Addr) Result {
	r := Result{Endpoints: []Endpoint{}, Refused: []Refused{}}
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		ip := a.Prefix.Addr().Unmap()
		if !a.Prefix.IsValid() || seen[ip] {
			continue
		}
		seen[ip] = true
		if why, ok := classify(a, ip); ok {
			r.Endpoints = append(r.Endpoints, Endpoint{Addr: ip, Family: family(ip), Iface: a.Iface, Where: a.Where, Reason: why})
		} else {
			out := a.Where == Management && ip.Is6() && unusable(ip) == "" && !a.Tentative && !a.Deprecated
			r.Refused = append(r.Refused, Refused{Addr: ip, Iface: a.Iface, Reason: why, Outgoing: out})
		}
	}
	sort.Slice(r.Endpoints, func(i, j int) bool {
		x, y := r.Endpoints[i].Addr, r.Endpoints[j].Addr
		if x.Is6() != y.Is6() {
			return x.Is6()
		}
		return x.Less(y)
	})
	sort.Slice(r.Refused, func(i, j int) bool { return r.Refused[i].Addr.Less(r.Refused[j].Addr) })
	r.Hidden = len(r.Endpoints) == 0
	return r
}

func family(ip netip.Addr) string {
	if ip.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// classify returns (reason it is an endpoint, true) or (reason it is not, false).
func classify(a Addr, ip netip.Addr) (string, bool) {
	if why := unusable(ip); why != "" {
		return why, false
	}
	switch {
	case a.Tentative:
		return "tentative: duplicate address detection still running", false
	case a.Deprecated:
		return "deprecated: preferred lifetime expired", false
	}
	switch a.Where {
	case PublicConfig:
		return "farmer's public config", true
	case PublicSegment:
		if ip.Is6() {
			return "global IPv6 on the public segment (SLAAC)", true
		}
		return "public IPv4 on the public segment", true
	case Management:
		if ip.Is4() {
			return "public IPv4 on zos", true
		}
		return "global IPv6 on the management/home LAN: inbound may be firewalled (plug the public segment or set a public config)", false
	}
	return "unknown interface role " + string(a.Where), false
}

// unusable says why ip can never be reached from the Internet, or "".
func unusable(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	case ip.Is4() && ip.IsPrivate():
		return "private IPv4 (RFC 1918): behind NAT"
	case ip.Is4() && shared.Contains(ip):
		return "shared address space (100.64.0.0/10): carrier NAT or node-internal"
	case ip.Is6() && ip.IsPrivate():
		return "unique local IPv6 (fc00::/7)"
	case !ip.IsGlobalUnicast():
		return "not global unicast"
	}
	return ""
}
