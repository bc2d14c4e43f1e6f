package provision

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeagent"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// peersOf maps a spec's peers to "endpoint allowed-ips", by public key.
func peersOf(t *testing.T, s nodeapi.NRSpec) map[string]string {
	t.Helper()
	peers := map[string]string{}
	for _, pe := range s.Peers {
		var a []string
		for _, x := range pe.AllowedIPs {
			if x.Addr().Is6() {
				t.Errorf("peer %s: IPv6 allowed IP %s (networkd adds the twins)", pe.PublicKey, x)
			}
			a = append(a, x.String())
		}
		peers[pe.PublicKey] = pe.Endpoint + " " + strings.Join(a, ",")
	}
	return peers
}

// TestPlanAndSpec plans the lab network from home1's view and checks the spec networkd
// gets: same-LAN peer home2 over its LAN address, the public member direct with a
// keepalive, home6 through the relay, no IPv6 ULA prefixes (networkd adds the twins).
func TestPlanAndSpec(t *testing.T) {
	dn := gridLab(t)
	in, err := plan.FromGrid(dn, plan.Self{NodeID: 2, PublicKey: dn.Peers[1].NR.PublicKey, ListenPort: 3000})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(in)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := p.Member("2")
	if err != nil {
		t.Fatal(err)
	}
	s := specOf(mp, in.Network.Range, "net1", plan.WithRelay(mp, nil), 3000)
	if err := s.Validate(); err != nil {
		t.Fatalf("spec invalid: %v", err)
	}
	peers := peersOf(t, s)
	k1, k3, k4 := dn.Peers[0].NR.PublicKey, dn.Peers[2].NR.PublicKey, dn.Peers[3].NR.PublicKey
	if got := peers[k3]; !strings.HasPrefix(got, "172.29.1.102:3000 10.100.2.0/24") {
		t.Errorf("home2 (same LAN): %q", got)
	}
	if got := peers[k1]; !strings.HasPrefix(got, "203.0.113.10:3000 ") || !strings.Contains(got, "10.100.3.0/24") {
		t.Errorf("farm1 (public, relay for home6): %q", got)
	}
	if _, ok := peers[k4]; ok {
		t.Error("home6 is a direct peer of home1; want it relayed")
	}
	// hidden home1 keeps its NAT mappings open towards every peer
	ka := map[string]int{}
	for _, pe := range s.Peers {
		ka[pe.PublicKey] = pe.PersistentKeepalive
	}
	for name, k := range map[string]string{"farm1": k1, "home2": k3} {
		if ka[k] != plan.Keepalive {
			t.Errorf("%s: keepalive %d, want %d (home1 is hidden)", name, ka[k], plan.Keepalive)
		}
	}
}

