package ndmz

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/firewall"
	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// RouteProto tags the routes ndmz adds (in ndmz and in NR namespaces); it differs from
// resource.RouteProto so the NR applier's route pruning leaves them alone.
const RouteProto netlink.RouteProtocol = 91

// DMZ manages the ndmz namespace of one node.
type DMZ struct {
	// Host is the node's host namespace.
	Host *netns.NS
	// NetnsDir holds ndmz and the NR namespaces ("" = /run/netns).
	NetnsDir string
	// PubBridge is the bridge of the public segment (br-pub); "" leaves ndmz without
	// IPv6 egress.
	PubBridge string
	// Log receives progress; nil discards.
	Log *slog.Logger

	mu    sync.Mutex
	eg    EgressConfig          // SetEgress
	deny  []netip.Prefix        // the deny list at the last firewall apply
	allow []nodeapi.EgressAllow // the allow list at the last firewall apply
}

func (d *DMZ) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// Ensure makes ndmz exist: namespace, sysctls, the transit veth to the host with its
// addresses and default route, the public leg on PubBridge, and ndmz's firewall. It
// also turns on IPv4 forwarding in the host and keeps bridged frames out of the
// host's ip hooks (the host firewall, applied by the caller with firewall.ApplyHost
// and HostFirewall, forwards only ndmz's egress).
func (d *DMZ) Ensure() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns, err := netns.Create(d.NetnsDir, NS)
	if err != nil {
		return fmt.Errorf("ndmz: %w", err)
	}
	defer ns.Close()
	for _, step := range []func(*netns.NS) error{d.sysctls, d.transit, d.publicLeg, d.firewall} {
		if err := step(ns); err != nil {
			return fmt.Errorf("ndmz: %w", err)
		}
	}
	return nil
}

// HostFirewall returns the host rules ndmz needs, plus the WireGuard ports given.
func HostFirewall(wgPorts []uint16) firewall.Host {
	return firewall.Host{WGPorts: wgPorts, NDMZLink: HostLink, NDMZNet: Transit}
}

func (d *DMZ) egress() []string {
	if d.PubBridge == "" {
		return []string{InnerLink}
	}
	return []string{InnerLink, PubLink}
}

func (d *DMZ) sysctls(ns *netns.NS) error {
	if err := link.Set(ns, link.Sysctls{
		"net/ipv4/ip_forward":              "1",
		"net/ipv6/conf/all/forwarding":     "1",
		"net/ipv4/conf/all/rp_filter":      "1",
		"net/ipv4/conf/default/rp_filter":  "1",
		"net/ipv6/conf/default/accept_ra":  "0",
		"net/ipv6/conf/default/accept_dad": "0",
		"net/ipv4/conf/all/send_redirects": "0",
	}); err != nil {
		return err
	}
	if err := setUp(ns, "lo"); err != nil {
		return err
	}
	if err := resolverAddr(ns); err != nil {
		return err
	}
	return link.Set(d.Host, link.NoBridgeNetfilter().With(link.Sysctls{"net/ipv4/ip_forward": "1"}))
}

// transit makes ndmz-h (host, 100.126.0.1/30) ↔ to-host (ndmz, .2) and ndmz's IPv4
// default route via the host.
func (d *DMZ) transit(ns *netns.NS) error {
	h, nh, err := link.Handles(d.Host, ns)
	if err != nil {
		return err
	}
	defer h.Close()
	defer nh.Close()
	if err := link.FixHalfVeth(h, nh, HostLink, InnerLink); err != nil {
		return err
	}
	hl, err := link.Ensure(h, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: HostLink},
		PeerName: InnerLink, PeerNamespace: netlink.NsFd(ns.Fd())})
	if err != nil {
		return err
	}
	il, err := nh.LinkByName(InnerLink)
	if err != nil {
		return fmt.Errorf("find %s in ndmz: %w", InnerLink, err)
	}
	if err := link.Set(d.Host, link.IPv6(HostLink, link.Sysctls{"disable_ipv6": "1"})); err != nil {
		return err
	}
	if err := addrUp(h, hl, netip.PrefixFrom(HostAddr, Transit.Bits())); err != nil {
		return err
	}
	if err := addrUp(nh, il, netip.PrefixFrom(InnerAddr, Transit.Bits())); err != nil {
		return err
	}
	return routeReplace(nh, &netlink.Route{LinkIndex: il.Attrs().Index, Gw: HostAddr.AsSlice(), Protocol: RouteProto})
}

// publicLeg makes ndmz-p (host, port of br-pub) ↔ pub6 (ndmz, SLAAC).
func (d *DMZ) publicLeg(ns *netns.NS) error {
	if d.PubBridge == "" {
		return nil
	}
	h, nh, err := link.Handles(d.Host, ns)
	if err != nil {
		return err
	}
	defer h.Close()
	defer nh.Close()
	br, err := h.LinkByName(d.PubBridge)
	if err != nil {
		return fmt.Errorf("find %s: %w", d.PubBridge, err)
	}
	if err := link.FixHalfVeth(h, nh, PubPort, PubLink); err != nil {
		return err
	}
	port, err := link.Ensure(h, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: PubPort, MTU: br.Attrs().MTU},
		PeerName: PubLink, PeerNamespace: netlink.NsFd(ns.Fd())})
	if err != nil {
		return err
	}
	if err := link.SetMaster(h, port, br); err != nil {
		return err
	}
	if err := link.Set(d.Host, link.IPv6(PubPort, link.Sysctls{"disable_ipv6": "1"})); err != nil {
		return err
	}
	if err := link.Up(h, port); err != nil {
		return err
	}
	if err := link.Set(ns, link.IPv6(PubLink, link.Sysctls{"disable_ipv6": "0", "accept_ra": "2", "autoconf": "1", "accept_dad": "0"})); err != nil {
		return err
	}
	return link.UpByName(nh, PubLink)
}

// Remove deletes ndmz (its uplink ends and legs go with it) and the host ends.
// Missing objects are success. The caller drops the host firewall's ndmz rules.
func (d *DMZ) Remove() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, err := link.Handle(d.Host)
	if err != nil {
		return fmt.Errorf("ndmz: %w", err)
	}
	defer h.Close()
	errs := []error{link.Delete(h, HostLink), link.Delete(h, PubPort), netns.Delete(d.NetnsDir, NS)}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove ndmz: %w", err)
	}
	return nil
}

func addrUp(h *netlink.Handle, l netlink.Link, ps ...netip.Prefix) error {
	if err := link.ReplaceAddrs(h, l, ps...); err != nil {
		return err
	}
	return link.Up(h, l)
}

func routeReplace(h *netlink.Handle, r *netlink.Route) error {
	if err := h.RouteReplace(r); err != nil {
		return fmt.Errorf("route %v via %v: %w", r.Dst, r.Gw, err)
	}
	return nil
}

func setUp(ns *netns.NS, name string) error {
	h, err := link.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return link.UpByName(h, name)
}
