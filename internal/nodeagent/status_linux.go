package nodeagent

import (
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/public"
)

// EndpointsOf turns networkd's uplink status into the endpoint candidates and hidden
// flag the registry gets: networkd knows where the WireGuard sockets live (host or
// public namespace) and which addresses there can be endpoints. networkd passes it as
// NodeOptions.Endpoints, e.g. func() ([]gridapi.Endpoint, bool) { return
// nodeagent.EndpointsOf(uplinks.Status()) }.
func EndpointsOf(st public.Status) ([]gridapi.Endpoint, bool) {
	out := []gridapi.Endpoint{}
	for _, e := range st.Endpoints {
		if !e.Addr.IsValid() {
			continue
		}
		reason := e.Reason
		if reason == "" {
			reason = "networkd"
		}
		if len(reason) > 32 {
			reason = reason[:32]
		}
		out = append(out, gridapi.Endpoint{IP: e.Addr.Unmap().String(), Family: gridapi.Family(e.Addr), Reason: reason})
	}
	return out, st.Hidden
}
