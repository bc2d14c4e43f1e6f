package networkd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/firewall"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/public"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/vmnet"
	"github.com/zosnet/zosnet/internal/wg"
	"github.com/zosnet/zosnet/internal/workload"
)

// reconciler owns every applier of the node and is the only part of networkd that
// touches the kernel: network resources (resource.Applier), workloads
// (workload.Attacher), the uplinks (public.Uplinks: br-pub, ndmz and the NR uplinks,
// the public namespace, the host and socket firewalls) and the workload
// anti-spoofing table. It keeps no desired state: the Daemon hands it what it wants,
// one step at a time, and every step returns what it reached. Not safe for concurrent
// use: the Daemon's lock serializes it, so API changes interleave with a long pass.
type reconciler struct {
	host     *netns.NS // the node's host namespace (zos, br-pub, workload bridges)
	netnsDir string
	mode     string // UplinksAuto, UplinksOn or UplinksOff
	log      *slog.Logger

	nrs *resource.Applier
	wls *workload.Attacher
	up  *public.Uplinks

	resolvConf string    // the node's name servers, for the workloads' DNS forwarder
	dns        *resolver // the forwarder while it runs (ensureResolver)

	managed bool      // uplinks managed, as of the last checkUplinks
	ownNS   *netns.NS // opened by newReconciler, closed by close

	vms map[string]*vmnet.Server // DHCP and RAs per NR with tap workloads
}

// newReconciler opens the host namespace (nil = the one networkd runs in) and sets up
// the appliers; it does not touch the kernel yet.
func newReconciler(cfg Config, log *slog.Logger) (*reconciler, error) {
	r := &reconciler{host: cfg.Host, netnsDir: cfg.NetnsDir, mode: cfg.Uplinks, log: log, resolvConf: cfg.ResolvConf, vms: map[string]*vmnet.Server{}}
	if r.resolvConf == "" {
		r.resolvConf = DefaultResolvConf()
	}
	if r.host == nil {
		h, err := netns.Open("/proc/self/ns/net")
		if err != nil {
			return nil, fmt.Errorf("networkd: open own netns: %w", err)
		}
		r.host, r.ownNS = h, h
	}
	r.nrs = &resource.Applier{Host: r.host, SockNS: r.host, NetnsDir: cfg.NetnsDir, WGKind: cfg.WGKind, Log: log}
	r.wls = &workload.Attacher{Host: r.host, NetnsDir: cfg.NetnsDir, PubBridge: public.Bridge}
	r.up = &public.Uplinks{Host: r.host, NetnsDir: cfg.NetnsDir, App: r.nrs, Log: log}
	return r, nil
}

// close stops the userspace WireGuard devices (their links go with them) and releases
// the namespace handles. The rest of the kernel state stays for the next start.
func (r *reconciler) close() {
	r.stopResolver()
	for id, s := range r.vms {
		s.Close()
		delete(r.vms, id)
	}
	r.up.Close()
	r.nrs.Close()
	if r.ownNS != nil {
		if err := r.ownNS.Close(); err != nil {
			r.log.Warn("close host namespace handle", "err", err)
		}
		r.ownNS = nil
	}
}

// wgKind is the WireGuard implementation in use (probed once when Config said auto).
func (r *reconciler) wgKind() wg.Kind { return r.nrs.Kind() }

// checkUplinks decides whether the uplinks are managed now: always with UplinksOn,
// never with UplinksOff, else once netinit's bridge zos exists.
func (r *reconciler) checkUplinks() bool {
	switch r.mode {
	case UplinksOff:
		r.managed = false
	case UplinksOn:
		r.managed = true
	default:
		r.managed = r.zosPresent()
	}
	return r.managed
}

func (r *reconciler) zosPresent() bool {
	h, err := netlink.NewHandleAt(vnetns.NsHandle(r.host.Fd()))
	if err != nil {
		r.log.Warn("uplinks: netlink in the host namespace", "err", err)
		return false
	}
	defer h.Close()
	_, err = h.LinkByName(public.Zos)
	return err == nil
}

// uplinks makes br-pub, ndmz, the public namespace (cfg; nil = none) and the socket
// firewall (ports) match, so NRs are created with their sockets in the right place.
// Nothing while the uplinks are not managed.
func (r *reconciler) uplinks(ctx context.Context, cfg *nodeapi.PublicConfig, ports []uint16) error {
	if !r.managed {
		return nil
	}
	if err := r.up.Apply(ctx, cfg, ports); err != nil {
		return fmt.Errorf("uplinks: %w", err)
	}
	r.ensureResolver()
	return nil
}

