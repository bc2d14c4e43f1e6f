package provision

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nat"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/plan"
	"github.com/zosnet/zosnet/internal/ula"
)

// Direct paths between hidden members (issue 14). Public members report the endpoints
// their hidden peers' packets arrive from (gridapi.NRReport.Observed); every hidden
// member sums those up per member (nat.Discover) and, for each other hidden member it
// reaches through a relay, runs package nat's state machine: trying (both add the other
// as a direct peer at its observed endpoint, keepalive PunchKeepalive, no allowed IPs:
// the relay keeps carrying the traffic), punched once a handshake on that entry is
// fresh (the pair's allowed IPs move from the relay entry to the direct one in one
// networkd apply), and back on the relay when PunchMissed probes in a row over the
// direct entry go unanswered (held, with hold-downs doubling), or gave-up with the
// reason. A watcher per network reads the entries' handshakes and probes the punched
// members every PunchTick, and wakes the loop when a pair moves, so a demotion does not
// wait for the loop's interval.

// Tuning of the direct paths.
const (
	// PunchKeepalive is the persistent keepalive, in seconds, of a direct entry being
	// tried or punched: both NATs open at once, and a live path receives at least one
	// packet a second.
	PunchKeepalive = 1
	// PunchTick is how often the watcher reads the direct entries and probes the
	// punched members.
	PunchTick = 500 * time.Millisecond
	// PunchFastTick is how often the watcher reads the direct entries' handshakes while
	// a pair is trying. Both sides promote on the same handshake, each at its own next
	// read, and between the two moves the side still on the relay drops what the other
	// already sends directly (WireGuard accepts a source only from the peer that holds
	// it): the reads are frequent while a promotion is pending, so that gap is short.
	PunchFastTick = 100 * time.Millisecond
	// PunchMissed is how many probes in a row over a punched path must go unanswered
	// to demote it: 4 × 500 ms, so the pair is back on the relay within about 2.5 s.
	PunchMissed = 4
	// punchTrust is how old an observation in the desired state may be: the public
	// members report only endpoints with a handshake at most gridapi.ObservedFresh old,
	// and a report that drops one wakes every member, so the copies a member holds
	// (which only endpoint changes refresh) are trusted for longer.
	punchTrust = time.Hour
)

// punchConfig is the state machine's tuning (nat.Config's defaults otherwise).
var punchConfig = nat.Config{Missed: PunchMissed}

// punchState is a network's direct-path state on a hidden member. The loop (sync) and
// the watcher share it under mu.
type punchState struct {
	mu    sync.Mutex
	pairs map[int64]*punchPair
	nat   *gridapi.NATSeen // this member's socket as seen from outside
	stop  context.CancelFunc
	// nsPath and src are where the watcher's prober sends from (the NR's namespace
	// and gateway), id its echo id; sent is when its last round went out.
	nsPath string
	src    netip.Addr
	id     uint16
	sent   time.Time
}

// punchPair is one other hidden member this member is relayed to.
type punchPair struct {
	name     string
	key      string
	endpoint netip.AddrPort // where to send: its mapped endpoint as a public member saw it
	observed netip.AddrPort // the latest such endpoint (endpoint follows it unless punched)
	subnet   netip.Prefix
	verdict  nat.Verdict
	state    nat.State
	notSeen  string
}

func (ps *punchState) close() {
	if ps != nil && ps.stop != nil {
		ps.stop()
	}
}

// observedOf returns, on a public member, the endpoints its hidden peers (the entries
// of mp without an endpoint: they dial in) send from, with a fresh handshake.
func observedOf(n gridapi.DesiredNetwork, mp plan.MemberPlan, cur nodeapi.NR, now time.Time) []gridapi.ObservedEndpoint {
	if mp.Hidden {
		return nil
	}
	ids := map[string]int64{}
	for _, pe := range mp.Peers {
		if id, err := strconv.ParseInt(pe.NodeID, 10, 64); err == nil && !pe.Endpoint.IsValid() {
			ids[pe.PublicKey] = id
		}
	}
	var out []gridapi.ObservedEndpoint
	for _, ps := range cur.Status.Peers {
		id, ok := ids[ps.PublicKey]
		ap, err := netip.ParseAddrPort(ps.Endpoint)
		if !ok || err != nil || ps.LatestHandshake == nil || now.Sub(*ps.LatestHandshake) > gridapi.ObservedFresh {
			continue
		}
		out = append(out, gridapi.ObservedEndpoint{NodeID: id, Endpoint: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(),
			Handshake: ps.LatestHandshake.UTC()})
	}
	slices.SortFunc(out, func(a, b gridapi.ObservedEndpoint) int { return int(a.NodeID - b.NodeID) })
	return out
}

