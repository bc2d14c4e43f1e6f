// Package networkd is the node's network daemon: it keeps the desired network
// resources, workloads and public config on disk, makes the kernel match them (at
// start, on every API change and on a periodic resync that restores what was deleted
// behind its back), removes only objects tagged as its own that nothing wants, and
// serves the local API (package localapi) and Prometheus metrics.
//
// Two halves: Daemon is the desired state and its persistence (state files, keys,
// listen ports, learned endpoints, per-NR status); the reconciler (reconcile_linux.go)
// owns every applier and is the only part that touches the kernel. The Daemon drives
// it one object at a time under its lock and records what each step reached.
//
// Userspace WireGuard devices live inside the networkd process: when it stops or
// crashes their links disappear, and the next start recreates them from the persisted
// state with the same keys and ports, so peers reconnect on their next handshake.
// All Daemon methods are safe for concurrent use; changes are serialized. A second
// networkd on the same socket refuses to start while the first one answers.
package networkd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/portalloc"
	"github.com/zosnet/zosnet/internal/store"
	"github.com/zosnet/zosnet/internal/wg"
)

// Uplink modes (Config.Uplinks).
const (
	UplinksAuto = ""    // manage the uplinks once netinit's bridge zos exists
	UplinksOn   = "on"  // manage them; a missing zos is an error
	UplinksOff  = "off" // leave ndmz, br-pub and public alone (NRs have no egress)
)

// Config is what a daemon needs. Zero values get the defaults noted.
type Config struct {
	StateDir    string        // desired state and keys (required)
	Socket      string        // local API socket ("" = localapi.DefaultSocket)
	NetnsDir    string        // named namespaces ("" = /run/netns)
	MetricsAddr string        // TCP address for /metrics ("" = only on the socket)
	Resync      time.Duration // periodic reconcile (0 = 30 s)
	// GCPercent is the Go collector's target (GOGC) set by Serve (0 = DefaultGCPercent,
	// negative: leave the runtime's setting alone).
	GCPercent int
	// EndpointPoll is how often the endpoints WireGuard learned for hidden peers are
	// checked and, when changed, persisted (0 = 1 s).
	EndpointPoll time.Duration
	// Host holds zos, br-pub and the workload bridges; nil = the namespace networkd
	// runs in. The WireGuard sockets live there until a public config moves them.
	Host             *netns.NS
	WGKind           wg.Kind // wg.Auto probes
	PortMin, PortMax uint16  // listen port range (0 = 3000..3999)
	// Uplinks: UplinksAuto (""), UplinksOn or UplinksOff.
	Uplinks string
	// ResolvConf names the node's name servers, which the workloads' DNS forwarder
	// relays to ("" = DefaultResolvConf, where netinit writes them).
	ResolvConf string
	Log        *slog.Logger
}

// Daemon is a running networkd: the desired state, its persistence and the status
// of each NR; the kernel work goes through its reconciler.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	store *store.Dir
	rec   *reconciler
	met   *metrics

	mu     sync.Mutex // serializes changes and guards the fields below and rec
	state  State
	pubCfg *nodeapi.PublicConfig // the persisted public config (nil = unset)
	allow  []nodeapi.EgressAllow // the persisted egress allow list
	ports  *portalloc.Allocator
	keys   map[string][]byte // private keys by NR id (raw 32 bytes)
	status map[string]nrStatus
	hints  map[string]map[string]string // NR id → peer key → endpoint learned from a hidden peer
	gwFW   nodeapi.GatewayFirewall      // a gateway's ports and backends (gateway-firewall.json)
	closed bool                         // set by Close: changes are refused from then on

	release   *time.Timer             // the memory release after NR removals (releaseSoon)
	releasing bool                    // a release is pending
	registry  *nodeapi.RegistryStatus // provisiond's last report; nil until one came
	restored  *nodeapi.Restored       // what the first pass restored; nil until it finished
}

// nrStatus is what the last apply of one NR reached.
type nrStatus struct {
	state   string // nodeapi.StateOK, StatePending or StateError
	lastErr string
}

