package provision

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "net/http/pprof" // ZOSNET_SIM_PPROF

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
	"github.com/zosnet/zosnet/internal/nodeagent"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// The control-plane simulator (issue 13): N simulated nodes in this process, each
// running the real provisiond logic (Provisioner, with nodeagent's Agent and Watcher)
// against a real registry process over HTTP on loopback; only networkd is a fake
// (simND) that records the specs it is given, and the prober is silent. The registry
// runs as its own process (bin built from cmd/registry), so its CPU time and memory are
// read from /proc. Run with:
//
//	ZOSNET_SIM_NODES=1000 ZOSNET_SIM_MEMBERS=100 go test -run '^$' -bench Sim -benchtime 1x ./internal/provision/
//
// Defaults: 200 nodes, a network of 50 members (a short run for CI-sized machines).
// ZOSNET_SIM_PG=postgres://… runs two registry processes on that (empty) database
// instead, the nodes alternating between them; CPU and RSS are then their sums.
// ZOSNET_SIM_PPROF=127.0.0.1:PORT serves the simulator's profiles there, and each
// registry serves its own (registry --pprof) on the ports after it.

// BenchmarkSim registers N nodes at once (the registration storm), idles them for a
// heartbeat period, creates a network over the first M-1 nodes, waits until every
// member applied every public member, then adds member M (public, so every member
// peers with it) and measures per member the time until its networkd got a spec with
// the new member in it (p50/p99). The registry's CPU and RSS are reported per phase.
func BenchmarkSim(b *testing.B) {
	if os.Geteuid() != 0 && os.Getenv("CI") != "" {
		b.Log("not root: the registry still runs (no root needed)")
	}
	nodes := envInt("ZOSNET_SIM_NODES", 200)
	members := min(envInt("ZOSNET_SIM_MEMBERS", 50), nodes, gridapi.MaxMembers)
	for b.Loop() {
		simRun(b, nodes, members)
	}
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

// simRun is one simulation; figures go to the benchmark log and metrics.
func simRun(b *testing.B, nodes, members int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pprofAddr := os.Getenv("ZOSNET_SIM_PPROF")
	if pprofAddr != "" {
		go http.ListenAndServe(pprofAddr, nil)
		fmt.Fprintf(os.Stderr, "sim: profiles at http://%s/debug/pprof/\n", pprofAddr)
	}
	regs := []*simRegistry{}
	if dsn := os.Getenv("ZOSNET_SIM_PG"); dsn != "" {
		regs = append(regs, startRegistry(b, dsn, nextPort(pprofAddr, 1)), startRegistry(b, dsn, nextPort(pprofAddr, 2)))
	} else {
		regs = append(regs, startRegistry(b, "", nextPort(pprofAddr, 1)))
	}
	reg := simRegistries(regs)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4096, MaxConnsPerHost: 0}, Timeout: 60 * time.Second}
	farmer := &gridapi.Client{Base: regs[0].url, Key: simKey(b), HTTP: hc}
	farm, err := farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "sim"})
	if err != nil {
		b.Fatal(err)
	}

	// The registration storm.
	cpu0 := reg.cpu()
	t0 := time.Now()
	sims := make([]*simNode, nodes)
	var wg sync.WaitGroup
	for i := range sims {
		sims[i] = newSimNode(b, regs[i%len(regs)].url, hc, farm.ID, i, i%10 == 0 || i == members-1)
		wg.Add(1)
		go func() { defer wg.Done(); sims[i].run(ctx) }()
	}
	for k, s := range sims {
		select {
		case <-s.agent.Registered():
		case <-time.After(10 * time.Minute):
			b.Fatalf("node %d not registered after 10 min", s.i)
		}
		if k%1000 == 999 {
			fmt.Fprintf(os.Stderr, "sim: %v: %d nodes registered\n", time.Since(t0).Round(time.Second), k+1)
		}
	}
	storm := time.Since(t0)
	// Facts follow the registration at once; wait until every node has reported them.
	for _, s := range sims {
		if err := pollUntil(ctx, 10*time.Minute, func() bool { return s.facts.reported() }); err != nil {
			b.Fatalf("node %d: facts never read: %v", s.i, err)
		}
	}
	stormAll := time.Since(t0)
	stormCPU := reg.cpu() - cpu0
	b.Logf("registration storm: %d nodes registered in %v, facts of all read after %v; registry CPU %v, RSS %d MB; %s",
		nodes, storm.Round(time.Millisecond), stormAll.Round(time.Millisecond), stormCPU.Round(time.Millisecond), reg.rssMB(), simMem(nodes))

	// The network of members-1, converged.
	user := &gridapi.Client{Base: regs[0].url, Key: simKey(b), HTTP: hc}
	ids := make([]int64, members-1)
	for i := range ids {
		ids[i] = sims[i].agent.NodeID()
	}
	cpu0 = reg.cpu()
	t1 := time.Now()
	var nw gridapi.Network
	err = retryBusy(ctx, func() (err error) {
		nw, err = user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "sim", IPRange: "10.64.0.0/12", Members: ids})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	publics := 0
	for _, s := range sims[:members-1] {
		if s.public {
			publics++
		}
	}
	for k, s := range sims[:members-1] {
		want := publics
		if s.public {
			want = members - 2 // a public member peers with everyone
		}
		if k%100 == 0 { // long runs show where they are (b.Log prints at the end)
			fmt.Fprintf(os.Stderr, "sim: %v after create, waiting for member %d of %d\n", time.Since(t1).Round(time.Second), k, members-1)
		}
		if err := pollUntil(ctx, 15*time.Minute, func() bool { return s.nd.peers(nw.ID) >= want }); err != nil {
			b.Fatalf("node %d: %d of %d peers applied: %v", s.i, s.nd.peers(nw.ID), want, err)
		}
	}
	created := time.Since(t1)
	b.Logf("network of %d members (%d public): create → every member applied its peers %v; registry CPU %v, RSS %d MB; %s",
		members-1, publics, created.Round(time.Millisecond), (reg.cpu() - cpu0).Round(time.Millisecond), reg.rssMB(), simMem(nodes))

	// One member added: the time until each member applied it.
	err = retryBusy(ctx, func() (err error) { nw, err = user.Network(ctx, nw.ID); return err })
	if err != nil {
		b.Fatal(err)
	}
	added := sims[members-1]
	spec := gridapi.NetworkSpec{Name: nw.Name, IPRange: nw.IPRange, SubnetSize: nw.SubnetSize, Revision: nw.Revision,
		Members: append(ids, added.agent.NodeID())}
	cpu0 = reg.cpu()
	t2 := time.Now()
	if err := retryBusy(ctx, func() error { _, err := user.UpdateNetwork(ctx, nw.ID, spec); return err }); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for _, s := range sims[:members-1] {
		var at time.Time
		if err := pollUntil(ctx, 15*time.Minute, func() bool {
			at = s.nd.firstWith(nw.ID, added.nd.key(nw.ID))
			return !at.IsZero()
		}); err != nil {
			b.Fatalf("node %d never applied the new member: %v", s.i, err)
		}
		lat = append(lat, at.Sub(t2))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	b.Logf("member added to %d: applied by every member p50 %v, p99 %v, last %v; registry CPU %v, RSS %d MB; %s",
		members-1, p50.Round(time.Millisecond), p99.Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond),
		(reg.cpu() - cpu0).Round(time.Millisecond), reg.rssMB(), simMem(nodes))
	fmt.Fprintf(os.Stderr, "sim: member added: p50 %v p99 %v\n", p50.Round(time.Millisecond), p99.Round(time.Millisecond))

	// Heartbeat load: one heartbeat period of quiet.
	cpu0 = reg.cpu()
	simCPU0 := procCPU(os.Getpid())
	hb0 := time.Now()
	time.Sleep(simHeartbeat)
	idle := reg.cpu() - cpu0
	simCPU := procCPU(os.Getpid()) - simCPU0
	b.Logf("idle heartbeat period (%v, %d nodes: %.0f heartbeats/s): registry CPU %v (%.1f %% of one core), RSS %d MB; simulator CPU %.1f %% of one core, %s",
		simHeartbeat, nodes, float64(nodes)/simHeartbeat.Seconds(), idle.Round(time.Millisecond),
		100*idle.Seconds()/time.Since(hb0).Seconds(), reg.rssMB(), 100*simCPU.Seconds()/time.Since(hb0).Seconds(), simMem(nodes))

	b.ReportMetric(stormAll.Seconds(), "s-storm")
	b.ReportMetric(float64(p50.Milliseconds()), "ms-add-p50")
	b.ReportMetric(float64(p99.Milliseconds()), "ms-add-p99")
	b.ReportMetric(float64(reg.rssMB()), "MB-registry")
	b.ReportMetric(float64(procRSS(os.Getpid())), "MB-sim")
	cancel()
	wg.Wait()
}