// setAllow hands the egress allow list to the uplinks; it applies at once when ndmz
// exists, else with the next uplinks pass.
func (r *reconciler) setAllow(list []nodeapi.EgressAllow) error {
	if !r.managed {
		return nil
	}
	if err := r.up.SetAllow(list); err != nil {
		return fmt.Errorf("egress allow list: %w", err)
	}
	return nil
}

// applyNR makes NR s exist with private key key and, with managed uplinks, gives it
// its uplink and opens ports (every NR's listen port) in the socket firewall.
func (r *reconciler) applyNR(s nodeapi.NRSpec, key wgtypes.Key, ports []uint16) error {
	if err := r.nrs.Apply(s, key); err != nil {
		return err
	}
	if !r.managed {
		return nil
	}
	ns, err := netns.OpenNamed(r.netnsDir, resource.NamesOf(s.NetworkID).NS)
	if err != nil {
		return fmt.Errorf("uplink of nr %s: %w", s.NetworkID, err)
	}
	defer ns.Close()
	if err := r.up.DMZ().Attach(ns, s.NetworkID); err != nil {
		return err
	}
	return r.up.SetPorts(ports)
}

// removeNR deletes NR id's objects (its uplink goes with its namespace).
func (r *reconciler) removeNR(id string) error { return r.nrs.Remove(id) }

// attach plugs workload w into its NR's bridge (idempotent; repairs a half-made one).
func (r *reconciler) attach(w nodeapi.Workload) error { return r.wls.Attach(w) }

// detach removes workload w's objects; a workload already gone is success.
func (r *reconciler) detach(w nodeapi.Workload) error { return r.wls.Detach(w) }

// antiSpoof rebuilds the workload anti-spoofing table from ws, whether the uplinks
// are managed or not: workloads are guarded in every mode. Rules may name ports that
// do not exist yet (they match by interface name), so callers apply them before
// attaching.
func (r *reconciler) antiSpoof(ws []nodeapi.Workload) error {
	ports := make([]firewall.Port, 0, len(ws))
	for _, w := range ws {
		mac, err := net.ParseMAC(w.MAC)
		if err != nil {
			return fmt.Errorf("anti-spoofing: workload %s: mac %q: %w", w.Name, w.MAC, err)
		}
		ports = append(ports, firewall.Port{Iface: w.HostIf, MAC: mac, IPv4: w.IPv4.Addr(), IPv6: w.IPv6.Addr(), DHCP: w.Kind == nodeapi.KindTap})
		if w.PublicIf == "" {
			continue
		}
		pmac, err := net.ParseMAC(w.PublicMAC)
		if err != nil {
			return fmt.Errorf("anti-spoofing: workload %s: public mac %q: %w", w.Name, w.PublicMAC, err)
		}
		ports = append(ports, firewall.Port{Iface: w.PublicIf, MAC: pmac, IPv4: w.PublicIPv4.Addr(), IPv6: w.PublicAddr6.Addr()})
	}
	return firewall.ApplyAntiSpoof(r.host, ports)
}

// gc is the last step of a pass: it removes every object tagged as ours that nothing
// in nrs and ws wants (NRs, workloads, NR uplinks) and rebuilds the anti-spoofing
// table. Errors are joined: one stuck object does not stop the others.
func (r *reconciler) gc(nrs map[string]nodeapi.NRSpec, ws []nodeapi.Workload) error {
	want := make(map[string]bool, len(nrs))
	for id := range nrs {
		want[id] = true
	}
	errs := []error{r.nrs.GC(want)}
	removed, err := r.wls.GC(ws)
	for _, name := range removed {
		r.log.Info("gc: removed a workload object no one wants", "object", name)
	}
	errs = append(errs, err, r.antiSpoof(ws))
	if r.managed {
		errs = append(errs, r.up.DMZ().GC(want))
	}
	errs = append(errs, r.serveVMs(nrs, ws))
	return errors.Join(errs...)
}

