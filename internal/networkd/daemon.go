// Package networkd is the node's network daemon: it keeps the desired network
// resources and workloads on disk, makes the kernel match them (at start, on every API
// change and on a periodic resync that restores what was deleted behind its back),
// removes only objects tagged as its own that nothing wants, and serves the local API
// and Prometheus metrics.
//
// Userspace WireGuard devices live inside the networkd process: when it stops or
// crashes their links disappear, and the next start recreates them from the persisted
// state with the same keys and ports, so peers reconnect on their next handshake.
// All Daemon methods are safe for concurrent use; changes are serialized.
package networkd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/portalloc"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/store"
	"github.com/zosnet/zosnet/internal/wg"
	"github.com/zosnet/zosnet/internal/workload"
)

// Config is what a daemon needs. Zero values get the defaults noted.
type Config struct {
	StateDir    string        // desired state and keys (required)
	Socket      string        // local API socket ("" = localapi.DefaultSocket)
	NetnsDir    string        // named namespaces ("" = /run/netns)
	MetricsAddr string        // TCP address for /metrics ("" = only on the socket)
	Resync      time.Duration // periodic reconcile (0 = 30 s)
	// Host holds the workload bridges; nil = the namespace networkd runs in.
	Host *netns.NS
	// SockNS is where WireGuard sockets live; nil = Host. Issue 5 passes `public`.
	SockNS           *netns.NS
	WGKind           wg.Kind // wg.Auto probes
	PortMin, PortMax uint16  // listen port range (0 = 3000..3999)
	// Uplinks: UplinksAuto (""), UplinksOn or UplinksOff; see uplink.go (issue 5).
	Uplinks string
	Log     *slog.Logger
}

// Daemon is a running networkd.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	store *store.Dir
	app   *resource.Applier
	att   *workload.Attacher
	ports *portalloc.Allocator
	met   *metrics

	mu     sync.Mutex // serializes changes and guards the fields below
	state  State
	keys   map[string][]byte // private keys by NR id (raw 32 bytes)
	status map[string]nrStatus
	hints  map[string]map[string]string // NR id → peer key → endpoint learned from a hidden peer
	ownNS  []*netns.NS                  // namespaces opened by New, closed by Close
	up     *uplinks                     // issue 5: ndmz, br-pub, public namespace (uplink.go)
}

type nrStatus struct {
	state   string
	lastErr string
}

// New opens the state directory, restores the desired state and ports, and returns a
// daemon that has not touched the kernel yet (call Reconcile, then Run).
func New(cfg Config) (*Daemon, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("networkd: state dir is required")
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	if cfg.PortMin == 0 {
		cfg.PortMin, cfg.PortMax = 3000, 3999
	}
	d := &Daemon{cfg: cfg, log: cfg.Log, keys: map[string][]byte{}, status: map[string]nrStatus{},
		hints: map[string]map[string]string{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if err := d.openNamespaces(); err != nil {
		return nil, err
	}
	st, err := store.Open(cfg.StateDir)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.store = st
	d.app = &resource.Applier{Host: d.cfg.Host, SockNS: d.cfg.SockNS, NetnsDir: cfg.NetnsDir, WGKind: cfg.WGKind, Log: d.log}
	d.att = &workload.Attacher{Host: d.cfg.Host, NetnsDir: cfg.NetnsDir}
	if err := d.load(); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.newUplinks(); err != nil {
		d.Close()
		return nil, err
	}
	d.met = newMetrics(d)
	return d, nil
}

func (d *Daemon) openNamespaces() error {
	if d.cfg.Host == nil {
		h, err := netns.Open("/proc/self/ns/net")
		if err != nil {
			return fmt.Errorf("networkd: open own netns: %w", err)
		}
		d.cfg.Host = h
		d.ownNS = append(d.ownNS, h)
	}
	if d.cfg.SockNS == nil {
		d.cfg.SockNS = d.cfg.Host
	}
	return nil
}

// Close stops the userspace WireGuard devices (their links go away with them) and
// releases the daemon's namespace handles. Kernel state stays for the next start.
func (d *Daemon) Close() {
	d.closeUplinks()
	if d.app != nil {
		d.mu.Lock()
		if err := d.learnEndpoints(); err != nil {
			d.log.Warn("remember learned endpoints", "err", err)
		}
		d.mu.Unlock()
		d.app.Close()
	}
	for _, ns := range d.ownNS {
		ns.Close()
	}
	d.ownNS = nil
}

// Run reconciles every Resync until ctx ends.
func (d *Daemon) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.Reconcile(ctx)
		}
	}
}

// Reconcile makes the kernel match the desired state: every NR and workload is
// re-applied (idempotent; missing objects come back), then objects tagged as ours that
// nothing wants are removed. The lock is taken per NR, so API calls interleave with a
// long pass. Failures are recorded per NR and returned joined.
func (d *Daemon) Reconcile(ctx context.Context) error {
	start := time.Now()
	var errs []error
	d.mu.Lock()
	errs = append(errs, d.uplinksBefore(ctx)) // issue 5: sockets in place before NRs
	ids, names := d.state.nrIDs(), d.state.workloadNames()
	d.mu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.mu.Lock()
		if s, ok := d.state.NRs[id]; ok {
			errs = append(errs, d.applyLocked(s))
		}
		d.mu.Unlock()
	}
	for _, name := range names {
		d.mu.Lock()
		if w, ok := d.state.Workloads[name]; ok {
			errs = append(errs, d.att.Attach(w))
		}
		d.mu.Unlock()
	}
	d.mu.Lock()
	errs = append(errs, d.app.GC(d.state.wantNRs()), d.gcWorkloads(), d.learnEndpoints(), d.uplinksAfter())
	d.mu.Unlock()
	err := errors.Join(errs...)
	d.met.reconciled(time.Since(start), err)
	if err != nil {
		d.log.Warn("reconcile", "err", err)
	}
	return err
}

func (d *Daemon) applyLocked(s resource.Spec) error {
	key, err := d.keyOf(s.NetworkID)
	if err != nil {
		return err
	}
	start := time.Now()
	err = d.app.Apply(d.withHints(s), key)
	if err == nil {
		err = d.uplinkAfterApply(s.NetworkID)
	}
	d.met.applied(time.Since(start), err)
	if err != nil {
		d.status[s.NetworkID] = nrStatus{state: "error", lastErr: err.Error()}
		return err
	}
	d.status[s.NetworkID] = nrStatus{state: "ok"}
	return nil
}