// simHeartbeat is the simulated nodes' heartbeat period (nodeagent's default).
const simHeartbeat = 30 * time.Second

// retryBusy calls f until it is not refused with 503 (load shed: the user retries
// after the Retry-After the registry gives), for at most 10 tries.
func retryBusy(ctx context.Context, f func() error) error {
	for range 10 {
		err := f()
		var e *gridapi.APIError
		if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(e.RetryAfter, 100*time.Millisecond)):
		}
	}
	return f()
}

// pollUntil polls f every 20 ms until it holds, or timeout.
func pollUntil(ctx context.Context, timeout time.Duration, f func() bool) error {
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func simKey(b *testing.B) *identity.Key {
	k, err := identity.Generate()
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// simRegistry is the registry process.
type simRegistry struct {
	url string
	cmd *exec.Cmd
}

// simRegistries sums the figures of the registry processes.
type simRegistries []*simRegistry

func (rs simRegistries) cpu() (d time.Duration) {
	for _, r := range rs {
		d += r.cpu()
	}
	return d
}

func (rs simRegistries) rssMB() (n int) {
	for _, r := range rs {
		n += r.rssMB()
	}
	return n
}

// nextPort is addr's port plus k on the same host ("" when addr is "").
func nextPort(addr string, k int) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	n, _ := strconv.Atoi(port)
	return net.JoinHostPort(host, strconv.Itoa(n+k))
}

// simMem is the simulator's memory: RSS, live heap, and per node.
func simMem(nodes int) string {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := procRSS(os.Getpid())
	return fmt.Sprintf("simulator RSS %d MB, heap in use %d MB (%.0f kB per node)", rss, ms.HeapInuse>>20, float64(ms.HeapInuse)/1024/float64(nodes))
}

// startRegistry builds cmd/registry and runs it on loopback on db ("": a fresh SQLite
// file), with its profiles on pprof ("": none).
func startRegistry(b *testing.B, db, pprof string) *simRegistry {
	dir := b.TempDir()
	if db == "" {
		db = filepath.Join(dir, "grid.db")
	}
	bin := filepath.Join(dir, "registry")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/registry")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build registry: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{"--db", db, "--listen", addr, "--insecure-http", "--rate", "1e9", "--burst", "1000000000"}
	if pprof != "" {
		args = append(args, "--pprof", pprof)
		fmt.Fprintf(os.Stderr, "sim: registry profiles at http://%s/debug/pprof/\n", pprof)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // killed with the simulator, also when it is killed
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	r := &simRegistry{url: "http://" + addr, cmd: cmd}
	err = pollUntil(context.Background(), 30*time.Second, func() bool {
		resp, err := http.Get(r.url + "/v1/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
		b.Fatalf("registry did not come up: %v\n%s", err, log)
	}
	return r
}

// cpu is the registry process's user+system CPU time so far.
func (r *simRegistry) cpu() time.Duration { return procCPU(r.cmd.Process.Pid) }

// rssMB is the registry process's resident memory.
func (r *simRegistry) rssMB() int { return procRSS(r.cmd.Process.Pid) }

// procCPU is a process's user+system CPU time so far.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
	return time.Duration(ut+st) * (time.Second / 100)
}

// procRSS is a process's resident memory in MB.
func procRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb / 1024
		}
	}
	return 0
}

