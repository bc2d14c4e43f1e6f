package public

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/endpoints"
	"github.com/zosnet/zosnet/internal/firewall"
	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/ndmz"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/resource"
)

// Uplinks is the node's whole uplink side: br-pub, ndmz, the public namespace, the
// host/socket firewall tables and where the WireGuard sockets live.
type Uplinks struct {
	// Host is the node's host namespace (holds zos, br-pub, the workload bridges).
	Host *netns.NS
	// NetnsDir holds ndmz, public and the NR namespaces ("" = /run/netns).
	NetnsDir string
	// App is networkd's NR applier, whose sockets move; nil when there are no NRs.
	App *resource.Applier
	// Probe bounds how long a free NIC is listened to for router advertisements
	// (0 = 5 s); it sends a router solicitation every second meanwhile, which a router
	// answers within its minimum delay between RAs (3 s on radvd).
	Probe time.Duration
	// Log receives progress; nil discards.
	Log *slog.Logger

	mu     sync.Mutex
	dmz    *ndmz.DMZ
	uplink Uplink
	cfg    *nodeapi.PublicConfig
	sock   *netns.NS // the public namespace while a config is set
	quiet  map[string]time.Time
	allow  []nodeapi.EgressAllow // the farmer's egress allow list
	// gwTCP and gwUDP are the gateway's public ports, opened in the socket firewall
	// of the public namespace (SetGatewayPorts).
	gwTCP, gwUDP []uint16
	wgPorts      []uint16 // the WireGuard ports last applied
}

// DMZ returns the ndmz manager (for NR uplinks). It is valid after the first Apply.
func (u *Uplinks) DMZ() *ndmz.DMZ {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.dmzLocked()
}

// Segment says what br-pub is uplinked to, as of the last Apply.
func (u *Uplinks) Segment() Uplink {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.uplink
}

func (u *Uplinks) dmzLocked() *ndmz.DMZ {
	if u.dmz == nil {
		u.dmz = &ndmz.DMZ{Host: u.Host, NetnsDir: u.NetnsDir, PubBridge: Bridge, Log: u.Log}
	}
	return u.dmz
}

func (u *Uplinks) log() *slog.Logger {
	if u.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return u.Log
}

// Apply makes the uplinks match cfg (nil = no public config) with the WireGuard
// listen ports wgPorts open in the socket namespace. Setting a config creates the
// public namespace and then moves the sockets there; removing one moves them back
// to the host and then deletes the namespace; changing one re-addresses in place.
// Idempotent; cfg must be valid.
func (u *Uplinks) Apply(ctx context.Context, cfg *nodeapi.PublicConfig, wgPorts []uint16) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	probe := u.Probe
	if probe == 0 {
		probe = 5 * time.Second
	}
	if u.quiet == nil {
		u.quiet = map[string]time.Time{}
	}
	want := ""
	if cfg != nil {
		want = cfg.NIC
	}
	up, err := ensureBridge(ctx, u.Host, want, probe, u.quiet)
	if err != nil {
		return fmt.Errorf("br-pub: %w", err)
	}
	if up != u.uplink {
		u.log().Info("br-pub uplink", "mode", up.Mode, "nic", up.NIC, "reason", up.Reason)
	}
	u.uplink = up
	d := u.dmzLocked()
	d.SetEgress(u.egressConfig())
	if err := d.Ensure(); err != nil {
		return err
	}
	if cfg != nil {
		err = u.setConfig(*cfg, wgPorts)
	} else {
		err = u.unsetConfig(wgPorts)
	}
	if err != nil {
		return err
	}
	u.cfg = cfg
	_, err = d.Refresh() // the public namespace's addresses and gateways
	return err
}

// egressConfig is what ndmz's egress rule needs from the uplinks: zos is the LAN, and
// so is br-pub when it is uplinked to zos (one-NIC node); a br-pub on its own NIC is
// the farm's PUBLIC segment and stays reachable.
func (u *Uplinks) egressConfig() ndmz.EgressConfig {
	c := ndmz.EgressConfig{LAN: []string{Zos}, PublicNS: NS, Allow: u.allow}
	if u.uplink.Mode == "zos" {
		c.LAN, c.PubOnLAN = append(c.LAN, Bridge), true
	}
	return c
}

// SetAllow sets the farmer's egress allow list (valid: nodeapi.ValidateEgressAllow)
// and applies it at once when ndmz exists (else at the next Apply).
func (u *Uplinks) SetAllow(list []nodeapi.EgressAllow) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.allow = append([]nodeapi.EgressAllow(nil), list...)
	d := u.dmzLocked()
	d.SetEgress(u.egressConfig())
	_, err := d.Refresh()
	return err
}

// RefreshEgress learns the underlay again and updates ndmz's deny sets when it
// changed (see ndmz.DMZ.Refresh); it reports whether anything changed.
func (u *Uplinks) RefreshEgress() (bool, error) {
	return u.DMZ().Refresh()
}

