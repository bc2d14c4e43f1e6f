package provision

import (
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// metrics are provisiond's relay failover metrics.
type metrics struct {
	moves  *prometheus.CounterVec // by direction: failover, back
	moved  prometheus.Gauge       // relay groups not on their primary now
	probes prometheus.Counter     // relay probe rounds
}

// newMetrics registers the metrics with reg (nil: they are counted but not served).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zosnet_relay_moves_total",
			Help: "Relay groups moved between their relays: direction=failover (primary down, to the second relay) or back (to the primary after the hold)."},
			[]string{"direction"}),
		moved: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zosnet_relay_groups_failed_over",
			Help: "Relay groups of this node's network resources carried by their second relay now."}),
		probes: prometheus.NewCounter(prometheus.CounterOpts{Name: "zosnet_relay_probe_rounds_total",
			Help: "Rounds of overlay probes sent to the relays (two per relay probe interval) and the members behind them (one per interval)."}),
	}
	if reg != nil {
		reg.MustRegister(m.moves, m.moved, m.probes)
	}
	return m
}

// relayChecks is how many times per Config.RelayProbe failover is evaluated. The relays
// themselves are probed every relayChecks/2 ticks (twice per RelayProbe), the members
// behind them every relayChecks ticks: a relay that loses a quarter of its packets at
// random then misses DownAfter (eight probes to it in a row) about once in 65,000
// windows instead of once in 256.
const relayChecks = 4

// relayProbes is what one relay tick sends.
type relayProbes int

const (
	sendNone   relayProbes = iota // evaluate failover only
	sendRelays                    // probe the relays
	sendAll                       // probe the relays and the members behind them
)

// relayTick is what tick number n (from 1) of the relay ticker probes.
func relayTick(n int) relayProbes {
	switch {
	case n%relayChecks == 0:
		return sendAll
	case n%(relayChecks/2) == 0:
		return sendRelays
	}
	return sendNone
}

// probeRelays says whether some relay group's relay would change now (the caller then
// runs a pass, which moves it) and sends what send says: nothing, an echo to every
// relay, or one to every relay and every member behind them, in every network with
// relay groups. It runs on the loop's goroutine.
func (p *Provisioner) probeRelays(send relayProbes) bool {
	now := time.Now()
	change := false
	fo := p.failoverRule()
	for _, st := range p.nets {
		if st.probe == nil || len(st.groups) == 0 {
			continue
		}
		answers := relayAnswers(st, p.seenOf(st))
		var nodes []int64
		for _, gs := range st.groups {
			if send != sendNone {
				ids := slices.Clone(gs.group.Relays)
				if send == sendAll {
					ids = append(ids, gs.group.Members...)
				}
				for _, id := range ids {
					if n, err := strconv.ParseInt(id, 10, 64); err == nil {
						nodes = append(nodes, n)
					}
				}
			}
			next := fo.Next(gs.group.Relays, gs.relay, answers, now)
			change = change || relayName(gs.group.Relays, next.Current) != relayName(gs.group.Relays, gs.relay.Current)
		}
		if send != sendNone {
			slices.Sort(nodes)
			st.probe.SendTo(slices.Compact(nodes))
		}
	}
	if send != sendNone {
		p.metrics.probes.Inc()
	}
	return change
}

func (p *Provisioner) failoverRule() plan.Failover {
	return plan.Failover{DownAfter: p.cfg.DownAfter, Hold: p.cfg.Hold, StartGrace: p.cfg.StartGrace}
}

// seenOf is the prober's last answer per member (node id as in the plan).
func (p *Provisioner) seenOf(st *netState) map[string]time.Time {
	seen := map[string]time.Time{}
	if st.probe != nil {
		for id, t := range st.probe.Seen() {
			seen[strconv.FormatInt(id, 10)] = t
		}
	}
	return seen
}

// relayAnswers is, per relay, the latest answer that crossed it: its own, or one from
// a member of a group it carries now (that answer came through it).
func relayAnswers(st *netState, seen map[string]time.Time) map[string]time.Time {
	out := map[string]time.Time{}
	latest := func(r string, t time.Time) {
		if t.After(out[r]) {
			out[r] = t
		}
	}
	for _, gs := range st.groups {
		for _, r := range gs.group.Relays {
			latest(r, seen[r])
		}
		cur := relayName(gs.group.Relays, gs.relay.Current)
		for _, m := range gs.group.Members {
			latest(cur, seen[m])
		}
	}
	return out
}

// failover moves each of mp's relay groups between its relays (plan.Failover) on the
// evidence of the overlay probes and returns the relay carrying each group (for
// plan.WithRelay). A new group starts on its primary and, until its relays first
// answer, moves only after Config.StartGrace: the two ends of a pair must not pick
// different relays by the order their first handshakes happen to finish in. Groups no
// longer in the plan are forgotten.
func (p *Provisioner) failover(netID string, st *netState, mp plan.MemberPlan) []string {
	now := time.Now()
	answers := relayAnswers(st, p.seenOf(st))
	fo := p.failoverRule()
	groups := make(map[string]*groupState, len(mp.RelayGroups))
	current := make([]string, len(mp.RelayGroups))
	st.own, st.moved = nil, nil
	for k, g := range mp.RelayGroups {
		key := g.Key()
		gs := st.groups[key]
		if gs == nil {
			gs = &groupState{}
		}
		gs.group = g
		groups[key] = gs
		next := fo.Next(g.Relays, gs.relay, answers, now)
		p.logMove(netID, g, gs.relay, next, answers, now)
		gs.relay = next
		current[k] = relayName(g.Relays, gs.relay.Current)
		if current[k] != g.Relays[0] {
			st.moved = append(st.moved, gridapi.RelayGroupUse{Relays: g.Relays, Current: current[k], Since: gs.relay.Since.UTC()})
		}
		if slices.Equal(g.Relays, mp.Relays) {
			st.own = gs
		}
	}
	st.groups = groups
	p.countMoved()
	return current
}

// logMove logs and counts a group's move from prev to next, if it moved.
func (p *Provisioner) logMove(netID string, g plan.RelayGroup, prev, next plan.RelayState, answers map[string]time.Time, now time.Time) {
	from, to := relayName(g.Relays, prev.Current), relayName(g.Relays, next.Current)
	if from == to || prev.Started.IsZero() {
		return
	}
	age := func(r string) string {
		if answers[r].IsZero() {
			return "never"
		}
		return now.Sub(answers[r]).Round(time.Millisecond).String()
	}
	if to != g.Relays[0] {
		p.metrics.moves.WithLabelValues("failover").Inc()
		p.log.Warn("relay failover: relay down", "network", netID, "relays", g.Key(), "from", from, "to", to,
			"members", len(g.Members), "last_answer_from", age(from), "last_answer_to", age(to),
			"down_after", p.cfg.DownAfter, "flaps", next.Flaps, "hold", p.failoverRule().HoldFor(next.Flaps))
		return
	}
	p.metrics.moves.WithLabelValues("back").Inc()
	p.log.Info("relay failover: back to the primary", "network", netID, "relays", g.Key(), "from", from, "to", to,
		"members", len(g.Members), "failed_over_for", now.Sub(prev.Since).Round(time.Millisecond), "last_answer_to", age(to))
}

// countMoved sets the gauge of groups carried by their second relay, over all networks.
func (p *Provisioner) countMoved() {
	n := 0
	for _, st := range p.nets {
		n += len(st.moved)
	}
	p.metrics.moved.Set(float64(n))
}

func relayName(relays []string, current string) string {
	if current == "" && len(relays) > 0 {
		return relays[0]
	}
	return current
}
