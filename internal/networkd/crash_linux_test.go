package networkd_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/testkit"
)

// A peer-only update under a running ping loses nothing for the peer that stays.
func TestPeerUpdateUnderPing(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := newNode(t), newNode(t)
	wire(t, a, b, 1500)
	a.start(t)
	b.start(t)
	na, _ := meshPair(t, a, b, "net1")
	wa, wb := addWL(t, a, "net1", "wa"), addWL(t, b, "net1", "wb")
	wlA := filepath.Join(a.netnsDir(), wa.Netns)
	pollPing(t, wlA, wb.IPv4.Addr(), 10*time.Second)
	if wns, err := netns.Open(wlA); err == nil {
		wns.Do(func() error { testkit.RefuseInit(t); return nil })
		wns.Close()
	}
	cmd := exec.Command("nsenter", "--net="+wlA, "ping", "-n", "-q", "-i", "0.02", "-c", "150", "-W", "1", wb.IPv4.Addr().String())
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base := na.Spec
	for i := 0; i < 10; i++ { // add and remove other peers while the ping runs
		s := base
		k, _ := wgtypes.GeneratePrivateKey()
		s.Peers = append(slices.Clone(base.Peers), nodeapi.Peer{PublicKey: k.PublicKey().String(),
			Endpoint: "10.99.0.3:5000", AllowedIPs: []netip.Prefix{pfx(fmt.Sprintf("10.1.%d.0/24", 10+i))}})
		if _, err := a.cl.PutNR(bg, s); err != nil {
			t.Fatal(err)
		}
		if _, err := a.cl.PutNR(bg, base); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ping during peer updates: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), " 0% packet loss") {
		t.Fatalf("loss during peer-only updates:\n%s", out.String())
	}
}

// kill -9 networkd at random moments during creates, updates and deletes; after each
// restart every change networkd acknowledged is there (a write in flight at the kill
// may or may not be), the kernel converges to it, and at the end nothing leaks.
func TestCrashLoop(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	n := newNode(t)
	rng := rand.New(rand.NewPCG(1, testkit.Seed(t)))
	told := newLedger()
	const rounds = 20
	for r := 0; r < rounds; r++ {
		n.startProc(t)
		if r > 0 {
			told.check(t, n.cl)
			converged(t, n)
		}
		var wg sync.WaitGroup
		ctx, cancel := context.WithCancel(bg)
		seed := rng.Uint64()
		wg.Add(1)
		go func() { defer wg.Done(); churn(ctx, n, seed, told) }()
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // the random moment of the crash
		n.kill(t)
		cancel()
		wg.Wait()
	}
	n.startProc(t)
	told.check(t, n.cl)
	converged(t, n)
	nrs, _ := n.cl.ListNRs(bg)
	t.Logf("%d rounds; %d NRs at the end; %d acknowledged writes checked", rounds, len(nrs), told.acks)
	for _, nr := range nrs {
		if err := n.cl.DeleteNR(bg, nr.Spec.NetworkID); err != nil {
			t.Fatal(err)
		}
	}
	converged(t, n)
	n.term(t)
	if names, _ := netns.List(n.netnsDir()); len(names) != 0 {
		t.Fatalf("namespaces left: %v", names)
	}
}

// churn creates, updates and deletes NRs net0..net5 until ctx ends or the daemon dies,
// and records in told (nil: nowhere) what networkd acknowledged and what was in flight.
func churn(ctx context.Context, n *node, seed uint64, told *ledger) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for ctx.Err() == nil {
		i := rng.IntN(6)
		id := fmt.Sprintf("net%d", i)
		var err error
		var keys []string // nil: deleted
		if rng.IntN(4) == 0 {
			err = n.cl.DeleteNR(ctx, id)
		} else {
			s := spec(id, fmt.Sprintf("10.1.%d.0/24", i))
			keys = []string{}
			for j := 0; j < rng.IntN(3); j++ {
				k, _ := wgtypes.GeneratePrivateKey()
				keys = append(keys, k.PublicKey().String())
				s.Peers = append(s.Peers, nodeapi.Peer{PublicKey: k.PublicKey().String(), Endpoint: "10.99.0.9:5000",
					AllowedIPs: []netip.Prefix{pfx(fmt.Sprintf("10.1.%d.0/24", 100+j))}})
			}
			_, err = n.cl.PutNR(ctx, s)
		}
		refused := err != nil && strings.Contains(err.Error(), "connection refused")
		if told != nil && !refused {
			told.record(id, keys, err == nil)
		}
		if refused && ctx.Err() == nil {
			return
		}
	}
}