func (u *Uplinks) setConfig(cfg nodeapi.PublicConfig, ports []uint16) error {
	u.wgPorts = ports
	ns, err := ensureNS(u.Host, u.NetnsDir, cfg)
	if err != nil {
		return err
	}
	if err := firewall.ApplySocketWith(ns, u.socket(ports)); err != nil {
		ns.Close()
		return err
	}
	if err := firewall.ApplyHost(u.Host, ndmz.HostFirewall(nil)); err != nil {
		ns.Close()
		return err
	}
	if u.sock != nil { // already there: keep the handle the applier uses
		ns.Close()
		return nil
	}
	u.sock = ns
	if u.App != nil {
		u.log().Info("moving wireguard sockets to the public namespace")
		return u.App.SetSockNS(ns)
	}
	return nil
}

func (u *Uplinks) unsetConfig(ports []uint16) error {
	if err := firewall.ApplyHost(u.Host, ndmz.HostFirewall(ports)); err != nil {
		return err
	}
	if u.App != nil && u.App.SockNSPath() != u.Host.Path() {
		u.log().Info("moving wireguard sockets to the host namespace")
		if err := u.App.SetSockNS(u.Host); err != nil {
			return err
		}
	}
	if u.sock != nil {
		u.sock.Close()
		u.sock = nil
	}
	return removeNS(u.Host, u.NetnsDir)
}

// Remove takes the whole uplink side down (public namespace, ndmz, firewall tables,
// br-pub and its zos veth); a NIC on br-pub is released. For tests and decommission.
func (u *Uplinks) Remove() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	var errs []error
	if u.App != nil && u.App.SockNSPath() != u.Host.Path() {
		errs = append(errs, u.App.SetSockNS(u.Host))
	}
	if u.sock != nil {
		u.sock.Close()
		u.sock = nil
	}
	errs = append(errs, removeNS(u.Host, u.NetnsDir), u.dmzLocked().Remove(), firewall.Remove(u.Host, firewall.HostTable))
	h, err := link.Handle(u.Host)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer h.Close()
	for _, n := range []string{PubPort, ZosPort, Bridge} {
		errs = append(errs, link.Delete(h, n))
	}
	u.cfg, u.uplink = nil, Uplink{}
	return errors.Join(errs...)
}

// SocketNS returns the namespace the WireGuard sockets live in now (Host or public).
// It stays valid until the next Apply or Remove.
func (u *Uplinks) SocketNS() *netns.NS {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.sock != nil {
		return u.sock
	}
	return u.Host
}

// addrsOf lists the addresses of link name in h, tagged with where.
func addrsOf(h *netlink.Handle, name string, where func(netip.Prefix, netlink.Addr) endpoints.Where) []endpoints.Addr {
	l, err := h.LinkByName(name)
	if err != nil {
		return nil
	}
	list, _ := h.AddrList(l, netlink.FAMILY_ALL)
	var out []endpoints.Addr
	for _, a := range list {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), ones)
		out = append(out, endpoints.Addr{Prefix: p, Iface: name, Where: where(p, a),
			Tentative: a.Flags&unix.IFA_F_TENTATIVE != 0, Deprecated: a.Flags&unix.IFA_F_DEPRECATED != 0})
	}
	return out
}

func fixed(w endpoints.Where) func(netip.Prefix, netlink.Addr) endpoints.Where {
	return func(netip.Prefix, netlink.Addr) endpoints.Where { return w }
}

// SetPorts re-renders the firewall table of the socket namespace (host or public) with
// the WireGuard ports now in use. Apply must have run.
func (u *Uplinks) SetPorts(wgPorts []uint16) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.sock != nil {
		u.wgPorts = wgPorts
		return firewall.ApplySocketWith(u.sock, u.socket(wgPorts))
	}
	return firewall.ApplyHost(u.Host, ndmz.HostFirewall(wgPorts))
}

func (u *Uplinks) socket(wgPorts []uint16) firewall.Socket {
	return firewall.Socket{WGPorts: wgPorts, GatewayTCP: u.gwTCP, GatewayUDP: u.gwUDP}
}

// SetGatewayPorts opens a gateway's public TCP and UDP ports in the firewall of the
// public namespace (only there: a node without a public config serves no gateway).
// It takes effect at once when the namespace exists, else with the next Apply.
func (u *Uplinks) SetGatewayPorts(tcp, udp []uint16) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gwTCP, u.gwUDP = tcp, udp
	if u.sock == nil {
		return nil
	}
	return firewall.ApplySocketWith(u.sock, u.socket(u.wgPorts))
}

// Close releases the public namespace handle; the kernel state stays.
func (u *Uplinks) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.sock != nil {
		u.sock.Close()
		u.sock = nil
	}
}