// New opens the state directory, restores the desired state, ports and public config,
// and returns a daemon that has not touched the kernel yet (call Serve, or Reconcile).
func New(cfg Config) (*Daemon, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("networkd: state dir is required")
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	if cfg.EndpointPoll <= 0 {
		cfg.EndpointPoll = time.Second
	}
	if cfg.PortMin == 0 {
		cfg.PortMin, cfg.PortMax = 3000, 3999
	}
	d := &Daemon{cfg: cfg, log: cfg.Log, keys: map[string][]byte{}, status: map[string]nrStatus{},
		hints: map[string]map[string]string{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	rec, err := newReconciler(cfg, d.log)
	if err != nil {
		return nil, err
	}
	d.rec = rec
	if d.store, err = store.Open(cfg.StateDir); err == nil {
		err = d.load()
	}
	if err != nil {
		d.rec.close()
		return nil, err
	}
	d.met = newMetrics(d)
	return d, nil
}

// Close remembers the endpoints learned from hidden peers, then stops the userspace
// WireGuard devices (their links go away with them) and releases the namespace
// handles. Kernel state stays for the next start.
func (d *Daemon) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	if d.release != nil {
		d.release.Stop()
	}
	if err := d.learnEndpoints(); err != nil {
		d.log.Warn("remember learned endpoints", "err", err)
	}
	d.rec.close()
}

// lockFor takes the lock for a change asked with ctx. It fails, holding nothing, when
// the caller has gone meanwhile (nothing is changed for it) or the daemon is closed.
func (d *Daemon) lockFor(ctx context.Context) error {
	d.mu.Lock()
	switch {
	case ctx.Err() != nil:
		d.mu.Unlock()
		return ctx.Err()
	case d.closed:
		d.mu.Unlock()
		return errors.New("networkd is stopping; retry once it is back")
	}
	return nil
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
			d.Reconcile(ctx) // logged and counted inside
		}
	}
}

// Reconcile makes the kernel match the desired state: the uplinks first (sockets in
// place before NRs), then every NR and workload is re-applied (idempotent; missing
// objects come back), then objects tagged as ours that nothing wants are removed.
// The lock is taken per step, so API calls interleave with a long pass; each step
// reads the desired state afresh. It stops early when ctx ends. Failures are
// recorded per NR and returned joined.
func (d *Daemon) Reconcile(ctx context.Context) error {
	start := time.Now()
	err := d.reconcile(ctx)
	d.met.reconciled(time.Since(start), err)
	if err != nil && ctx.Err() == nil {
		d.log.Warn("reconcile", "err", err)
	}
	return err
}

func (d *Daemon) reconcile(ctx context.Context) error {
	var errs []error
	if err := d.lockFor(ctx); err != nil {
		return err
	}
	if d.rec.checkUplinks() {
		errs = append(errs, d.rec.up.SetGatewayPorts(d.gwFW.TCPPorts, d.gwFW.UDPPorts))
	}
	errs = append(errs, d.rec.uplinks(ctx, d.pubCfg, d.state.listenPorts()), d.rec.setAllow(d.allow))
	ids, names := d.state.nrIDs(), d.state.workloadNames()
	d.mu.Unlock()
	for _, id := range ids {
		if err := d.lockFor(ctx); err != nil {
			return err
		}
		if s, ok := d.state.NRs[id]; ok {
			errs = append(errs, d.applyLocked(s))
		}
		d.mu.Unlock()
	}
	if err := d.lockFor(ctx); err != nil {
		return err
	}
	guarded := d.rec.antiSpoof(d.state.workloadList())
	d.mu.Unlock()
	if guarded != nil { // a workload is never (re)attached without its anti-spoofing rules
		errs = append(errs, fmt.Errorf("workloads not re-attached: %w", guarded))
		names = nil
	}
	for _, name := range names {
		if err := d.lockFor(ctx); err != nil {
			return err
		}
		if w, ok := d.state.Workloads[name]; ok {
			errs = append(errs, d.rec.attach(w))
		}
		d.mu.Unlock()
	}
	if err := d.lockFor(ctx); err != nil {
		return err
	}
	defer d.mu.Unlock()
	errs = append(errs, d.rec.gc(d.state.NRs, d.state.workloadList()), d.learnEndpoints())
	return errors.Join(errs...)
}

// applyLocked applies NR s through the reconciler and records what it reached.
func (d *Daemon) applyLocked(s nodeapi.NRSpec) error {
	key, err := d.keyOf(s.NetworkID)
	if err != nil {
		return err
	}
	start := time.Now()
	err = d.rec.applyNR(d.withHints(s), key, d.state.listenPorts())
	d.met.applied(time.Since(start), err)
	if err != nil {
		d.status[s.NetworkID] = nrStatus{state: nodeapi.StateError, lastErr: err.Error()}
		return err
	}
	if err := d.rec.gatewayNR(s.NetworkID, d.gwFW.Backends[s.NetworkID]); err != nil {
		d.status[s.NetworkID] = nrStatus{state: nodeapi.StateError, lastErr: err.Error()}
		return err
	}
	d.status[s.NetworkID] = nrStatus{state: nodeapi.StateOK}
	return nil
}

// learnEndpoints records the endpoints WireGuard learned for hidden peers and
// persists them when they changed.
func (d *Daemon) learnEndpoints() error {
	next, err := d.rec.learned(d.state.NRs, d.hints)
	return errors.Join(err, d.saveHints(next))
}
