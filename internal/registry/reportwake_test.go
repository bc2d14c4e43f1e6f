package registry

import (
	"context"
	"slices"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestReportWakes: node A's first report wakes every member; a report that changes
// only state and probe times wakes nobody (and `network status` still shows it); one
// that newly lists B wakes only B; a new key wakes every member again.
func TestReportWakes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		n, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "wake", IPRange: "10.30.0.0/16", Members: []int64{w.idA, w.idB}})
		mustOK(t, err)
		rev := func(node int64) int64 {
			var r int64
			mustOK(t, st.(*sqlStore).db.QueryRowContext(ctx, st.(*sqlStore).d.q("SELECT desired_rev FROM nodes WHERE id = ?"), node).Scan(&r))
			return r
		}
		steps := []struct {
			name         string
			rep          gridapi.NRReport
			wakeA, wakeB bool
		}{
			{"first report", gridapi.NRReport{PublicKey: wgKey1, ListenPort: 7, State: "pending"}, true, true},
			{"state only", gridapi.NRReport{PublicKey: wgKey1, ListenPort: 7, State: "up", Relay: "9"}, false, false},
			{"lists B", gridapi.NRReport{PublicKey: wgKey1, ListenPort: 7, State: "up", Peers: []int64{w.idB}}, false, true},
			{"lists B again", gridapi.NRReport{PublicKey: wgKey1, ListenPort: 7, State: "up", Peers: []int64{w.idB}}, false, false},
			{"new key", gridapi.NRReport{PublicKey: wgKey2, ListenPort: 7, State: "up", Peers: []int64{w.idB}}, true, true},
			{"new port", gridapi.NRReport{PublicKey: wgKey2, ListenPort: 8, State: "up", Peers: []int64{w.idB}}, true, true},
			{"lists B among others", gridapi.NRReport{PublicKey: wgKey2, ListenPort: 8, State: "up", Peers: []int64{w.idB + 100, w.idB, w.idB + 50}}, false, false},
		}
		for _, s := range steps {
			a0, b0 := rev(w.idA), rev(w.idB)
			mustOK(t, w.nodeA.ReportNR(ctx, w.idA, n.ID, s.rep))
			if got := rev(w.idA) != a0; got != s.wakeA {
				t.Errorf("%s: A woken %v, want %v", s.name, got, s.wakeA)
			}
			if got := rev(w.idB) != b0; got != s.wakeB {
				t.Errorf("%s: B woken %v, want %v", s.name, got, s.wakeB)
			}
			d, err := st.Desired(ctx, w.idB)
			mustOK(t, err)
			var want []int64
			if slices.Contains(s.rep.Peers, w.idB) {
				want = []int64{w.idB}
			}
			for _, p := range d.Networks[0].Peers {
				if p.NodeID == w.idA && p.NR != nil && !slices.Equal(p.NR.Peers, want) {
					t.Errorf("%s: B's desired state shows A listing %v, want %v (B itself only)", s.name, p.NR.Peers, want)
				}
			}
			dn, err := st.NetworkStatus(ctx, n.ID)
			mustOK(t, err)
			for _, p := range dn.Peers {
				if p.NodeID == w.idA && (p.NR == nil || p.NR.State != s.rep.State || p.NR.ListenPort != s.rep.ListenPort) {
					t.Errorf("%s: status shows A's report %+v", s.name, p.NR)
				}
			}
		}
	})
}

// TestKeyWakesHidden: the first report of a hidden member wakes only the members that
// may peer with it directly (the reachable ones, and itself), not the other hidden
// ones; when the network cache is not current, or the reporter is reachable, every
// member is woken.
func TestKeyWakesHidden(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		nodeC := &gridapi.Client{Base: w.url, Key: newKey(t)}
		c, err := nodeC.Register(ctx, gridapi.NodeRegister{FarmID: w.farm.ID, Name: "pub1"})
		mustOK(t, err)
		hidden := gridapi.NodeFacts{Hidden: true, Endpoints: []gridapi.Endpoint{}}
		mustOK(t, w.nodeA.ReportFacts(ctx, w.idA, hidden))
		mustOK(t, w.nodeB.ReportFacts(ctx, w.idB, hidden))
		mustOK(t, nodeC.ReportFacts(ctx, c.ID, gridapi.NodeFacts{Endpoints: []gridapi.Endpoint{{IP: "203.0.113.9", Family: 4, Reason: gridapi.ReasonPublicIPv4}}}))
		n, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "hid", IPRange: "10.31.0.0/16", Members: []int64{w.idA, w.idB, c.ID}})
		mustOK(t, err)
		ss := st.(*sqlStore)
		rev := func(node int64) int64 {
			var r int64
			mustOK(t, ss.db.QueryRowContext(ctx, ss.d.q("SELECT desired_rev FROM nodes WHERE id = ?"), node).Scan(&r))
			return r
		}
		woken := func(report func() error) (a, b, cc bool) {
			a0, b0, c0 := rev(w.idA), rev(w.idB), rev(c.ID)
			mustOK(t, report())
			return rev(w.idA) != a0, rev(w.idB) != b0, rev(c.ID) != c0
		}
		_, err = st.Desired(ctx, w.idB) // a member read the network: the cache is current
		mustOK(t, err)
		a, b, cc := woken(func() error {
			return w.nodeA.ReportNR(ctx, w.idA, n.ID, gridapi.NRReport{PublicKey: wgKey1, ListenPort: 7, State: "pending"})
		})
		if !a || b || !cc {
			t.Errorf("hidden A's first report woke A %v, hidden B %v, public C %v; want A and C only", a, b, cc)
		}
		// nobody read since: the cache is behind, so B's first report wakes all
		a, b, cc = woken(func() error {
			return w.nodeB.ReportNR(ctx, w.idB, n.ID, gridapi.NRReport{PublicKey: wgKey2, ListenPort: 8, State: "pending"})
		})
		if !a || !b || !cc {
			t.Errorf("B's first report with a stale cache woke A %v, B %v, C %v; want all", a, b, cc)
		}
		_, err = st.Desired(ctx, w.idA)
		mustOK(t, err)
		a, b, cc = woken(func() error {
			return nodeC.ReportNR(ctx, c.ID, n.ID, gridapi.NRReport{PublicKey: wgKey1, ListenPort: 9, State: "pending", Endpoints: []string{"203.0.113.9:9"}})
		})
		if !a || !b || !cc {
			t.Errorf("public C's first report woke A %v, B %v, C %v; want all", a, b, cc)
		}
	})
}