// learned returns, for every NR of nrs, the endpoints WireGuard learned for its peers
// without a configured one (hidden peers), by peer key. An NR without a live device
// keeps what old had for it.
func (r *reconciler) learned(nrs map[string]nodeapi.NRSpec, old map[string]map[string]string) (map[string]map[string]string, error) {
	next := map[string]map[string]string{}
	var errs []error
	for id, s := range nrs {
		dev, _, err := r.nrs.Device(id)
		if err != nil || dev == nil {
			errs = append(errs, err)
			if h, ok := old[id]; ok {
				next[id] = h
			}
			continue
		}
		hidden := map[string]bool{}
		for _, p := range s.Peers {
			hidden[p.PublicKey] = p.Endpoint == ""
		}
		for _, p := range dev.Peers {
			if k := p.PublicKey.String(); hidden[k] && p.Endpoint != nil {
				if next[id] == nil {
					next[id] = map[string]string{}
				}
				next[id][k] = p.Endpoint.String()
			}
		}
	}
	return next, errors.Join(errs...)
}

// peers returns NR id's live WireGuard peers (sorted by key) and the implementation
// in use; nil peers and "" when it has no device (not applied yet, or failed).
func (r *reconciler) peers(id string) ([]nodeapi.PeerStatus, string, error) {
	dev, kind, err := r.nrs.Device(id)
	if err != nil {
		return nil, "", fmt.Errorf("nr %s: read wireguard device: %w", id, err)
	}
	if dev == nil {
		return nil, "", nil
	}
	out := make([]nodeapi.PeerStatus, 0, len(dev.Peers))
	for _, p := range dev.Peers {
		ps := nodeapi.PeerStatus{PublicKey: p.PublicKey.String(), RxBytes: p.ReceiveBytes, TxBytes: p.TransmitBytes, AllowedIPs: []string{}}
		if p.Endpoint != nil {
			ps.Endpoint = p.Endpoint.String()
		}
		if !p.LastHandshakeTime.IsZero() {
			t := p.LastHandshakeTime.UTC()
			ps.LatestHandshake = &t
		}
		for _, a := range p.AllowedIPs {
			ps.AllowedIPs = append(ps.AllowedIPs, a.String())
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PublicKey < out[j].PublicKey })
	return out, string(kind), nil
}

// endpoints returns the node's endpoint addresses, read live (nil while the uplinks
// are not managed).
func (r *reconciler) endpoints() []netip.Addr {
	if !r.managed {
		return nil
	}
	var out []netip.Addr
	for _, e := range r.up.Status().Endpoints {
		out = append(out, e.Addr)
	}
	return out
}

// nodeStatus reports the node's uplinks, endpoints and hidden flag.
func (r *reconciler) nodeStatus() nodeapi.NodeStatus {
	if !r.managed {
		return nodeapi.NodeStatus{UplinkStatus: nodeapi.UplinkStatus{Hidden: true, Uplinks: []nodeapi.UplinkInfo{}},
			Managed: false, Note: "uplinks not managed (no zos bridge yet, or --uplinks=off)"}
	}
	st := nodeapi.NodeStatus{UplinkStatus: r.up.Status(), Managed: true}
	eg, err := r.up.Egress()
	if err != nil {
		r.log.Warn("egress status", "err", err)
	}
	eg.Resolvers = r.resolvers()
	st.Egress = &eg
	return st
}

// refused returns the packets ndmz refused per NR (empty while the uplinks are not
// managed).
func (r *reconciler) refused() (map[string]uint64, error) {
	if !r.managed {
		return map[string]uint64{}, nil
	}
	return r.up.DMZ().Refused()
}

// refreshEgress re-learns the underlay and updates ndmz's deny sets when it changed.
func (r *reconciler) refreshEgress() (bool, error) {
	if !r.managed {
		return false, nil
	}
	return r.up.RefreshEgress()
}

// portFree probes whether UDP port can be bound (IPv4 and IPv6) in the namespace the
// WireGuard sockets live in now, for ports no NR holds.
func (r *reconciler) portFree(port uint16) bool {
	sock := r.host
	if r.managed {
		sock = r.up.SocketNS()
	}
	free := false
	err := sock.Do(func() error {
		c4, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
		if err != nil {
			return nil
		}
		defer c4.Close()
		c6, err := net.ListenUDP("udp6", &net.UDPAddr{Port: int(port)})
		if err == nil {
			c6.Close()
		}
		free = err == nil || strings.Contains(err.Error(), "address family not supported")
		return nil
	})
	if err != nil {
		r.log.Warn("probe listen port", "port", port, "err", err)
		return false
	}
	return free
}
