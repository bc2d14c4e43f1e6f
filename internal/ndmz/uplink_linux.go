package ndmz

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/firewall"
	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// Attach gives NR id (namespace nr) its uplink: veth u-<id> between ndmz and nr with
// the block's addresses, nr's default routes (IPv4 and IPv6) through it and nr's
// uplink table (masquerade out, nothing new in). ndmz must exist (Ensure). An
// existing uplink keeps its block. Idempotent.
func (d *DMZ) Attach(nr *netns.NS, id string) error {
	if err := nodeapi.ValidID(id); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	dmz, err := netns.OpenNamed(d.NetnsDir, NS)
	if err != nil {
		return fmt.Errorf("uplink %s: ndmz: %w", id, err)
	}
	defer dmz.Close()
	if err := d.attach(dmz, nr, id); err != nil {
		return fmt.Errorf("uplink %s: %w", id, err)
	}
	return nil
}

func (d *DMZ) attach(dmz, nr *netns.NS, id string) error {
	dh, nh, err := link.Handles(dmz, nr)
	if err != nil {
		return err
	}
	defer dh.Close()
	defer nh.Close()
	name := UplinkName(id)
	if err := link.FixHalfVeth(dh, nh, name, name); err != nil {
		return err
	}
	b, err := blockFor(dh, name, id)
	if err != nil {
		return err
	}
	dl, err := link.Ensure(dh, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name},
		PeerName: name, PeerNamespace: netlink.NsFd(nr.Fd())})
	if err != nil {
		return err
	}
	nl, err := nh.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s in NR namespace: %w", name, err)
	}
	d4, n4, d6, n6 := Addrs(b)
	if err := addrUp(dh, dl, d4, d6); err != nil {
		return err
	}
	if err := addrUp(nh, nl, n4, n6); err != nil {
		return err
	}
	for _, gw := range []netip.Addr{d4.Addr(), d6.Addr()} {
		if err := routeReplace(nh, &netlink.Route{LinkIndex: nl.Attrs().Index, Gw: gw.AsSlice(), Protocol: RouteProto}); err != nil {
			return err
		}
	}
	if err := firewall.ApplyUplink(nr, name); err != nil {
		return err
	}
	return d.firewall(dmz) // the new uplink's refused counter
}

// blockFor returns the block uplink name already has, else a free one.
func blockFor(dh *netlink.Handle, name, id string) (int, error) {
	links, err := dh.LinkList()
	if err != nil {
		return 0, fmt.Errorf("list ndmz links: %w", err)
	}
	used := map[int]bool{}
	for _, l := range links {
		if !strings.HasPrefix(l.Attrs().Name, UplinkPrefix) {
			continue
		}
		addrs, _ := dh.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			ip, _ := netip.AddrFromSlice(a.IP.To4())
			if b := BlockOf(ip); b >= 0 {
				if l.Attrs().Name == name {
					return b, nil
				}
				used[b] = true
			}
		}
	}
	b := Block(id, used)
	if b < 0 {
		return 0, fmt.Errorf("no free uplink block in %s", Uplinks4)
	}
	return b, nil
}

// Detach removes NR id's uplink (both ends go with the ndmz one). Missing is success.
func (d *DMZ) Detach(id string) error {
	if err := nodeapi.ValidID(id); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gc(func(got string) bool { return got != id })
}

// GC removes the uplinks in ndmz of NRs not in want. A missing ndmz is success.
func (d *DMZ) GC(want map[string]bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gc(func(id string) bool { return want[id] })
}

func (d *DMZ) gc(keep func(id string) bool) error {
	dmz, err := netns.OpenNamed(d.NetnsDir, NS)
	if errors.Is(err, netns.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("uplink gc: %w", err)
	}
	defer dmz.Close()
	dh, err := link.Handle(dmz)
	if err != nil {
		return fmt.Errorf("uplink gc: %w", err)
	}
	defer dh.Close()
	links, err := dh.LinkList()
	if err != nil {
		return fmt.Errorf("uplink gc: list ndmz links: %w", err)
	}
	var errs []error
	removed := false
	for _, l := range links {
		id, ok := strings.CutPrefix(l.Attrs().Name, UplinkPrefix)
		if !ok || nodeapi.ValidID(id) != nil || keep(id) {
			continue
		}
		if err := dh.LinkDel(l); err != nil && !link.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete uplink %s: %w", l.Attrs().Name, err))
		}
		removed = true
	}
	if removed { // drop the removed uplinks' counters
		errs = append(errs, d.firewall(dmz))
	}
	return errors.Join(errs...)
}
