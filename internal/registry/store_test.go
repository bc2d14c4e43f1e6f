package registry

import (
	"context"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestHeartbeatSourceChange: a heartbeat from a new source address records it and is
// a change for the node's peers; from the same address it is not.
func TestHeartbeatSourceChange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		_, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "hb", IPRange: "10.7.0.0/16", Members: []int64{w.idA, w.idB}})
		mustOK(t, err)
		keyA := w.nodeA.Key.ID()
		d0, err := st.Desired(ctx, w.idB)
		mustOK(t, err)
		mustOK(t, st.Heartbeat(ctx, keyA, w.idA, "127.0.0.1"))
		if d, _ := st.Desired(ctx, w.idB); d.Revision != d0.Revision {
			t.Fatalf("same source: B's revision moved %d → %d", d0.Revision, d.Revision)
		}
		mustOK(t, st.Heartbeat(ctx, keyA, w.idA, "203.0.113.9"))
		d, err := st.Desired(ctx, w.idB)
		mustOK(t, err)
		if d.Revision <= d0.Revision || d.Networks[0].Peers[0].SourceAddr != "203.0.113.9" {
			t.Fatalf("new source: revision %d → %d, peer %+v", d0.Revision, d.Revision, d.Networks[0].Peers[0])
		}
		if err := st.Heartbeat(ctx, w.nodeB.Key.ID(), w.idA, "203.0.113.10"); err == nil {
			t.Fatal("B heartbeat for A from a new address must be refused")
		}
	})
}

// TestDesiredCacheInvalidation: every kind of change to a member shows in the other
// members' desired state right away (the desired-network cache never serves stale data).
func TestDesiredCacheInvalidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		n, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "c", IPRange: "10.8.0.0/16", Members: []int64{w.idA, w.idB}})
		mustOK(t, err)
		keyA := w.nodeA.Key.ID()
		peerA := func() gridapi.PeerFacts {
			d, err := st.Desired(ctx, w.idB)
			mustOK(t, err)
			return d.Networks[0].Peers[0]
		}
		peerA() // fill the cache
		steps := []struct {
			name  string
			do    func() error
			check func(p gridapi.PeerFacts) bool
		}{
			{"facts", func() error { return st.SetFacts(ctx, keyA, w.idA, gridapi.NodeFacts{Version: "v2"}, "127.0.0.1") },
				func(p gridapi.PeerFacts) bool { return p.Facts.Version == "v2" }},
			{"public config", func() error {
				_, err := st.SetPublicConfig(ctx, w.farmerK.ID(), w.idA, &gridapi.PublicConfig{IPv4: "203.0.113.4/24", GW4: "203.0.113.1"})
				return err
			}, func(p gridapi.PeerFacts) bool { return p.PublicConfig != nil }},
			{"report", func() error {
				return st.ReportNR(ctx, keyA, w.idA, n.ID, gridapi.NRReport{PublicKey: wgKey1, ListenPort: 7, State: "up"})
			}, func(p gridapi.PeerFacts) bool { return p.NR != nil && p.NR.ListenPort == 7 }},
			{"re-register from a new address", func() error {
				_, err := st.RegisterNode(ctx, keyA, gridapi.NodeRegister{FarmID: w.farm.ID, Name: "farm1"}, "198.51.100.77")
				return err
			}, func(p gridapi.PeerFacts) bool { return p.SourceAddr == "198.51.100.77" }},
			{"heartbeat from another address", func() error { return st.Heartbeat(ctx, keyA, w.idA, "198.51.100.78") },
				func(p gridapi.PeerFacts) bool { return p.SourceAddr == "198.51.100.78" }},
		}
		for _, s := range steps {
			mustOK(t, s.do())
			if p := peerA(); !s.check(p) {
				t.Errorf("after %s: stale peer %+v", s.name, p)
			}
		}
	})
}
