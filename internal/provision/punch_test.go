package provision

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nat"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// punchLab is gridLab with farm1 observing hidden home1 (node 2) and home6 (node 4).
func punchLab(t *testing.T) gridapi.Desired {
	dn := gridLab(t)
	at := time.Now().UTC()
	dn.Peers[0].NR.Observed = []gridapi.ObservedEndpoint{{NodeID: 2, Endpoint: "198.51.100.3:3000", Handshake: at},
		{NodeID: 4, Endpoint: "198.51.100.4:3000", Handshake: at}}
	return gridapi.Desired{NodeID: 2, Revision: 1, Networks: []gridapi.DesiredNetwork{dn}}
}

// TestPunchPromoteDemote drives home1's direct path to relayed home6 on fakes: with
// both observed, home1 tries (a direct entry at home6's observed endpoint, keepalive
// PunchKeepalive, no allowed IPs, the relay still carrying home6's subnet); a fresh
// handshake on it promotes the pair (home6's subnet moves from farm1's entry to the
// direct one in one put); an answered probe over it keeps it, PunchMissed unanswered
// ones demote it (the direct entry goes, the subnet is back on farm1) and the report
// says held and why.
func TestPunchPromoteDemote(t *testing.T) {
	f := newFakeNodeWith(Config{Punch: true})
	d := punchLab(t)
	dn := d.Networks[0]
	k1, k6 := dn.Peers[0].NR.PublicKey, dn.Peers[3].NR.PublicKey
	f.pass(t, d)
	nr, _ := f.nd.nr("net1")
	peers := peersOf(t, nr.Spec)
	if got := peers[k6]; got != "198.51.100.4:3000 " || !strings.Contains(peers[k1], "10.100.3.0/24") {
		t.Fatalf("trying: home6 %q, farm1 %q; want home6 at its observed endpoint without allowed IPs, farm1 still carrying it", got, peers[k1])
	}
	for _, pe := range nr.Spec.Peers {
		if pe.PublicKey == k6 && pe.PersistentKeepalive != PunchKeepalive {
			t.Errorf("direct entry keepalive %d, want %d", pe.PersistentKeepalive, PunchKeepalive)
		}
	}
	rep := last(t, f)
	if len(rep.Punch) != 1 || rep.Punch[0] != (gridapi.PunchState{NodeID: 4, Phase: "trying"}) || rep.NAT == nil ||
		rep.NAT.Mapping != "unknown" || strings.Join(rep.NAT.Endpoints, ",") != "198.51.100.3:3000" {
		t.Fatalf("report while trying: punch %+v, nat %+v", rep.Punch, rep.NAT)
	}
	ps := f.p.nets["net1"].punch
	now := time.Now()
	hs := now.Add(time.Second)
	if !ps.step([]nodeapi.PeerStatus{{PublicKey: k6, LatestHandshake: &hs}}, nil, false, now.Add(time.Second), slog.New(slog.DiscardHandler)) {
		t.Fatal("a fresh handshake did not change the entries")
	}
	puts := f.nd.puts
	f.pass(t, d)
	nr, _ = f.nd.nr("net1")
	peers = peersOf(t, nr.Spec)
	if got := peers[k6]; got != "198.51.100.4:3000 10.100.3.0/24" || strings.Contains(peers[k1], "10.100.3.0/24") || f.nd.puts != puts+1 {
		t.Fatalf("punched: home6 %q, farm1 %q, %d puts; want home6's subnet moved to the direct entry in one put", got, peers[k1], f.nd.puts-puts)
	}
	if rep := last(t, f); rep.Punch[0].Phase != "punched" {
		t.Errorf("report after promotion: %+v", rep.Punch)
	}
	// answered probes keep it punched; unanswered ones demote it (the watcher probes
	// too, on the fake prober that never answers: at most PunchMissed checks in all)
	probe := func(at time.Time, answered bool) bool {
		ps.mu.Lock()
		ps.sent = at
		ps.mu.Unlock()
		seen := map[int64]time.Time{}
		if answered {
			seen[4] = at.Add(time.Millisecond)
		}
		return ps.step([]nodeapi.PeerStatus{{PublicKey: k6, LatestHandshake: &hs}}, seen, true, at.Add(PunchTick), slog.New(slog.DiscardHandler))
	}
	if probe(now.Add(2*time.Second), true) {
		t.Fatal("an answered probe changed the entries")
	}
	// reads between two probe ticks (the fast reads while another pair tries) judge no
	// probe: the one in flight is not missed, however many come before its tick
	ps.mu.Lock()
	ps.sent = now.Add(2500 * time.Millisecond)
	ps.mu.Unlock()
	for i := range 2 * PunchMissed {
		ps.step([]nodeapi.PeerStatus{{PublicKey: k6, LatestHandshake: &hs}}, nil, false, now.Add(2500*time.Millisecond+time.Duration(i+1)*PunchFastTick), slog.New(slog.DiscardHandler))
	}
	ps.mu.Lock()
	phase := ps.pairs[4].state.Phase
	ps.mu.Unlock()
	if phase != nat.PhasePunched {
		t.Fatalf("after %d reads without a probe tick: %s, want still punched", 2*PunchMissed, phase)
	}
	checks := 0
	for ; checks < 2*PunchMissed; checks++ {
		ps.mu.Lock()
		held := ps.pairs[4].state.Phase == nat.PhaseHeld
		ps.mu.Unlock()
		if held {
			break
		}
		probe(now.Add(time.Duration(3+checks)*time.Second), false)
	}
	if checks == 0 || checks > PunchMissed {
		t.Fatalf("demoted after %d unanswered probes, want at most %d", checks, PunchMissed)
	}
	f.pass(t, d)
	nr, _ = f.nd.nr("net1")
	peers = peersOf(t, nr.Spec)
	if _, ok := peers[k6]; ok || !strings.Contains(peers[k1], "10.100.3.0/24") {
		t.Fatalf("demoted: home6 %q, farm1 %q; want the direct entry gone and farm1 carrying home6 again", peers[k6], peers[k1])
	}
	if rep := last(t, f); rep.Punch[0].Phase != "held" || !strings.Contains(rep.Punch[0].Reason, "stopped answering") {
		t.Errorf("report after demotion: %+v", rep.Punch)
	}
}

