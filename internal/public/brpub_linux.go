package public

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// Kernel object names of the public side (host namespace unless said otherwise).
const (
	Bridge  = "br-pub"
	Zos     = "zos"     // netinit's management bridge
	ZosPort = "zos-pub" // veth end in zos (one-NIC nodes)
	PubPort = "pub-zos" // its peer in br-pub
)

// Uplink says what br-pub is uplinked to.
type Uplink struct {
	Mode   string `json:"mode"` // "nic" or "zos"
	NIC    string `json:"nic,omitempty"`
	Reason string `json:"reason"`
}

// ensureBridge makes br-pub: NIC mode when a NIC already is a port or one is found by
// probing, else a veth to zos.
// want (the public config's NIC) overrides the choice when set.
func ensureBridge(ctx context.Context, host *netns.NS, want string, probe time.Duration, quiet map[string]time.Time) (Uplink, error) {
	h, err := link.Handle(host)
	if err != nil {
		return Uplink{}, err
	}
	defer h.Close()
	br, err := link.Ensure(h, &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: Bridge}})
	if err != nil {
		return Uplink{}, err
	}
	up := Uplink{Mode: "nic", NIC: want, Reason: "named by the public config"}
	if want == "" {
		if up, err = pickNIC(ctx, h, host, br, probe, quiet); err != nil {
			return Uplink{}, err
		}
	}
	if up.Mode == "nic" {
		err = nicMode(h, host, br, up.NIC)
	} else {
		err = zosMode(h, host, br)
	}
	if err != nil {
		return Uplink{}, err
	}
	if err := h.LinkSetUp(br); err != nil {
		return Uplink{}, fmt.Errorf("set %s up: %w", Bridge, err)
	}
	return up, nil
}

// reprobe is how long a NIC that heard no RA is left alone before it is probed again.
const reprobe = 5 * time.Minute

// pickNIC: a NIC already on br-pub wins; else the first (by name) candidate NIC that
// hears an RA; else zos. quiet remembers NICs that heard none (not re-probed for
// reprobe, so a resync does not wait on them every time).
func pickNIC(ctx context.Context, h *netlink.Handle, host *netns.NS, br netlink.Link, probe time.Duration, quiet map[string]time.Time) (Uplink, error) {
	links, err := h.LinkList()
	if err != nil {
		return Uplink{}, fmt.Errorf("list host links: %w", err)
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Attrs().Name < links[j].Attrs().Name })
	var cands []netlink.Link
	for _, l := range links {
		at := l.Attrs()
		if nodeapi.OwnLink(at.Name) || (l.Type() != "device" && l.Type() != "veth") {
			continue
		}
		if at.MasterIndex == br.Attrs().Index {
			return Uplink{Mode: "nic", NIC: at.Name, Reason: "already br-pub's uplink"}, nil
		}
		if at.MasterIndex == 0 {
			cands = append(cands, l)
		}
	}
	for _, l := range cands {
		name := l.Attrs().Name
		if t, ok := quiet[name]; ok && time.Since(t) < reprobe {
			continue
		}
		if ok, why := hearsRA(ctx, h, host, l, probe); ok {
			delete(quiet, name)
			return Uplink{Mode: "nic", NIC: name, Reason: why}, nil
		}
		quiet[name] = time.Now()
	}
	return Uplink{Mode: "zos", Reason: fmt.Sprintf("no free NIC with carrier hears a router advertisement (%d probed)", len(cands))}, nil
}

