package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/plan"
	"github.com/zosnet/zosnet/internal/resource"
)

// TestMesh runs issue 7's lab scenarios on one booted default farm, in order (the relay
// failover near the end: it cuts a node's cables).
func TestMesh(t *testing.T) {
	m := upMesh(t)
	ctx := context.Background()
	nodes := scenario.Names(lab.DefaultSpec())
	start := time.Now()
	n, err := m.CreateNetwork(ctx, "e2e", "10.100.0.0/16", nodes)
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.WaitUp(ctx, n.ID, len(nodes), 90*time.Second)
	if err != nil {
		t.Fatalf("network %s did not come up: %v", n.ID, err)
	}
	ws, err := m.AddWorkloads(ctx, n.ID, nodes)
	if err != nil {
		t.Fatal(err)
	}
	wl := map[string]scenario.Workload{}
	for _, w := range ws {
		wl[w.Node] = w
	}
	// home1 ↔ home6 is relayed: through the home relays of the pair's owner
	hp, ok := pairOf(st, "home1", "home6")
	if !ok || len(hp.Relays) != 2 || hp.Via != hp.Relays[0] {
		t.Fatalf("home1→home6 in status: %+v; want relayed via the first of two relays", hp)
	}
	relay, second := hp.Relays[0], hp.Relays[1]
	t.Logf("home1↔home6 through %s, then %s; relay load %+v", relay, second, st.RelayLoad)

	t.Run("all pairs", func(t *testing.T) {
		if _, err := m.WaitMatrix(ctx, ws, 120*time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("all %d pairs answer %s after create", len(nodes)*(len(nodes)-1), since(start))
		// status says so too, from the probes the nodes report
		err := scenario.Poll(ctx, 45*time.Second, func() error {
			st, err := m.Status(ctx, n.ID)
			if err != nil {
				return err
			}
			if want := len(nodes) * (len(nodes) - 1); len(st.Pairs) < want {
				return fmt.Errorf("status: %d pairs, want %d (members that did not report have none)", len(st.Pairs), want)
			}
			for _, p := range st.Pairs {
				if !p.Reachable {
					return fmt.Errorf("status: %s→%s not reachable", p.From, p.To)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("paths in status", func(t *testing.T) {
		st, err := m.Status(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]plan.PairStatus{
			"home1→home2": {Path: plan.PathSameLAN},
			"home1→home6": {Path: plan.PathRelayed, Via: relay},
			"home1→farm1": {Path: plan.PathDirect},
			"farm1→farm2": {Path: plan.PathDirect},
		}
		seen := map[string]bool{}
		for _, p := range st.Pairs {
			if w, ok := want[p.From+"→"+p.To]; ok {
				seen[p.From+"→"+p.To] = true
				if w.Path != p.Path || w.Via != p.Via {
					t.Errorf("%s→%s: path %s via %q, want %s via %q", p.From, p.To, p.Path, p.Via, w.Path, w.Via)
				}
			}
		}
		for pair := range want {
			if !seen[pair] {
				t.Errorf("status has no pair %s (%d pairs reported)", pair, len(st.Pairs))
			}
		}
	})

	t.Run("home1 and home2 talk over their LAN", func(t *testing.T) {
		// big packets leaving the home LAN through its router are counted there
		count := nftCounter(t, m, "homegw", "", `iifname "home" meta length > 1000`)
		before := count()
		if _, err := bigPings(ctx, m, wl["home1"], wl["home2"], 20); err != nil {
			t.Fatal(err)
		}
		if got := count() - before; got != 0 {
			t.Errorf("%d big packets of home1↔home2 went through homegw; want 0 (direct over the LAN)", got)
		}
		// contrast: the same pings to farm3 (relayed) do leave through homegw
		before = count()
		ok, err := bigPings(ctx, m, wl["home1"], wl["farm3"], 20)
		if err != nil {
			t.Fatal(err)
		}
		if got := count() - before; got < ok {
			t.Errorf("only %d big packets of home1→farm3 went through homegw; the counter does not see the path", got)
		}
	})

	t.Run("home1 and home6 go through the relay", func(t *testing.T) {
		ns := resource.NamesOf(n.ID)
		match := fmt.Sprintf(`iifname %q oifname %q meta length > 1000`, ns.WG, ns.WG)
		atRelay := nftCounter(t, m, relay, ns.NS, match)
		atOther := nftCounter(t, m, second, ns.NS, match)
		r0, o0 := atRelay(), atOther()
		ok, err := bigPings(ctx, m, wl["home1"], wl["home6"], 20)
		if err != nil {
			t.Fatal(err)
		}
		if got := atRelay() - r0; got < 2*ok {
			t.Errorf("relay %s forwarded %d big packets between home1 and home6, want ≥ %d (request and reply of each of %d answered pings)", relay, got, 2*ok, ok)
		}
		if got := atOther() - o0; got != 0 {
			t.Errorf("second relay %s forwarded %d big packets, want 0", second, got)
		}
	})

	t.Run("add and remove a member under traffic", func(t *testing.T) {
		// farm1↔home1 and home1↔home2 keep pinging, in bursts, from before farm3 leaves
		// until after it is back (the last burst starts once the change has finished)
		pairs := [][2]string{{"home1", "farm1"}, {"home2", "home1"}}
		changing := make(chan struct{})
		type res struct {
			pair         string
			bursts, sent int
			lost         []string
		}
		done := make(chan res, len(pairs))
		for _, p := range pairs {
			go func() {
				r := res{pair: p[0] + "→" + p[1]}
				for last := false; !last; {
					select {
					case <-changing:
						last = true // the change is over: one more burst, then stop
					default:
					}
					out, err := m.Run(ctx, p[0], "ip", "netns", "exec", wl[p[0]].Netns, "ping", "-n", "-q", "-c", "20", "-i", "0.05", "-W", "1", wl[p[1]].IPv4.Addr().String())
					r.bursts++
					r.sent += 20
					if err != nil || !strings.Contains(string(out), " 0% packet loss") {
						r.lost = append(r.lost, fmt.Sprintf("burst %d: %s (%v)", r.bursts, lastLine(string(out)), err))
					}
				}
				done <- r
			}()
		}
		changeErr := func() error {
			defer close(changing)
			if err := m.Zosnet(ctx, nil, "network", "remove-node", n.ID, "farm3"); err != nil {
				return err
			}
			if _, err := m.WaitUp(ctx, n.ID, len(nodes)-1, 30*time.Second); err != nil {
				return err
			}
			if err := m.Zosnet(ctx, nil, "network", "add-node", n.ID, "farm3"); err != nil {
				return err
			}
			_, err := m.WaitUp(ctx, n.ID, len(nodes), 30*time.Second)
			return err
		}()
		for range pairs {
			r := <-done
			t.Logf("%s: %d pings in %d bursts over the whole change", r.pair, r.sent, r.bursts)
			if r.bursts < 2 || len(r.lost) > 0 {
				t.Errorf("traffic between other members during the change (%s, %d bursts): lost %v", r.pair, r.bursts, r.lost)
			}
		}
		if changeErr != nil {
			t.Fatal(changeErr)
		}
		w, err := m.AddWorkloads(ctx, n.ID, []string{"farm3"})
		if err != nil {
			t.Fatal(err)
		}
		wl["farm3"] = w[0]
		if err := scenario.Poll(ctx, 30*time.Second, func() error { return m.Ping(ctx, wl["farm3"], wl["home6"].IPv4.Addr(), 3) }); err != nil {
			t.Errorf("farm3 back in the network: %v", err)
		}
	})

	t.Run("external device reaches a hidden node", func(t *testing.T) {
		d, err := m.AddDevice(ctx, n.ID, "laptop")
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"home1", "home6"} {
			if err := scenario.Poll(ctx, 30*time.Second, func() error { return m.DevicePing(ctx, wl[h].IPv4.Addr(), 3) }); err != nil {
				t.Errorf("device %s (%s via %s) → %s workload: %v", d.Name, d.Address, d.AccessNode, h, err)
			}
		}
	})

	t.Run("relay failover", func(t *testing.T) {
		t0 := time.Now()
		restore := cutCables(t, m, relay) // for real: the relay's kernel state stays, its cables go
		t.Cleanup(restore)
		// the hidden pairs move to the second relay by themselves
		err := scenario.Poll(ctx, 60*time.Second, func() error {
			if err := m.Ping(ctx, wl["home1"], wl["home6"].IPv4.Addr(), 2); err != nil {
				return err
			}
			return m.Ping(ctx, wl["farm3"], wl["home2"].IPv4.Addr(), 2)
		})
		if err != nil {
			t.Fatalf("hidden pairs did not recover through %s: %v", second, err)
		}
		t.Logf("hidden pairs recovered through %s %s after %s's cables were cut", second, since(t0), relay)
		// only the pairs whose primary it was moved, each to its second relay
		err = scenario.Poll(ctx, 45*time.Second, func() error {
			st, err := m.Status(ctx, n.ID)
			if err != nil {
				return err
			}
			return relaysAfterLoss(st, relay)
		})
		if err != nil {
			t.Error(err)
		}
	})

	t.Run("registry down leaves the data plane alone", func(t *testing.T) {
		logs := nrUpdates(t, m.Lab.Name(), nodes)
		if logs == 0 {
			t.Fatal("provisiond logged no network resource changes at all: the count below would prove nothing")
		}
		stopService(t, m.Lab.Name(), "", "registry")
		// several provisiond passes and watch retries while the registry is gone
		deadline := time.Now().Add(8 * time.Second)
		for time.Now().Before(deadline) {
			if err := m.Ping(ctx, wl["home1"], wl["home2"].IPv4.Addr(), 3); err != nil {
				t.Fatalf("home1→home2 while the registry is down: %v", err)
			}
			if err := m.Ping(ctx, wl["farm3"], wl["home1"].IPv4.Addr(), 3); err != nil {
				t.Fatalf("farm3→home1 (relayed) while the registry is down: %v", err)
			}
		}
		if after := nrUpdates(t, m.Lab.Name(), nodes); after != logs {
			t.Errorf("network resources changed while the registry was down (%d updates before, %d after)", logs, after)
		}
	})
}

// pairOf returns the status of the pair from→to.
func pairOf(st plan.NetworkStatus, from, to string) (plan.NetworkPair, bool) {
	for _, p := range st.Pairs {
		if p.From == from && p.To == to {
			return p, true
		}
	}
	return plan.NetworkPair{}, false
}

// relaysAfterLoss checks that, with relay lost, every relayed pair whose primary it is
// goes through its second relay and every other keeps its primary (pairs from the lost
// relay itself left out).
func relaysAfterLoss(st plan.NetworkStatus, relay string) error {
	moved := 0
	for _, p := range st.Pairs {
		if p.Path != plan.PathRelayed || p.From == relay || len(p.Relays) == 0 {
			continue
		}
		want := p.Relays[0]
		if want == relay && len(p.Relays) > 1 {
			want, moved = p.Relays[1], moved+1
		}
		if p.Via != want {
			return fmt.Errorf("%s→%s (relays %v) via %s, want %s after losing %s", p.From, p.To, p.Relays, p.Via, want, relay)
		}
	}
	if moved == 0 {
		return fmt.Errorf("no relayed pair had %s as primary", relay)
	}
	return nil
}

// nrUpdates counts the NR changes provisiond logged on all nodes.
func nrUpdates(t *testing.T, labName string, nodes []string) int {
	n := 0
	for _, node := range nodes {
		b, err := os.ReadFile(filepath.Join(lab.StateRoot, labName, "nodes", node, "state", "log", "provisiond.log"))
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(b), "network resource updated") + strings.Count(string(b), "network resource removed") + strings.Count(string(b), "network resource created")
	}
	return n
}

// bigPings sends count 1200-byte pings from a to b over the overlay and returns how
// many were answered (at least one must be).
func bigPings(ctx context.Context, m *scenario.Mesh, a, b scenario.Workload, count int) (int, error) {
	out, err := m.Run(ctx, a.Node, "ip", "netns", "exec", a.Netns, "ping", "-n", "-q", "-s", "1200", "-c", fmt.Sprint(count), "-i", "0.05", "-W", "1", b.IPv4.Addr().String())
	if err != nil {
		return 0, err
	}
	mm := regexp.MustCompile(`(\d+) received`).FindStringSubmatch(string(out))
	if mm == nil {
		return 0, fmt.Errorf("ping: no summary in %q", out)
	}
	n, _ := strconv.Atoi(mm[1])
	return n, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "packet loss") {
			return lines[i]
		}
	}
	return lines[len(lines)-1]
}
