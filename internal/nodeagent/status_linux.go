package nodeagent

import (
	"net/netip"

	"github.com/zosnet/zosnet/internal/endpoints"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// EndpointsOf turns networkd's uplink status into the endpoint candidates and hidden
// flag the registry gets: networkd knows where the WireGuard sockets live (host or
// public namespace) and which addresses there can be endpoints. Each endpoint's reason
// is a short code of where networkd found it (ReasonOf). provisiond passes it as
// NodeOptions.Endpoints.
func EndpointsOf(st nodeapi.UplinkStatus) ([]gridapi.Endpoint, bool) {
	out := []gridapi.Endpoint{}
	for _, e := range st.Endpoints {
		if !e.Addr.IsValid() {
			continue
		}
		a := e.Addr.Unmap()
		out = append(out, gridapi.Endpoint{IP: a.String(), Family: gridapi.Family(a), Reason: ReasonOf(e.Where, a)})
	}
	return out[:min(len(out), gridapi.MaxEndpoints)], st.Hidden
}

// ReasonOf is the registry reason code for an endpoint networkd found at where.
func ReasonOf(where endpoints.Where, a netip.Addr) string {
	switch {
	case where == endpoints.PublicConfig:
		return ReasonPublicConfig
	case a.Is4():
		return ReasonPublicIPv4
	case where == endpoints.PublicSegment:
		return ReasonPublicSegment
	}
	return ReasonNetworkd
}
