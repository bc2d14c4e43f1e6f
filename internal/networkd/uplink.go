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
