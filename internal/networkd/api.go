package networkd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/portalloc"
	"github.com/zosnet/zosnet/internal/workload"
)

var _ localapi.Backend = (*Daemon)(nil)

// Status returns the node summary.
func (d *Daemon) Status(ctx context.Context) (nodeapi.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return nodeapi.Status{NRs: len(d.state.NRs), Workloads: len(d.state.Workloads),
		WGKind: string(d.rec.wgKind()), StateDir: d.cfg.StateDir}, nil
}

// ListNRs returns every NR with its status, sorted by id.
func (d *Daemon) ListNRs(ctx context.Context) ([]nodeapi.NR, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]nodeapi.NR, 0, len(d.state.NRs))
	eps := d.rec.endpoints() // read once for all NRs
	for _, id := range d.state.nrIDs() {
		nr, err := d.getLocked(id, eps)
		if err != nil {
			return nil, err
		}
		out = append(out, nr)
	}
	return out, nil
}

// GetNR returns NR id with its live WireGuard status.
func (d *Daemon) GetNR(ctx context.Context, id string) (nodeapi.NR, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.getLocked(id, d.rec.endpoints())
}

// getLocked returns NR id with its live WireGuard status; eps are the node's endpoint
// addresses (each NR's endpoints are these with its port).
func (d *Daemon) getLocked(id string, eps []netip.Addr) (nodeapi.NR, error) {
	s, ok := d.state.NRs[id]
	if !ok {
		return nodeapi.NR{}, fmt.Errorf("network resource %q: %w", id, nodeapi.ErrNotFound)
	}
	key, err := d.keyOf(id)
	if err != nil {
		return nodeapi.NR{}, err
	}
	st := d.status[id]
	nr := nodeapi.NR{Spec: s, Status: nodeapi.NRStatus{PublicKey: key.PublicKey().String(), ListenPort: s.ListenPort,
		State: st.state, LastError: st.lastErr, Subnet6: s.Subnet6().String(), Peers: []nodeapi.PeerStatus{}}}
	for _, a := range eps {
		nr.Status.Endpoints = append(nr.Status.Endpoints, netip.AddrPortFrom(a, s.ListenPort).String())
	}
	peers, kind, err := d.rec.peers(id)
	if err != nil {
		return nodeapi.NR{}, err
	}
	if peers != nil {
		nr.Status.Peers, nr.Status.WGKind = peers, kind
	}
	return nr, nil
}

// PutNR creates or updates an NR. The spec is validated, a port allocated (or the
// requested one checked), the key made on first use, the desired state persisted and
// then applied. A failed create leaves nothing behind; a failed update restores the
// previous spec. A caller gone before the lock was taken changes nothing.
func (d *Daemon) PutNR(ctx context.Context, s nodeapi.NRSpec) (nodeapi.NR, error) {
	if err := s.Validate(); err != nil {
		return nodeapi.NR{}, err
	}
	if err := d.lockFor(ctx); err != nil {
		return nodeapi.NR{}, err
	}
	defer d.mu.Unlock()
	if err := d.putLocked(s); err != nil {
		return nodeapi.NR{}, err
	}
	d.releaseSoon() // an apply's garbage (netlink, nftables, a replaced device) too
	return d.getLocked(s.NetworkID, d.rec.endpoints())
}

func (d *Daemon) putLocked(s nodeapi.NRSpec) error {
	id := s.NetworkID
	old, had := d.state.NRs[id]
	if had && old.Subnet != s.Subnet && d.hasWorkloads(id) {
		return fmt.Errorf("%w: subnet: network %s has workloads; remove them before changing the subnet", nodeapi.ErrConflict, id)
	}
	port, err := d.ports.Allocate(id, s.ListenPort)
	if err != nil {
		if errors.Is(err, portalloc.ErrTaken) {
			err = fmt.Errorf("%w: listen_port: %w", nodeapi.ErrConflict, err)
		}
		return err
	}
	s.ListenPort = port
	d.state.NRs[id] = s
	err = d.persist()
	if err == nil {
		err = d.applyLocked(s)
	}
	if err != nil {
		return errors.Join(err, d.undoPut(id, old, had))
	}
	return nil
}

// undoPut restores the state before a failed PutNR.
func (d *Daemon) undoPut(id string, old nodeapi.NRSpec, had bool) error {
	if !had {
		delete(d.state.NRs, id)
		delete(d.status, id)
		d.ports.Release(id)
		return errors.Join(d.persist(), d.rec.removeNR(id), d.forgetKey(id))
	}
	d.state.NRs[id] = old
	if _, err := d.ports.Allocate(id, old.ListenPort); err != nil {
		return errors.Join(fmt.Errorf("restore listen port %d of nr %s: %w", old.ListenPort, id, err), d.persist())
	}
	return errors.Join(d.persist(), d.applyLocked(old))
}

func (d *Daemon) usedAddrs(id string) map[netip.Addr]bool {
	used := map[netip.Addr]bool{}
	for _, w := range d.state.Workloads {
		if w.NetworkID == id {
			used[w.IPv4.Addr()] = true
		}
	}
	return used
}

func (d *Daemon) hasWorkloads(id string) bool {
	for _, w := range d.state.Workloads {
		if w.NetworkID == id {
			return true
		}
	}
	return false
}