// TestPunchGiveUp: two observers at different addresses saw both home1 and home6 at
// different ports (both symmetric): the pair gives up at once with the reason, and no
// direct entry is added.
func TestPunchGiveUp(t *testing.T) {
	f := newFakeNodeWith(Config{Punch: true})
	d := punchLab(t)
	dn := &d.Networks[0]
	farm3 := &dn.Peers[4]
	farm3.NR = &gridapi.NRReport{PublicKey: "Ti9ybTk6/E1FeRGm/hmv7y8L5fjkbv/eHvm9hGv0Hlg=", ListenPort: 3000, State: "up",
		Endpoints: []string{"203.0.113.12:3000"}, Observed: []gridapi.ObservedEndpoint{
			{NodeID: 2, Endpoint: "198.51.100.3:4000", Handshake: time.Now()}, {NodeID: 4, Endpoint: "198.51.100.4:4000", Handshake: time.Now()}}}
	farm3.Facts, farm3.SourceAddr = dn.Peers[0].Facts, dn.Peers[0].SourceAddr // public like farm1
	dn.Peers[0].NR.Endpoints = []string{"203.0.113.10:3000"}
	listAll(*dn)
	f.pass(t, d)
	nr, _ := f.nd.nr("net1")
	if _, ok := peersOf(t, nr.Spec)[dn.Peers[3].NR.PublicKey]; ok {
		t.Error("a direct entry for a pair that cannot punch")
	}
	rep := last(t, f)
	if len(rep.Punch) != 1 || rep.Punch[0].Phase != string(nat.PhaseGaveUp) || !strings.Contains(rep.Punch[0].Reason, "symmetric") ||
		rep.NAT.Mapping != "endpoint-dependent" || rep.NAT.Observers != 2 {
		t.Errorf("report: punch %+v, nat %+v (state %s %s)", rep.Punch, rep.NAT, rep.State, rep.LastError)
	}
}

// TestPunchOff: without Config.Punch a hidden member adds no direct entries and
// reports no punch states, whatever is observed.
func TestPunchOff(t *testing.T) {
	f := newFakeNode()
	f.pass(t, punchLab(t))
	nr, _ := f.nd.nr("net1")
	if len(nr.Spec.Peers) != 2 {
		t.Errorf("peers %v; want the plan's two", peersOf(t, nr.Spec))
	}
	if rep := last(t, f); rep.Punch != nil || rep.NAT != nil {
		t.Errorf("report: punch %+v, nat %+v", rep.Punch, rep.NAT)
	}
}

// TestObservedOf: a public member reports its hidden peers' roaming endpoints with a
// fresh handshake only (IPv4-mapped addresses unmapped), never a public peer's.
func TestObservedOf(t *testing.T) {
	fresh, stale := time.Now().Add(-time.Minute), time.Now().Add(-time.Hour)
	mp := plan.MemberPlan{Peers: []plan.Peer{{NodeID: "2", PublicKey: "h2"}, {NodeID: "3", PublicKey: "h3"},
		{NodeID: "5", PublicKey: "p5", Endpoint: netip.MustParseAddrPort("203.0.113.12:3000")}}}
	cur := nodeapi.NR{Status: nodeapi.NRStatus{Peers: []nodeapi.PeerStatus{
		{PublicKey: "h3", Endpoint: "[::ffff:198.51.100.4]:7000", LatestHandshake: &fresh},
		{PublicKey: "h2", Endpoint: "198.51.100.3:3000", LatestHandshake: &stale},
		{PublicKey: "p5", Endpoint: "203.0.113.12:3000", LatestHandshake: &fresh}}}}
	got := observedOf(gridapi.DesiredNetwork{}, mp, cur, time.Now())
	if len(got) != 1 || got[0].NodeID != 3 || got[0].Endpoint != "198.51.100.4:7000" {
		t.Errorf("observed %+v; want node 3 at 198.51.100.4:7000 only", got)
	}
	mp.Hidden = true
	if got := observedOf(gridapi.DesiredNetwork{}, mp, cur, time.Now()); got != nil {
		t.Errorf("a hidden member observed %+v", got)
	}
}

