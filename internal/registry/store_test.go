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
