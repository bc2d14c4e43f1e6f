package resource

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/wg"
)

// RouteProto tags the routes networkd adds in NR namespaces, so it only ever removes
// its own (iproute2 shows it as "proto 90").
const RouteProto netlink.RouteProtocol = 90

// WGOverhead is what WireGuard adds to a packet over IPv6 (the worst case).
const WGOverhead = 80

// Applier makes the kernel match NR specs. All methods serialize on one lock; every
// operation is idempotent and may be re-run after a crash at any point.
type Applier struct {
	// Host is the namespace that holds the workload bridges (the node's host namespace).
	Host *netns.NS
	// SockNS is the socket namespace of the WireGuard UDP sockets: Host for now, the
	// `public` namespace once issue 5 creates it.
	SockNS *netns.NS
	// NetnsDir holds the n-<id> namespaces ("" = /run/netns).
	NetnsDir string
	// WGKind picks the WireGuard implementation (wg.Auto probes once).
	WGKind wg.Kind
	// Log receives progress; nil discards.
	Log *slog.Logger

	mu      sync.Mutex
	devs    map[string]*nrDev
	learned map[string]map[wgtypes.Key]*net.UDPAddr // endpoints of hidden peers, by NR
}

// nrDev is a live WireGuard device and what was last applied to it.
type nrDev struct {
	dev   wg.Device
	ns    *netns.NS // the link namespace, owned by the device
	nsIno uint64    // inode of the namespace the link was born in
	spec  nodeapi.NRSpec
	key   wgtypes.Key
}

func (a *Applier) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// Kind returns the WireGuard implementation in use, probing once if it was wg.Auto.
func (a *Applier) Kind() wg.Kind {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.kind()
}

func (a *Applier) kind() wg.Kind {
	if a.WGKind == wg.Auto {
		a.WGKind = wg.Userspace
		if err := wg.Probe(a.SockNS); err == nil {
			a.WGKind = wg.Kernel
		} else {
			a.log().Info("wireguard: using wireguard-go", "reason", err)
		}
	}
	return a.WGKind
}

// Apply makes NR s (already validated, ListenPort set) exist with private key key.
// It creates what is missing, fixes what differs and leaves the rest alone; a
// peer-only change is a partial WireGuard update without link flaps. If the NR did
// not exist before and the apply fails, everything it created is removed again.
func (a *Applier) Apply(s nodeapi.NRSpec, key wgtypes.Key) (err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.devs == nil {
		a.devs = map[string]*nrDev{}
	}
	n := NamesOf(s.NetworkID)
	_, existed := a.devs[s.NetworkID]
	if !existed {
		if ns, err := netns.OpenNamed(a.NetnsDir, n.NS); err == nil {
			ns.Close()
			existed = true
		}
	}
	defer func() {
		if err != nil && !existed {
			if rerr := a.remove(s.NetworkID); rerr != nil {
				err = errors.Join(err, fmt.Errorf("roll back: %w", rerr))
			}
		}
	}()
	return a.apply(s, key, n)
}

func (a *Applier) apply(s nodeapi.NRSpec, key wgtypes.Key, n Names) error {
	ns, err := CreateNS(a.NetnsDir, n.NS)
	if err != nil {
		return fmt.Errorf("nr %s: namespace: %w", s.NetworkID, err)
	}
	defer ns.Close()
	mtu, err := a.overlayMTU()
	if err != nil {
		return fmt.Errorf("nr %s: %w", s.NetworkID, err)
	}
	steps := []func() error{
		func() error { return nsSysctls(ns) },
		func() error { return a.ensureBridge(n, mtu) },
		func() error { return a.ensureLeg(ns, n, mtu) },
		func() error { return ensureGateway(ns, s, n) },
		func() error { return a.ensureWG(ns, s, key, n, mtu) },
		func() error { return ensureRoutes(ns, s, n) },
		func() error { return ensureNFT(ns, n) },
	}
	for i, step := range steps {
		t0 := time.Now()
		if err := step(); err != nil {
			return fmt.Errorf("nr %s: %w", s.NetworkID, err)
		}
		a.log().Debug("apply step", "nr", s.NetworkID, "step", stepNames[i], "took", time.Since(t0))
	}
	return nil
}

var stepNames = []string{"sysctls", "bridge", "leg", "gateway", "wireguard", "routes", "nftables"}

// overlayMTU is the underlay MTU of the socket namespace minus WireGuard's overhead.
func (a *Applier) overlayMTU() (int, error) {
	h, err := link.Handle(a.SockNS)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	return underlayMTU(h) - WGOverhead, nil
}

// underlayMTU is the MTU of the link of the default route (IPv4, else IPv6), else the
// largest MTU of an up non-loopback link, else 1500.
func underlayMTU(h *netlink.Handle) int {
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, _ := h.RouteListFiltered(fam, &netlink.Route{Dst: nil}, netlink.RT_FILTER_DST)
		for _, r := range rs {
			if l, err := h.LinkByIndex(r.LinkIndex); err == nil && r.Dst == nil {
				return l.Attrs().MTU
			}
		}
	}
	best := 0
	links, _ := h.LinkList()
	for _, l := range links {
		at := l.Attrs()
		if at.Flags&net.FlagUp != 0 && at.Flags&net.FlagLoopback == 0 && !isOurs(at.Name) && at.MTU > best {
			best = at.MTU
		}
	}
	if best == 0 {
		return 1500
	}
	return best
}

// isOurs reports whether a link name is one networkd owns in the host namespace.
func isOurs(name string) bool {
	for _, p := range []string{"b-", "v-", "c-", "t-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// nsSysctls: an NR namespace routes between its bridge leg and the tunnel, with a
// strict reverse-path filter and no redirects or router advertisements.
func nsSysctls(ns *netns.NS) error {
	if err := link.Set(ns, link.Sysctls{
		"net/ipv4/ip_forward":                  "1",
		"net/ipv6/conf/all/forwarding":         "1",
		"net/ipv4/conf/all/rp_filter":          "1",
		"net/ipv4/conf/default/rp_filter":      "1",
		"net/ipv6/conf/default/accept_dad":     "0",
		"net/ipv6/conf/default/accept_ra":      "0",
		"net/ipv4/conf/all/send_redirects":     "0",
		"net/ipv4/conf/default/send_redirects": "0",
	}); err != nil {
		return err
	}
	h, err := link.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return link.UpByName(h, "lo")
}