// DeleteNR detaches the NR's workloads and removes it; a missing NR is ErrNotFound
// (nothing changes; the reconciler collects any leftover kernel objects). The
// desired state is persisted first, so a crash midway is finished by the next GC.
func (d *Daemon) DeleteNR(ctx context.Context, id string) error {
	if err := nodeapi.ValidID(id); err != nil {
		return err
	}
	if err := d.lockFor(ctx); err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, ok := d.state.NRs[id]; !ok {
		return fmt.Errorf("network resource %s: %w on this node: nothing to remove", id, nodeapi.ErrNotFound)
	}
	var detach []nodeapi.Workload
	for n, w := range d.state.Workloads {
		if w.NetworkID == id {
			detach = append(detach, w)
			delete(d.state.Workloads, n)
		}
	}
	delete(d.state.NRs, id)
	if err := d.persist(); err != nil {
		return err
	}
	var errs []error
	for _, w := range detach {
		errs = append(errs, d.rec.detach(w))
	}
	errs = append(errs, d.rec.serveVMs(d.state.NRs, d.state.workloadList()), d.rec.removeNR(id))
	d.releaseSoon()
	d.ports.Release(id)
	delete(d.status, id)
	errs = append(errs, d.forgetKey(id))
	return errors.Join(errs...)
}

// ListWorkloads returns the attached workloads, sorted by name.
func (d *Daemon) ListWorkloads(ctx context.Context) ([]nodeapi.Workload, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state.workloadList(), nil
}

// AddWorkload attaches a workload to its NR (idempotent: the same spec again returns
// the same addresses). A new workload that cannot be attached, or whose
// anti-spoofing rules cannot be applied, is removed again: it never runs unguarded.
func (d *Daemon) AddWorkload(ctx context.Context, s nodeapi.WorkloadSpec) (nodeapi.Workload, error) {
	if err := s.Validate(); err != nil {
		return nodeapi.Workload{}, err
	}
	if err := d.lockFor(ctx); err != nil {
		return nodeapi.Workload{}, err
	}
	defer d.mu.Unlock()
	nr, ok := d.state.NRs[s.NetworkID]
	if !ok {
		return nodeapi.Workload{}, fmt.Errorf("workload %s: network resource %q: %w", s.Name, s.NetworkID, nodeapi.ErrNotFound)
	}
	info, had := d.state.Workloads[s.Name]
	if had && info.WorkloadSpec != s {
		return nodeapi.Workload{}, fmt.Errorf("%w: workload %s exists on network %s as %s", nodeapi.ErrConflict, s.Name, info.NetworkID, info.Kind)
	}
	if !had {
		var err error
		if info, err = workload.Plan(nr, s, d.usedAddrs(s.NetworkID)); err != nil {
			return nodeapi.Workload{}, fmt.Errorf("%w: %w", nodeapi.ErrConflict, err)
		}
		if err := d.publicUnused(s); err != nil {
			return nodeapi.Workload{}, err
		}
		if info, err = d.rec.publicWorkload(info, d.pubCfg); err != nil {
			return nodeapi.Workload{}, err
		}
		d.state.Workloads[s.Name] = info
		if err := d.persist(); err != nil {
			delete(d.state.Workloads, s.Name)
			return nodeapi.Workload{}, err
		}
	}
	// The anti-spoofing rules for the workload's port go in before the port exists:
	// a workload is never attached unguarded.
	err := d.rec.antiSpoof(d.state.workloadList())
	if err == nil {
		err = d.rec.attach(info)
	}
	if err == nil && s.Kind == nodeapi.KindTap {
		// the VM is attached and guarded; without its DHCP and RAs it can still be
		// configured statically, so a failure here is logged (and retried by every
		// pass), not rolled back
		if verr := d.rec.serveVMs(d.state.NRs, d.state.workloadList()); verr != nil {
			d.log.Warn("vm network", "workload", s.Name, "err", verr)
		}
	}
	if err != nil && !had {
		delete(d.state.Workloads, s.Name)
		err = errors.Join(err, d.persist(), d.rec.detach(info), d.rec.antiSpoof(d.state.workloadList()))
	}
	if err != nil {
		return nodeapi.Workload{}, err
	}
	return info, nil
}

// publicUnused refuses a public IPv4 another workload of the node holds.
func (d *Daemon) publicUnused(s nodeapi.WorkloadSpec) error {
	if !s.PublicIPv4.IsValid() {
		return nil
	}
	for _, w := range d.state.Workloads {
		if w.PublicIPv4.IsValid() && w.PublicIPv4.Addr() == s.PublicIPv4.Addr() {
			return fmt.Errorf("%w: workload %s: public_ipv4 %s is workload %s's", nodeapi.ErrConflict, s.Name, s.PublicIPv4.Addr(), w.Name)
		}
	}
	return nil
}

// RemoveWorkload detaches a workload; a missing one is ErrNotFound (nothing changes).
func (d *Daemon) RemoveWorkload(ctx context.Context, name string) error {
	if err := d.lockFor(ctx); err != nil {
		return err
	}
	defer d.mu.Unlock()
	info, ok := d.state.Workloads[name]
	if !ok {
		return fmt.Errorf("workload %s: %w on this node: nothing to remove", name, nodeapi.ErrNotFound)
	}
	delete(d.state.Workloads, name)
	if err := d.persist(); err != nil {
		return err
	}
	return errors.Join(d.rec.detach(info), d.rec.antiSpoof(d.state.workloadList()), d.rec.serveVMs(d.state.NRs, d.state.workloadList()))
}
