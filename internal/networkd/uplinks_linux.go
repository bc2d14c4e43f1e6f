package networkd

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/public"
)

const publicFile = "public.json"

// pubSide is the node's public side (issue 5) run by the daemon when Config.Uplinks is
// set: br-pub, ndmz, the public namespace from the farmer's public config (persisted,
// re-applied at start without the registry) and the firewall openings for the
// WireGuard ports. mu serializes applies; it is taken before Daemon.mu, never after.
type pubSide struct {
	mu  sync.Mutex
	up  *public.Uplinks
	cfg *public.Config
}

var _ localapi.PublicBackend = (*Daemon)(nil)

// startUplinks loads the persisted public config and applies the uplinks once.
// A failure is logged and retried on the next change or resync: the NRs keep running.
func (d *Daemon) startUplinks(ctx context.Context) {
	if !d.cfg.Uplinks {
		return
	}
	p := &pubSide{up: &public.Uplinks{Host: d.cfg.Host, NetnsDir: d.cfg.NetnsDir, App: d.app, Log: d.log}}
	var c *public.Config
	if _, err := d.store.ReadJSON(publicFile, &c); err != nil {
		d.log.Warn("public config: unreadable, starting without", "err", err)
	} else if c != nil && c.Validate() == nil {
		p.cfg = c
	}
	d.pub = p
	if err := d.applyUplinks(ctx); err != nil {
		d.log.Warn("uplinks", "err", err)
	}
}

// applyUplinks makes the uplinks match the public config with every NR's port open.
func (d *Daemon) applyUplinks(ctx context.Context) error {
	if d.pub == nil {
		return nil
	}
	d.pub.mu.Lock()
	defer d.pub.mu.Unlock()
	d.mu.Lock()
	var ports []uint16
	for _, p := range d.ports.Assignments() {
		ports = append(ports, p)
	}
	d.mu.Unlock()
	slices.Sort(ports)
	if err := d.pub.up.Apply(ctx, d.pub.cfg, ports); err != nil {
		return fmt.Errorf("uplinks: %w", err)
	}
	return nil
}

// PublicStatus implements localapi.PublicBackend.
func (d *Daemon) PublicStatus() public.Status {
	if d.pub == nil {
		return public.Status{SocketNamespace: "host"}
	}
	d.pub.mu.Lock()
	defer d.pub.mu.Unlock()
	return d.pub.up.Status()
}

// SetPublicConfig implements localapi.PublicBackend: it validates cfg (nil removes the
// config), persists it, and applies it.
func (d *Daemon) SetPublicConfig(ctx context.Context, cfg *public.Config) error {
	if d.pub == nil {
		return fmt.Errorf("%w: public config: this networkd runs without uplinks (--uplinks=false)", localapi.ErrConflict)
	}
	if cfg != nil {
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("%w: %w", localapi.ErrInvalid, err)
		}
	}
	d.pub.mu.Lock()
	if err := d.store.WriteJSON(publicFile, cfg); err != nil {
		d.pub.mu.Unlock()
		return err
	}
	d.pub.cfg = cfg
	d.pub.mu.Unlock()
	return d.applyUplinks(ctx)
}
