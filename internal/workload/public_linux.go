package workload

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// DefaultPubBridge is the public segment's bridge (package public's br-pub).
const DefaultPubBridge = "br-pub"

func (a *Attacher) pubBridge() string {
	if a.PubBridge == "" {
		return DefaultPubBridge
	}
	return a.PubBridge
}

// ensurePublic plugs the host end of a public workload's second interface into the
// public bridge: the veth made by ensurePublicVeth, or a second tap for a VM (which
// configures that interface itself, with the addresses the API reports). The
// anti-spoofing table (networkd) lets only its public MAC and addresses out.
func (a *Attacher) ensurePublic(h *netlink.Handle, info nodeapi.Workload) error {
	br, err := h.LinkByName(a.pubBridge())
	if err != nil {
		return fmt.Errorf("bridge %s: %w", a.pubBridge(), err)
	}
	var l netlink.Link
	if info.Kind == nodeapi.KindTap {
		l, err = a.ensureTapOn(h, info.PublicIf, br)
	} else {
		l, err = h.LinkByName(info.PublicIf)
	}
	if err != nil {
		return err
	}
	if err := link.SetMaster(h, l, br); err != nil {
		return err
	}
	return link.Up(h, l)
}

// ensurePublicVeth makes the veth PublicIf ↔ pub0 of a netns workload and configures
// pub0: its MAC, the public IPv4 and IPv6 addresses, default routes to the public
// gateways; forwarding off in the namespace, so nothing reaches the network through
// the workload from the public segment.
func (a *Attacher) ensurePublicVeth(h, wh *netlink.Handle, ns *netns.NS, info nodeapi.Workload) error {
	br, err := h.LinkByName(a.pubBridge())
	if err != nil {
		return fmt.Errorf("bridge %s: %w", a.pubBridge(), err)
	}
	if err := link.FixHalfVeth(h, wh, info.PublicIf, PublicIfName); err != nil {
		return err
	}
	mtu := br.Attrs().MTU
	if _, err := link.Ensure(h, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: info.PublicIf, MTU: mtu},
		PeerName: PublicIfName, PeerNamespace: netlink.NsFd(ns.Fd())}); err != nil {
		return err
	}
	err = link.Set(ns, link.Sysctls{"net/ipv4/ip_forward": "0", "net/ipv6/conf/all/forwarding": "0"}.With(
		link.IPv6(PublicIfName, link.Sysctls{"accept_ra": "0", "autoconf": "0", "accept_dad": "0"})))
	if err != nil {
		return err
	}
	p, err := wh.LinkByName(PublicIfName)
	if err != nil {
		return fmt.Errorf("find %s: %w", PublicIfName, err)
	}
	mac, err := net.ParseMAC(info.PublicMAC)
	if err != nil {
		return fmt.Errorf("public mac %q: %w", info.PublicMAC, err)
	}
	if err := wh.LinkSetHardwareAddr(p, mac); err != nil {
		return fmt.Errorf("set %s mac: %w", PublicIfName, err)
	}
	if err := link.SetMTUUp(wh, p, mtu); err != nil {
		return err
	}
	var addrs []netip.Prefix
	for _, a := range []netip.Prefix{info.PublicIPv4, info.PublicAddr6} {
		if a.IsValid() {
			addrs = append(addrs, a)
		}
	}
	if err := link.ReplaceAddrs(wh, p, addrs...); err != nil {
		return err
	}
	for _, gw := range []netip.Addr{info.PublicGW4, info.PublicGW6} {
		if !gw.IsValid() || (gw == info.PublicGW6 && !info.PublicAddr6.IsValid()) {
			continue
		}
		if err := wh.RouteReplace(&netlink.Route{LinkIndex: p.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
			return fmt.Errorf("default route via %s on %s: %w", gw, PublicIfName, err)
		}
	}
	return nil
}
