package resource

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/ula"
)

// ensureBridge makes the workload bridge b-<id> in the host namespace, without IPv6
// (it holds no address; the gateway is the NR's leg in n-<id>).
func (a *Applier) ensureBridge(n Names, mtu int) error {
	h, err := link.Handle(a.Host)
	if err != nil {
		return err
	}
	defer h.Close()
	br, err := link.Ensure(h, &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge, MTU: mtu}})
	if err != nil {
		return err
	}
	if err := link.Set(a.Host, link.IPv6(n.Bridge, link.Sysctls{"disable_ipv6": "1"})); err != nil {
		return err
	}
	return link.SetMTUUp(h, br, mtu)
}

// ensureLeg makes the veth v-<id> (host, on the bridge) ↔ b-<id> (in n-<id>). A host
// end whose peer is missing is recreated.
func (a *Applier) ensureLeg(ns *netns.NS, n Names, mtu int) error {
	h, err := link.Handle(a.Host)
	if err != nil {
		return err
	}
	defer h.Close()
	nh, err := link.Handle(ns)
	if err != nil {
		return err
	}
	defer nh.Close()
	if err := link.FixHalfVeth(h, nh, n.Veth, n.Bridge); err != nil {
		return err
	}
	v, err := link.Ensure(h, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n.Veth, MTU: mtu},
		PeerName: n.Bridge, PeerNamespace: netlink.NsFd(ns.Fd())})
	if err != nil {
		return err
	}
	br, err := h.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", n.Bridge, err)
	}
	if err := link.SetMaster(h, v, br); err != nil {
		return err
	}
	if err := link.SetMTUUp(h, v, mtu); err != nil {
		return err
	}
	in, err := nh.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", n.Bridge, n.NS, err)
	}
	// The gateway's MAC is fixed, so workloads' neighbour caches stay right when the
	// leg is recreated (after a repair or a crash).
	if mac := GatewayMAC(n.NS); in.Attrs().HardwareAddr.String() != mac.String() {
		if err := nh.LinkSetHardwareAddr(in, mac); err != nil {
			return fmt.Errorf("set gateway mac on %s: %w", n.Bridge, err)
		}
	}
	return link.SetMTUUp(nh, in, mtu)
}

// GatewayMAC is the deterministic, locally administered MAC of an NR's gateway leg.
func GatewayMAC(nsName string) net.HardwareAddr {
	h := sha256.Sum256([]byte("zosnet-gateway/" + nsName))
	return net.HardwareAddr{0x02, h[0], h[1], h[2], h[3], h[4]}
}

// ensureGateway puts the gateway addresses (IPv4 and its ULA twin) on b-<id> in n-<id>.
func ensureGateway(ns *netns.NS, s nodeapi.NRSpec, n Names) error {
	h, err := link.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", n.Bridge, n.NS, err)
	}
	tw := ula.Twin(s.NetworkID, s.Subnet)
	return link.ReplaceAddrs(h, l,
		netip.PrefixFrom(s.Gateway(), s.Subnet.Bits()),
		netip.PrefixFrom(ula.Addr(s.NetworkID, s.Gateway()), tw.Bits()))
}

// ensureRoutes routes every peer prefix (and ULA twin) through w-<id>, and removes our
// routes (RouteProto) that are no longer wanted.
func ensureRoutes(ns *netns.NS, s nodeapi.NRSpec, n Names) error {
	h, err := link.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(n.WG)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", n.WG, n.NS, err)
	}
	want := map[netip.Prefix]bool{}
	for _, p := range s.Routes() {
		want[p] = true
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: link.IPNet(p), Protocol: RouteProto, Scope: netlink.SCOPE_LINK}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("route %s dev %s: %w", p, n.WG, err)
		}
	}
	return pruneRoutes(h, want)
}

func pruneRoutes(h *netlink.Handle, want map[netip.Prefix]bool) error {
	rs, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: RouteProto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range rs {
		if r.Dst == nil {
			continue
		}
		p, ok := netip.AddrFromSlice(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		if ok && want[netip.PrefixFrom(p.Unmap(), ones)] {
			continue
		}
		if err := h.RouteDel(&r); err != nil {
			return fmt.Errorf("delete stale route %s: %w", r.Dst, err)
		}
	}
	return nil
}

// CreateNS is netns.Create that first clears a stale entry: a file left without its
// bind mount by a crash between the two steps of a create (netns.Create would keep
// failing on it).
func CreateNS(dir, name string) (*netns.NS, error) {
	ns, err := netns.OpenNamed(dir, name)
	if err == nil {
		return ns, nil
	}
	if !errors.Is(err, netns.ErrNotExist) {
		if err := netns.Delete(dir, name); err != nil {
			return nil, fmt.Errorf("clear stale netns %s: %w", name, err)
		}
	}
	return netns.Create(dir, name)
}
