package networkd

import (
	"context"
	"errors"
	"fmt"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

// NodeStatus returns the node's uplinks, endpoints and hidden flag.
func (d *Daemon) NodeStatus(ctx context.Context) (nodeapi.NodeStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.rec.nodeStatus()
	if d.registry != nil {
		r := *d.registry
		st.Registry = &r
	}
	if d.restored != nil {
		r := *d.restored
		st.Restored = &r
	}
	return st, nil
}

// Refused returns the packets the egress rule refused per NR (by network id).
func (d *Daemon) Refused() (map[string]uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec.refused()
}

// EgressAllow returns the persisted egress allow list.
func (d *Daemon) EgressAllow(ctx context.Context) ([]nodeapi.EgressAllow, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]nodeapi.EgressAllow{}, d.allow...), nil
}

// SetEgressAllow validates, persists and applies the farmer's egress allow list (empty:
// none): ndmz's egress chain is rebuilt at once (counters carried over). A list that
// fails to apply is rolled back to the previous one.
func (d *Daemon) SetEgressAllow(ctx context.Context, list []nodeapi.EgressAllow) error {
	if err := nodeapi.ValidateEgressAllow(list); err != nil {
		return err
	}
	if err := d.lockFor(ctx); err != nil {
		return err
	}
	defer d.mu.Unlock()
	old := d.allow
	if err := d.store.WriteJSON(egressAllowFile, nodeapi.EgressAllowList{Allow: list}); err != nil {
		return err
	}
	d.allow = append([]nodeapi.EgressAllow{}, list...)
	err := d.rec.setAllow(d.allow)
	if err == nil {
		d.log.Info("egress allow list set", "entries", len(list))
		return nil
	}
	d.allow = old
	return errors.Join(err, d.store.WriteJSON(egressAllowFile, nodeapi.EgressAllowList{Allow: old}), d.rec.setAllow(old))
}

// PublicConfig returns the persisted public config (nil when unset).
func (d *Daemon) PublicConfig(ctx context.Context) (*nodeapi.PublicConfig, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pubCfg, nil
}

// SetPublicConfig persists cfg (nil = unset) and applies it: the public namespace is
// created, changed or removed and the NRs' WireGuard sockets move, without a restart.
// A config that fails to apply is rolled back to the previous one. It is refused
// (ErrConflict) while the uplinks are not managed.
func (d *Daemon) SetPublicConfig(ctx context.Context, cfg *nodeapi.PublicConfig) error {
	if cfg != nil {
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	if err := d.lockFor(ctx); err != nil {
		return err
	}
	defer d.mu.Unlock()
	if !d.rec.checkUplinks() {
		return fmt.Errorf("%w: uplinks are not managed on this node (no zos bridge, or --uplinks=off)", nodeapi.ErrConflict)
	}
	old := d.pubCfg
	if err := d.persistPublicConfig(cfg); err != nil {
		return err
	}
	d.pubCfg = cfg
	err := d.rec.uplinks(ctx, cfg, d.state.listenPorts())
	if err == nil {
		return nil
	}
	d.pubCfg = old
	return errors.Join(err, d.persistPublicConfig(old), d.rec.uplinks(context.WithoutCancel(ctx), old, d.state.listenPorts()))
}
