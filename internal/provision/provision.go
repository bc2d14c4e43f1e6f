// Package provision is provisiond: it makes the node what the registry says, through
// networkd's local API, and reports back. It runs the node's agent (package nodeagent:
// registration, facts, heartbeats) and its watcher (long-poll by revision), hands the
// farmer's public config to networkd, and for every network the node is a member of
// plans its peers locally (plan.FromGrid, plan.New) from the registry's facts and
// creates, updates or deletes the network resource through networkd; it attaches the
// node's grid workloads through networkd too (named <network>-<name> on the node,
// marked nodeapi.ManagedByGrid: workloads added by hand are never touched). It reports each
// resource's key, port, endpoints, state, errors, current relay and overlay probe
// results back, each workload's addresses, MAC, state and error, and re-plans whenever a member's facts change (every such change bumps
// the node's revision).
//
// Relay failover: each node probes every other member's gateway over the overlay
// (ICMP echo from its own gateway) every Config.Interval, its relays twice and the
// members behind them once every Config.RelayProbe (500 ms); a relayed member's destinations
// are in relay groups (plan.RelayGroup), each with a primary and a second relay. A
// relay counts as answering when it or a member reached through it answers; when a
// group's relay has not answered for Config.DownAfter (2 s: eight probes in a row), the
// member moves that group to its second relay at once (plan.Failover), and back once
// the primary has answered for Config.Hold (20 s, doubled for each flap). Every group
// fails over on its own: a relay's loss moves only the groups it is the primary of.
// Moves are logged and counted (Metrics).
//
// While the registry is unreachable nothing is changed on the node: the last applied
// state keeps running. Run is the only entry point; a Provisioner is not reusable.
// Everything it talks to is an interface (Registry, Networkd, Agent, Prober), so its
// logic runs in tests against fakes.
package provision

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeagent"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// Registry is the part of the registry's API provisiond uses: *gridapi.Client,
// signing with the node's key; a fake in tests.
type Registry interface {
	nodeagent.Registry
	ReportNR(ctx context.Context, node int64, network string, r gridapi.NRReport) error
	ReportWorkload(ctx context.Context, node int64, network, name string, r gridapi.WorkloadReport) error
}

// Networkd is the part of networkd's local API provisiond uses: *localapi.Client; a
// fake in tests.
type Networkd interface {
	ListNRs(ctx context.Context) ([]nodeapi.NR, error)
	GetNR(ctx context.Context, id string) (nodeapi.NR, error)
	PutNR(ctx context.Context, s nodeapi.NRSpec) (nodeapi.NR, error)
	DeleteNR(ctx context.Context, id string) error
	NodeStatus(ctx context.Context) (nodeapi.NodeStatus, error)
	SetPublicConfig(ctx context.Context, cfg nodeapi.PublicConfig) error
	UnsetPublicConfig(ctx context.Context) error
	SetRegistryStatus(ctx context.Context, st nodeapi.RegistryStatus) error
	SetEgressAllow(ctx context.Context, list []nodeapi.EgressAllow) error
	ListWorkloads(ctx context.Context) ([]nodeapi.Workload, error)
	AddWorkload(ctx context.Context, s nodeapi.WorkloadSpec) (nodeapi.Workload, error)
	RemoveWorkload(ctx context.Context, name string) error
}

// Agent is the node's registry agent as provisiond uses it: *nodeagent.Agent; a fake
// in tests.
type Agent interface {
	Run(ctx context.Context) error
	Registered() <-chan struct{}
	NodeID() int64
	SetPublicConfig(p *gridapi.PublicConfig)
}

// Prober probes other members' gateways over the overlay from one network resource and
// says when each last answered. Safe for concurrent use.
type Prober interface {
	// SetTargets replaces the probed members (gateway address → node id).
	SetTargets(t map[netip.Addr]int64)
	// Send sends one probe to every target.
	Send()
	// SendTo sends one probe to the targets that are the given nodes.
	SendTo(nodes []int64)
	// Seen returns the last answer time per node id.
	Seen() map[int64]time.Time
	// Close stops the prober.
	Close() error
}

