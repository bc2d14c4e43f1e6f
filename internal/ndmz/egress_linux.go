package ndmz

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/firewall"
	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nft"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// SetEgress sets what the egress rule needs besides the kernel's facts; it takes
// effect at the next Ensure or Refresh.
func (d *DMZ) SetEgress(c EgressConfig) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.eg = c
}

// Refresh learns the underlay from the kernel again and, when the deny list or the
// allow list changed since the last apply, swaps ndmz's deny sets (atomically; no
// rule, counter or connection is touched). It reports whether anything changed. A
// missing ndmz is no change and no error (nothing to protect yet).
func (d *DMZ) Refresh() (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns, err := netns.OpenNamed(d.NetnsDir, NS)
	if errors.Is(err, netns.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ndmz: %w", err)
	}
	defer ns.Close()
	deny, err := d.denyList(ns)
	if err != nil {
		return false, fmt.Errorf("ndmz: egress: %w", err)
	}
	if slices.Equal(deny, d.deny) && slices.Equal(d.eg.Allow, d.allow) {
		return false, nil
	}
	return true, d.applyFirewall(ns, deny)
}

// Denied returns the destinations refused at the last apply, merged as the kernel
// holds them.
func (d *DMZ) Denied() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	v4, v6 := nft.Ranges(d.deny)
	out := []string{}
	for _, r := range append(v4, v6...) {
		out = append(out, r.String())
	}
	return out
}

// DenyList returns the deny list of the last apply, unmerged (DenyList's form).
func (d *DMZ) DenyList() []netip.Prefix {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]netip.Prefix(nil), d.deny...)
}

// Allowed returns the allow list in force.
func (d *DMZ) Allowed() []nodeapi.EgressAllow {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]nodeapi.EgressAllow{}, d.allow...)
}

// Refused returns the packets ndmz refused per NR (by network id); empty without ndmz.
func (d *DMZ) Refused() (map[string]uint64, error) {
	out := map[string]uint64{}
	ns, err := netns.OpenNamed(d.NetnsDir, NS)
	if errors.Is(err, netns.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ndmz: %w", err)
	}
	defer ns.Close()
	counts, err := firewall.RefusedCounts(ns)
	if err != nil {
		return nil, err
	}
	for name, c := range counts {
		if id, ok := strings.CutPrefix(name, UplinkPrefix); ok {
			out[id] = c.Packets
		}
	}
	return out, nil
}

// firewall learns the underlay and rebuilds (or updates) ndmz's table.
func (d *DMZ) firewall(ns *netns.NS) error {
	deny, err := d.denyList(ns)
	if err != nil {
		return fmt.Errorf("egress: %w", err)
	}
	return d.applyFirewall(ns, deny)
}

func (d *DMZ) applyFirewall(ns *netns.NS, deny []netip.Prefix) error {
	ups, err := uplinks(ns)
	if err != nil {
		return err
	}
	allow := make([]firewall.Allow, 0, len(d.eg.Allow))
	for _, a := range d.eg.Allow {
		allow = append(allow, firewall.Allow{Prefix: a.Prefix, Port: a.Port,
			Proto: map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}[a.Proto]})
	}
	err = firewall.ApplyNDMZ(ns, firewall.NDMZ{UplinkPrefix: UplinkPrefix, Egress: d.egress(),
		Uplinks: ups, Deny: deny, Allow: allow, Resolver: nodeapi.WorkloadResolver4})
	if err != nil {
		return err
	}
	if !slices.Equal(deny, d.deny) {
		d.log().Info("egress: refused destinations", "denied", len(deny), "learned", len(deny)-len(Special))
	}
	d.deny, d.allow = deny, append([]nodeapi.EgressAllow(nil), d.eg.Allow...)
	return nil
}

// uplinks lists the NR uplinks in ndmz.
func uplinks(ns *netns.NS) ([]string, error) {
	h, err := link.Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list ndmz links: %w", err)
	}
	var out []string
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, UplinkPrefix) {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

func (d *DMZ) denyList(dmz *netns.NS) ([]netip.Prefix, error) {
	u, err := d.learn(dmz)
	if err != nil {
		return nil, err
	}
	return DenyList(u), nil
}

// learn reads the underlay: the host's LAN links, every host address and default
// gateway, ndmz's public leg and the public namespace (when it exists).
func (d *DMZ) learn(dmz *netns.NS) (Underlay, error) {
	var u Underlay
	if err := learnIn(d.Host, d.eg.LAN, &u); err != nil {
		return u, fmt.Errorf("host: %w", err)
	}
	var lan []string
	if d.eg.PubOnLAN {
		lan = []string{PubLink}
	}
	if err := learnIn(dmz, lan, &u); err != nil {
		return u, fmt.Errorf("ndmz: %w", err)
	}
	if d.eg.PublicNS == "" {
		return u, nil
	}
	pub, err := netns.OpenNamed(d.NetnsDir, d.eg.PublicNS)
	if errors.Is(err, netns.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return u, err
	}
	defer pub.Close()
	if err := learnIn(pub, nil, &u); err != nil {
		return u, fmt.Errorf("%s: %w", d.eg.PublicNS, err)
	}
	return u, nil
}

// learnIn adds ns's addresses (all but loopback) to u.Own, its default gateways to
// u.Gateways, and the address prefixes and non-default routes of links lan to u.LAN.
func learnIn(ns *netns.NS, lan []string, u *Underlay) error {
	h, err := link.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	onLAN := map[int]bool{}
	for _, name := range lan {
		if l, err := h.LinkByName(name); err == nil {
			onLAN[l.Attrs().Index] = true
		}
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := addrOf(a.IP)
		if !ok || ip.IsLoopback() {
			continue
		}
		u.Own = append(u.Own, ip)
		if onLAN[a.LinkIndex] {
			ones, _ := a.Mask.Size()
			u.LAN = append(u.LAN, netip.PrefixFrom(ip, ones))
		}
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return fmt.Errorf("list routes: %w", err)
		}
		for _, r := range routes {
			learnRoute(r, onLAN, u)
		}
	}
	return nil
}

func learnRoute(r netlink.Route, onLAN map[int]bool, u *Underlay) {
	if r.Dst == nil || isZero(r.Dst) {
		u.Gateways = append(u.Gateways, gateways(r)...)
		return
	}
	if onLAN[r.LinkIndex] {
		ip, _ := addrOf(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		u.LAN = append(u.LAN, netip.PrefixFrom(ip, ones))
	}
}

func gateways(r netlink.Route) []netip.Addr {
	var out []netip.Addr
	if ip, ok := addrOf(r.Gw); ok {
		out = append(out, ip)
	}
	for _, nh := range r.MultiPath {
		if ip, ok := addrOf(nh.Gw); ok {
			out = append(out, ip)
		}
	}
	return out
}

func isZero(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

func addrOf(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return a, false
	}
	return a.Unmap(), a.IsValid() && !a.IsUnspecified()
}
