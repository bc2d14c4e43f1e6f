package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/nat"
	"github.com/zosnet/zosnet/internal/plan"
	"github.com/zosnet/zosnet/internal/resource"
)

// punchTypes are the NAT grid's hidden nodes (internal/lab/specs/nat.yaml) and the NAT
// each sits behind.
var punchTypes = map[string]nat.Type{"easy1": nat.Easy, "easy2": nat.Easy, "full": nat.FullCone, "addr": nat.AddressRestricted,
	"hard": nat.Hard, "one": nat.OneToOne, "cg": nat.CGNAT}

// punchFigures are what one run of the punch scenario measured.
type punchFigures struct {
	firstPunched  time.Duration // network create → the first pair punched both ways
	allOnPath     time.Duration // network create → every hidden pair on its expected path
	direct, pairs int           // hidden pairs direct (punched or LAN) of all hidden pairs
	promoGap      time.Duration // pings lost on easy1→full across its promotion × promoEvery; -1: it was punched before the pings began
	demotion      time.Duration // ping loss (10/s) on full→easy1 after its direct path broke
	punchedMbit   []float64     // iperf3 full→easy1 while punched
	relayedMbit   []float64     // the same pair once back on the relay
	repunched     time.Duration // the break undone → full↔easy1 punched again both ways
	repunchGap    time.Duration // pings lost on full→easy1 across that promotion × promoEvery
}

// promoEvery is the ping interval across promotions: the gap a promotion leaves (the two
// sides move the allowed IPs at their own moments) is a few tens of milliseconds.
const promoEvery = 20 * time.Millisecond

// TestPunchGrid boots the NAT grid (internal/lab/specs/nat.yaml: a hidden node behind
// each NAT type, two public relays; every node with the default zosnet.punch) and
// creates one network over all of it. Every pair of hidden nodes must get the path
// class nat.Punchable expects for its NAT types — punched where the NATs allow it,
// same-lan for easy1/easy2, relayed otherwise (hard with easy and cgnat) — in status,
// and by where packets really go: big pings of a punched or LAN pair cross no relay
// (the relays' forward counters do not move), those of a relayed pair cross one (a
// pair that leaves its path meanwhile must come back; see punchPathChecks). Pings
// kept running across the promotion of easy1↔full still get through. Then UDP between
// fullgw and easygw is dropped: full↔easy1 goes back on the relay (pings answered
// again, status relayed and says why); undone, the pair is punched again after its
// hold-down, pings kept running across that promotion.
func TestPunchGrid(t *testing.T) {
	punchScenario(t, false)
}

// BenchmarkPunch runs TestPunchGrid's scenario once per iteration, each on a fresh
// lab, and reports medians over the iterations: the share of hidden pairs direct,
// network create → first pair punched both ways and → every pair on its expected
// path, the demotion time (ping loss at 10/s after the direct path broke), the
// undone break → punched again and the pings lost across that promotion, and TCP
// throughput of full→easy1 punched and relayed (iperf3, 3 s, 3 runs each, medians)
// with their ratio.
func BenchmarkPunch(b *testing.B) {
	m := map[string][]float64{}
	add := func(unit string, v float64) { m[unit] = append(m[unit], v) }
	for i := range b.N {
		f, mesh := punchScenario(b, true)
		// one lab at a time: a benchmark's cleanups run only after all its runs
		if err := lab.Down(context.Background(), mesh.Lab.Name()); err != nil {
			b.Fatal(err)
		}
		p, r := medianF(f.punchedMbit), medianF(f.relayedMbit)
		add("direct-share", float64(f.direct)/float64(f.pairs))
		add("s-first-punched", f.firstPunched.Seconds())
		add("s-all-on-path", f.allOnPath.Seconds())
		add("s-demotion", f.demotion.Seconds())
		add("s-repunched", f.repunched.Seconds())
		add("ms-lost-repunch", float64(f.repunchGap.Milliseconds()))
		if f.promoGap >= 0 {
			add("ms-lost-first-promotion", float64(f.promoGap.Milliseconds()))
		}
		add("Mbit/s-punched", p)
		add("Mbit/s-relayed", r)
		if r > 0 {
			add("punched/relayed", p/r)
		}
		b.Logf("run %d: first punched %s, all on their path %s, demotion %s, punched again %s (%s of pings lost), %.0f / %.0f Mbit/s punched / relayed (%v / %v), %s of pings lost across the first promotion",
			i+1, f.firstPunched.Round(10*time.Millisecond), f.allOnPath.Round(10*time.Millisecond), f.demotion, f.repunched,
			f.repunchGap, p, r, f.punchedMbit, f.relayedMbit, f.promoGap)
	}
	for unit, v := range m { // medians over the runs
		b.ReportMetric(medianF(v), unit)
	}
}