func last(t *testing.T, f *fakeNode) gridapi.NRReport {
	t.Helper()
	reps := f.reg.sent("net1")
	if len(reps) == 0 {
		t.Fatal("no report")
	}
	return reps[len(reps)-1]
}

// TestPunchIdleWatch: with only held or given-up pairs the watcher has nothing to read
// (live is false, so it neither asks networkd nor probes); stepping without peer status
// or probes still ends a hold-down on time, which must re-add the direct entry.
func TestPunchIdleWatch(t *testing.T) {
	now := time.Now()
	log := slog.New(slog.DiscardHandler)
	ps := &punchState{pairs: map[int64]*punchPair{
		3: {name: "held", state: nat.State{Phase: nat.PhaseHeld, Since: now, HoldUntil: now.Add(10 * time.Second), Failures: 1}},
		5: {name: "gave-up", state: nat.State{Phase: nat.PhaseGaveUp, Since: now, Reason: "both symmetric"}},
	}}
	if ps.live() {
		t.Fatal("live with only held and given-up pairs")
	}
	if ps.step(nil, nil, false, now.Add(5*time.Second), log) {
		t.Error("a change reported before the hold-down ended")
	}
	if !ps.step(nil, nil, false, now.Add(10*time.Second), log) {
		t.Error("no change reported when the hold-down ended")
	}
	if ps.pairs[3].state.Phase != nat.PhaseTrying || ps.pairs[5].state.Phase != nat.PhaseGaveUp || !ps.live() {
		t.Errorf("after the hold-down: %s, %s, live %v; want trying, gave-up, live", ps.pairs[3].state.Phase, ps.pairs[5].state.Phase, ps.live())
	}
}

// TestPunchEndpointMoves: a moved observed endpoint does not restart a pair. Being
// tried, it keeps its start (a restart would wait for a handshake newer than itself on
// a session that goes on) and tries the new endpoint; punched, its entry keeps the
// endpoint WireGuard roamed to; demoted, it tries where the member is seen now.
func TestPunchEndpointMoves(t *testing.T) {
	f := newFakeNodeWith(Config{Punch: true})
	d := punchLab(t)
	k6 := d.Networks[0].Peers[3].NR.PublicKey
	f.pass(t, d)
	ps := f.p.nets["net1"].punch
	pair := func() punchPair {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		return *ps.pairs[4]
	}
	entry := func() string {
		nr, _ := f.nd.nr("net1")
		return peersOf(t, nr.Spec)[k6]
	}
	moveTo := func(ep string) {
		d.Revision++
		d.Networks[0].Peers[0].NR.Observed[1].Endpoint = ep
		f.pass(t, d)
	}
	since := pair().state.Since
	moveTo("198.51.100.4:3999")
	if p := pair(); p.state.Phase != nat.PhaseTrying || !p.state.Since.Equal(since) || entry() != "198.51.100.4:3999 " {
		t.Fatalf("moved while trying: %s since %v (was %v), entry %q; want still trying since the start, at the new endpoint", p.state.Phase, p.state.Since, since, entry())
	}
	log := slog.New(slog.DiscardHandler)
	now := time.Now()
	hs := now.Add(time.Second)
	ps.step([]nodeapi.PeerStatus{{PublicKey: k6, LatestHandshake: &hs}}, nil, false, now.Add(time.Second), log)
	f.pass(t, d)
	moveTo("198.51.100.4:3555")
	if p := pair(); p.state.Phase != nat.PhasePunched || entry() != "198.51.100.4:3999 10.100.3.0/24" {
		t.Fatalf("moved while punched: %s, entry %q; want punched at the endpoint it had", p.state.Phase, entry())
	}
	for i := range PunchMissed {
		at := now.Add(time.Duration(2+i) * time.Second)
		ps.mu.Lock()
		ps.sent = at
		ps.mu.Unlock()
		ps.step([]nodeapi.PeerStatus{{PublicKey: k6, LatestHandshake: &hs}}, nil, true, at.Add(PunchTick), log)
	}
	if p := pair(); p.state.Phase != nat.PhaseHeld || p.endpoint != netip.MustParseAddrPort("198.51.100.4:3555") {
		t.Fatalf("demoted: %s at %s; want held, to try 198.51.100.4:3555 next", p.state.Phase, p.endpoint)
	}
}
