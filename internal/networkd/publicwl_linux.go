package networkd

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/public"
	"github.com/zosnet/zosnet/internal/workload"
)

// publicWorkload checks that the node can carry workload w's public addresses and
// fills in its public IPv6 address and router: a public workload needs managed
// uplinks and a public segment of its own (br-pub on a NIC, or a farmer's public
// config cfg); its IPv6 is the EUI-64 of its public MAC in br-pub's SLAAC /64 (else
// the public config's /64), its router br-pub's default router (else the config's
// gw6). Errors wrap nodeapi.ErrConflict and say what the node lacks.
func (r *reconciler) publicWorkload(w nodeapi.Workload, cfg *nodeapi.PublicConfig) (nodeapi.Workload, error) {
	if !w.Public() {
		return w, nil
	}
	refuse := func(format string, args ...any) (nodeapi.Workload, error) {
		return w, fmt.Errorf("%w: workload %s: public addresses: "+format, append([]any{nodeapi.ErrConflict, w.Name}, args...)...)
	}
	if !r.managed {
		return refuse("networkd does not manage this node's uplinks (no zos bridge yet, or --uplinks=off)")
	}
	if seg := r.up.Segment(); seg.Mode != "nic" && cfg == nil {
		return refuse("this node has no public NIC (%s is uplinked to %s: %s) and no public config; deploy it on a node with a public NIC", public.Bridge, public.Zos, seg.Reason)
	}
	if cfg != nil && w.PublicIPv4.IsValid() && cfg.IPv4.IsValid() && cfg.IPv4.Addr() == w.PublicIPv4.Addr() {
		return refuse("%s is the node's own public address (public config)", w.PublicIPv4.Addr())
	}
	if !w.PublicIPv6 {
		return w, nil
	}
	p, gw, err := r.publicSegment6()
	if err != nil && cfg != nil && cfg.IPv6.IsValid() && cfg.IPv6.Bits() == 64 {
		p, gw, err = cfg.IPv6.Masked(), cfg.GW6, nil
	}
	if err != nil {
		return refuse("%v", err)
	}
	w.PublicAddr6, w.PublicGW6 = workload.PublicAddr6(p, w.WorkloadSpec), gw
	return w, nil
}

// publicSegment6 reads br-pub's global SLAAC /64 and its default IPv6 router.
func (r *reconciler) publicSegment6() (netip.Prefix, netip.Addr, error) {
	h, err := link.Handle(r.host)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	defer h.Close()
	br, err := h.LinkByName(public.Bridge)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("no %s: %w", public.Bridge, err)
	}
	addrs, err := h.AddrList(br, netlink.FAMILY_V6)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("addresses of %s: %w", public.Bridge, err)
	}
	var pfx netip.Prefix
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ones, _ := a.Mask.Size(); ok && ip.Is6() && ip.IsGlobalUnicast() && ones == 64 {
			pfx = netip.PrefixFrom(ip, 64).Masked()
			break
		}
	}
	if !pfx.IsValid() {
		return pfx, netip.Addr{}, fmt.Errorf("%s has no global IPv6 /64 (no router advertisement on the public segment)", public.Bridge)
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{LinkIndex: br.Attrs().Index}, netlink.RT_FILTER_OIF)
	if err != nil {
		return pfx, netip.Addr{}, fmt.Errorf("routes of %s: %w", public.Bridge, err)
	}
	for _, rt := range routes {
		if ones, _ := maskOf(rt); ones == 0 && rt.Gw != nil {
			if gw, ok := netip.AddrFromSlice(rt.Gw); ok {
				return pfx, gw, nil
			}
		}
	}
	return pfx, netip.Addr{}, fmt.Errorf("%s has no default IPv6 router", public.Bridge)
}

// maskOf is a route's prefix length; a route without Dst is a default route.
func maskOf(rt netlink.Route) (int, int) {
	if rt.Dst == nil {
		return 0, 128
	}
	return rt.Dst.Mask.Size()
}