// TestPassNetwork drives the provisioner's loop on fakes: the first pass creates the
// NR (to learn its key and port), plans with them and puts the peers, starts the
// overlay probes and reports; an unchanged state changes and reports nothing; a member
// that leaves is re-planned; a network the node left is removed with its prober.
func TestPassNetwork(t *testing.T) {
	f := newFakeNode()
	dn := gridLab(t)
	d := gridapi.Desired{NodeID: 2, Revision: 1, Networks: []gridapi.DesiredNetwork{dn}}
	f.pass(t, d)
	nr, ok := f.nd.nr("net1")
	if !ok {
		t.Fatal("no network resource after the first pass")
	}
	if f.nd.puts != 2 || len(nr.Spec.Peers) != 2 || nr.Spec.Subnet.String() != "10.100.1.0/24" {
		t.Fatalf("after the first pass: %d puts, spec %+v; want create, then the planned peers", f.nd.puts, nr.Spec)
	}
	if got := peersOf(t, nr.Spec)[dn.Peers[2].NR.PublicKey]; !strings.HasPrefix(got, "172.29.1.102:3000 ") {
		t.Errorf("home2 over the LAN: %q", got)
	}
	reps := f.reg.sent("net1")
	if len(reps) != 1 || reps[0].State != "up" || reps[0].PublicKey != nr.Status.PublicKey || reps[0].ListenPort != 3000 || len(reps[0].Endpoints) != 0 {
		t.Fatalf("reports %+v; want one, up, with the NR's key and port and no endpoints (home1 is hidden)", reps)
	}
	if len(f.probes) != 1 {
		t.Fatalf("%d probers, want one", len(f.probes))
	}
	pr := f.probes[0]
	if _, self := pr.targets[gatewayOf(nr.Spec.Subnet)]; pr.ns != "/nowhere/n-net1" || pr.src.String() != "10.100.1.1" ||
		len(pr.targets) != 4 || self || pr.targets[gatewayOf(nr.Spec.IPRange)] != 1 {
		t.Fatalf("prober in %s from %s to %v; want n-net1, from 10.100.1.1, to the 4 other members' gateways", pr.ns, pr.src, pr.targets)
	}
	f.pass(t, d)
	if f.nd.puts != 2 || len(f.reg.sent("net1")) != 1 || f.probes[0].sends != 2 {
		t.Errorf("unchanged state: %d puts, %d reports, %d probe rounds; want 2, 1, 2", f.nd.puts, len(f.reg.sent("net1")), f.probes[0].sends)
	}
	// home2 leaves: its direct entry goes
	d.Revision++
	d.Networks[0].Peers = append(d.Networks[0].Peers[:2:2], d.Networks[0].Peers[3:]...)
	f.pass(t, d)
	nr, _ = f.nd.nr("net1")
	if _, ok := peersOf(t, nr.Spec)[dn.Peers[2].NR.PublicKey]; ok || f.nd.puts != 3 {
		t.Errorf("home2 left: %d puts, peers %v", f.nd.puts, peersOf(t, nr.Spec))
	}
	// the node leaves the network
	d.Revision++
	d.Networks = nil
	f.pass(t, d)
	if _, ok := f.nd.nr("net1"); ok || !f.probes[0].closed {
		t.Errorf("network left: NR still there (%v) or prober open (closed %v)", ok, f.probes[0].closed)
	}
}

// TestPassSeenAndErrors: probe answers go into the report (and a new answer sends one);
// networkd refusing the spec is reported as the NR's error; a node missing from the
// member list touches nothing.
func TestPassSeenAndErrors(t *testing.T) {
	f := newFakeNode()
	d := gridapi.Desired{NodeID: 2, Revision: 1, Networks: []gridapi.DesiredNetwork{gridLab(t)}}
	f.pass(t, d)
	now := time.Now()
	f.probes[0].seen = map[int64]time.Time{3: now, 1: now.Add(-time.Hour)}
	f.pass(t, d)
	reps := f.reg.sent("net1")
	if len(reps) != 2 {
		t.Fatalf("%d reports; want a second one for the fresh answer", len(reps))
	}
	if s := reps[1].Seen; len(s) != 2 || s[0].NodeID != 1 || s[1].NodeID != 3 || !s[1].LastReply.Equal(now.UTC()) {
		t.Errorf("seen %+v; want nodes 1 and 3 with their last replies, by node id", s)
	}
	f.nd.refuse = errors.New("networkd: busy")
	d.Revision++
	d.Networks[0].Peers[2].NR.ListenPort = 3005 // home2 moved: a new spec
	f.pass(t, d)
	reps = f.reg.sent("net1")
	if last := reps[len(reps)-1]; last.State != "error" || last.LastError != "networkd: busy" {
		t.Errorf("report after a refused spec: %+v", last)
	}
	f.nd.refuse = nil
	d.Revision++
	d.Networks = append(d.Networks, gridLab(t))
	d.Networks[1].ID = "net2"
	d.Networks[1].Peers = d.Networks[1].Peers[2:] // node 2 is not a member
	f.pass(t, d)
	if _, ok := f.nd.nr("net2"); ok || len(f.reg.sent("net2")) != 0 {
		t.Error("a network the node is not in the member list of was set up or reported")
	}
}