// Config configures a Provisioner. Zero durations mean the documented defaults.
type Config struct {
	Registry Registry // signs with the node's key
	Networkd Networkd // the node's networkd
	Agent    Agent    // registers the node and reports its facts
	NetnsDir string   // where networkd creates n-<id> ("" = /run/netns)
	// OpenProber opens a network resource's prober: in namespace nsPath, from address
	// src, with echo id id. nil: ICMP echo (raw socket, needs root).
	OpenProber func(nsPath string, src netip.Addr, id uint16) (Prober, error)
	// Interval is how often overlay probes go to every member and the loop runs a
	// pass (2 s).
	Interval time.Duration
	// RelayProbe is how often the members behind the node's relays are probed (500 ms);
	// the relays themselves are probed twice and failover is evaluated four times per
	// RelayProbe.
	RelayProbe time.Duration
	// DownAfter is how long a relay may not answer before the groups it carries move
	// to their other relay (2 s); Hold is how long the primary must answer again before
	// they move back (20 s, doubled for each flap up to 5 min). See plan.Failover.
	DownAfter, Hold time.Duration
	// StartGrace is how long a new relay group's relay that never answered counts as
	// not down yet (plan.DefaultStartGrace).
	StartGrace time.Duration
	// Metrics registers the relay failover metrics (nil: none).
	Metrics prometheus.Registerer
	// Fresh is how recent a probe answer must be to report a member as seen (plan.Fresh).
	Fresh time.Duration
	// Punch turns on direct (punched) paths to the other hidden members this node, when
	// hidden, is relayed to (punch.go; kernel command line zosnet.punch, on unless =off). Public
	// members report their hidden peers' observed endpoints either way.
	Punch bool

	// Settle coalesces a burst of desired states (150 ms): a delivery that comes less
	// than Settle after the previous one waits until none has come for Settle (at most
	// MaxSettle, 600 ms, since the wake-up) before the pass, so a member that hears the
	// keys of 20 members within a second applies them in one or two networkd calls,
	// not 20. A delivery after a quiet spell is applied at once. Negative: no settling.
	Settle, MaxSettle time.Duration
	// Conn is the registry connection shared with the agent (nil: a new one). Its
	// state is reported to networkd (shown by `zosnet node status`), and the loop runs
	// a pass as soon as the registry is back, so pending reports flush at once.
	Conn        *nodeagent.Conn
	RegistryURL string // for the status report
	// Gateway serves the node's exposures (nil: the node serves none); GatewayFW opens
	// networkd's firewall for them; Reporter sends their health to the registry.
	Gateway   Gateway
	GatewayFW GatewayFirewall
	Reporter  ExposureReporter
	Log       *slog.Logger
}

// Provisioner runs provisiond's loop.
type Provisioner struct {
	cfg  Config
	log  *slog.Logger
	node int64
	wake chan struct{}

	mu      sync.Mutex
	desired *gridapi.Desired
	gen     uint64 // counts desired states heard; plans are cached by it (netState.plan)
	// desiredAt and prevAt are when the newest and the one before it were delivered
	// (for settle).
	desiredAt, prevAt time.Time

	public  *gridapi.PublicConfig // last applied; nil: none
	pubDone bool
	allow   []string // the farm's egress allow list last applied
	allowOK bool
	nets    map[string]*netState
	// wlReports is the last report sent per workload (local name), so unchanged
	// workloads are not reported again.
	wlReports map[string]string
	trace     *tracer

	connSent   nodeapi.RegistryStatus // last registry status networkd accepted
	connSentAt time.Time
	gw         gwState
	metrics    *metrics
}

// netState is what the loop keeps per network between passes.
type netState struct {
	groups map[string]*groupState // by plan.RelayGroup.Key
	// own is the state of the node's own home relay group (nil: it owns no relayed
	// pair), moved the groups not on their primary: both for the report.
	own        *groupState
	moved      []gridapi.RelayGroupUse
	probe      Prober
	probeSrc   string
	probeFor   planKey // the plan whose members the prober targets
	report     string  // digest of the last report sent
	reportedAt time.Time
	dialSince  map[string]time.Time // peer key → first planned while held (dial.go)
	// punch is the direct paths to other hidden members (punch.go; nil on a public
	// member), observed the hidden peers' endpoints a public member reports.
	punch    *punchState
	observed []gridapi.ObservedEndpoint
	// plan is the member's plan for the desired state and own key and port it was made
	// from: a pass re-plans only when one of them changed. Planning a 1,000-member
	// network costs milliseconds, and a pass runs every Interval and on every wake.
	plan *cachedPlan
}

// cachedPlan is a member plan with what it was planned from.
type cachedPlan struct {
	key planKey
	mp  plan.MemberPlan
	rng netip.Prefix
	err error
}

// planKey is what a member plan depends on: the desired state (by generation) and
// the node's own key and port.
type planKey struct {
	gen  uint64
	key  string
	port uint16
}

// groupState is the failover state of one relay group (plan.RelayGroup).
type groupState struct {
	relay plan.RelayState
	group plan.RelayGroup // as last planned
}

// New returns a Provisioner for cfg.
func New(cfg Config) *Provisioner {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Interval, 2*time.Second)
	def(&cfg.RelayProbe, 500*time.Millisecond)
	def(&cfg.DownAfter, plan.DefaultDownAfter)
	def(&cfg.Hold, plan.DefaultHold)
	def(&cfg.Fresh, plan.Fresh)
	if cfg.Settle == 0 {
		cfg.Settle = 150 * time.Millisecond
	}
	def(&cfg.MaxSettle, 600*time.Millisecond)
	if cfg.NetnsDir == "" {
		cfg.NetnsDir = "/run/netns"
	}
	if cfg.OpenProber == nil {
		cfg.OpenProber = openICMP
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Conn == nil {
		cfg.Conn = &nodeagent.Conn{}
	}
	p := &Provisioner{cfg: cfg, log: log, wake: make(chan struct{}, 1), nets: map[string]*netState{}, wlReports: map[string]string{}, trace: newTracer(log),
		metrics: newMetrics(cfg.Metrics)}
	cfg.Conn.OnChange = func(st nodeagent.ConnState) {
		if st.Connected {
			p.log.Info("registry reachable", "since", st.Since)
		} else {
			p.log.Warn("registry unreachable, retrying", "err", st.LastError)
		}
		p.kick()
	}
	return p
}