// discoveries sums up, per member, what the public members observed of its socket.
func discoveries(n gridapi.DesiredNetwork, now time.Time) map[int64]nat.Discovery {
	obs := map[int64][]nat.Observation{}
	addrs := map[string]netip.Addr{}
	for _, m := range n.Peers {
		if m.NR == nil || len(m.NR.Observed) == 0 {
			continue
		}
		observer := strconv.FormatInt(m.NodeID, 10)
		addrs[observer] = observerAddr(m)
		for _, o := range m.NR.Observed {
			if ap, err := netip.ParseAddrPort(o.Endpoint); err == nil {
				obs[o.NodeID] = append(obs[o.NodeID], nat.Observation{Observer: observer, Endpoint: ap, At: o.Handshake})
			}
		}
	}
	out := make(map[int64]nat.Discovery, len(obs))
	for id, o := range obs {
		out[id] = nat.Discover(o, addrs, now, punchTrust)
	}
	return out
}

// observerAddr is a public member's own address (its first reported endpoint): two
// observers at one address cannot tell mappings apart.
func observerAddr(m gridapi.PeerFacts) netip.Addr {
	for _, e := range m.NR.Endpoints {
		if ap, err := netip.ParseAddrPort(e); err == nil {
			return ap.Addr()
		}
	}
	a, _ := netip.ParseAddr(m.SourceAddr)
	return a
}

// natSeen words a discovery for the report.
func natSeen(d nat.Discovery) *gridapi.NATSeen {
	s := &gridapi.NATSeen{Endpoints: []string{}, Observers: d.Observers, Mapping: "unknown"}
	if d.Mapping != nat.MapNone {
		s.Mapping = d.Mapping.String()
	}
	for _, e := range d.Endpoints {
		s.Endpoints = append(s.Endpoints, e.String())
	}
	return s
}

// punchPeers updates the network's direct-path pairs on a hidden member from the
// desired state and returns peers with the direct entries of the pairs being tried or
// punched, the punched pairs' allowed IPs moved onto them.
func (p *Provisioner) punchPeers(n gridapi.DesiredNetwork, st *netState, cur nodeapi.NR, mp plan.MemberPlan, peers []plan.Peer, now time.Time) []plan.Peer {
	if !mp.Hidden || !p.cfg.Punch {
		st.punch.close()
		st.punch = nil
		return peers
	}
	if st.punch == nil {
		wctx, stop := context.WithCancel(context.Background()) // stopped by close
		st.punch = &punchState{pairs: map[int64]*punchPair{}, stop: stop}
		go p.punchWatch(wctx, n.ID, st.punch)
	}
	ps := st.punch
	ps.mu.Lock()
	defer ps.mu.Unlock()
	nsPath, id := p.proberAt(n.ID)
	ps.nsPath, ps.src, ps.id = nsPath, cur.Spec.Gateway(), id+1 // the member prober's id + 1
	p.updatePairs(n, ps, mp, now)
	return ps.apply(n.ID, peers)
}

// updatePairs (re)starts the pairs whose endpoint or verdict changed and forgets the
// members no longer relayed.
func (p *Provisioner) updatePairs(n gridapi.DesiredNetwork, ps *punchState, mp plan.MemberPlan, now time.Time) {
	disc := discoveries(n, now)
	self := disc[p.node]
	ps.nat = natSeen(self)
	direct := map[string]bool{}
	for _, pe := range mp.Peers {
		direct[pe.NodeID] = true
	}
	keep := map[int64]bool{}
	for _, m := range n.Peers {
		d, hidden := disc[m.NodeID]
		if m.NodeID == p.node || !hidden || direct[strconv.FormatInt(m.NodeID, 10)] || m.NR == nil || m.NR.PublicKey == "" {
			continue
		}
		sub, err := netip.ParsePrefix(m.Subnet)
		if err != nil {
			continue
		}
		keep[m.NodeID] = true
		pp := &punchPair{name: m.Name, key: m.NR.PublicKey, subnet: sub, verdict: self.Verdict(d)}
		pp.endpoint, pp.notSeen = punchEndpoint(self, d)
		pp.observed = pp.endpoint
		if pp.notSeen != "" {
			pp.verdict = nat.Verdict{Reason: pp.notSeen}
		}
		old := ps.pairs[m.NodeID]
		if old != nil && old.key == pp.key && old.verdict.Possible == pp.verdict.Possible &&
			(old.endpoint == pp.endpoint || old.state.Phase != nat.PhaseGaveUp) {
			// A moved endpoint does not restart a pair being tried, punched or held:
			// a restart would wait for a handshake newer than itself on an entry
			// whose session goes on (WireGuard re-handshakes only every 2 minutes),
			// so the try failed and waited out a hold-down. It happens all the time
			// with an endpoint-dependent side, whose first observed endpoint changes
			// as public members report. A punched pair keeps the endpoint WireGuard
			// roamed to (the spec's stays); the others try the new one.
			old.name, old.subnet, old.verdict = pp.name, pp.subnet, pp.verdict
			old.observed = pp.endpoint
			if !old.state.Direct() {
				old.endpoint = pp.endpoint
			}
			continue
		}
		pp.state = punchConfig.Start(pp.verdict, now)
		ps.pairs[m.NodeID] = pp
		p.log.Info("direct path", "network", n.ID, "peer", m.Name, "phase", pp.state.Phase, "endpoint", pp.endpoint,
			"method", pp.verdict.Method, "reason", pp.state.Reason)
	}
	for id := range ps.pairs {
		if !keep[id] {
			delete(ps.pairs, id)
		}
	}
}

