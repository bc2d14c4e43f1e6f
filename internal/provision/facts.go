package provision

import (
	"context"
	"net/netip"
	"time"

	"github.com/zosnet/zosnet/internal/endpoints"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// What provisiond adds to the node's facts (nodeagent.NodeOptions) from networkd.

// endpointsOf asks networkd, which knows where the WireGuard sockets live, for the
// node's endpoints and hidden flag. While networkd does not answer or does not manage
// the uplinks it returns nil, and the agent falls back to classifying the NICs.
func endpointsOf(ctx context.Context, nd Networkd) ([]gridapi.Endpoint, bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := nd.NodeStatus(ctx)
	if err != nil || !st.Managed {
		return nil, false
	}
	return endpointsFrom(st.UplinkStatus)
}

// endpointsFrom turns networkd's uplink status into the endpoint candidates and hidden
// flag the registry gets: networkd knows where the WireGuard sockets live (host or
// public namespace) and which addresses there can be endpoints. Each endpoint's reason
// is a short code of where networkd found it (reasonOf).
func endpointsFrom(st nodeapi.UplinkStatus) ([]gridapi.Endpoint, bool) {
	out := []gridapi.Endpoint{}
	for _, e := range st.Endpoints {
		if !e.Addr.IsValid() {
			continue
		}
		a := e.Addr.Unmap()
		out = append(out, gridapi.Endpoint{IP: a.String(), Family: gridapi.Family(a), Reason: reasonOf(e.Where, a)})
	}
	// Addresses peers cannot reach but the node can dial out from (a global IPv6 on a
	// firewalled home LAN) are candidates too, unreachable (gridapi.ReasonGlobalIPv6):
	// the planner counts the family for paths to public nodes.
	for _, r := range st.Refused {
		if r.Outgoing && r.Addr.IsValid() {
			a := r.Addr.Unmap()
			out = append(out, gridapi.Endpoint{IP: a.String(), Family: gridapi.Family(a), Reason: gridapi.ReasonGlobalIPv6})
		}
	}
	return out[:min(len(out), gridapi.MaxEndpoints)], st.Hidden
}

// reasonOf is the registry reason code for an endpoint networkd found at where.
func reasonOf(where endpoints.Where, a netip.Addr) string {
	switch {
	case where == endpoints.PublicConfig:
		return gridapi.ReasonPublicConfig
	case a.Is4():
		return gridapi.ReasonPublicIPv4
	case where == endpoints.PublicSegment:
		return gridapi.ReasonPublicSegment
	}
	return gridapi.ReasonNetworkd
}

// wgPorts lists the listen ports of the node's network resources (for the facts).
func wgPorts(ctx context.Context, nd Networkd) []int {
	nrs, err := nd.ListNRs(ctx)
	if err != nil {
		return nil
	}
	var ports []int
	for _, nr := range nrs {
		ports = append(ports, int(nr.Status.ListenPort))
	}
	return ports
}
