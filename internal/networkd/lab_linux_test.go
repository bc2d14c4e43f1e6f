package networkd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// labNode is a networkd running inside a lab node (its own net, mount and PID
// namespaces, private /run/netns), reached through a socket in the test's directory.
type labNode struct {
	name string
	dir  string
	cl   *localapi.Client
	cmd  *exec.Cmd
	oob  netip.Addr
}

func upLab(t testing.TB) *lab.Lab {
	t.Helper()
	return upLabNamed(t, "nd")
}

// upLabNamed brings up the default lab under a unique name with the given prefix.
func upLabNamed(t testing.TB, prefix string) *lab.Lab {
	t.Helper()
	name := testkit.Name(prefix)
	l, err := lab.Up(bg, lab.DefaultSpec(), lab.Options{Name: name})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), name); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// startLabNode gives the node's OOB NIC a DHCP lease (netinit's job, done by the lab's
// plain client here) and starts networkd in the node.
func startLabNode(t testing.TB, l *lab.Lab, name string) *labNode {
	t.Helper()
	a, _, err := l.Lease(bg, name, "eth0", 20*time.Second)
	if err != nil {
		t.Fatalf("%s: lease: %v", name, err)
	}
	n := &labNode{name: name, dir: filepath.Join(t.TempDir(), name), oob: a.Addr()}
	os.Chmod(filepath.Dir(n.dir), 0o755)
	os.MkdirAll(n.dir, 0o755)
	n.cl = localapi.NewClient(filepath.Join(n.dir, "nd.sock"))
	n.start(t, l)
	t.Cleanup(func() { killTreeWait(t, n.cmd) })
	return n
}

func (n *labNode) start(t testing.TB, l *lab.Lab) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := l.Command(bg, n.name, exe, "-test.run=^$")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(cmd.Env, "ZOSNET_TEST_NETWORKD="+n.dir, "ZOSNET_TEST_NETNS_DIR=/run/netns", "ZOSNET_TEST_RESYNC=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := n.cl.Status(bg); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s: networkd did not come up: %v", n.name, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the socket, bounded by the deadline
	}
}

// wlPing pings dst from workload namespace wl inside the node (lab traffic stays in the
// lab: the command runs in the node's namespaces, never the host's).
func wlPing(l *lab.Lab, node, wl string, dst netip.Addr) error {
	cmd, err := l.Command(bg, node, "nsenter", "--net=/run/netns/"+wl, "ping", "-c1", "-W1", "-n", dst.String())
	if err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s/%s: ping %s: %w: %s", node, wl, dst, err, out)
	}
	return nil
}

func pollWLPing(t testing.TB, l *lab.Lab, node, wl string, dst netip.Addr, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := wlPing(l, node, wl, dst)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}

func put(t testing.TB, n *labNode, s nodeapi.NRSpec) nodeapi.NR {
	t.Helper()
	nr, err := n.cl.PutNR(bg, s)
	if err != nil {
		t.Fatalf("%s: put %s: %v", n.name, s.NetworkID, err)
	}
	return nr
}

func endpoint(n *labNode, nr nodeapi.NR) string {
	return netip.AddrPortFrom(n.oob, nr.Status.ListenPort).String()
}