// ledger is what the client was told: per NR, the peer keys of the last acknowledged
// write (nil: deleted or never made) and the writes sent since without an answer (the
// daemon died under them: each may or may not have landed). Safe for concurrent use.
type ledger struct {
	mu    sync.Mutex
	acked map[string][]string
	maybe map[string][][]string
	acks  int
}

func newLedger() *ledger {
	return &ledger{acked: map[string][]string{}, maybe: map[string][][]string{}}
}

func (l *ledger) record(id string, keys []string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ok {
		l.acked[id], l.maybe[id] = keys, nil
		l.acks++
		return
	}
	l.maybe[id] = append(l.maybe[id], keys)
}

// check compares the restarted daemon's NRs with the ledger: each is the acknowledged
// state or one of the unanswered writes; the one found becomes the acknowledged state.
func (l *ledger) check(t *testing.T, cl *localapi.Client) {
	t.Helper()
	nrs, err := cl.ListNRs(bg)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string][]string{}
	for _, nr := range nrs {
		keys := []string{}
		for _, p := range nr.Spec.Peers {
			keys = append(keys, p.PublicKey)
		}
		have[nr.Spec.NetworkID] = keys
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range 6 {
		id := fmt.Sprintf("net%d", i)
		got := have[id]
		ok := sameKeys(got, l.acked[id])
		for _, m := range l.maybe[id] {
			ok = ok || sameKeys(got, m)
		}
		if !ok {
			var flight []string
			for _, m := range l.maybe[id] {
				flight = append(flight, nrDesc(m))
			}
			t.Errorf("after kill -9 and restart, %s is %s; the client was told %s (in flight: %v)",
				id, nrDesc(got), nrDesc(l.acked[id]), flight)
		}
		l.acked[id], l.maybe[id] = got, nil
	}
}

// nrDesc describes a ledger entry: absent, or an NR with its peer keys.
func nrDesc(keys []string) string {
	if keys == nil {
		return "absent"
	}
	return fmt.Sprintf("an NR with peers %v", keys)
}

func sameKeys(a, b []string) bool {
	return (a == nil) == (b == nil) && slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

var ourLink = regexp.MustCompile(`^[bvw]-[a-z0-9]+$`)

// converged polls until the kernel matches the desired state of the running daemon.
func converged(t *testing.T, n *node) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		diff := kernelDiff(t, n)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kernel did not converge: %s", diff)
		}
		time.Sleep(50 * time.Millisecond) // polling for the resync, bounded by the deadline
	}
}

func kernelDiff(t *testing.T, n *node) string {
	nrs, err := n.cl.ListNRs(bg)
	if err != nil {
		return err.Error()
	}
	var want, wantNS []string
	routes := map[string]int{}
	for _, nr := range nrs {
		id := nr.Spec.NetworkID
		want = append(want, "b-"+id, "v-"+id)
		wantNS = append(wantNS, "n-"+id)
		routes[id] = len(nr.Spec.Routes())
		if nr.Status.State != "ok" {
			return fmt.Sprintf("nr %s state %s: %s", id, nr.Status.State, nr.Status.LastError)
		}
	}
	var have []string
	links, _ := handle(t, n.host).LinkList()
	for _, l := range links {
		if name := l.Attrs().Name; ourLink.MatchString(name) {
			have = append(have, name)
		}
	}
	names, _ := netns.List(n.netnsDir())
	sort.Strings(want)
	sort.Strings(have)
	sort.Strings(wantNS)
	sort.Strings(names)
	if !slices.Equal(want, have) || !slices.Equal(wantNS, names) {
		return fmt.Sprintf("host links %v want %v; namespaces %v want %v", have, want, names, wantNS)
	}
	for _, nr := range nrs {
		if d := nrDiff(t, n, nr.Spec.NetworkID, routes[nr.Spec.NetworkID]); d != "" {
			return d
		}
	}
	return ""
}

func nrDiff(t *testing.T, n *node, id string, nroutes int) string {
	ns, err := netns.OpenNamed(n.netnsDir(), "n-"+id)
	if err != nil {
		return err.Error()
	}
	defer ns.Close()
	h := handle(t, ns)
	l, err := h.LinkByName("w-" + id)
	if err != nil {
		return fmt.Sprintf("n-%s: no w-%s", id, id)
	}
	rs, _ := h.RouteList(l, 0)
	got := 0
	for _, r := range rs {
		if r.Protocol == resource.RouteProto {
			got++
		}
	}
	if got != nroutes {
		return fmt.Sprintf("n-%s: %d routes, want %d", id, got, nroutes)
	}
	return ""
}