// expectedPath is a hidden pair's path class from its NAT types.
func expectedPath(a, b string) (plan.Path, error) {
	if strings.HasPrefix(a, "easy") && strings.HasPrefix(b, "easy") {
		return plan.PathSameLAN, nil
	}
	v, err := nat.Punchable(punchTypes[a], punchTypes[b])
	if err != nil || !v.Possible {
		return plan.PathRelayed, err
	}
	return plan.PathPunched, nil
}

func punchScenario(tb testing.TB, measure bool) (punchFigures, *scenario.Mesh) {
	m := upMeshOpts(tb, lab.NATSpec(), lab.Options{PublicConfigs: true})
	ctx := context.Background()
	nodes := scenario.Names(m.Lab.Spec())
	var hidden []string
	for _, n := range nodes {
		if _, ok := punchTypes[n]; ok {
			hidden = append(hidden, n)
		}
	}
	var f punchFigures
	start := time.Now()
	n, err := m.CreateNetwork(ctx, "punch", "10.120.0.0/16", nodes)
	if err != nil {
		tb.Fatal(err)
	}
	// status watched from create on (every 200 ms), beside booting the workloads:
	// when the first punchable pair is punched both ways, and when every pair is on
	// its expected path
	wctx, stopWatch := context.WithTimeout(ctx, 180*time.Second)
	defer stopWatch()
	onPath := make(chan error, 1)
	go func() {
		onPath <- scenario.Poll(wctx, 180*time.Second, func() error {
			st, err := m.Status(wctx, n.ID)
			if err != nil {
				return err
			}
			if f.firstPunched == 0 && firstPunchedBothWays(st) {
				f.firstPunched = time.Since(start)
			}
			if err := offPath(st, len(hidden)); err != nil {
				return err
			}
			f.allOnPath = time.Since(start)
			return nil
		})
	}()
	if _, err := m.WaitUp(ctx, n.ID, len(nodes), 120*time.Second); err != nil {
		tb.Fatalf("network did not come up: %v", err)
	}
	ws, err := m.AddWorkloads(ctx, n.ID, nodes)
	if err != nil {
		tb.Fatal(err)
	}
	wl := map[string]scenario.Workload{}
	for _, w := range ws {
		wl[w.Node] = w
	}
	// traffic across easy1→full's promotion, if it is not punched yet: a ping every
	// promoEvery until every pair is on its path
	promo := bgPing(ctx, m, wl["easy1"], wl["full"], promoEvery)
	early := false // easy1↔full punched both ways before the pings began
	if st, err := m.Status(ctx, n.ID); err == nil {
		p, ok1 := pairOf(st, "easy1", "full")
		q, ok2 := pairOf(st, "full", "easy1")
		early = ok1 && ok2 && p.Path == plan.PathPunched && q.Path == plan.PathPunched
	}
	if err := <-onPath; err != nil {
		tb.Fatalf("path classes: %v", err)
	}
	time.Sleep(time.Second) // a few pings over the paths as they are now
	sent, got := promo()
	f.promoGap = time.Duration(sent-got) * promoEvery
	if early {
		f.promoGap = -1 // what was lost is not a promotion's
	}
	if got == 0 {
		tb.Errorf("easy1→full: none of %d pings across the promotion answered", sent)
	}
	tb.Logf("every pair on its expected path %s after create (first punched %s); easy1→full lost %d of %d pings (every %s) meanwhile (punched before they began: %v)",
		f.allOnPath.Round(10*time.Millisecond), f.firstPunched.Round(10*time.Millisecond), sent-got, sent, promoEvery, early)
	f.pairs, f.direct = punchPathChecks(tb, m, n.ID, hidden, wl)
	if measure {
		f.punchedMbit = punchIperf(tb, m, wl["full"], wl["easy1"], 3)
	}
	f.demotion = punchBreak(tb, m, n.ID, wl)
	if measure {
		f.relayedMbit = punchIperf(tb, m, wl["full"], wl["easy1"], 3)
	}
	f.repunched, f.repunchGap = punchHeal(tb, m, n.ID, wl)
	return f, m
}

// firstPunchedBothWays reports whether a pair expected punched is punched both ways.
func firstPunchedBothWays(st plan.NetworkStatus) bool {
	for _, p := range st.Pairs {
		if want, err := expectedPath(p.From, p.To); err != nil || want != plan.PathPunched || p.Path != plan.PathPunched ||
			punchTypes[p.From] == "" || punchTypes[p.To] == "" {
			continue
		}
		if q, ok := pairOf(st, p.To, p.From); ok && q.Path == plan.PathPunched {
			return true
		}
	}
	return false
}

