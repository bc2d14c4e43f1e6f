package networkd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/zosnet/zosnet/internal/firewall"
	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/public"
	"github.com/zosnet/zosnet/internal/resource"
)

// Uplink modes (Config.Uplinks).
const (
	UplinksAuto = ""    // manage the uplinks once netinit's bridge zos exists
	UplinksOn   = "on"  // manage them; a missing zos is an error
	UplinksOff  = "off" // leave ndmz, br-pub and public alone (NRs have no egress)
)

const publicConfigFile = "public-config.json"

// uplinks is the daemon's part of issue 5: ndmz, br-pub, the public namespace, the
// host/socket firewall and workload anti-spoofing. Guarded by Daemon.mu.
type uplinks struct {
	u       *public.Uplinks
	cfg     *public.Config // persisted public config
	enabled bool
}

type publicConfigState struct {
	Config *public.Config `json:"config"`
}

func (d *Daemon) newUplinks() error {
	d.up = &uplinks{u: &public.Uplinks{Host: d.cfg.Host, NetnsDir: d.cfg.NetnsDir, App: d.app, Log: d.log}}
	var st publicConfigState
	if _, err := d.store.ReadJSON(publicConfigFile, &st); err != nil {
		return err
	}
	if st.Config != nil {
		if err := st.Config.Validate(); err != nil {
			return fmt.Errorf("state file %s: %w", publicConfigFile, err)
		}
	}
	d.up.cfg = st.Config
	return nil
}

// uplinksOn reports whether the uplinks are managed now.
func (d *Daemon) uplinksOn() bool {
	switch d.cfg.Uplinks {
	case UplinksOff:
		return false
	case UplinksOn:
		return true
	}
	h, err := netlink.NewHandleAt(vnetns.NsHandle(d.cfg.Host.Fd()))
	if err != nil {
		return false
	}
	defer h.Close()
	_, err = h.LinkByName(public.Zos)
	return err == nil
}

// uplinksBefore (start of a reconcile): br-pub, ndmz, the public namespace and the
// socket namespace, so NRs are created with their sockets in the right place.
func (d *Daemon) uplinksBefore(ctx context.Context) error {
	d.up.enabled = d.uplinksOn()
	if !d.up.enabled {
		return nil
	}
	if err := d.up.u.Apply(ctx, d.up.cfg, d.wgPorts()); err != nil {
		return fmt.Errorf("uplinks: %w", err)
	}
	return nil
}

// uplinksAfter (end of a reconcile): every NR's uplink, no stale ones, anti-spoofing.
func (d *Daemon) uplinksAfter() error {
	if !d.up.enabled {
		return nil
	}
	var errs []error
	for _, id := range d.state.nrIDs() {
		if d.status[id].state == "ok" {
			errs = append(errs, d.attachUplink(id))
		}
	}
	errs = append(errs, d.up.u.DMZ().GC(d.state.wantNRs()), d.antiSpoof())
	return errors.Join(errs...)
}

// uplinkAfterApply gives a freshly applied NR its uplink and opens its port.
func (d *Daemon) uplinkAfterApply(id string) error {
	if d.up == nil || !d.up.enabled {
		return nil
	}
	if err := d.attachUplink(id); err != nil {
		return err
	}
	return d.up.u.SetPorts(d.wgPorts())
}

func (d *Daemon) attachUplink(id string) error {
	ns, err := netns.OpenNamed(d.cfg.NetnsDir, resource.NamesOf(id).NS)
	if err != nil {
		return fmt.Errorf("uplink %s: %w", id, err)
	}
	defer ns.Close()
	return d.up.u.DMZ().Attach(ns, id)
}

func (d *Daemon) wgPorts() []uint16 {
	var ports []uint16
	for _, s := range d.state.NRs {
		ports = append(ports, s.ListenPort)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	return ports
}

// antiSpoof rebuilds the workload anti-spoofing table from the desired workloads.
func (d *Daemon) antiSpoof() error {
	if d.up == nil || !d.up.enabled {
		return nil
	}
	var ports []firewall.Port
	for _, w := range d.state.Workloads {
		mac, err := net.ParseMAC(w.MAC)
		if err != nil {
			continue
		}
		ports = append(ports, firewall.Port{Iface: w.HostIf, MAC: mac, IPv4: w.IPv4.Addr(), IPv6: w.IPv6.Addr()})
	}
	return firewall.ApplyAntiSpoof(d.cfg.Host, ports)
}

func (d *Daemon) closeUplinks() {
	if d.up != nil {
		d.up.u.Close()
	}
}

// nrEndpoints returns the node's endpoints with port (nil while uplinks are unmanaged).
func (d *Daemon) nrEndpoints(port uint16) []string {
	d.mu.Lock()
	on := d.up != nil && d.up.enabled
	d.mu.Unlock()
	if !on {
		return nil
	}
	var out []string
	for _, e := range d.up.u.Status().Endpoints {
		out = append(out, netip.AddrPortFrom(e.Addr, port).String())
	}
	return out
}

// NodeStatus is the node's uplinks, endpoints and hidden flag.
func (d *Daemon) NodeStatus() localapi.NodeStatus {
	d.mu.Lock()
	on := d.up.enabled
	d.mu.Unlock()
	if !on {
		return localapi.NodeStatus{Status: public.Status{Hidden: true, Uplinks: []public.UplinkInfo{}},
			Managed: false, Note: "uplinks not managed (no zos bridge yet, or --uplinks=off)"}
	}
	return localapi.NodeStatus{Status: d.up.u.Status(), Managed: true}
}

// PublicConfig returns the persisted public config (nil when unset).
func (d *Daemon) PublicConfig() *public.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.up.cfg
}

// SetPublicConfig persists cfg (nil = unset) and applies it: the public namespace is
// created, changed or removed and the NRs' WireGuard sockets move, without a restart.
// A config that fails to apply is rolled back to the previous one.
func (d *Daemon) SetPublicConfig(ctx context.Context, cfg *public.Config) error {
	if cfg != nil {
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("%w: %w", localapi.ErrInvalid, err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.uplinksOn() {
		return fmt.Errorf("%w: uplinks are not managed on this node (no zos bridge, or --uplinks=off)", localapi.ErrConflict)
	}
	d.up.enabled = true
	old := d.up.cfg
	if err := d.store.WriteJSON(publicConfigFile, publicConfigState{Config: cfg}); err != nil {
		return err
	}
	d.up.cfg = cfg
	err := d.up.u.Apply(ctx, cfg, d.wgPorts())
	if err == nil {
		return nil
	}
	d.up.cfg = old
	return errors.Join(err, d.store.WriteJSON(publicConfigFile, publicConfigState{Config: old}), d.up.u.Apply(ctx, old, d.wgPorts()))
}

// addUplinkRoutes mounts the node and public-config routes on the API server.
func (d *Daemon) addUplinkRoutes(srv *localapi.Server) {
	if srv.Extra == nil {
		srv.Extra = map[string]http.Handler{}
	}
	for p, h := range localapi.UplinkRoutes(srv, d) {
		srv.Extra[p] = h
	}
}