// punchEndpoint picks the other member's mapped endpoint in the family this member is
// seen in, or says why there is none.
func punchEndpoint(self, other nat.Discovery) (netip.AddrPort, string) {
	if len(self.Endpoints) == 0 {
		return netip.AddrPort{}, "this member's mapped endpoint is not observed yet"
	}
	for _, e := range other.Endpoints {
		if e.Addr().Is4() == self.Endpoints[0].Addr().Is4() {
			return e, ""
		}
	}
	return netip.AddrPort{}, "the members are seen in different address families"
}

// apply adds the direct entries and moves punched pairs' allowed IPs. Call with mu held.
func (ps *punchState) apply(netID string, peers []plan.Peer) []plan.Peer {
	out := slices.Clone(peers)
	for _, id := range slices.Sorted(maps.Keys(ps.pairs)) {
		pp := ps.pairs[id]
		if !pp.state.DirectPeer() {
			continue
		}
		pe := plan.Peer{NodeID: strconv.FormatInt(id, 10), Name: pp.name, PublicKey: pp.key, Endpoint: pp.endpoint,
			AllowedIPs: []netip.Prefix{}, Keepalive: PunchKeepalive, Path: plan.PathPunched}
		if pp.state.Direct() {
			own := []netip.Prefix{pp.subnet, ula.Twin(netID, pp.subnet)}
			for i := range out {
				out[i].AllowedIPs = slices.DeleteFunc(slices.Clone(out[i].AllowedIPs), func(a netip.Prefix) bool { return slices.Contains(own, a) })
			}
			pe.AllowedIPs = own
		}
		out = append(out, pe)
	}
	return out
}

// punchWatch reads the direct entries' handshakes every PunchTick (every PunchFastTick
// while a pair is trying), probes the punched members' gateways over their direct
// entries every PunchTick (ICMP echo, its own prober: WireGuard's persistent keepalive
// is suppressed on a side that keeps receiving, so the receive counter cannot tell a
// dead path from a quiet peer), steps each pair's state machine and wakes the loop when
// an entry must be added, removed or get the allowed IPs.
func (p *Provisioner) punchWatch(ctx context.Context, netID string, ps *punchState) {
	period := PunchTick
	t := time.NewTicker(period)
	defer t.Stop()
	var probed time.Time // the last probe tick
	var pr Prober
	defer func() {
		if pr != nil {
			pr.Close()
		}
	}()
	log := p.log.With("network", netID)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ps.mu.Lock()
		n, targets, nsPath, src, id := len(ps.pairs), ps.targets(), ps.nsPath, ps.src, ps.id
		live, trying := ps.live(), ps.trying()
		ps.mu.Unlock()
		want := PunchTick
		if trying {
			want = PunchFastTick
		}
		if want != period {
			period = want
			t.Reset(period)
		}
		now := time.Now()
		probeTick := now.Sub(probed) >= PunchTick-PunchFastTick/2
		if n == 0 || !probeTick && !trying {
			continue
		}
		if probeTick {
			probed = now
		}
		if !live {
			// only held or given-up pairs: nothing to read from networkd or probe,
			// only the hold-downs' ends to notice
			if pr != nil {
				pr.Close()
				pr = nil
			}
			if ps.step(nil, nil, false, now, log) {
				p.kick()
			}
			continue
		}
		if pr == nil && len(targets) > 0 {
			var err error
			if pr, err = p.cfg.OpenProber(nsPath, src, id); err != nil {
				log.Warn("direct path probe", "err", err)
				pr = nil
			}
		}
		var seen map[int64]time.Time
		if pr != nil && probeTick {
			seen = pr.Seen()
		}
		nr, err := p.cfg.Networkd.GetNR(ctx, netID)
		if err != nil {
			continue
		}
		if ps.step(nr.Status.Peers, seen, probeTick, time.Now(), log) {
			p.kick()
		}
		if pr != nil && probeTick {
			pr.SetTargets(targets)
			pr.Send()
			ps.mu.Lock()
			ps.sent = time.Now()
			ps.mu.Unlock()
		}
	}
}

