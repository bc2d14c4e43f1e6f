package registry

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestReportWakes: node A's first report wakes every member; a report that changes
// only state and probe times wakes nobody (and `network status` still shows it); one
// that newly lists B wakes only B; a new key wakes every member again; so does a change
// of the hidden peers' observed endpoints, but not a newer handshake at the same one.
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
			{"observes B", gridapi.NRReport{PublicKey: wgKey2, ListenPort: 8, State: "up", Peers: []int64{w.idB},
				Observed: []gridapi.ObservedEndpoint{{NodeID: w.idB, Endpoint: "198.51.100.11:7001", Handshake: time.Unix(100, 0)}}}, true, true},
			{"observes B, newer handshake", gridapi.NRReport{PublicKey: wgKey2, ListenPort: 8, State: "up", Peers: []int64{w.idB},
				Observed: []gridapi.ObservedEndpoint{{NodeID: w.idB, Endpoint: "198.51.100.11:7001", Handshake: time.Unix(200, 0)}}}, false, false},
			{"B's mapping moved", gridapi.NRReport{PublicKey: wgKey2, ListenPort: 8, State: "up", Peers: []int64{w.idB},
				Observed: []gridapi.ObservedEndpoint{{NodeID: w.idB, Endpoint: "198.51.100.11:7002", Handshake: time.Unix(300, 0)}}}, true, true},
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
