package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// gridLab is the default farm's network as the registry reports it to a member
// (internal/plan/testdata/grid-lab.json, shared with plan's tests).
func gridLab(t testing.TB) gridapi.DesiredNetwork {
	t.Helper()
	b, err := os.ReadFile("../plan/testdata/grid-lab.json")
	if err != nil {
		t.Fatal(err)
	}
	var dn gridapi.DesiredNetwork
	if err := json.Unmarshal(b, &dn); err != nil {
		t.Fatal(err)
	}
	listAll(dn)
	return dn
}

// listAll makes every reporting member list every other member as its peer (they
// all know each other: nothing is held back by holdDials).
func listAll(dn gridapi.DesiredNetwork) {
	for _, m := range dn.Peers {
		if m.NR == nil {
			continue
		}
		m.NR.Peers = nil
		for _, o := range dn.Peers {
			if o.NodeID != m.NodeID {
				m.NR.Peers = append(m.NR.Peers, o.NodeID)
			}
		}
	}
}

// fakeNetworkd is networkd's local API in memory: NRs get a key and port when created,
// a spec is stored as given (after nodeapi.NRSpec.Validate, like networkd), and every
// change is counted.
type fakeNetworkd struct {
	mu       sync.Mutex
	nrs      map[string]nodeapi.NR
	puts     int // PutNR calls
	pubSets  int // SetPublicConfig and UnsetPublicConfig calls
	pub      *nodeapi.PublicConfig
	allows   int // SetEgressAllow calls
	allow    []nodeapi.EgressAllow
	refuse   error // returned by every change while set
	nextPort uint16
	status   nodeapi.NodeStatus
	wls      map[string]nodeapi.Workload
	wlAdds   int                      // AddWorkload calls that changed something
	wlRms    int                      // RemoveWorkload calls
	registry []nodeapi.RegistryStatus // every SetRegistryStatus
}

func (f *fakeNetworkd) SetRegistryStatus(_ context.Context, st nodeapi.RegistryStatus) error {
	if err := st.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registry = append(f.registry, st)
	return nil
}

func (f *fakeNetworkd) lastRegistry() (nodeapi.RegistryStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.registry) == 0 {
		return nodeapi.RegistryStatus{}, false
	}
	return f.registry[len(f.registry)-1], true
}

func newFakeNetworkd() *fakeNetworkd {
	return &fakeNetworkd{nrs: map[string]nodeapi.NR{}, nextPort: 3000, wls: map[string]nodeapi.Workload{}}
}

func (f *fakeNetworkd) ListWorkloads(context.Context) ([]nodeapi.Workload, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []nodeapi.Workload
	for _, w := range f.wls {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b nodeapi.Workload) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// AddWorkload behaves like networkd's: validated, NR required, the same spec again
// is a no-op, another spec under the name a conflict; the address is a fake one.
func (f *fakeNetworkd) AddWorkload(_ context.Context, s nodeapi.WorkloadSpec) (nodeapi.Workload, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := s.Validate(); err != nil {
		return nodeapi.Workload{}, err
	}
	nr, ok := f.nrs[s.NetworkID]
	if !ok {
		return nodeapi.Workload{}, fmt.Errorf("workload %s: network resource %q: %w", s.Name, s.NetworkID, nodeapi.ErrNotFound)
	}
	if w, ok := f.wls[s.Name]; ok {
		if w.WorkloadSpec != s {
			return nodeapi.Workload{}, fmt.Errorf("%w: workload %s exists", nodeapi.ErrConflict, s.Name)
		}
		return w, nil
	}
	a := nr.Spec.Subnet.Addr().Next().Next()
	for range len(f.wls) {
		a = a.Next()
	}
	w := nodeapi.Workload{WorkloadSpec: s, IPv4: netip.PrefixFrom(a, nr.Spec.Subnet.Bits()), IPv6: netip.MustParsePrefix("fd00::5/64"),
		MAC: "02:00:00:00:00:05", HostIf: "c-0000000005"}
	f.wls[s.Name] = w
	f.wlAdds++
	return w, nil
}

func (f *fakeNetworkd) RemoveWorkload(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.wls, name)
	f.wlRms++
	return nil
}

func (f *fakeNetworkd) workload(name string) (nodeapi.Workload, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.wls[name]
	return w, ok
}

func (f *fakeNetworkd) ListNRs(context.Context) ([]nodeapi.NR, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []nodeapi.NR
	for _, nr := range f.nrs {
		out = append(out, nr)
	}
	slices.SortFunc(out, func(a, b nodeapi.NR) int { return strings.Compare(a.Spec.NetworkID, b.Spec.NetworkID) })
	return out, nil
}

func (f *fakeNetworkd) GetNR(_ context.Context, id string) (nodeapi.NR, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nr, ok := f.nrs[id]
	if !ok {
		return nr, fmt.Errorf("network resource %s: %w", id, nodeapi.ErrNotFound)
	}
	return nr, nil
}

func (f *fakeNetworkd) PutNR(_ context.Context, s nodeapi.NRSpec) (nodeapi.NR, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return nodeapi.NR{}, f.refuse
	}
	if err := s.Validate(); err != nil {
		return nodeapi.NR{}, fmt.Errorf("%w: %w", nodeapi.ErrInvalid, err)
	}
	f.puts++
	nr, ok := f.nrs[s.NetworkID]
	if !ok {
		nr.Status = nodeapi.NRStatus{PublicKey: "mNnedxa0LIxktdE7v1BW5IJt6v8Ul7+fi1Lpp0UFC0I=", ListenPort: f.nextPort, State: nodeapi.StateOK}
		f.nextPort++
	}
	nr.Spec = s
	f.nrs[s.NetworkID] = nr
	return nr, nil
}