// live reports whether a pair has a direct entry (trying or punched): only then do
// handshakes and probes matter. Call with mu held.
func (ps *punchState) live() bool {
	for _, pp := range ps.pairs {
		if pp.state.DirectPeer() {
			return true
		}
	}
	return false
}

// trying reports whether a pair waits for its first handshake on the direct entry.
// Call with mu held.
func (ps *punchState) trying() bool {
	for _, pp := range ps.pairs {
		if pp.state.Phase == nat.PhaseTrying {
			return true
		}
	}
	return false
}

// targets are the punched members' gateways. Call with mu held.
func (ps *punchState) targets() map[netip.Addr]int64 {
	t := map[netip.Addr]int64{}
	for id, pp := range ps.pairs {
		if pp.state.Direct() {
			t[gatewayOf(pp.subnet)] = id
		}
	}
	return t
}

// step feeds every pair what its direct entry shows (its latest handshake) and, when
// probes is set (a probe tick), for a punched pair whether the probe sent at the
// previous probe tick got its answer (seen: the last answer per member); it reports
// whether any pair changed what the network resource must hold.
func (ps *punchState) step(peers []nodeapi.PeerStatus, seen map[int64]time.Time, probes bool, now time.Time, log *slog.Logger) bool {
	byKey := make(map[string]nodeapi.PeerStatus, len(peers))
	for _, pe := range peers {
		byKey[pe.PublicKey] = pe
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	changed := false
	for _, id := range slices.Sorted(maps.Keys(ps.pairs)) {
		pp := ps.pairs[id]
		in := nat.Input{Now: now}
		if pe, ok := byKey[pp.key]; ok && pp.state.DirectPeer() && pe.LatestHandshake != nil {
			in.Handshake = *pe.LatestHandshake
		}
		if probes && pp.state.Direct() && !ps.sent.IsZero() && ps.sent.After(pp.state.Since) {
			in.Probe = nat.ProbeMissed
			if !seen[id].Before(ps.sent) {
				in.Probe = nat.ProbeOK
			}
		}
		next := punchConfig.Next(pp.state, in)
		if !next.Direct() {
			pp.endpoint = pp.observed // a demoted pair tries where it is seen now
		}
		if next.Phase != pp.state.Phase {
			log.Info("direct path", "peer", pp.name, "from", pp.state.Phase, "to", next.Phase, "reason", next.Reason, "endpoint", pp.endpoint)
			changed = changed || next.DirectPeer() != pp.state.DirectPeer() || next.Direct() != pp.state.Direct()
		}
		pp.state = next
	}
	return changed
}

// punchReport returns the pairs' states for the report, sorted by node id.
func (ps *punchState) report() (*gridapi.NATSeen, []gridapi.PunchState) {
	if ps == nil {
		return nil, nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []gridapi.PunchState
	for _, id := range slices.Sorted(maps.Keys(ps.pairs)) {
		s := ps.pairs[id].state
		out = append(out, gridapi.PunchState{NodeID: id, Phase: string(cmpPhase(s.Phase)), Reason: truncate(s.Reason, 512)})
	}
	return ps.nat, out
}

func cmpPhase(p nat.Phase) nat.Phase {
	if p == "" {
		return nat.PhaseRelayed
	}
	return p
}

// punchDigest is the part of a report's digest for the direct paths (handshake times
// left out: they change every two minutes and go out with the periodic report).
func punchDigest(r gridapi.NRReport) string {
	s := fmt.Sprint(r.Punch)
	if r.NAT != nil {
		s += fmt.Sprint(*r.NAT)
	}
	for _, o := range r.Observed {
		s += fmt.Sprint(o.NodeID, o.Endpoint)
	}
	return s
}