// hearsRA brings l up with RA acceptance but no autoconfiguration, solicits router
// advertisements on it (solicit) and waits up to timeout for a route the kernel learned
// from an RA on it.
func hearsRA(ctx context.Context, h *netlink.Handle, host *netns.NS, l netlink.Link, timeout time.Duration) (bool, string) {
	name := l.Attrs().Name
	if err := link.Set(host, link.IPv6(name, link.Sysctls{"disable_ipv6": "0", "accept_ra": "2", "autoconf": "0", "accept_dad": "0"})); err != nil {
		return false, err.Error()
	}
	if err := h.LinkSetUp(l); err != nil {
		return false, err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	solicited := make(chan struct{})
	go func() {
		defer close(solicited)
		solicit(ctx, host, l.Attrs().Index)
	}()
	defer func() { cancel(); <-solicited }()
	for {
		if fresh, err := h.LinkByIndex(l.Attrs().Index); err == nil && fresh.Attrs().OperState == netlink.OperUp {
			rs, _ := h.RouteList(fresh, netlink.FAMILY_V6)
			for _, r := range rs {
				if r.Protocol == unix.RTPROT_RA {
					return true, "hears router advertisements on " + name
				}
			}
		}
		select {
		case <-ctx.Done():
			return false, "no router advertisement on " + name
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// solicitEvery is how often solicit sends a router solicitation while a NIC is probed.
const solicitEvery = time.Second

// solicit sends a router solicitation to all routers (ff02::2) on the link with index
// ifindex in host at once and every solicitEvery until ctx ends. Without it the probe
// waits on the kernel's own solicitations, which go only when the link comes up (after
// up to 1 s, then 4 s apart, and not at all on a NIC already up with router_solicitations
// spent or 0), or on the router's next unsolicited RA, minutes apart on a real LAN. The
// kernel processes the answer (accept_ra). A send that fails (the link has no
// link-local address for a moment) is retried on the next tick; a socket that cannot be
// opened leaves the kernel's solicitations.
func solicit(ctx context.Context, host *netns.NS, ifindex int) {
	var c *ndp.Conn
	err := host.Do(func() error {
		ifi, err := net.InterfaceByIndex(ifindex)
		if err != nil {
			return err
		}
		c, err = link.ListenNDP(ifi, ndp.Unspecified)
		return err
	})
	if err != nil {
		return
	}
	defer c.Close()
	var f ipv6.ICMPFilter
	f.SetAll(true) // send only: the kernel reads the answers
	_ = c.SetICMPFilter(&f)
	routers := netip.MustParseAddr("ff02::2")
	t := time.NewTicker(solicitEvery)
	defer t.Stop()
	for {
		_ = c.WriteTo(&ndp.RouterSolicitation{}, nil, routers)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func nicMode(h *netlink.Handle, host *netns.NS, br netlink.Link, nic string) error {
	if l, err := h.LinkByName(PubPort); err == nil { // leave zos mode
		if err := h.LinkDel(l); err != nil {
			return fmt.Errorf("delete %s: %w", PubPort, err)
		}
	}
	l, err := h.LinkByName(nic)
	if err != nil {
		return fmt.Errorf("find public NIC %s: %w", nic, err)
	}
	if err := releaseOtherNICs(h, br, nic); err != nil {
		return err
	}
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if err := h.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("attach %s to %s: %w", nic, Bridge, err)
		}
	}
	if !sameMAC(br.Attrs().HardwareAddr, l.Attrs().HardwareAddr) {
		if err := h.LinkSetHardwareAddr(br, l.Attrs().HardwareAddr); err != nil {
			return fmt.Errorf("set %s mac: %w", Bridge, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", nic, err)
	}
	return link.Set(host, link.IPv6(nic, link.Sysctls{"disable_ipv6": "1"}).With(
		link.IPv6(Bridge, link.Sysctls{"disable_ipv6": "0", "accept_ra": "2", "autoconf": "1", "accept_dad": "0"})))
}

// releaseOtherNICs takes NICs other than keep off br-pub (the public config named
// another one).
func releaseOtherNICs(h *netlink.Handle, br netlink.Link, keep string) error {
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("list host links: %w", err)
	}
	for _, l := range links {
		at := l.Attrs()
		if at.MasterIndex == br.Attrs().Index && at.Name != keep && !nodeapi.OwnLink(at.Name) {
			if err := h.LinkSetNoMaster(l); err != nil {
				return fmt.Errorf("release %s from %s: %w", at.Name, Bridge, err)
			}
		}
	}
	return nil
}

func zosMode(h *netlink.Handle, host *netns.NS, br netlink.Link) error {
	zos, err := h.LinkByName(Zos)
	if err != nil {
		return fmt.Errorf("find bridge %s (made by netinit): %w", Zos, err)
	}
	if err := link.Set(host, link.IPv6(Bridge, link.Sysctls{"disable_ipv6": "1"})); err != nil {
		return err
	}
	if _, err := h.LinkByName(PubPort); err != nil {
		if half, err := h.LinkByName(ZosPort); err == nil {
			if err := h.LinkDel(half); err != nil {
				return fmt.Errorf("delete half veth %s: %w", ZosPort, err)
			}
		}
	}
	v, err := link.Ensure(h, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: PubPort, MTU: zos.Attrs().MTU}, PeerName: ZosPort})
	if err != nil {
		return err
	}
	for _, x := range []struct {
		l      netlink.Link
		master netlink.Link
	}{{v, br}, {nil, zos}} {
		if x.l == nil {
			if x.l, err = h.LinkByName(ZosPort); err != nil {
				return fmt.Errorf("find %s: %w", ZosPort, err)
			}
		}
		if err := link.Set(host, link.IPv6(x.l.Attrs().Name, link.Sysctls{"disable_ipv6": "1"})); err != nil {
			return err
		}
		if err := link.SetMaster(h, x.l, x.master); err != nil {
			return err
		}
		if err := link.Up(h, x.l); err != nil {
			return err
		}
	}
	return nil
}

func sameMAC(a, b net.HardwareAddr) bool { return a.String() == b.String() }