// kick wakes the loop for a pass now.
func (p *Provisioner) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run registers the node, then watches and applies until ctx ends. The registry
// connection is reported to networkd from the start, registered or not.
func (p *Provisioner) Run(ctx context.Context) error {
	agentErr := make(chan error, 1)
	go func() { agentErr <- p.cfg.Agent.Run(ctx) }()
	defer p.closeProbes()
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	// relay failover is evaluated relayChecks times per relay probe interval, so a
	// relay is declared down within a fraction of a probe interval of DownAfter
	rt := time.NewTicker(p.cfg.RelayProbe / relayChecks)
	defer rt.Stop()
	ticks := 0
	registered := p.cfg.Agent.Registered()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-agentErr:
			if err != nil {
				return err
			}
			agentErr = nil // ended with ctx
		case <-registered:
			registered = nil
			p.node = p.cfg.Agent.NodeID()
			p.log.Info("registered", "node", p.node)
			w := &nodeagent.Watcher{Client: p.cfg.Registry, NodeID: p.node, Log: p.log, Apply: p.setDesired, Conn: p.cfg.Conn}
			go w.Run(ctx)
		case <-p.wake:
			p.settle(ctx)
		case <-t.C:
		case <-rt.C:
			ticks++
			if p.node == 0 || !p.probeRelays(relayTick(ticks)) {
				continue // no relay changed: no pass
			}
		}
		p.reportConn(ctx)
		if p.node != 0 {
			p.pass(ctx)
		}
	}
}

// reportConn sends the registry connection to networkd when it changed, and at least
// every 30 s (a restarted networkd has none).
func (p *Provisioner) reportConn(ctx context.Context) {
	cs := p.cfg.Conn.State()
	if cs.Since.IsZero() {
		return // not tried yet
	}
	st := nodeapi.RegistryStatus{URL: p.cfg.RegistryURL, NodeID: p.node, Connected: cs.Connected, Since: cs.Since,
		LastError: truncate(cs.LastError, 1000), LastErrorAt: cs.LastErrorAt, LastContact: cs.LastContact}
	same := st
	same.LastContact = p.connSent.LastContact // contact times alone go out every 30 s
	if same == p.connSent && time.Since(p.connSentAt) < 30*time.Second {
		return
	}
	if err := p.cfg.Networkd.SetRegistryStatus(ctx, st); err != nil {
		p.log.Debug("report registry status to networkd", "err", err)
		return
	}
	p.connSent, p.connSentAt = st, time.Now()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// setDesired is the watcher's Apply: it keeps the newest state and wakes the loop.
func (p *Provisioner) setDesired(_ context.Context, d gridapi.Desired) error {
	now := time.Now()
	p.trace.desired(p.node, d, now)
	p.mu.Lock()
	p.desired = &d
	p.gen++
	p.prevAt, p.desiredAt = p.desiredAt, now
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// settle waits while desired states come in a burst (Config.Settle): it returns at once
// when the newest came after a quiet spell (the leading edge of a burst is applied
// without delay), else once none has come for Settle, or MaxSettle after it started.
func (p *Provisioner) settle(ctx context.Context) {
	if p.cfg.Settle < 0 {
		return
	}
	start := time.Now()
	for {
		p.mu.Lock()
		last, prev := p.desiredAt, p.prevAt
		p.mu.Unlock()
		quiet, waited := time.Since(last), time.Since(start)
		if last.Sub(prev) >= p.cfg.Settle || quiet >= p.cfg.Settle || waited >= p.cfg.MaxSettle {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(p.cfg.Settle-quiet, p.cfg.MaxSettle-waited)):
		}
	}
}

func (p *Provisioner) closeProbes() {
	for _, ns := range p.nets {
		if ns.probe != nil {
			ns.probe.Close()
		}
		ns.punch.close()
	}
}

// pass makes the node match the newest desired state (level-triggered: everything is
// recomputed, nothing is changed that already matches).
func (p *Provisioner) pass(ctx context.Context) {
	p.mu.Lock()
	d, gen := p.desired, p.gen
	p.mu.Unlock()
	if d == nil {
		return // nothing heard from the registry yet: leave the node as it is
	}
	p.applyPublic(ctx, d.PublicConfig)
	p.applyEgressAllow(ctx, d.EgressAllow)
	want := map[string]bool{}
	for _, n := range d.Networks {
		want[n.ID] = true
		if err := p.syncNetwork(ctx, n, gen); err != nil {
			p.log.Warn("network", "id", n.ID, "err", err)
		}
	}
	p.syncWorkloads(ctx, d.Workloads)
	p.removeOthers(ctx, want)
	p.syncGateway(ctx, d)
}