// Two farm nodes ping each other's workloads through the tunnel over the OOB segment;
// farm3, planned as a hidden peer (keepalive, no endpoint for it on farm1), reaches
// farm1 and is reachable once it has spoken, and reaches farm2 through farm1 (relay).
// Then a kill -9 of farm1's networkd and a restart: the tunnels pass traffic again.
func TestLabTwoNodesAndHiddenPeer(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t)
	f1, f2, f3 := startLabNode(t, l, "farm1"), startLabNode(t, l, "farm2"), startLabNode(t, l, "farm3")
	const id = "lab1"
	s1, s2, s3 := spec(id, "10.1.1.0/24"), spec(id, "10.1.2.0/24"), spec(id, "10.1.3.0/24")
	n1, n2, n3 := put(t, f1, s1), put(t, f2, s2), put(t, f3, s3)
	peer := func(nr nodeapi.NR, ep string, keepalive int, allowed ...string) nodeapi.Peer {
		p := nodeapi.Peer{PublicKey: nr.Status.PublicKey, Endpoint: ep, PersistentKeepalive: keepalive}
		for _, a := range allowed {
			p.AllowedIPs = append(p.AllowedIPs, pfx(a))
		}
		return p
	}
	s1.Peers = []nodeapi.Peer{peer(n2, endpoint(f2, n2), 0, "10.1.2.0/24"), peer(n3, "", 0, "10.1.3.0/24")}
	s2.Peers = []nodeapi.Peer{peer(n1, endpoint(f1, n1), 0, "10.1.1.0/24", "10.1.3.0/24")}
	s3.Peers = []nodeapi.Peer{peer(n1, endpoint(f1, n1), 25, "10.1.1.0/24", "10.1.2.0/24")}
	put(t, f1, s1)
	put(t, f2, s2)
	put(t, f3, s3)
	w := map[string]nodeapi.Workload{}
	for _, x := range []struct {
		n    *labNode
		name string
	}{{f1, "w1"}, {f2, "w2"}, {f3, "w3"}} {
		wl, err := x.n.cl.AddWorkload(bg, nodeapi.WorkloadSpec{Name: x.name, NetworkID: id})
		if err != nil {
			t.Fatal(err)
		}
		w[x.name] = wl
	}
	pollWLPing(t, l, "farm1", "wl-w1", w["w2"].IPv4.Addr(), 10*time.Second)
	pollWLPing(t, l, "farm2", "wl-w2", w["w1"].IPv6.Addr(), 5*time.Second)
	pollWLPing(t, l, "farm3", "wl-w3", w["w1"].IPv4.Addr(), 10*time.Second) // hidden speaks first
	pollWLPing(t, l, "farm1", "wl-w1", w["w3"].IPv4.Addr(), 5*time.Second)
	pollWLPing(t, l, "farm2", "wl-w2", w["w3"].IPv4.Addr(), 5*time.Second) // relayed by farm1
	got, err := f1.cl.GetNR(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got.Status.Peers {
		if p.LatestHandshake == nil || p.Endpoint == "" {
			t.Errorf("farm1 peer %s: no handshake or endpoint: %+v", p.PublicKey, p)
		}
	}

	peerUpdatesUnderPing(t, l, f1, s1, w["w1"].IPv4.Addr())

	// kill -9 farm1's networkd: its userspace tunnel dies with it; a restart re-applies
	// the persisted state (same key and port), and traffic flows again.
	killTreeWait(t, f1.cmd)
	if err := wlPing(l, "farm2", "wl-w2", w["w1"].IPv4.Addr()); err == nil {
		t.Fatal("ping passed with farm1's networkd killed")
	}
	restarted := time.Now()
	f1.start(t, l)
	pollWLPing(t, l, "farm1", "wl-w1", w["w2"].IPv4.Addr(), 10*time.Second)
	pollWLPing(t, l, "farm1", "wl-w1", w["w3"].IPv4.Addr(), 30*time.Second)
	again, err := f1.cl.GetNR(bg, id)
	if err != nil || again.Status.PublicKey != n1.Status.PublicKey || again.Status.ListenPort != n1.Status.ListenPort {
		t.Fatalf("after restart: %+v %v", again.Status, err)
	}
	// farm2 saw the restarted device: its key handshaking, from its saved port
	liveKeyAndPort(t, f2.cl, id, n1.Status.PublicKey, endpoint(f1, n1), restarted)
	if !strings.Contains(again.Status.WGKind, "userspace") {
		t.Errorf("wg kind %q", again.Status.WGKind)
	}
}

// peerUpdatesUnderPing pings farm1's workload from farm2's while farm1's NR gets
// peer-only updates (a peer added and removed ten times): no packet may be lost.
func peerUpdatesUnderPing(t testing.TB, l *lab.Lab, f1 *labNode, base nodeapi.NRSpec, dst netip.Addr) {
	t.Helper()
	cmd, err := l.Command(bg, "farm2", "nsenter", "--net=/run/netns/wl-w2", "ping", "-n", "-q", "-i", "0.02", "-c", "150", "-W", "1", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		s := base
		k, _ := wgtypes.GeneratePrivateKey()
		s.Peers = append(slices.Clone(base.Peers), nodeapi.Peer{PublicKey: k.PublicKey().String(),
			Endpoint: "10.201.0.250:4000", AllowedIPs: []netip.Prefix{pfx(fmt.Sprintf("10.1.%d.0/24", 20+i))}})
		put(t, f1, s)
		put(t, f1, base)
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), " 0% packet loss") {
		t.Fatalf("ping during peer-only updates: %v\n%s", err, out.String())
	}
}

