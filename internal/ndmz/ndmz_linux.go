package ndmz

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/firewall"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/resource"
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

	mu sync.Mutex
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

func (d *DMZ) firewall(ns *netns.NS) error {
	return firewall.ApplyNDMZ(ns, firewall.NDMZ{UplinkPrefix: UplinkPrefix, Egress: d.egress()})
}

func (d *DMZ) sysctls(ns *netns.NS) error {
	if err := ns.Do(func() error {
		return writeSysctls(map[string]string{
			"net/ipv4/ip_forward":              "1",
			"net/ipv6/conf/all/forwarding":     "1",
			"net/ipv4/conf/all/rp_filter":      "1",
			"net/ipv4/conf/default/rp_filter":  "1",
			"net/ipv6/conf/default/accept_ra":  "0",
			"net/ipv6/conf/default/accept_dad": "0",
			"net/ipv4/conf/all/send_redirects": "0",
		})
	}); err != nil {
		return err
	}
	if err := setUp(ns, "lo"); err != nil {
		return err
	}
	return d.Host.Do(func() error {
		kv := map[string]string{"net/ipv4/ip_forward": "1"}
		for _, k := range []string{"iptables", "ip6tables", "arptables"} {
			if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-" + k); err == nil {
				kv["net/bridge/bridge-nf-call-"+k] = "0"
			}
		}
		return writeSysctls(kv)
	})
}

// transit makes ndmz-h (host, 100.126.0.1/30) ↔ to-host (ndmz, .2) and ndmz's IPv4
// default route via the host.
func (d *DMZ) transit(ns *netns.NS) error {
	h, nh, err := handles(d.Host, ns)
	if err != nil {
		return err
	}
	defer h.Close()
	defer nh.Close()
	if err := fixHalf(h, nh, HostLink, InnerLink); err != nil {
		return err
	}
	hl, err := resource.EnsureLink(h, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: HostLink},
		PeerName: InnerLink, PeerNamespace: netlink.NsFd(ns.Fd())})
	if err != nil {
		return err
	}
	il, err := nh.LinkByName(InnerLink)
	if err != nil {
		return fmt.Errorf("find %s in ndmz: %w", InnerLink, err)
	}
	if err := d.Host.Do(func() error {
		return writeSysctls(map[string]string{"net/ipv6/conf/" + HostLink + "/disable_ipv6": "1"})
	}); err != nil {
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
	h, nh, err := handles(d.Host, ns)
	if err != nil {
		return err
	}
	defer h.Close()
	defer nh.Close()
	br, err := h.LinkByName(d.PubBridge)
	if err != nil {
		return fmt.Errorf("find %s: %w", d.PubBridge, err)
	}
	if err := fixHalf(h, nh, PubPort, PubLink); err != nil {
		return err
	}
	port, err := resource.EnsureLink(h, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: PubPort, MTU: br.Attrs().MTU},
		PeerName: PubLink, PeerNamespace: netlink.NsFd(ns.Fd())})
	if err != nil {
		return err
	}
	if port.Attrs().MasterIndex != br.Attrs().Index {
		if err := h.LinkSetMaster(port, br); err != nil {
			return fmt.Errorf("attach %s to %s: %w", PubPort, d.PubBridge, err)
		}
	}
	if err := d.Host.Do(func() error {
		return writeSysctls(map[string]string{"net/ipv6/conf/" + PubPort + "/disable_ipv6": "1"})
	}); err != nil {
		return err
	}
	if err := h.LinkSetUp(port); err != nil {
		return fmt.Errorf("set %s up: %w", PubPort, err)
	}
	c := "net/ipv6/conf/" + PubLink + "/"
	if err := ns.Do(func() error {
		return writeSysctls(map[string]string{c + "disable_ipv6": "0", c + "accept_ra": "2", c + "autoconf": "1", c + "accept_dad": "0"})
	}); err != nil {
		return err
	}
	return setUp(ns, PubLink)
}

// Remove deletes ndmz (its uplink ends and legs go with it) and the host ends.
// Missing objects are success. The caller drops the host firewall's ndmz rules.
func (d *DMZ) Remove() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, err := netlink.NewHandleAt(vnetns.NsHandle(d.Host.Fd()))
	if err != nil {
		return fmt.Errorf("ndmz: netlink in host: %w", err)
	}
	defer h.Close()
	var errs []error
	for _, name := range []string{HostLink, PubPort} {
		if l, err := h.LinkByName(name); err == nil {
			if err := h.LinkDel(l); err != nil && !notFound(err) {
				errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
			}
		}
	}
	errs = append(errs, netns.Delete(d.NetnsDir, NS))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove ndmz: %w", err)
	}
	return nil
}

func handles(a, b *netns.NS) (*netlink.Handle, *netlink.Handle, error) {
	h, err := netlink.NewHandleAt(vnetns.NsHandle(a.Fd()))
	if err != nil {
		return nil, nil, fmt.Errorf("netlink in %s: %w", a.Path(), err)
	}
	h2, err := netlink.NewHandleAt(vnetns.NsHandle(b.Fd()))
	if err != nil {
		h.Close()
		return nil, nil, fmt.Errorf("netlink in %s: %w", b.Path(), err)
	}
	return h, h2, nil
}

// fixHalf deletes veth end `mine` (in h) whose peer `theirs` is missing from nh.
func fixHalf(h, nh *netlink.Handle, mine, theirs string) error {
	l, err := h.LinkByName(mine)
	if err != nil {
		return nil
	}
	if _, err := nh.LinkByName(theirs); err == nil {
		return nil
	}
	if err := h.LinkDel(l); err != nil && !notFound(err) {
		return fmt.Errorf("delete half veth %s: %w", mine, err)
	}
	return nil
}

func addrUp(h *netlink.Handle, l netlink.Link, ps ...netip.Prefix) error {
	for _, p := range ps {
		a := &netlink.Addr{IPNet: ipnet(p), Flags: unix.IFA_F_NODAD}
		if err := h.AddrReplace(l, a); err != nil {
			return fmt.Errorf("address %s on %s: %w", p, l.Attrs().Name, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
	}
	return nil
}

func routeReplace(h *netlink.Handle, r *netlink.Route) error {
	if err := h.RouteReplace(r); err != nil {
		return fmt.Errorf("route %v via %v: %w", r.Dst, r.Gw, err)
	}
	return nil
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func setUp(ns *netns.NS, name string) error {
	h, err := netlink.NewHandleAt(vnetns.NsHandle(ns.Fd()))
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", ns.Path(), err)
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err == nil {
		err = h.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

func writeSysctls(kv map[string]string) error {
	for k, v := range kv {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(k, "/", "."), v, err)
		}
	}
	return nil
}

func notFound(err error) bool { var nf netlink.LinkNotFoundError; return errors.As(err, &nf) }

func nsHandle(ns *netns.NS) vnetns.NsHandle { return vnetns.NsHandle(ns.Fd()) }
