package networkd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/portalloc"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/ula"
	"github.com/zosnet/zosnet/internal/workload"
)

var _ localapi.Backend = (*Daemon)(nil)

// Status returns the node summary.
func (d *Daemon) Status() localapi.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return localapi.Status{NRs: len(d.state.NRs), Workloads: len(d.state.Workloads),
		WGKind: string(d.app.Kind()), StateDir: d.cfg.StateDir}
}

// ListNRs returns every NR with its status, sorted by id.
func (d *Daemon) ListNRs() []localapi.NR {
	d.mu.Lock()
	ids := d.state.nrIDs()
	d.mu.Unlock()
	out := make([]localapi.NR, 0, len(ids))
	for _, id := range ids {
		if nr, err := d.GetNR(id); err == nil {
			out = append(out, nr)
		}
	}
	return out
}

// GetNR returns NR id with its live WireGuard status.
func (d *Daemon) GetNR(id string) (localapi.NR, error) {
	d.mu.Lock()
	s, ok := d.state.NRs[id]
	st := d.status[id]
	var key wgtypes.Key
	var kerr error
	if ok {
		key, kerr = d.keyOf(id)
	}
	d.mu.Unlock()
	if !ok {
		return localapi.NR{}, fmt.Errorf("network resource %q: %w", id, localapi.ErrNotFound)
	}
	nr := localapi.NR{Spec: s, Status: localapi.NRStatus{ListenPort: s.ListenPort, State: st.state,
		LastError: st.lastErr, Subnet6: ula.Twin(id, s.Subnet).String(), Peers: []localapi.PeerStatus{}}}
	if kerr == nil {
		nr.Status.PublicKey = key.PublicKey().String()
	}
	nr.Status.Endpoints = d.nrEndpoints(s.ListenPort)
	dev, kind, err := d.app.Device(id)
	if err != nil || dev == nil {
		return nr, nil
	}
	nr.Status.WGKind = string(kind)
	for _, p := range dev.Peers {
		ps := localapi.PeerStatus{PublicKey: p.PublicKey.String(), RxBytes: p.ReceiveBytes, TxBytes: p.TransmitBytes, AllowedIPs: []string{}}
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
		nr.Status.Peers = append(nr.Status.Peers, ps)
	}
	sort.Slice(nr.Status.Peers, func(i, j int) bool { return nr.Status.Peers[i].PublicKey < nr.Status.Peers[j].PublicKey })
	return nr, nil
}

// PutNR creates or updates an NR. The spec is validated, a port allocated (or the
// requested one checked), the key made on first use, the desired state persisted and
// then applied. A failed create leaves nothing behind; a failed update restores the
// previous spec.
func (d *Daemon) PutNR(ctx context.Context, s resource.Spec) (localapi.NR, error) {
	if err := s.Validate(); err != nil {
		return localapi.NR{}, err
	}
	if err := d.putNR(s); err != nil {
		return localapi.NR{}, err
	}
	return d.GetNR(s.NetworkID)
}

func (d *Daemon) putNR(s resource.Spec) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := s.NetworkID
	old, had := d.state.NRs[id]
	if had && old.Subnet != s.Subnet && d.hasWorkloads(id) {
		return fmt.Errorf("%w: subnet: network %s has workloads; remove them before changing the subnet", localapi.ErrConflict, id)
	}
	port, err := d.ports.Allocate(id, s.ListenPort)
	if err != nil {
		if errors.Is(err, portalloc.ErrTaken) {
			err = fmt.Errorf("%w: listen_port: %w", localapi.ErrConflict, err)
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
func (d *Daemon) undoPut(id string, old resource.Spec, had bool) error {
	if !had {
		delete(d.state.NRs, id)
		delete(d.status, id)
		d.ports.Release(id)
		return errors.Join(d.persist(), d.app.Remove(id), d.forgetKey(id))
	}
	d.state.NRs[id] = old
	d.ports.Allocate(id, old.ListenPort)
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

// DeleteNR detaches the NR's workloads and removes it; a missing NR is success. The
// desired state is persisted first, so a crash midway is finished by the next GC.
func (d *Daemon) DeleteNR(ctx context.Context, id string) error {
	if err := resource.ValidID(id); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var detach []workload.Info
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
		errs = append(errs, d.att.Detach(w))
	}
	errs = append(errs, d.app.Remove(id))
	d.ports.Release(id)
	delete(d.status, id)
	errs = append(errs, d.forgetKey(id))
	return errors.Join(errs...)
}

// ListWorkloads returns the attached workloads, sorted by name.
func (d *Daemon) ListWorkloads() []localapi.Workload {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]localapi.Workload, 0, len(d.state.Workloads))
	for _, n := range d.state.workloadNames() {
		out = append(out, d.state.Workloads[n])
	}
	return out
}

// AddWorkload attaches a workload to its NR (idempotent: the same spec again returns
// the same addresses).
func (d *Daemon) AddWorkload(ctx context.Context, s workload.Spec) (localapi.Workload, error) {
	if err := s.Validate(); err != nil {
		return localapi.Workload{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	nr, ok := d.state.NRs[s.NetworkID]
	if !ok {
		return localapi.Workload{}, fmt.Errorf("workload %s: network resource %q: %w", s.Name, s.NetworkID, localapi.ErrNotFound)
	}
	info, had := d.state.Workloads[s.Name]
	if had && info.Spec != s {
		return localapi.Workload{}, fmt.Errorf("%w: workload %s exists on network %s as %s", localapi.ErrConflict, s.Name, info.NetworkID, info.Kind)
	}
	if !had {
		var err error
		if info, err = workload.Plan(nr, s, d.usedAddrs(s.NetworkID)); err != nil {
			return localapi.Workload{}, fmt.Errorf("%w: %w", localapi.ErrConflict, err)
		}
		d.state.Workloads[s.Name] = info
		if err := d.persist(); err != nil {
			delete(d.state.Workloads, s.Name)
			return localapi.Workload{}, err
		}
	}
	if err := d.att.Attach(info); err != nil {
		if !had {
			delete(d.state.Workloads, s.Name)
			err = errors.Join(err, d.persist())
		}
		return localapi.Workload{}, err
	}
	if err := d.antiSpoof(); err != nil {
		d.log.Warn("workload anti-spoofing", "workload", s.Name, "err", err)
	}
	return info, nil
}

// RemoveWorkload detaches a workload; a missing one is success.
func (d *Daemon) RemoveWorkload(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	info, ok := d.state.Workloads[name]
	if !ok {
		return nil
	}
	delete(d.state.Workloads, name)
	if err := d.persist(); err != nil {
		return err
	}
	return d.att.Detach(info)
}