// simNode is one simulated node.
type simNode struct {
	i      int
	public bool
	agent  *nodeagent.Agent
	facts  *simFacts
	nd     *simND
	p      *Provisioner
}

func newSimNode(b *testing.B, url string, hc *http.Client, farm int64, i int, public bool) *simNode {
	c := &gridapi.Client{Base: url, Key: simKey(b), HTTP: hc}
	s := &simNode{i: i, public: public, nd: &simND{nrs: map[string]*simNR{}}, facts: &simFacts{public: public, i: i}}
	s.agent = nodeagent.New(nodeagent.Config{Client: c, FarmID: farm, Name: fmt.Sprintf("sim%d", i), Version: Version,
		Facts: s.facts, Heartbeat: simHeartbeat})
	noProbe := func(string, netip.Addr, uint16) (Prober, error) { return silentProber{}, nil }
	s.p = New(Config{Registry: c, Networkd: s.nd, Agent: s.agent, NetnsDir: "/nowhere", OpenProber: noProbe,
		Log: slog.New(slog.DiscardHandler)})
	return s
}

func (s *simNode) run(ctx context.Context) { s.p.Run(ctx) }

// simFacts: a public node has one public IPv4 (in 203.0.0.0/16, never routed here),
// a hidden node none.
type simFacts struct {
	public bool
	i      int
	mu     sync.Mutex
	read   bool
}

