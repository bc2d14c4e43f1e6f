package dhcp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol tags the default routes zosnet's DHCP client installs (RTPROT_DHCP).
const RouteProtocol = netlink.RouteProtocol(unix.RTPROT_DHCP)

// Config is what Apply puts on a link: an address with lifetimes, a default gateway and
// name servers. Both DHCP leases and static configurations become a Config.
type Config struct {
	Addr    netip.Prefix
	Gateway netip.Addr   // invalid: no default route
	DNS     []netip.Addr // empty: resolv.conf is left alone
	// Lifetime is the address's valid and preferred lifetime; 0 means forever.
	Lifetime time.Duration
}

// ConfigOf turns a lease into what Apply needs, with the lifetime left at now.
func ConfigOf(l *Lease, now time.Time) Config {
	return Config{Addr: l.Addr, Gateway: l.Router, DNS: l.DNS, Lifetime: max(l.Remaining(now), time.Second)}
}

// Apply configures link through h: removes old's address and route when the address
// changes (first: deleting a primary address also deletes the secondaries of its
// subnet, so the new one must not be added before), then replaces the address (with
// lifetimes) and the default route. Idempotent.
func Apply(h *netlink.Handle, link netlink.Link, c Config, old *Config) error {
	if old != nil && old.Addr != c.Addr {
		if err := Remove(h, link, *old); err != nil {
			return err
		}
	}
	a := &netlink.Addr{IPNet: ipnet(c.Addr), Broadcast: broadcast(c.Addr)}
	if c.Lifetime > 0 {
		secs := int(max((c.Lifetime+time.Second-1)/time.Second, 1)) // round up: never before the lease ends
		a.ValidLft, a.PreferedLft = secs, secs
	}
	if err := h.AddrReplace(link, a); err != nil {
		return fmt.Errorf("add address %s to %s: %w", c.Addr, link.Attrs().Name, err)
	}
	if !c.Gateway.IsValid() {
		return nil
	}
	if err := h.RouteReplace(defaultRoute(link, c.Gateway)); err != nil {
		return fmt.Errorf("default route via %s on %s: %w", c.Gateway, link.Attrs().Name, err)
	}
	return nil
}

// Remove deletes c's default route and address from link. What is already gone is
// success.
func Remove(h *netlink.Handle, link netlink.Link, c Config) error {
	var errs []error
	if c.Gateway.IsValid() {
		if err := h.RouteDel(defaultRoute(link, c.Gateway)); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("delete default route via %s: %w", c.Gateway, err))
		}
	}
	if err := h.AddrDel(link, &netlink.Addr{IPNet: ipnet(c.Addr)}); err != nil && !gone(err) {
		errs = append(errs, fmt.Errorf("delete address %s from %s: %w", c.Addr, link.Attrs().Name, err))
	}
	return errors.Join(errs...)
}

func gone(err error) bool {
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV)
}

func defaultRoute(link netlink.Link, gw netip.Addr) *netlink.Route {
	return &netlink.Route{
		LinkIndex: link.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        gw.AsSlice(),
		Protocol:  RouteProtocol,
		Family:    unix.AF_INET,
	}
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

func broadcast(p netip.Prefix) net.IP {
	if p.Bits() >= 31 {
		return nil
	}
	b := p.Masked().Addr().As4()
	m := net.CIDRMask(p.Bits(), 32)
	for i := range b {
		b[i] |= ^m[i]
	}
	return net.IP(b[:])
}

// ResolvConf renders a resolv.conf for dns.
func ResolvConf(dns []netip.Addr) string {
	var b strings.Builder
	b.WriteString("# written by zosnet netinit\n")
	for _, a := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	return b.String()
}

// WriteResolvConf atomically writes a resolv.conf for dns at path; with no name servers
// it does nothing.
func WriteResolvConf(path string, dns []netip.Addr) error {
	if path == "" || len(dns) == 0 {
		return nil
	}
	if cur, err := os.ReadFile(path); err == nil && string(cur) == ResolvConf(dns) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".resolv.conf-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(ResolvConf(dns)); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
