package public

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// Names of the public namespace and its leg.
const (
	NS      = "public" // the namespace
	LegHost = "pub-h"  // host end, a port of br-pub
	Leg     = "public" // the end in NS, carrying the public config
)

// RouteProto tags the routes the public namespace gets from the config.
const RouteProto netlink.RouteProtocol = 92

// ensureNS makes namespace public match c and returns it open (the caller closes).
func ensureNS(host *netns.NS, dir string, c nodeapi.PublicConfig) (*netns.NS, error) {
	existed := false
	if old, err := netns.OpenNamed(dir, NS); err == nil {
		old.Close()
		existed = true
	}
	ns, err := netns.Create(dir, NS)
	if err != nil {
		return nil, err
	}
	if err := configureNS(host, ns, c, !existed); err != nil {
		ns.Close()
		return nil, fmt.Errorf("public namespace: %w", err)
	}
	return ns, nil
}

func configureNS(host, ns *netns.NS, c nodeapi.PublicConfig, fresh bool) error {
	slaac := "0"
	if !c.IPv6.IsValid() {
		slaac = "1"
	}
	if err := link.Set(ns, link.Sysctls{"net/ipv4/ip_forward": "0", "net/ipv6/conf/all/forwarding": "0",
		"net/ipv4/conf/all/rp_filter": "1", "net/ipv6/conf/default/accept_dad": "0",
		"net/ipv4/conf/all/promote_secondaries": "1", "net/ipv4/conf/default/promote_secondaries": "1",
		// the leg inherits these, so it solicits an RA as soon as it comes up
		"net/ipv6/conf/default/accept_ra": slaac, "net/ipv6/conf/default/autoconf": slaac}); err != nil {
		return err
	}
	if err := ensureLeg(host, ns); err != nil {
		return err
	}
	if err := link.Set(ns, link.IPv6(Leg, link.Sysctls{"accept_ra": slaac, "autoconf": slaac})); err != nil {
		return err
	}
	if err := address(ns, c); err != nil {
		return err
	}
	if slaac == "1" && fresh {
		waitSLAAC(ns, 3*time.Second)
	}
	return nil
}

// waitSLAAC waits up to timeout for an IPv6 default route learned from an RA in ns, so
// that sockets moved there next can handshake at once (else WireGuard retries only
// after 5 s). Without one (no RA on the segment) it just returns.
func waitSLAAC(ns *netns.NS, timeout time.Duration) {
	h, err := link.Handle(ns)
	if err != nil {
		return
	}
	defer h.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		rs, _ := h.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Protocol: unix.RTPROT_RA}, netlink.RT_FILTER_PROTOCOL)
		for _, r := range rs {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ensureLeg(host, ns *netns.NS) error {
	h, nh, err := link.Handles(host, ns)
	if err != nil {
		return err
	}
	defer h.Close()
	defer nh.Close()
	if err := link.FixHalfVeth(h, nh, LegHost, Leg); err != nil {
		return err
	}
	br, err := h.LinkByName(Bridge)
	if err != nil {
		return fmt.Errorf("find %s: %w", Bridge, err)
	}
	v, err := link.Ensure(h, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: LegHost, MTU: br.Attrs().MTU},
		PeerName: Leg, PeerNamespace: netlink.NsFd(ns.Fd())})
	if err != nil {
		return err
	}
	if err := link.SetMaster(h, v, br); err != nil {
		return err
	}
	if err := link.Set(host, link.IPv6(LegHost, link.Sysctls{"disable_ipv6": "1"})); err != nil {
		return err
	}
	if err := link.Up(h, v); err != nil {
		return err
	}
	if err := link.UpByName(nh, "lo", Leg); err != nil {
		return fmt.Errorf("%s: %w", NS, err)
	}
	return nil
}

// address puts exactly c's addresses on the leg (removing static ones no longer in c)
// and its default routes.
func address(ns *netns.NS, c nodeapi.PublicConfig) error {
	h, err := link.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(Leg)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", Leg, NS, err)
	}
	want := map[netip.Prefix]bool{}
	for _, p := range []netip.Prefix{c.IPv4, c.IPv6} {
		if p.IsValid() {
			want[p] = true
			if err := link.ReplaceAddrs(h, l, p); err != nil {
				return err
			}
		}
	}
	if err := pruneAddrs(h, l, want); err != nil {
		return err
	}
	return routes(h, l, c)
}

// pruneAddrs removes permanent (static) global addresses not wanted; SLAAC ones stay.
func pruneAddrs(h *netlink.Handle, l netlink.Link, want map[netip.Prefix]bool) error {
	addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", Leg, err)
	}
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), ones)
		if want[p] || ip.IsLinkLocalUnicast() || a.Flags&unix.IFA_F_PERMANENT == 0 {
			continue
		}
		if err := h.AddrDel(l, &a); err != nil {
			return fmt.Errorf("remove old address %s: %w", p, err)
		}
	}
	return nil
}

func routes(h *netlink.Handle, l netlink.Link, c nodeapi.PublicConfig) error {
	for _, x := range []struct {
		fam int
		gw  netip.Addr
	}{{netlink.FAMILY_V4, c.GW4}, {netlink.FAMILY_V6, c.GW6}} {
		old, _ := h.RouteListFiltered(x.fam, &netlink.Route{Protocol: RouteProto}, netlink.RT_FILTER_PROTOCOL)
		if !x.gw.IsValid() {
			for _, r := range old {
				if err := h.RouteDel(&r); err != nil {
					return fmt.Errorf("remove old default route: %w", err)
				}
			}
			continue
		}
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: x.gw.AsSlice(), Protocol: RouteProto, Family: x.fam}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %s: %w", x.gw, err)
		}
	}
	return nil
}

// removeNS deletes the public namespace and its host leg. Missing is success.
func removeNS(host *netns.NS, dir string) error {
	h, err := link.Handle(host)
	if err != nil {
		return err
	}
	defer h.Close()
	return errors.Join(link.Delete(h, LegHost), netns.Delete(dir, NS))
}
