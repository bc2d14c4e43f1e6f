package workload

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/ula"
)

// Attacher plugs workloads into the NR bridges of the host namespace.
type Attacher struct {
	Host     *netns.NS // holds the b-<id> bridges and br-pub
	NetnsDir string    // where wl-<name> namespaces live ("" = /run/netns)
	// PubBridge is the public segment's bridge public workloads join ("" = br-pub).
	PubBridge string
}

// Attach makes the workload of info exist on its NR's bridge. Re-running it repairs a
// half-made attachment. On failure nothing new is left behind.
func (a *Attacher) Attach(info nodeapi.Workload) (err error) {
	h, err := link.Handle(a.Host)
	if err != nil {
		return err
	}
	defer h.Close()
	br, err := h.LinkByName(resource.NamesOf(info.NetworkID).Bridge)
	if err != nil {
		return fmt.Errorf("workload %s: bridge of network %s: %w", info.Name, info.NetworkID, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.Detach(info))
		}
	}()
	var l netlink.Link
	if info.Kind == nodeapi.KindTap {
		l, err = a.ensureTap(h, info, br)
	} else {
		l, err = a.ensureNetns(h, info, br)
	}
	if err != nil {
		return fmt.Errorf("workload %s: %w", info.Name, err)
	}
	if err := h.LinkSetMaster(l, br); err != nil {
		return fmt.Errorf("workload %s: attach to bridge: %w", info.Name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("workload %s: set up: %w", info.Name, err)
	}
	if info.PublicIf != "" {
		if err := a.ensurePublic(h, info); err != nil {
			return fmt.Errorf("workload %s: public interface: %w", info.Name, err)
		}
	}
	return nil
}

// ensureTap makes the VM's persistent tap in the host namespace.
func (a *Attacher) ensureTap(h *netlink.Handle, info nodeapi.Workload, br netlink.Link) (netlink.Link, error) {
	return a.ensureTapOn(h, info.HostIf, br)
}

// ensureTapOn makes a persistent tap name with br's MTU. The tap ioctl works in the
// calling thread's namespace (not the handle's), so it runs inside Host.Do.
func (a *Attacher) ensureTapOn(h *netlink.Handle, name string, br netlink.Link) (netlink.Link, error) {
	if l, err := h.LinkByName(name); err == nil {
		if l.Type() != "tuntap" {
			return nil, fmt.Errorf("link %s exists as %s, want tuntap", name, l.Type())
		}
		return l, nil
	}
	t := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: br.Attrs().MTU},
		Mode: netlink.TUNTAP_MODE_TAP, Flags: netlink.TUNTAP_DEFAULTS | netlink.TUNTAP_NO_PI}
	if err := a.Host.Do(func() error { return netlink.LinkAdd(t) }); err != nil {
		return nil, fmt.Errorf("add tap %s: %w", name, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find tap %s: %w", name, err)
	}
	return l, h.LinkSetMTU(l, br.Attrs().MTU)
}

func (a *Attacher) ensureNetns(h *netlink.Handle, info nodeapi.Workload, br netlink.Link) (netlink.Link, error) {
	ns, err := resource.CreateNS(a.NetnsDir, info.Netns)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	wh, err := link.Handle(ns)
	if err != nil {
		return nil, err
	}
	defer wh.Close()
	if err := link.FixHalfVeth(h, wh, info.HostIf, "eth0"); err != nil { // half-made: start over
		return nil, err
	}
	mtu := br.Attrs().MTU
	l, err := link.Ensure(h, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: info.HostIf, MTU: mtu},
		PeerName: "eth0", PeerNamespace: netlink.NsFd(ns.Fd())})
	if err != nil {
		return nil, err
	}
	if info.PublicIf != "" {
		if err := a.ensurePublicVeth(h, wh, ns, info); err != nil {
			return nil, err
		}
	}
	return l, configureInside(wh, info, mtu)
}

// configureInside sets eth0's MAC, MTU, addresses and default routes inside the
// workload namespace, and brings lo and eth0 up.
func configureInside(h *netlink.Handle, info nodeapi.Workload, mtu int) error {
	e, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("find eth0: %w", err)
	}
	mac, err := net.ParseMAC(info.MAC)
	if err != nil {
		return fmt.Errorf("mac %q: %w", info.MAC, err)
	}
	if err := h.LinkSetHardwareAddr(e, mac); err != nil {
		return fmt.Errorf("set mac: %w", err)
	}
	if err := h.LinkSetMTU(e, mtu); err != nil {
		return fmt.Errorf("set mtu: %w", err)
	}
	if err := link.ReplaceAddrs(h, e, info.IPv4, info.IPv6); err != nil {
		return err
	}
	if err := link.UpByName(h, "lo", "eth0"); err != nil {
		return err
	}
	for _, r := range privateRoutes(info) {
		rt := &netlink.Route{LinkIndex: e.Attrs().Index, Gw: r.gw.AsSlice()}
		if r.dst.IsValid() {
			rt.Dst = link.IPNet(r.dst)
		}
		if err := h.RouteReplace(rt); err != nil {
			return fmt.Errorf("route %s via %s: %w", r.what(), r.gw, err)
		}
	}
	return nil
}

// route is a route of a workload: dst (invalid = default) via gw.
type route struct {
	dst netip.Prefix
	gw  netip.Addr
}

func (r route) what() string {
	if r.dst.IsValid() {
		return r.dst.String()
	}
	return "default"
}

// privateRoutes are the routes through the NR gateway: the defaults, or only the
// network's range (and its ULA /48) for the families a public interface carries.
func privateRoutes(info nodeapi.Workload) []route {
	gw6 := ula.Addr(info.NetworkID, info.Gateway)
	r4, r6 := route{gw: info.Gateway}, route{gw: gw6}
	if info.PublicIPv4.IsValid() {
		r4.dst = info.NetworkRange
	}
	if info.PublicAddr6.IsValid() {
		r6.dst = ula.Net48(info.NetworkID)
	}
	return []route{r4, r6}
}

// Detach removes the workload's host link and, for a netns workload, its namespace.
// A workload already gone is success.
func (a *Attacher) Detach(info nodeapi.Workload) error {
	h, err := link.Handle(a.Host)
	if err != nil {
		return err
	}
	defer h.Close()
	errs := []error{link.Delete(h, info.HostIf)}
	if info.PublicIf != "" {
		errs = append(errs, link.Delete(h, info.PublicIf))
	}
	if info.Netns != "" {
		errs = append(errs, netns.Delete(a.NetnsDir, info.Netns))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach workload %s: %w", info.Name, err)
	}
	return nil
}