// offPath says which ordered pairs of hidden members st has off their expected path,
// or that st does not list all of them yet (right after create, status lists only
// members that reported); nil when every pair is on its path.
func offPath(st plan.NetworkStatus, hidden int) error {
	var wrong []string
	seen := 0
	for _, p := range st.Pairs {
		if punchTypes[p.From] == "" || punchTypes[p.To] == "" {
			continue
		}
		seen++
		want, err := expectedPath(p.From, p.To)
		if err != nil {
			return err
		}
		if p.Path != want {
			wrong = append(wrong, fmt.Sprintf("%s→%s %s (want %s; %s)", p.From, p.To, p.Path, want, p.NotPunched))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%d pairs not on their path: %s", len(wrong), strings.Join(wrong, "; "))
	}
	if want := hidden * (hidden - 1); seen != want {
		return fmt.Errorf("%d of the %d ordered pairs of hidden members in status yet", seen, want)
	}
	return nil
}

// punchPathChecks checks where the hidden pairs' packets go (punchRelayCheck) and
// what status says of the relayed ones (punchStatusWhy), while it watches status
// (every 500 ms) for a pair that leaves its path after every pair reached it. Such a
// pair is the product at work, not a fault: a direct path that stops answering goes
// back on the relay and is tried again after its hold-down (CI saw it once, a freshly
// punched easy1↔addr that never answered a probe; both sides demoted it 2.5 s later
// and punched it again 11 s after that). Then, and only then, a failed check is
// repeated once after every pair is back on its path (within 60 s); the pairs that
// left and why are logged. It returns the hidden pairs and those direct.
func punchPathChecks(tb testing.TB, m *scenario.Mesh, netID string, hidden []string, wl map[string]scenario.Workload) (pairs, direct int) {
	ctx := context.Background()
	wctx, stop := context.WithCancel(ctx)
	left := make(chan []string, 1)
	go func() {
		var seen []string
		for wctx.Err() == nil {
			if st, err := m.Status(wctx, netID); err == nil {
				if err := offPath(st, len(hidden)); err != nil && !slices.Contains(seen, err.Error()) {
					seen = append(seen, err.Error())
				}
			}
			select {
			case <-wctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
		left <- seen
	}()
	pairs, direct, problems := punchRelayCheck(tb, m, netID, hidden, wl)
	problems = append(problems, punchStatusWhy(tb, m, netID, len(hidden))...)
	stop()
	if seen := <-left; len(problems) > 0 && len(seen) > 0 {
		tb.Logf("path checks failed (%s) while pairs left their path after reaching it (%s): checking again once every pair is back on its path",
			strings.Join(problems, "; "), strings.Join(seen, " | "))
		back := time.Now()
		err := scenario.Poll(ctx, 60*time.Second, func() error {
			st, err := m.Status(ctx, netID)
			if err != nil {
				return err
			}
			return offPath(st, len(hidden))
		})
		if err != nil {
			tb.Fatalf("pairs did not come back on their path: %v", err)
		}
		tb.Logf("every pair back on its path %s later", since(back))
		pairs, direct, problems = punchRelayCheck(tb, m, netID, hidden, wl)
		problems = append(problems, punchStatusWhy(tb, m, netID, len(hidden))...)
	} else if len(seen) > 0 {
		tb.Logf("pairs left their path after reaching it, the path checks passed regardless: %s", strings.Join(seen, " | "))
	}
	for _, p := range problems {
		tb.Error(p)
	}
	return pairs, direct
}

// punchRelayCheck sends big pings over every hidden pair and checks, on the relays'
// forward counters, that punched and LAN pairs cross no relay and relayed ones do; it
// returns what it found wrong.
func punchRelayCheck(tb testing.TB, m *scenario.Mesh, netID string, hidden []string, wl map[string]scenario.Workload) (pairs, direct int, problems []string) {
	ns := resource.NamesOf(netID)
	match := fmt.Sprintf(`iifname %q oifname %q meta length > 1000`, ns.WG, ns.WG)
	c1, c2 := nftCounter(tb, m, "farm1", ns.NS, match), nftCounter(tb, m, "farm2", ns.NS, match)
	ctx := context.Background()
	for i, a := range hidden {
		for _, b := range hidden[i+1:] {
			pairs++
			want, err := expectedPath(a, b)
			if err != nil {
				tb.Fatal(err)
			}
			before := c1() + c2()
			okN, err := bigPings(ctx, m, wl[a], wl[b], 10)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s→%s: %v", a, b, err))
				continue
			}
			relayed := c1() + c2() - before
			switch {
			case want == plan.PathRelayed && relayed < 2*okN:
				problems = append(problems, fmt.Sprintf("%s↔%s (%s × %s) is relayed, but the relays forwarded %d big packets of %d answered pings", a, b, punchTypes[a], punchTypes[b], relayed, okN))
			case want != plan.PathRelayed && relayed != 0:
				problems = append(problems, fmt.Sprintf("%s↔%s (%s × %s) is %s, but the relays forwarded %d big packets", a, b, punchTypes[a], punchTypes[b], want, relayed))
			}
			if want != plan.PathRelayed {
				direct++
			}
		}
	}
	return pairs, direct, problems
}

// punchStatusWhy: every hidden pair is on its path in status, and every relayed one
// says why it is not punched, naming the symmetric side's mapping; it returns what it
// found wrong.
func punchStatusWhy(tb testing.TB, m *scenario.Mesh, netID string, hidden int) []string {
	st, err := m.Status(context.Background(), netID)
	if err != nil {
		tb.Fatal(err)
	}
	var problems []string
	if err := offPath(st, hidden); err != nil {
		problems = append(problems, err.Error())
	}
	for _, p := range st.Pairs {
		if p.Path == plan.PathRelayed && punchTypes[p.From] != "" && punchTypes[p.To] != "" &&
			!strings.Contains(p.NotPunched, "endpoint-dependent") {
			problems = append(problems, fmt.Sprintf("%s→%s relayed, why: %q; want the NAT seen (hard's endpoint-dependent mapping)", p.From, p.To, p.NotPunched))
		}
	}
	return problems
}

// punchBreak drops UDP between fullgw and easygw (the full↔easy1 direct path; the
// relays stay reachable) while full pings easy1 10 times a second, and returns how long
// the pings went unanswered. It checks full↔easy1 is relayed again afterwards, in
// status and by answered pings.
func punchBreak(tb testing.TB, m *scenario.Mesh, netID string, wl map[string]scenario.Workload) time.Duration {
	ctx := context.Background()
	rules := "table inet punchbrk {\n chain udpdrop {\n type filter hook forward priority -20; policy accept;\n" +
		" ip saddr 198.51.100.11 meta l4proto udp drop\n ip daddr 198.51.100.11 meta l4proto udp drop\n }\n}\n"
	ping := bgPing(ctx, m, wl["full"], wl["easy1"], 100*time.Millisecond)
	time.Sleep(2 * time.Second) // pings flowing over the punched path first
	cmd, err := m.Lab.Command(ctx, "fullgw", "nft", "-f", "-")
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("fullgw: nft: %v: %s", err, out)
	}
	tb.Cleanup(func() { m.Run(context.Background(), "fullgw", "nft", "delete", "table", "inet", "punchbrk") })
	broke := time.Now()
	err = scenario.Poll(ctx, 60*time.Second, func() error {
		st, err := m.Status(ctx, netID)
		if err != nil {
			return err
		}
		for _, pr := range [][2]string{{"full", "easy1"}, {"easy1", "full"}} {
			if p, ok := pairOf(st, pr[0], pr[1]); !ok || p.Path != plan.PathRelayed || p.NotPunched == "" {
				return fmt.Errorf("%s→%s: %+v", pr[0], pr[1], p)
			}
		}
		return nil
	})
	if err != nil {
		tb.Errorf("full↔easy1 not back on the relay after the break: %v", err)
	}
	time.Sleep(2 * time.Second) // pings answered over the relay again
	sent, got := ping()
	lost := sent - got
	tb.Logf("direct path broken: %d of %d pings lost (%s at 10/s), status relayed %s after the break", lost, sent, time.Duration(lost)*100*time.Millisecond, since(broke))
	if err := m.Ping(ctx, wl["full"], wl["easy1"].IPv4.Addr(), 10); err != nil {
		tb.Errorf("full→easy1 over the relay: %v", err)
	}
	return time.Duration(lost) * 100 * time.Millisecond
}

// punchHeal undoes punchBreak while full pings easy1 every promoEvery, waits until
// full↔easy1 is punched again both ways (after its hold-down) and returns how long
// that took and the pings lost across the promotion × promoEvery (none may be lost
// beyond a hiccup: the relay carries the pair until the direct path has a fresh
// handshake). Big pings then cross no relay.
func punchHeal(tb testing.TB, m *scenario.Mesh, netID string, wl map[string]scenario.Workload) (time.Duration, time.Duration) {
	ctx := context.Background()
	ping := bgPing(ctx, m, wl["full"], wl["easy1"], promoEvery)
	time.Sleep(time.Second) // pings flowing over the relay first
	if _, err := m.Run(ctx, "fullgw", "nft", "delete", "table", "inet", "punchbrk"); err != nil {
		tb.Fatalf("fullgw: undo the break: %v", err)
	}
	healed := time.Now()
	err := scenario.Poll(ctx, 90*time.Second, func() error {
		st, err := m.Status(ctx, netID)
		if err != nil {
			return err
		}
		for _, pr := range [][2]string{{"full", "easy1"}, {"easy1", "full"}} {
			if p, ok := pairOf(st, pr[0], pr[1]); !ok || p.Path != plan.PathPunched {
				return fmt.Errorf("%s→%s: %s (%s)", pr[0], pr[1], p.Path, p.NotPunched)
			}
		}
		return nil
	})
	took := since(healed)
	time.Sleep(2 * time.Second) // pings answered over the punched path
	sent, got := ping()
	if err != nil {
		tb.Errorf("full↔easy1 not punched again after the break was undone: %v", err)
		return took, time.Duration(sent-got) * promoEvery
	}
	tb.Logf("break undone: full↔easy1 punched again %s later; %d of %d pings (every %s) lost meanwhile", took, sent-got, sent, promoEvery)
	if got < sent/2 {
		tb.Errorf("full→easy1: only %d of %d pings answered across the second promotion", got, sent)
	}
	ns := resource.NamesOf(netID)
	match := fmt.Sprintf(`iifname %q oifname %q meta length > 1000`, ns.WG, ns.WG)
	c1, c2 := nftCounter(tb, m, "farm1", ns.NS, match), nftCounter(tb, m, "farm2", ns.NS, match)
	before := c1() + c2()
	okN, err := bigPings(ctx, m, wl["full"], wl["easy1"], 10)
	if err != nil || okN == 0 {
		tb.Errorf("full→easy1 big pings after the second promotion: %d answered, %v", okN, err)
	}
	if relayed := c1() + c2() - before; relayed != 0 {
		tb.Errorf("full↔easy1 punched again, but the relays forwarded %d big packets", relayed)
	}
	return took, time.Duration(sent-got) * promoEvery
}

// bgPing pings b from a every interval in the background; the returned function stops
// it and returns how many were sent and answered.
func bgPing(ctx context.Context, m *scenario.Mesh, a, b scenario.Workload, every time.Duration) func() (sent, got int) {
	// -w: never outlives the test by long, even if nobody stops it
	cmd, err := m.Lab.Command(ctx, a.Node, "ip", "netns", "exec", a.Netns, "ping", "-n", "-q", "-i", strconv.FormatFloat(every.Seconds(), 'f', 3, 64),
		"-W", "1", "-w", "600", b.IPv4.Addr().String())
	if err != nil {
		return func() (int, int) { return 0, 0 }
	}
	var out strings.Builder
	cmd.Stdout = &out
	// nsenter dies of SIGINT without passing it on, leaving ping running with the
	// output pipe open (Wait would block): signal ping through its process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return func() (int, int) { return 0, 0 }
	}
	return func() (int, int) {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		cmd.Wait()
		mm := pingSummary.FindStringSubmatch(out.String())
		if mm == nil {
			return 0, 0
		}
		s, _ := strconv.Atoi(mm[1])
		g, _ := strconv.Atoi(mm[2])
		return s, g
	}
}

// punchIperf runs iperf3 (TCP, one stream, 3 s) from a's workload to b's runs times
// and returns the receiver's Mbit/s of each.
func punchIperf(tb testing.TB, m *scenario.Mesh, a, b scenario.Workload, runs int) []float64 {
	ctx := context.Background()
	var out []float64
	for range runs {
		if _, err := m.Run(ctx, b.Node, "ip", "netns", "exec", b.Netns, "iperf3", "-s", "-1", "-D", "-p", "5302"); err != nil {
			tb.Fatalf("iperf3 server: %v", err)
		}
		var mbit float64
		err := scenario.Poll(ctx, 20*time.Second, func() error {
			b, err := m.Run(ctx, a.Node, "ip", "netns", "exec", a.Netns, "iperf3", "-c", b.IPv4.Addr().String(), "-p", "5302", "-t", "3", "--connect-timeout", "2000", "-J")
			if err != nil {
				return err
			}
			mbit, err = iperfMbit(b)
			return err
		})
		if err != nil {
			tb.Fatalf("iperf3 %s→%s: %v", a.Node, b.Node, err)
		}
		out = append(out, mbit)
	}
	return out
}
