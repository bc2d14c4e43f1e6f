// Package provision is provisiond: the node's agent towards the grid. It registers the
// node (its ed25519 key, made at first boot in the state directory; farm id from the
// kernel command line) and keeps its facts current (package nodeagent), watches what the
// node must run (long-poll by revision), applies the farmer's public config through
// networkd's local API, and for every network the node is a member of plans its peers
// locally (package plan) from the registry's facts and creates, updates or deletes the
// network resource through networkd. It reports each resource's key, port, endpoints,
// state, errors, current relay and overlay probe results back, and re-plans whenever a
// member's facts change (every such change bumps the node's revision).
//
// Relay failover: each node probes every other member's gateway over the overlay
// (ICMP echo from its own gateway); when the planned relay stops answering for
// Config.DownAfter, a hidden member moves the relayed set to the second relay
// (plan.Failover), and back once the first has answered for Config.Hold.
//
// While the registry is unreachable nothing is changed on the node: the last applied
// state keeps running. Run is the only entry point; a Provisioner is not reusable.
package provision

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/nodeagent"
	"github.com/zosnet/zosnet/internal/plan"
)

// Config configures a Provisioner. Zero durations mean the documented defaults.
type Config struct {
	Registry *gridapi.Client  // signs with the node's key
	Networkd *localapi.Client // the node's networkd
	Agent    *nodeagent.Agent // registers the node and reports its facts
	NetnsDir string           // where networkd creates n-<id> ("" = /run/netns)
	// Interval is how often overlay probes are sent and failover is evaluated (2 s).
	Interval time.Duration
	// DownAfter is how long the relay may not answer probes before hidden members move
	// to the second relay (10 s); Hold is how long it must answer again before they
	// move back (20 s).
	DownAfter, Hold time.Duration
	// Fresh is how recent a probe answer must be to report a member as seen (30 s).
	Fresh time.Duration
	Log   *slog.Logger
}

// Provisioner runs provisiond's loop.
type Provisioner struct {
	cfg  Config
	log  *slog.Logger
	node int64
	wake chan struct{}

	mu      sync.Mutex
	desired *gridapi.Desired

	public  *gridapi.PublicConfig // last applied; nil: none
	pubDone bool
	nets    map[string]*netState
}

// netState is what the loop keeps per network between passes.
type netState struct {
	relay       plan.RelayState
	relays      []string  // the planned relays relay refers to
	relaysSince time.Time // when relays last changed
	probe       *prober
	probeSrc    string
	report      string // digest of the last report sent
	reportedAt  time.Time
}

// New returns a Provisioner for cfg.
func New(cfg Config) *Provisioner {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Interval, 2*time.Second)
	def(&cfg.DownAfter, 10*time.Second)
	def(&cfg.Hold, 20*time.Second)
	def(&cfg.Fresh, 30*time.Second)
	if cfg.NetnsDir == "" {
		cfg.NetnsDir = "/run/netns"
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provisioner{cfg: cfg, log: log, wake: make(chan struct{}, 1), nets: map[string]*netState{}}
}

// Run registers the node, then watches and applies until ctx ends.
func (p *Provisioner) Run(ctx context.Context) error {
	agentErr := make(chan error, 1)
	go func() { agentErr <- p.cfg.Agent.Run(ctx) }()
	select {
	case <-p.cfg.Agent.Registered():
	case err := <-agentErr:
		return err
	case <-ctx.Done():
		return nil
	}
	p.node = p.cfg.Agent.NodeID()
	p.log.Info("registered", "node", p.node)
	w := &nodeagent.Watcher{Client: p.cfg.Registry, NodeID: p.node, Log: p.log, Apply: p.setDesired}
	go w.Run(ctx)
	defer p.closeProbes()
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-agentErr:
			if err != nil {
				return err
			}
		case <-p.wake:
		case <-t.C:
		}
		p.pass(ctx)
	}
}

// setDesired is the watcher's Apply: it keeps the newest state and wakes the loop.
func (p *Provisioner) setDesired(_ context.Context, d gridapi.Desired) error {
	p.mu.Lock()
	p.desired = &d
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

func (p *Provisioner) closeProbes() {
	for _, ns := range p.nets {
		if ns.probe != nil {
			ns.probe.Close()
		}
	}
}

// pass makes the node match the newest desired state (level-triggered: everything is
// recomputed, nothing is changed that already matches).
func (p *Provisioner) pass(ctx context.Context) {
	p.mu.Lock()
	d := p.desired
	p.mu.Unlock()
	if d == nil {
		return // nothing heard from the registry yet: leave the node as it is
	}
	p.applyPublic(ctx, d.PublicConfig)
	want := map[string]bool{}
	for _, n := range d.Networks {
		want[n.ID] = true
		if err := p.syncNetwork(ctx, n); err != nil {
			p.log.Warn("network", "id", n.ID, "err", err)
		}
	}
	p.removeOthers(ctx, want)
}