// twoRelays is gridLab with a second public member (farm2, node 6), so home1's (node
// 2) relay group towards home6 (node 4) has two relays: the fake node, its desired
// state, the group and the group's second relay's key.
func twoRelays(t *testing.T, cfg Config) (*fakeNode, gridapi.Desired, plan.RelayGroup, string) {
	t.Helper()
	f := newFakeNodeWith(cfg)
	dn := gridLab(t)
	farm2 := dn.Peers[0]
	farm2.NodeID, farm2.Name, farm2.Subnet = 6, "farm2", "10.100.5.0/24"
	farm2.NR = &gridapi.NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", ListenPort: 3000, State: "up"}
	farm2.Facts.Endpoints = []gridapi.Endpoint{{IP: "203.0.113.11", Family: 4, Reason: gridapi.ReasonPublicConfig}}
	dn.Peers = append(dn.Peers, farm2)
	in, err := plan.FromGrid(dn, plan.Self{NodeID: 2, PublicKey: dn.Peers[1].NR.PublicKey, ListenPort: 3000})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(in)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := p.Member("2")
	if err != nil || len(mp.Relays) != 2 {
		t.Fatalf("home1's relays %v (%v); want two", mp.Relays, err)
	}
	k := slices.IndexFunc(mp.RelayGroups, func(g plan.RelayGroup) bool { return slices.Contains(g.Members, "4") })
	if k < 0 || len(mp.RelayGroups[k].Relays) != 2 {
		t.Fatalf("home1's relay groups %+v: want home6 (4) in one with two relays", mp.RelayGroups)
	}
	g := mp.RelayGroups[k]
	secondKey := dn.Peers[0].NR.PublicKey
	if g.Relays[1] == "6" {
		secondKey = farm2.NR.PublicKey
	}
	return f, gridapi.Desired{NodeID: 2, Revision: 1, Networks: []gridapi.DesiredNetwork{dn}}, g, secondKey
}

// answered makes the node's prober report answers from the given nodes at the given
// times.
func (f *fakeNode) answered(seen map[string]time.Time) {
	m := map[int64]time.Time{}
	for id, t := range seen {
		n, _ := strconv.ParseInt(id, 10, 64)
		m[n] = t
	}
	f.probes[0].mu.Lock()
	f.probes[0].seen = m
	f.probes[0].mu.Unlock()
}

// TestPassFailover: once the grace after a new group is over, the primary silent and
// the second answering, home1's group towards home6 moves to the second relay's entry
// and the report names it, with the time it moved.
func TestPassFailover(t *testing.T) {
	f, d, g, secondKey := twoRelays(t, Config{DownAfter: 50 * time.Millisecond, StartGrace: 50 * time.Millisecond, Hold: time.Hour})
	second := g.Relays[1]
	f.pass(t, d)
	if r := f.reg.sent("net1"); r[len(r)-1].Relay != "" || len(r[len(r)-1].RelayGroups) != 0 {
		t.Fatalf("relay %q, groups moved %v right after the plan; want the primaries during the grace", r[len(r)-1].Relay, r[len(r)-1].RelayGroups)
	}
	deadline := time.Now().Add(10 * time.Second)
	current := func() string { return f.p.nets["net1"].groups[g.Key()].relay.Current }
	t0 := time.Now()
	for current() != second {
		if time.Now().After(deadline) {
			t.Fatalf("still on %q after 10 s with the primary silent and %s answering", current(), second)
		}
		f.answered(map[string]time.Time{second: time.Now()})
		f.pass(t, d)
	}
	nr, _ := f.nd.nr("net1")
	if got := peersOf(t, nr.Spec)[secondKey]; !strings.Contains(got, "10.100.3.0/24") {
		t.Errorf("second relay's entry %q does not carry home6's subnet", got)
	}
	last := f.reg.sent("net1")
	r := last[len(last)-1]
	if !slices.ContainsFunc(r.RelayGroups, func(u gridapi.RelayGroupUse) bool {
		return u.Current == second && slices.Equal(u.Relays, g.Relays) && !u.Since.Before(t0) && !u.Since.After(time.Now())
	}) {
		t.Errorf("report's moved groups %+v, want %v on %s since a moment ago", r.RelayGroups, g.Relays, second)
	}
}