// killTreeWait is killTree, then waits (bounded) until the daemon is gone: a networkd
// with many userspace tunnels takes seconds to close its TUNs on a busy machine, longer
// than the leak check allows once lab.Down has run.
func killTreeWait(t testing.TB, cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	killTree(cmd)
	deadline := time.Now().Add(30 * time.Second)
	for _, f := range strings.Fields(string(b)) {
		for {
			st, err := os.ReadFile("/proc/" + f + "/stat")
			if i := strings.LastIndexByte(string(st), ')'); err != nil || i < 0 || strings.HasPrefix(string(st[i+1:]), " Z") {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("networkd %s still running 30 s after SIGKILL", f)
				return
			}
			time.Sleep(20 * time.Millisecond) // the kernel is tearing the process down
		}
	}
}

// killTree SIGKILLs the daemon (nsenter's child: entering a PID namespace forks).
func killTree(cmd *exec.Cmd) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	for _, f := range strings.Fields(string(b)) {
		var pid int
		fmt.Sscan(f, &pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// BenchmarkLabThroughput measures TCP throughput (iperf3, one stream, 3 s)
// workload→workload across farm2 and farm1 of a lab (over the OOB segment: the switch
// namespace's bridge), against the same underlay bare (TCP between the two nodes),
// a bare wireguard-go tunnel between the same two nodes over the same underlay, and,
// off the lab, a bare wireguard-go tunnel between two namespaces and a bare veth; all
// in 5 interleaved rounds (medians and ratios). ratio-lab-nr/lab-bare-wg is the cost
// of networkd's plumbing around the tunnel.
func BenchmarkLabThroughput(b *testing.B) {
	testkit.RequireRoot(b)
	for i := 0; i < b.N; i++ {
		veth, bare := bareVeth(b), bareWG(b)
		l := upLabNamed(b, "pf")
		f1, f2 := startLabNode(b, l, "farm1"), startLabNode(b, l, "farm2")
		s1, s2 := spec("bench", "10.1.1.0/24"), spec("bench", "10.1.2.0/24")
		n1, n2 := put(b, f1, s1), put(b, f2, s2)
		s1.Peers = []nodeapi.Peer{{PublicKey: n2.Status.PublicKey, Endpoint: endpoint(f2, n2), AllowedIPs: []netip.Prefix{pfx("10.1.2.0/24")}}}
		s2.Peers = []nodeapi.Peer{{PublicKey: n1.Status.PublicKey, Endpoint: endpoint(f1, n1), AllowedIPs: []netip.Prefix{pfx("10.1.1.0/24")}}}
		put(b, f1, s1)
		put(b, f2, s2)
		w1, err1 := f1.cl.AddWorkload(bg, nodeapi.WorkloadSpec{Name: "w1", NetworkID: "bench"})
		_, err2 := f2.cl.AddWorkload(bg, nodeapi.WorkloadSpec{Name: "w2", NetworkID: "bench"})
		if err1 != nil || err2 != nil {
			b.Fatal(err1, err2)
		}
		pollWLPing(b, l, "farm2", "wl-w2", w1.IPv4.Addr(), 10*time.Second)
		lab := func() float64 { return labIperf(b, l, w1.IPv4.Addr()) }
		ns1, ns2 := nodeNS(b, l, "farm1"), nodeNS(b, l, "farm2")
		underlay := func() float64 { return iperf(b, ns2.Path(), ns1.Path(), f1.oob) }
		labWG1 := wgPair(b, ns2, ns1, f1.oob)
		labWG := labBareWG(b, l, ns2, f1.oob)
		reportRounds(b, map[string]func() float64{"veth": veth, "bare-wg": bare, "lab-underlay": underlay,
			"lab-bare-wg-1proc": labWG1, "lab-bare-wg": labWG, "lab-nr": lab}, "lab-nr")
	}
}

// nodeNS opens a lab node's network namespace (its holder's), closed at cleanup.
func nodeNS(b *testing.B, l *lab.Lab, node string) *netns.NS {
	ns, err := netns.Open(fmt.Sprintf("/proc/%d/ns/net", l.NodePID(node)))
	if err != nil {
		b.Fatalf("%s: %v", node, err)
	}
	b.Cleanup(func() { ns.Close() })
	return ns
}

// labBareWG runs a bare wireguard-go tunnel farm2→farm1 over the OOB segment, one
// process per node started like networkd (10.78.0.0/24: beside wgPair's); x is farm2's
// namespace, where the client runs.
func labBareWG(b *testing.B, l *lab.Lab, x *netns.NS, f1 netip.Addr) func() float64 {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	ex, ey := bareEnds(f1)
	ex.Name, ey.Name = "wgp", "wgp"
	ex.Port, ey.Port, ex.Endpoint = 6011, 6012, netip.AddrPortFrom(f1, 6012).String()
	ex.Addr, ex.Allowed, ey.Addr, ey.Allowed = "10.78.0.1/24", "10.78.0.2/32", "10.78.0.2/24", "10.78.0.1/32"
	for _, e := range []struct {
		node string
		end  bareEnd
	}{{"farm1", ey}, {"farm2", ex}} {
		js, _ := json.Marshal(e.end)
		cmd, err := l.Command(bg, e.node, exe, "-test.run=^$")
		if err != nil {
			b.Fatal(err)
		}
		cmd.Env = append(cmd.Env, "ZOSNET_TEST_BAREWG="+string(js))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { killTree(cmd) })
	}
	dst := netip.MustParseAddr("10.78.0.2")
	pollPing(b, x.Path(), dst, 10*time.Second)
	return func() float64 { return labNodeIperf(b, l, "farm2", "farm1", dst) }
}

// labNodeIperf serves iperf3 in node srv and runs the client in node cli (their own
// namespaces, entered like the daemons).
func labNodeIperf(b *testing.B, l *lab.Lab, cli, srv string, dst netip.Addr) float64 {
	s, err := l.Command(bg, srv, "iperf3", "-s", "-1", "-p", "5202")
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { killTree(s) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := l.Command(bg, cli, "iperf3", "-c", dst.String(), "-p", "5202", "-t", "3", "-J")
		if err != nil {
			b.Fatal(err)
		}
		out, err := c.Output()
		if g := gbits(out); err == nil && g > 0 {
			return g
		}
		if time.Now().After(deadline) {
			b.Fatalf("iperf3 %s→%s: %v: %s", cli, srv, err, out)
		}
		time.Sleep(50 * time.Millisecond) // the server is starting; bounded by the deadline
	}
}

// labIperf serves iperf3 in farm1's workload and runs the client in farm2's.
func labIperf(b *testing.B, l *lab.Lab, dst netip.Addr) float64 {
	srv, err := l.Command(bg, "farm1", "nsenter", "--net=/run/netns/wl-w1", "iperf3", "-s", "-1", "-p", "5201")
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { killTree(srv) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cli, err := l.Command(bg, "farm2", "nsenter", "--net=/run/netns/wl-w2", "iperf3", "-c", dst.String(), "-p", "5201", "-t", "3", "-J")
		if err != nil {
			b.Fatal(err)
		}
		out, err := cli.Output()
		if g := gbits(out); err == nil && g > 0 {
			return g
		}
		if time.Now().After(deadline) {
			b.Fatalf("iperf3 in the lab: %v: %s", err, out)
		}
		time.Sleep(50 * time.Millisecond) // the server is starting; bounded by the deadline
	}
}

// Restart with 50 NRs in the lab: farm1 and farm2 share 50 networks over the OOB
// segment; farm1's networkd is killed (-9) and restarted; every tunnel passes again.
func TestLabRestart50(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t)
	f1, f2 := startLabNode(t, l, "farm1"), startLabNode(t, l, "farm2")
	const count = 50
	for i := 0; i < count; i++ {
		id := fmt.Sprintf("n%d", i)
		s1, s2 := spec(id, "10.1.1.0/24"), spec(id, "10.1.2.0/24")
		n1, n2 := put(t, f1, s1), put(t, f2, s2)
		s1.Peers = []nodeapi.Peer{{PublicKey: n2.Status.PublicKey, Endpoint: endpoint(f2, n2), AllowedIPs: []netip.Prefix{pfx("10.1.2.0/24")}}}
		s2.Peers = []nodeapi.Peer{{PublicKey: n1.Status.PublicKey, Endpoint: endpoint(f1, n1), AllowedIPs: []netip.Prefix{pfx("10.1.1.0/24")}}}
		put(t, f2, s2)
		put(t, f1, s1)
	}
	allLabPass := func(within time.Duration) {
		for i := 0; i < count; i++ {
			pollWLPing(t, l, "farm1", fmt.Sprintf("n-n%d", i), netip.MustParseAddr("10.1.2.1"), within)
		}
	}
	allLabPass(10 * time.Second)
	killTreeWait(t, f1.cmd) // gone before the restart, as zinit restarts it: 50 TUNs close slowly
	start := time.Now()
	f1.start(t, l)
	up := time.Since(start)
	allLabPass(10 * time.Second)
	t.Logf("lab restart with %d NRs after kill -9: API up after %v, all tunnels pass after %v",
		count, up.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// kill -9 networkd in a lab node at random moments during creates, updates and deletes
// (20 rounds); after each restart the node's kernel converges to the desired state,
// and after deleting everything nothing of networkd is left in the node.
func TestLabCrashLoop(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t)
	f1 := startLabNode(t, l, "farm1")
	rng := rand.New(rand.NewPCG(2, testkit.Seed(t)))
	told := newLedger()
	for r := 0; r < 20; r++ {
		if r > 0 {
			f1.start(t, l)
			told.check(t, f1.cl)
			labConverged(t, l, f1)
		}
		ctx, cancel := context.WithCancel(bg)
		done := make(chan struct{})
		seed := rng.Uint64()
		go func() { churn(ctx, &node{cl: f1.cl}, seed, told); close(done) }()
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // the random moment of the crash
		killTreeWait(t, f1.cmd)
		cancel()
		<-done
	}
	f1.start(t, l)
	told.check(t, f1.cl)
	labConverged(t, l, f1)
	nrs, _ := f1.cl.ListNRs(bg)
	for _, nr := range nrs {
		if err := f1.cl.DeleteNR(bg, nr.Spec.NetworkID); err != nil {
			t.Fatal(err)
		}
	}
	labConverged(t, l, f1)
	if out := labNetns(t, l, "farm1"); strings.TrimSpace(out) != "" {
		t.Fatalf("namespaces left in farm1: %s", out)
	}
}

// labNetns lists the named network namespaces in node: none when /run/netns does not
// exist (it appears with the first one; a networkd killed before its first NR made
// none).
func labNetns(t *testing.T, l *lab.Lab, node string) string {
	t.Helper()
	return labOut(t, l, node, "sh", "-c", "if [ -d /run/netns ]; then ls /run/netns; fi")
}

func labOut(t *testing.T, l *lab.Lab, node string, argv ...string) string {
	t.Helper()
	cmd, err := l.Command(bg, node, argv...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.Output()
	if err != nil {
		return "error: " + err.Error()
	}
	return string(out)
}

// labConverged polls until farm1's kernel matches its networkd's desired state: one
// n-<id> namespace, b-<id> and v-<id> links per NR and nothing else of ours, a w-<id>
// link and the right number of tagged routes in each NR namespace.
func labConverged(t *testing.T, l *lab.Lab, n *labNode) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		diff := labDiff(t, l, n)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("farm1 did not converge: %s", diff)
		}
		time.Sleep(100 * time.Millisecond) // polling for the resync, bounded by the deadline
	}
}