func (f *simFacts) Facts(context.Context) (gridapi.NodeFacts, error) {
	f.mu.Lock()
	f.read = true
	f.mu.Unlock()
	nf := gridapi.NodeFacts{Endpoints: []gridapi.Endpoint{}, Hidden: !f.public}
	if f.public {
		ip := netip.AddrFrom4([4]byte{203, 0, byte(f.i >> 8), byte(f.i)})
		nf.Endpoints = []gridapi.Endpoint{{IP: ip.String(), Family: 4, Reason: gridapi.ReasonPublicIPv4}}
	}
	return nf, nil
}

func (f *simFacts) reported() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read
}

type silentProber struct{}

func (silentProber) SetTargets(map[netip.Addr]int64) {}
func (silentProber) Send()                           {}
func (silentProber) Seen() map[int64]time.Time       { return nil }
func (silentProber) Close() error                    { return nil }

// simND is networkd reduced to what provisiond sees: NRs with a key and a port; every
// applied spec's peers are recorded with the time each key first appeared.
type simND struct {
	mu   sync.Mutex
	nrs  map[string]*simNR
	port uint16
}

type simNR struct {
	nr    nodeapi.NR
	first map[string]time.Time // peer key → first applied
}

func (n *simND) PutNR(_ context.Context, s nodeapi.NRSpec) (nodeapi.NR, error) {
	if err := s.Validate(); err != nil {
		return nodeapi.NR{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.nrs[s.NetworkID]
	if r == nil {
		var k [32]byte
		rand.Read(k[:])
		n.port++
		r = &simNR{first: map[string]time.Time{}}
		r.nr.Status = nodeapi.NRStatus{PublicKey: base64.StdEncoding.EncodeToString(k[:]), ListenPort: 3000 + n.port, State: nodeapi.StateOK}
		n.nrs[s.NetworkID] = r
	}
	if s.ListenPort == 0 {
		s.ListenPort = r.nr.Status.ListenPort
	}
	r.nr.Spec = s
	now := time.Now()
	for _, p := range s.Peers {
		if _, ok := r.first[p.PublicKey]; !ok {
			r.first[p.PublicKey] = now
		}
	}
	return r.nr, nil
}

func (n *simND) GetNR(_ context.Context, id string) (nodeapi.NR, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.nrs[id]; r != nil {
		return r.nr, nil
	}
	return nodeapi.NR{}, fmt.Errorf("%w: network resource %s", nodeapi.ErrNotFound, id)
}

func (n *simND) ListNRs(context.Context) ([]nodeapi.NR, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []nodeapi.NR
	for _, r := range n.nrs {
		out = append(out, r.nr)
	}
	return out, nil
}

func (n *simND) DeleteNR(_ context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.nrs, id)
	return nil
}

// peers is how many peers the NR's applied spec has.
func (n *simND) peers(id string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.nrs[id]; r != nil {
		return len(r.nr.Spec.Peers)
	}
	return 0
}

// key is the NR's public key ("" before it exists).
func (n *simND) key(id string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.nrs[id]; r != nil {
		return r.nr.Status.PublicKey
	}
	return ""
}

// firstWith is when a spec with peer key was first applied (zero: not yet).
func (n *simND) firstWith(id, key string) time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.nrs[id]; r != nil && key != "" {
		return r.first[key]
	}
	return time.Time{}
}

func (n *simND) NodeStatus(context.Context) (nodeapi.NodeStatus, error) {
	return nodeapi.NodeStatus{}, nil
}
func (n *simND) SetRegistryStatus(context.Context, nodeapi.RegistryStatus) error { return nil }
func (n *simND) SetPublicConfig(context.Context, nodeapi.PublicConfig) error     { return nil }
func (n *simND) UnsetPublicConfig(context.Context) error                         { return nil }
func (n *simND) SetEgressAllow(context.Context, []nodeapi.EgressAllow) error     { return nil }
func (n *simND) ListWorkloads(context.Context) ([]nodeapi.Workload, error)       { return nil, nil }
func (n *simND) RemoveWorkload(context.Context, string) error                    { return nil }
func (n *simND) AddWorkload(context.Context, nodeapi.WorkloadSpec) (nodeapi.Workload, error) {
	return nodeapi.Workload{}, fmt.Errorf("the simulator runs no workloads")
}
