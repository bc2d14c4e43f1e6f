package provision

import (
	"slices"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// planOf is home1's (node 2) planned peers in dn, every relay group on its primary.
func planOf(t *testing.T, dn gridapi.DesiredNetwork) []plan.Peer {
	t.Helper()
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
	return mp.Peers
}

// TestHoldDials: home1 (hidden) alone dials farm1 (public) and home2 (same LAN, the
// lower id dials). While farm1 does not list home1 in its report, farm1 stays out of
// home1's spec; once it does, farm1 goes in and stays even if its list changes again;
// after DialGrace a peer that never lists home1 is added anyway. The report lists the
// members the NR has as peers.
func TestHoldDials(t *testing.T) {
	f := newFakeNode()
	dn := gridLab(t)
	farm1, home2 := dn.Peers[0], dn.Peers[2]
	farm1.NR.Peers = []int64{3}
	d := func(rev int64) gridapi.Desired {
		return gridapi.Desired{NodeID: 2, Revision: rev, Networks: []gridapi.DesiredNetwork{dn}}
	}
	f.pass(t, d(1))
	nr, _ := f.nd.nr("net1")
	peers := peersOf(t, nr.Spec)
	if _, ok := peers[farm1.NR.PublicKey]; ok {
		t.Errorf("farm1 applied before it lists home1: %v", peers)
	}
	if _, ok := peers[home2.NR.PublicKey]; !ok {
		t.Errorf("home2 (lists home1) not applied: %v", peers)
	}
	reps := f.reg.sent("net1")
	if got := reps[len(reps)-1].Peers; !slices.Equal(got, []int64{3}) {
		t.Errorf("report lists peers %v, want [3] (home2)", got)
	}

	farm1.NR.Peers = []int64{2, 3}
	f.pass(t, d(2))
	nr, _ = f.nd.nr("net1")
	if _, ok := peersOf(t, nr.Spec)[farm1.NR.PublicKey]; !ok {
		t.Fatalf("farm1 lists home1 but is not applied: %+v", nr.Spec.Peers)
	}
	if got := f.reg.sent("net1"); !slices.Equal(got[len(got)-1].Peers, []int64{1, 3}) {
		t.Errorf("report lists peers %v, want [1 3]", got[len(got)-1].Peers)
	}
	farm1.NR.Peers = nil // e.g. farm1's networkd restarted and reports again
	f.pass(t, d(3))
	nr, _ = f.nd.nr("net1")
	if _, ok := peersOf(t, nr.Spec)[farm1.NR.PublicKey]; !ok {
		t.Errorf("farm1 removed again after it was applied: %+v", nr.Spec.Peers)
	}

	// The grace: a peer that never lists home1 is added DialGrace after first planned.
	farm1.NR.Peers = nil
	g := newFakeNode()
	st := &netState{}
	cur, _ := f.nd.nr("net1")
	cur.Spec.Peers = nil
	in := []struct {
		at   time.Duration
		want bool
	}{{0, false}, {DialGrace / 2, false}, {DialGrace, true}}
	t0 := time.Now()
	for _, c := range in {
		out := g.p.holdDials(dn, st, cur, planOf(t, dn), t0.Add(c.at))
		has := slices.ContainsFunc(out, func(p plan.Peer) bool { return p.NodeID == "1" })
		if has != c.want {
			t.Errorf("after %v: farm1 in the spec %v, want %v", c.at, has, c.want)
		}
	}
}