func labDiff(t *testing.T, l *lab.Lab, n *labNode) string {
	nrs, err := n.cl.ListNRs(bg)
	if err != nil {
		return err.Error()
	}
	var want, wantNS []string
	for _, nr := range nrs {
		id := nr.Spec.NetworkID
		want = append(want, "b-"+id, "v-"+id)
		wantNS = append(wantNS, "n-"+id)
	}
	var have []string
	for _, line := range strings.Split(labOut(t, l, n.name, "ip", "-o", "link", "show"), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			if name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@"); ourLink.MatchString(name) {
				have = append(have, name)
			}
		}
	}
	names := strings.Fields(labNetns(t, l, n.name))
	slices.Sort(want)
	slices.Sort(have)
	slices.Sort(wantNS)
	slices.Sort(names)
	if !slices.Equal(want, have) || !slices.Equal(wantNS, names) {
		return fmt.Sprintf("links %v want %v; namespaces %v want %v", have, want, names, wantNS)
	}
	for _, nr := range nrs {
		id := nr.Spec.NetworkID
		routes := len(strings.Fields(labOut(t, l, n.name, "sh", "-c",
			"{ ip -n n-"+id+" route show proto 90; ip -6 -n n-"+id+" route show proto 90; } | cut -d' ' -f1")))
		if routes != len(nr.Spec.Routes()) || !strings.Contains(labOut(t, l, n.name, "ip", "-n", "n-"+id, "link", "show", "w-"+id), "w-"+id) {
			return fmt.Sprintf("n-%s: %d routes (want %d) or no w-%s", id, routes, len(nr.Spec.Routes()), id)
		}
	}
	return ""
}