// TestRelayTick: of every four relay ticks (125 ms each at the default 500 ms), the
// second probes the relays, the fourth the relays and the members behind them, the
// others only evaluate failover: relays get two probes per interval, members one.
func TestRelayTick(t *testing.T) {
	want := []relayProbes{sendNone, sendRelays, sendNone, sendAll, sendNone, sendRelays, sendNone, sendAll}
	for i, w := range want {
		if got := relayTick(i + 1); got != w {
			t.Errorf("relayTick(%d) = %d, want %d", i+1, got, w)
		}
	}
}

// TestProbeRelays: between passes the relays and the members behind them are probed;
// an answer from a member behind the primary keeps the primary up though the primary
// itself is silent (a slow or lossy relay still relays); a primary silent for DownAfter
// with nothing crossing it asks for a pass, which moves the group, logs it and counts
// it; the primary answering for the hold moves the group back.
func TestProbeRelays(t *testing.T) {
	reg := prometheus.NewRegistry()
	f, d, g, _ := twoRelays(t, Config{DownAfter: 100 * time.Millisecond, StartGrace: 100 * time.Millisecond, Hold: 200 * time.Millisecond, Metrics: reg})
	primary, second := g.Relays[0], g.Relays[1]
	f.pass(t, d)
	if f.p.probeRelays(sendNone) {
		t.Fatal("a change asked for right after the first pass")
	}
	if f.probes[0].sentTo != nil {
		t.Fatalf("relay probes sent on an evaluation-only tick: %v", f.probes[0].sentTo)
	}
	if f.p.probeRelays(sendAll) {
		t.Fatal("a change asked for right after the first pass")
	}
	f.probes[0].mu.Lock()
	sent := f.probes[0].sentTo
	f.probes[0].mu.Unlock()
	want := []int64{}
	for _, id := range append(slices.Clone(g.Relays), g.Members...) {
		n, _ := strconv.ParseInt(id, 10, 64)
		want = append(want, n)
	}
	slices.Sort(want)
	if len(sent) != 1 || !slices.Equal(sent[0], slices.Compact(want)) {
		t.Fatalf("relay probes went to %v, want %v (relays and members behind them)", sent, want)
	}
	if f.p.probeRelays(sendRelays) {
		t.Fatal("a change asked for right after the first pass")
	}
	f.probes[0].mu.Lock()
	sent = f.probes[0].sentTo
	f.probes[0].mu.Unlock()
	relays := []int64{}
	for _, id := range g.Relays {
		n, _ := strconv.ParseInt(id, 10, 64)
		relays = append(relays, n)
	}
	slices.Sort(relays)
	if len(sent) != 2 || !slices.Equal(sent[1], relays) {
		t.Fatalf("relay-only probes went to %v, want %v (the relays alone)", sent, relays)
	}
	// the primary is silent for 3 × DownAfter, home6 behind it answers all along
	for range 6 {
		time.Sleep(50 * time.Millisecond)
		f.answered(map[string]time.Time{second: time.Now(), "4": time.Now(), primary: time.Now().Add(-time.Hour)})
		if f.p.probeRelays(sendAll) {
			t.Fatal("failover asked for while answers from behind the primary kept crossing it")
		}
	}
	// nothing crosses the primary any more
	f.answered(map[string]time.Time{second: time.Now(), "4": time.Now().Add(-time.Hour), primary: time.Now().Add(-time.Hour)})
	if !f.p.probeRelays(sendAll) {
		t.Fatal("no failover asked for with nothing crossing the primary for an hour")
	}
	f.pass(t, d)
	if cur := f.p.nets["net1"].groups[g.Key()].relay.Current; cur != second {
		t.Fatalf("group on %q after the pass, want %s", cur, second)
	}
	if got := value(f.p.metrics.moves.WithLabelValues("failover")); got != 1 {
		t.Errorf("zosnet_relay_moves_total{direction=failover} = %v, want 1", got)
	}
	if got := value(f.p.metrics.moved); got != 1 {
		t.Errorf("zosnet_relay_groups_failed_over = %v, want 1", got)
	}
	// the primary answers again: back after the hold, not before
	f.answered(map[string]time.Time{second: time.Now(), primary: time.Now()})
	f.pass(t, d)
	if cur := f.p.nets["net1"].groups[g.Key()].relay.Current; cur != second {
		t.Fatalf("back on %q at the primary's first answer, want the hold first", cur)
	}
	waitUntil(t, func() bool {
		f.answered(map[string]time.Time{second: time.Now(), primary: time.Now()})
		return f.p.probeRelays(sendAll)
	})
	f.pass(t, d)
	if cur := f.p.nets["net1"].groups[g.Key()].relay.Current; cur != primary {
		t.Fatalf("group on %q after the hold, want the primary %s", cur, primary)
	}
	if got := value(f.p.metrics.moves.WithLabelValues("back")); got != 1 {
		t.Errorf("zosnet_relay_moves_total{direction=back} = %v, want 1", got)
	}
	fams, err := reg.Gather()
	names := map[string]bool{}
	for _, mf := range fams {
		names[mf.GetName()] = true
	}
	if err != nil || !names["zosnet_relay_moves_total"] || !names["zosnet_relay_groups_failed_over"] || !names["zosnet_relay_probe_rounds_total"] {
		t.Errorf("served metrics %v (%v), want the relay failover ones", names, err)
	}
}

