package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
)

// nsh is an open namespace with a netlink handle in it.
type nsh struct {
	name string
	ns   *netns.NS
	h    *netlink.Handle
}

func openNSH(name, path string) (*nsh, error) {
	ns, err := netns.Open(path)
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(nsHandle(ns))
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink in %s: %w", name, err)
	}
	return &nsh{name: name, ns: ns, h: h}, nil
}

func (n *nsh) close() {
	if n == nil {
		return
	}
	n.h.Close()
	n.ns.Close()
}

// sysctls writes kv inside the namespace (see link.Set; br_netfilter's keys are
// skipped when the module is not loaded).
func (n *nsh) sysctls(kv link.Sysctls) error {
	if err := link.Set(n.ns, kv); err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	return nil
}

// switchSysctls: a switch forwards frames only; no addresses, no IPv6 autoconf.
func switchSysctls() link.Sysctls {
	return link.NoBridgeNetfilter().With(link.Sysctls{
		"net/ipv4/ip_forward":                "0",
		"net/ipv6/conf/all/disable_ipv6":     "1",
		"net/ipv6/conf/default/disable_ipv6": "1",
	})
}

// routerSysctls: static addresses, no DAD delay, strict reverse-path filter like a real
// edge, forwarding as the spec says (RAs need it on).
func routerSysctls(fwd bool) link.Sysctls {
	f := "0"
	if fwd {
		f = "1"
	}
	return link.NoBridgeNetfilter().With(link.Sysctls{
		"net/ipv6/conf/default/accept_dad":   "0",
		"net/ipv6/conf/all/accept_dad":       "0",
		"net/ipv6/conf/default/accept_ra":    "0",
		"net/ipv6/conf/all/accept_ra":        "0",
		"net/ipv6/conf/default/autoconf":     "0",
		"net/ipv6/conf/all/disable_ipv6":     "0",
		"net/ipv6/conf/default/disable_ipv6": "0",
		"net/ipv4/conf/all/rp_filter":        "1",
		"net/ipv4/conf/default/rp_filter":    "1",
		"net/ipv4/ip_forward":                f,
		"net/ipv6/conf/all/forwarding":       f,
		"net/ipv6/conf/default/forwarding":   f,
	})
}

// nodeSysctls: what a freshly booted machine has; IPv4 settings would otherwise be copied
// from the host. Everything else is the node's software's business.
func nodeSysctls() link.Sysctls {
	return link.NoBridgeNetfilter().With(link.Sysctls{
		"net/ipv4/ip_forward":             "0",
		"net/ipv4/conf/all/rp_filter":     "0",
		"net/ipv4/conf/default/rp_filter": "0",
	})
}

// makeBridge creates the segment's bridge br0 (no multicast snooping) and brings it up.
func makeBridge(sw *nsh, mtu int) error {
	off := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", MTU: mtu}, MulticastSnooping: &off}
	if err := sw.h.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s: create bridge: %w", sw.name, err)
	}
	l, err := sw.h.LinkByName("br0")
	if err != nil {
		return fmt.Errorf("%s: bridge: %w", sw.name, err)
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return fmt.Errorf("%s: br0 exists and is a %s, not a bridge", sw.name, l.Type())
	}
	if err := sw.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s: bridge up: %w", sw.name, err)
	}
	return nil
}

// veth creates a veth with one end (name, mac) in a and the other (port) in the
// switch sw, enslaves the port to br0 and brings it up when carrier is true.
func veth(host *netlink.Handle, a *nsh, name, mac string, sw *nsh, port string, mtu int, carrier bool) error {
	la := netlink.LinkAttrs{Name: name, MTU: mtu, Namespace: netlink.NsFd(a.ns.Fd())}
	if mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil {
			return fmt.Errorf("%s: mac %q: %w", a.name, mac, err)
		}
		la.HardwareAddr = hw
	}
	v := &netlink.Veth{LinkAttrs: la, PeerName: port, PeerNamespace: netlink.NsFd(sw.ns.Fd()), PeerMTU: uint32(mtu)}
	if err := host.LinkAdd(v); err != nil {
		return fmt.Errorf("%s: veth %s <-> %s %s: %w", a.name, name, sw.name, port, err)
	}
	p, err := sw.h.LinkByName(port)
	if err != nil {
		return fmt.Errorf("%s: port %s: %w", sw.name, port, err)
	}
	br, err := sw.h.LinkByName("br0")
	if err != nil {
		return fmt.Errorf("%s: bridge: %w", sw.name, err)
	}
	if err := sw.h.LinkSetMaster(p, br); err != nil {
		return fmt.Errorf("%s: enslave %s: %w", sw.name, port, err)
	}
	if !carrier {
		return nil
	}
	if err := sw.h.LinkSetUp(p); err != nil {
		return fmt.Errorf("%s: port %s up: %w", sw.name, port, err)
	}
	return nil
}

// setupIface addresses a router's interface and brings it up.
func setupIface(r *nsh, it Interface) error {
	l, err := r.h.LinkByName(it.Segment)
	if err != nil {
		return fmt.Errorf("%s: interface %s: %w", r.name, it.Segment, err)
	}
	for _, a := range []string{it.IPv4, it.IPv6} {
		if a == "" {
			continue
		}
		p := netip.MustParsePrefix(a)
		addr := &netlink.Addr{IPNet: ipNet(p), Flags: unix.IFA_F_NODAD}
		if err := r.h.AddrReplace(l, addr); err != nil {
			return fmt.Errorf("%s: address %s on %s: %w", r.name, a, it.Segment, err)
		}
	}
	if err := r.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s: %s up: %w", r.name, it.Segment, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addRoutes installs a router's static routes.
func addRoutes(r *nsh, routes []Route) error {
	for _, rt := range routes {
		via := netip.MustParseAddr(rt.Via)
		route := &netlink.Route{Gw: via.AsSlice()}
		if rt.To != "default" {
			route.Dst = ipNet(netip.MustParsePrefix(rt.To))
		} else if via.Is4() {
			route.Dst = &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
		} else {
			route.Dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
		}
		if err := r.h.RouteReplace(route); err != nil {
			return fmt.Errorf("%s: route %s via %s: %w", r.name, rt.To, rt.Via, err)
		}
	}
	return nil
}

// setPort sets a switch port up or down: the NIC on its other end sees carrier or not.
func setPort(sw *nsh, port string, up bool) error {
	p, err := sw.h.LinkByName(port)
	if err != nil {
		return fmt.Errorf("%s: port %s: %w", sw.name, port, err)
	}
	if up {
		err = sw.h.LinkSetUp(p)
	} else {
		err = sw.h.LinkSetDown(p)
	}
	if err != nil {
		return fmt.Errorf("%s: port %s: %w", sw.name, port, err)
	}
	return nil
}

// routerPort and nodePort name switch ports; names are ≤12 bytes without '-', so these
// never collide and fit in 15 bytes.
func routerPort(r string) string         { return "r-" + r }
func nodePort(node string, i int) string { return fmt.Sprintf("%s-%d", node, i) }
