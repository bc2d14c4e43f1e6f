package nodeapi

import (
	"fmt"
	"net/netip"
	"sort"
)

// GatewayFirewall is what a gateway node's firewall lets through (PUT
// /v1/gateway-firewall): its public ports in the `public` namespace, and per network
// the backends its connections may reach from that network's namespace (anything else
// new is refused there). The zero value closes everything again.
type GatewayFirewall struct {
	// TCPPorts and UDPPorts are opened in the public namespace's firewall.
	TCPPorts []uint16 `json:"tcp_ports"`
	UDPPorts []uint16 `json:"udp_ports"`
	// Backends are, per network id, "tcp:IP:PORT" or "udp:IP:PORT" (IPv4).
	Backends map[string][]string `json:"backends"`
}

// GatewayBackend is one parsed entry of GatewayFirewall.Backends.
type GatewayBackend struct {
	Proto string // "tcp" or "udp"
	Addr  netip.AddrPort
}

// ParseGatewayBackend parses "tcp:IP:PORT" or "udp:IP:PORT".
func ParseGatewayBackend(s string) (GatewayBackend, error) {
	if len(s) < 4 || (s[:4] != "tcp:" && s[:4] != "udp:") {
		return GatewayBackend{}, fmt.Errorf("%q: want tcp:IP:PORT or udp:IP:PORT", s)
	}
	ap, err := netip.ParseAddrPort(s[4:])
	if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
		return GatewayBackend{}, fmt.Errorf("%q: want an IPv4 address and a port", s)
	}
	return GatewayBackend{Proto: s[:3], Addr: ap}, nil
}

// MaxGatewayBackends bounds the backends of one network (16 per exposure).
const MaxGatewayBackends = 4096

// Validate checks every field, naming the first problem.
func (g *GatewayFirewall) Validate() error {
	for field, ps := range map[string][]uint16{"tcp_ports": g.TCPPorts, "udp_ports": g.UDPPorts} {
		for _, p := range ps {
			if p == 0 {
				return invalid("gateway firewall", field, "port 0")
			}
		}
	}
	ids := make([]string, 0, len(g.Backends))
	for id := range g.Backends {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !idRE.MatchString(id) {
			return invalid("gateway firewall", "backends", "%q is not a network id (1 to 11 characters of [a-z0-9])", id)
		}
		if len(g.Backends[id]) > MaxGatewayBackends {
			return invalid("gateway firewall", "backends["+id+"]", "more than %d", MaxGatewayBackends)
		}
		for i, b := range g.Backends[id] {
			if _, err := ParseGatewayBackend(b); err != nil {
				return invalid("gateway firewall", fmt.Sprintf("backends[%s][%d]", id, i), "%v", err)
			}
		}
	}
	return nil
}