// value reads a counter's or gauge's value.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// TestRun: Run waits for the registration, then applies what the watcher gets; it
// returns nil when ctx ends, and the agent's error when the registry refuses the node.
func TestRun(t *testing.T) {
	f := newFakeNodeWith(Config{Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.p.Run(ctx) }()
	f.reg.desired <- gridapi.Desired{NodeID: 2, Revision: 1, Networks: []gridapi.DesiredNetwork{gridLab(t)}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if nr, ok := f.nd.nr("net1"); ok && len(nr.Spec.Peers) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no network resource with peers 10 s after the desired state")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after ctx ended: %v", err)
	}
	f.mu.Lock()
	closed := f.probes[0].closed
	f.mu.Unlock()
	if !closed {
		t.Error("the prober is still open after Run returned")
	}
	r := newFakeNode()
	r.agent.refused = errors.New("409: name taken")
	if err := r.p.Run(context.Background()); err == nil || err.Error() != "409: name taken" {
		t.Fatalf("Run with a refused registration: %v", err)
	}
}

// TestRegistryStatus: the registry connection reaches networkd while the registry is
// down, before any registration, and again once it is back; the flip back runs a pass
// at once (pending reports flush) instead of waiting for the next tick.
func TestRegistryStatus(t *testing.T) {
	conn := &nodeagent.Conn{}
	f := newFakeNodeWith(Config{Interval: time.Hour, Conn: conn, RegistryURL: "https://198.51.100.10:8443"})
	f.agent.refused = nil
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.p.Run(ctx) }()
	conn.Record(errors.New("dial tcp 198.51.100.10:8443: connect: connection refused"), time.Now())
	waitUntil(t, func() bool {
		st, ok := f.nd.lastRegistry()
		return ok && !st.Connected && strings.Contains(st.LastError, "connection refused")
	})
	f.reg.desired <- gridapi.Desired{NodeID: 2, Revision: 1, Networks: []gridapi.DesiredNetwork{gridLab(t)}}
	conn.OK(time.Now())
	waitUntil(t, func() bool {
		st, ok := f.nd.lastRegistry()
		return ok && st.Connected && st.URL == "https://198.51.100.10:8443" && st.NodeID == 2
	})
	// the interval is an hour: the connection flips and the watcher's news woke the loop
	waitUntil(t, func() bool { return len(f.reg.sent("net1")) > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSettleBurst: the keys of the other members arrive one revision at a time, 10 ms
// apart (members reporting one after another). With settling, the first revision is
// applied at once and the rest of the burst waits until the revisions stop and goes to
// networkd in one call that holds every peer. Without settling (each revision waited
// for, so the count is exact) every revision that changes the spec is its own call.
func TestSettleBurst(t *testing.T) {
	full := gridLab(t)
	revs := burstOf(t, full)
	var specs []map[string]string // node 2's peers after each revision, applied alone
	changes := 0
	for i, n := range revs {
		specs = append(specs, peersOf(t, specAfter(t, n)))
		if i == 0 || !reflect.DeepEqual(specs[i], specs[i-1]) {
			changes++
		}
	}
	if changes < 3 {
		t.Fatalf("only %d of %d revisions change node 2's peers: the burst proves nothing", changes, len(revs))
	}
	for _, tc := range []struct {
		name     string
		settle   time.Duration
		min, max int // networkd calls: the create, then the peers
	}{
		{"settle", 500 * time.Millisecond, 2, 3},
		{"no settle", -1, 1 + changes, 1 + changes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNodeWith(Config{Interval: time.Hour, Settle: tc.settle, MaxSettle: 5 * time.Second})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.p.Run(ctx) }()
			applied := func(i int) func() bool {
				return func() bool { nr, _ := f.nd.nr("net1"); return reflect.DeepEqual(peersOf(t, nr.Spec), specs[i]) }
			}
			for i, n := range revs {
				f.reg.desired <- gridapi.Desired{NodeID: 2, Revision: int64(i + 1), Networks: []gridapi.DesiredNetwork{n}}
				if i == 0 || tc.settle < 0 {
					waitUntil(t, applied(i))
				} else {
					time.Sleep(10 * time.Millisecond)
				}
			}
			waitUntil(t, applied(len(revs)-1))
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			f.nd.mu.Lock()
			puts := f.nd.puts
			f.nd.mu.Unlock()
			if puts < tc.min || puts > tc.max {
				t.Errorf("%d networkd calls for %d revisions, want %d to %d", puts, len(revs), tc.min, tc.max)
			}
		})
	}
}

// burstOf returns the revisions a member (node 2) sees while the others report: the
// k-th has the keys of the first k other members.
func burstOf(t *testing.T, full gridapi.DesiredNetwork) []gridapi.DesiredNetwork {
	t.Helper()
	var revs []gridapi.DesiredNetwork
	var others []int
	for i, m := range full.Peers {
		if m.NodeID != 2 && m.NR != nil {
			others = append(others, i)
		}
	}
	for k := 1; k <= len(others); k++ {
		n := gridLab(t)
		for _, i := range others[k:] {
			n.Peers[i].NR = nil
		}
		revs = append(revs, n)
	}
	return revs
}

// specAfter is the spec node 2 applies for n in one pass.
func specAfter(t *testing.T, n gridapi.DesiredNetwork) nodeapi.NRSpec {
	t.Helper()
	f := newFakeNode()
	f.pass(t, gridapi.Desired{NodeID: 2, Revision: 1, Networks: []gridapi.DesiredNetwork{n}})
	nr, _ := f.nd.nr("net1")
	return nr.Spec
}