func (f *fakeNetworkd) DeleteNR(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.nrs[id]; !ok {
		return nodeapi.ErrNotFound
	}
	delete(f.nrs, id)
	return nil
}

func (f *fakeNetworkd) NodeStatus(context.Context) (nodeapi.NodeStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}

func (f *fakeNetworkd) SetPublicConfig(_ context.Context, c nodeapi.PublicConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pubSets++
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %w", nodeapi.ErrInvalid, err)
	}
	f.pub = &c
	return nil
}

func (f *fakeNetworkd) SetEgressAllow(_ context.Context, list []nodeapi.EgressAllow) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allows++
	if err := nodeapi.ValidateEgressAllow(list); err != nil {
		return err
	}
	f.allow = list
	return nil
}

func (f *fakeNetworkd) UnsetPublicConfig(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pubSets++
	f.pub = nil
	return nil
}

func (f *fakeNetworkd) nr(id string) (nodeapi.NR, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nr, ok := f.nrs[id]
	return nr, ok
}

// fakeRegistry records the NR reports and hands the watcher what the test sends on
// desired (one state per long-poll; the poll waits until then).
type fakeRegistry struct {
	mu      sync.Mutex
	reports map[string][]gridapi.NRReport       // by network
	wlReps  map[string][]gridapi.WorkloadReport // by network/name
	desired chan gridapi.Desired
}

func (r *fakeRegistry) ReportWorkload(_ context.Context, _ int64, network, name string, rep gridapi.WorkloadReport) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wlReps == nil {
		r.wlReps = map[string][]gridapi.WorkloadReport{}
	}
	r.wlReps[network+"/"+name] = append(r.wlReps[network+"/"+name], rep)
	return nil
}

func (r *fakeRegistry) wlSent(key string) []gridapi.WorkloadReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.wlReps[key])
}

func (r *fakeRegistry) Register(context.Context, gridapi.NodeRegister) (gridapi.Node, error) {
	return gridapi.Node{}, fmt.Errorf("fake registry: register not expected")
}
func (r *fakeRegistry) ReportFacts(context.Context, int64, gridapi.NodeFacts) error { return nil }
func (r *fakeRegistry) Heartbeat(context.Context, int64) error                      { return nil }
func (r *fakeRegistry) Desired(ctx context.Context, _, _ int64, _ time.Duration) (gridapi.Desired, error) {
	select {
	case d := <-r.desired:
		return d, nil
	case <-ctx.Done():
		return gridapi.Desired{}, ctx.Err()
	}
}

func (r *fakeRegistry) ReportNR(_ context.Context, _ int64, network string, rep gridapi.NRReport) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reports == nil {
		r.reports = map[string][]gridapi.NRReport{}
	}
	r.reports[network] = append(r.reports[network], rep)
	return nil
}

func (r *fakeRegistry) sent(network string) []gridapi.NRReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports[network])
}

// fakeAgent records the public configs the provisioner hands it; with refused set, its
// registration fails for good.
type fakeAgent struct {
	mu      sync.Mutex
	public  []*gridapi.PublicConfig
	refused error
}

func (a *fakeAgent) Run(ctx context.Context) error {
	if a.refused != nil {
		return a.refused
	}
	<-ctx.Done()
	return nil
}
func (a *fakeAgent) Registered() <-chan struct{} {
	c := make(chan struct{})
	if a.refused == nil {
		close(c)
	}
	return c
}
func (a *fakeAgent) NodeID() int64 { return 2 }
func (a *fakeAgent) SetPublicConfig(p *gridapi.PublicConfig) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.public = append(a.public, p)
}

// fakeProber answers what the test says it saw.
type fakeProber struct {
	mu      sync.Mutex
	ns      string
	src     netip.Addr
	targets map[netip.Addr]int64
	sends   int
	sentTo  [][]int64
	seen    map[int64]time.Time
	closed  bool
}

func (p *fakeProber) SetTargets(t map[netip.Addr]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.targets = t
}

func (p *fakeProber) Send() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sends++
}

func (p *fakeProber) SendTo(nodes []int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sentTo = append(p.sentTo, nodes)
}

func (p *fakeProber) Seen() map[int64]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int64]time.Time{}
	for k, v := range p.seen {
		out[k] = v
	}
	return out
}

func (p *fakeProber) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

// fakeNode is a Provisioner for node 2 (home1 in gridLab) on fakes.
type fakeNode struct {
	mu     sync.Mutex // guards probes while Run runs
	p      *Provisioner
	nd     *fakeNetworkd
	reg    *fakeRegistry
	agent  *fakeAgent
	probes []*fakeProber
}

func newFakeNode() *fakeNode { return newFakeNodeWith(Config{}) }

// newFakeNodeWith fills cfg's Registry, Networkd, Agent and OpenProber with fakes.
func newFakeNodeWith(cfg Config) *fakeNode {
	f := &fakeNode{nd: newFakeNetworkd(), reg: &fakeRegistry{desired: make(chan gridapi.Desired, 1)}, agent: &fakeAgent{}}
	cfg.Registry, cfg.Networkd, cfg.Agent, cfg.NetnsDir = f.reg, f.nd, f.agent, "/nowhere"
	cfg.OpenProber = func(ns string, src netip.Addr, _ uint16) (Prober, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		pr := &fakeProber{ns: ns, src: src}
		f.probes = append(f.probes, pr)
		return pr, nil
	}
	f.p = New(cfg)
	f.p.node = f.agent.NodeID()
	return f
}

// pass runs one pass of the provisioner's loop on desired state d.
func (f *fakeNode) pass(t *testing.T, d gridapi.Desired) {
	t.Helper()
	if err := f.p.setDesired(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	f.p.pass(context.Background())
}
