package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/link"
)

// Lease gets a DHCP lease on a node's NIC with the lab's plain client (see LeaseCommand)
// and returns the address with its prefix and the router option (invalid if none).
func (l *Lab) Lease(ctx context.Context, node, nic string, timeout time.Duration) (netip.Prefix, netip.Addr, error) {
	cmd, err := l.LeaseCommand(ctx, node, nic, timeout)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("lease on %s/%s: %w: %s", node, nic, err, strings.TrimSpace(string(out)))
	}
	var addr, gw string
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "lease %s router %s", &addr, &gw); err != nil {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("lease on %s/%s: unexpected output %q", node, nic, out)
	}
	p, err := netip.ParsePrefix(addr)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("lease on %s/%s: address %q: %w", node, nic, addr, err)
	}
	r, _ := netip.ParseAddr(gw) // "none": invalid Addr
	return p, r, nil
}

// SLAAC enables router-advertisement autoconfiguration on a node's NIC (accept_ra=2 so
// it also works with forwarding on, accept_dad=0 for speed), brings it up and waits for
// a global, non-tentative address and a default route learned from an RA on it.
func (l *Lab) SLAAC(ctx context.Context, node, nic string, timeout time.Duration) (netip.Prefix, error) {
	n, err := l.openNode(node)
	if err != nil {
		return netip.Prefix{}, err
	}
	defer n.close()
	if err := n.sysctls(link.IPv6(nic, link.Sysctls{"disable_ipv6": "0", "accept_dad": "0", "accept_ra": "2", "autoconf": "1"})); err != nil {
		return netip.Prefix{}, err
	}
	link, err := n.h.LinkByName(nic)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: %s: %w", node, nic, err)
	}
	if err := n.h.LinkSetUp(link); err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: %s up: %w", node, nic, err)
	}
	var got netip.Prefix
	err = poll(ctx, timeout, func() bool {
		got = slaacAddr(n.h, link)
		return got.IsValid() && hasRADefault(n.h, link)
	})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s/%s: no SLAAC address with default route: %w", node, nic, err)
	}
	return got, nil
}

func slaacAddr(h *netlink.Handle, link netlink.Link) netip.Prefix {
	addrs, _ := h.AddrList(link, netlink.FAMILY_V6)
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !ip.IsGlobalUnicast() || a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			continue
		}
		ones, _ := a.Mask.Size()
		return netip.PrefixFrom(ip, ones)
	}
	return netip.Prefix{}
}

func hasRADefault(h *netlink.Handle, link netlink.Link) bool {
	routes, _ := h.RouteList(link, netlink.FAMILY_V6)
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw != nil && r.Protocol == unix.RTPROT_RA {
			return true
		}
	}
	return false
}

// openNode opens a node's, router's or host's namespace, refusing the host's own.
func (l *Lab) openNode(name string) (*nsh, error) {
	p := l.NSPath(name)
	if p == "" {
		return nil, fmt.Errorf("lab %s: no node, router or host named %q", l.name, name)
	}
	n, err := openNSH(name, p)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if unix.Fstat(n.ns.Fd(), &st) != nil || fmt.Sprintf("%d:%d", st.Dev, st.Ino) == hostNSID() {
		n.close()
		return nil, fmt.Errorf("%s: refusing to use the host's network namespace", name)
	}
	return n, nil
}

// WithRoute runs fn while a router or host has an extra route to prefix via via (an
// outsider aiming straight at a NAT router's WAN address, say), then removes it.
func (l *Lab) WithRoute(name, prefix, via string, fn func() error) error {
	n, err := l.openNode(name)
	if err != nil {
		return err
	}
	defer n.close()
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		return fmt.Errorf("route on %s: prefix %q: %w", name, prefix, err)
	}
	gw, err := netip.ParseAddr(via)
	if err != nil {
		return fmt.Errorf("route on %s: via %q: %w", name, via, err)
	}
	r := &netlink.Route{Dst: ipNet(p.Masked()), Gw: gw.AsSlice()}
	if err := n.h.RouteAdd(r); err != nil {
		return fmt.Errorf("route on %s: %s via %s: %w", name, prefix, via, err)
	}
	defer n.h.RouteDel(r)
	return fn()
}

// Ping sends ICMP echo requests from node (in its namespace) to addr until one is
// answered or timeout passes.
func (l *Lab) Ping(ctx context.Context, node string, addr netip.Addr, timeout time.Duration) error {
	if !addr.IsValid() {
		return fmt.Errorf("ping from %s: no address to ping (an earlier step failed)", node)
	}
	var last error
	err := poll(ctx, timeout, func() bool {
		last = l.pingOnce(ctx, node, addr, 1)
		return last == nil
	})
	if err != nil {
		return fmt.Errorf("%s cannot reach %s: %w", node, addr, last)
	}
	return nil
}

// NoPing checks that node gets no answer from addr (3 requests over about 1.5 s).
func (l *Lab) NoPing(ctx context.Context, node string, addr netip.Addr) error {
	if !addr.IsValid() {
		return fmt.Errorf("ping from %s: no address to ping (an earlier step failed)", node)
	}
	if err := l.pingOnce(ctx, node, addr, 3); err == nil {
		return fmt.Errorf("%s reaches %s, it must not", node, addr)
	}
	return nil
}

func (l *Lab) pingOnce(ctx context.Context, node string, addr netip.Addr, count int) error {
	if _, err := l.openNodeCheck(node); err != nil {
		return err
	}
	cmd, err := l.Command(ctx, node, tool("ping"), "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", addr.String())
	if err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping: %w: %s", err, lastLine(out))
	}
	return nil
}

func (l *Lab) openNodeCheck(node string) (bool, error) {
	n, err := l.openNode(node)
	if err != nil {
		return false, err
	}
	n.close()
	return true, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// poll calls cond every 20 ms until it is true, the timeout passes or ctx ends.
func poll(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out after " + timeout.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
