package registry

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestBeats: a heartbeat is held only for a node known with the same key and source;
// the latest time wins; take empties the buffer; forget sends the next one to the full
// path.
func TestBeats(t *testing.T) {
	b := newBeats()
	steps := []struct {
		name           string
		do             func() bool
		want           bool
		wantHeldAtNode int64
	}{
		{"unknown node", func() bool { return b.hold(1, "k1", "a", 10) }, false, 0},
		{"known", func() bool { b.learn(1, "k1", "a"); return b.hold(1, "k1", "a", 10) }, true, 10},
		{"later wins", func() bool { return b.hold(1, "k1", "a", 30) }, true, 30},
		{"earlier does not move it back", func() bool { return b.hold(1, "k1", "a", 20) }, true, 30},
		{"other key", func() bool { return b.hold(1, "k2", "a", 40) }, false, 30},
		{"new source", func() bool { return b.hold(1, "k1", "b", 40) }, false, 30},
		{"forgotten", func() bool { b.forget(1); return b.hold(1, "k1", "a", 50) }, false, 30},
	}
	for _, s := range steps {
		if got := s.do(); got != s.want {
			t.Errorf("%s: held %v, want %v", s.name, got, s.want)
		}
		if got := b.lastSeen(1); got != s.wantHeldAtNode {
			t.Errorf("%s: held time %d, want %d", s.name, got, s.wantHeldAtNode)
		}
	}
	p := b.take()
	if len(p) != 1 || p[1].at != 30 || p[1].src != "a" || p[1].key != "k1" {
		t.Errorf("take: %+v", p)
	}
	if b.lastSeen(1) != 30 {
		t.Errorf("while the flush writes: held time %d, want 30 (still shown)", b.lastSeen(1))
	}
	if b.take() != nil {
		t.Error("take left heartbeats behind")
	}
	if b.lastSeen(1) != 0 {
		t.Errorf("after the next flush: held time %d, want 0", b.lastSeen(1))
	}
}

// databases names a fresh database per backend, to open more than once.
var databases = []struct {
	name string
	db   func(t testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "grid.db") }},
	{"postgres", newPGDatabase},
}

// heldSetup opens db, registers one node and makes it look offline (last seen 3
// minutes ago) in the database.
func heldSetup(t *testing.T, db string) (st *sqlStore, key string, id int64) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, db, testLog())
	mustOK(t, err)
	st = s.(*sqlStore)
	key = newKey(t).ID()
	f, err := st.CreateFarm(ctx, newKey(t).ID(), gridapi.FarmCreate{Name: "held"})
	mustOK(t, err)
	n, err := st.RegisterNode(ctx, key, gridapi.NodeRegister{FarmID: f.ID, Name: "held1"}, "198.51.100.7")
	mustOK(t, err)
	_, err = st.db.ExecContext(ctx, st.d.q("UPDATE nodes SET last_seen = ? WHERE id = ?"), time.Now().Add(-3*time.Minute).UnixNano(), n.ID)
	mustOK(t, err)
	if n, err := st.Node(ctx, itoa(n.ID)); err != nil || n.Online {
		t.Fatalf("node before the heartbeat: %+v, %v; want offline", n, err)
	}
	return st, key, n.ID
}

func dbLastSeen(t *testing.T, st *sqlStore, id int64) time.Time {
	t.Helper()
	var ns int64
	mustOK(t, st.db.QueryRowContext(context.Background(), st.d.q("SELECT last_seen FROM nodes WHERE id = ?"), id).Scan(&ns))
	return fromNano(ns)
}

// TestHeldHeartbeatOnlineAndRestart: a heartbeat held in memory (not yet in the
// database) shows the node online at once; closing the registry writes it, so the
// node is still online, with that time, after a restart.
func TestHeldHeartbeatOnlineAndRestart(t *testing.T) {
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			defer func(d time.Duration) { flushEvery = d }(flushEvery)
			flushEvery = time.Hour // held until Close
			ctx := context.Background()
			db := d.db(t)
			st, key, id := heldSetup(t, db)
			before := time.Now()
			mustOK(t, st.Heartbeat(ctx, key, id, "198.51.100.7"))
			if got := dbLastSeen(t, st, id); got.After(before) {
				t.Fatalf("the heartbeat was written at once (last_seen %v): want it held", got)
			}
			n, err := st.Node(ctx, itoa(id))
			mustOK(t, err)
			nodes, err := st.Nodes(ctx, 0)
			mustOK(t, err)
			if !n.Online || n.LastSeen.Before(before) || len(nodes) != 1 || !nodes[0].Online {
				t.Fatalf("held heartbeat: node %+v, list %+v; want online, last seen ≥ %v", n, nodes, before)
			}
			mustOK(t, st.Close()) // a restart: Close writes the held heartbeats
			s2, err := Open(ctx, db, testLog())
			mustOK(t, err)
			defer s2.Close()
			n, err = s2.Node(ctx, itoa(id))
			mustOK(t, err)
			if !n.Online || n.LastSeen.Before(before) {
				t.Fatalf("after the restart: %+v; want online, last seen ≥ %v", n, before)
			}
		})
	}
}

// TestHeldHeartbeatSharedDatabase: a second registry on the same database sees a held
// heartbeat within about FlushInterval (the bound of what a crash loses), and a source
// change the other registry recorded meanwhile is not overwritten silently: the held
// heartbeat's source is written with a new revision for the node's peers (the latest
// heartbeat wins, as without the buffer).
func TestHeldHeartbeatSharedDatabase(t *testing.T) {
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db := d.db(t)
			st, key, id := heldSetup(t, db)
			defer st.Close()
			s2, err := Open(ctx, db, testLog())
			mustOK(t, err)
			defer s2.Close()
			before := time.Now()
			mustOK(t, st.Heartbeat(ctx, key, id, "198.51.100.7"))
			deadline := time.Now().Add(FlushInterval + 10*time.Second) // the box is noisy
			for {
				n, err := s2.Node(ctx, itoa(id))
				mustOK(t, err)
				if n.Online && !n.LastSeen.Before(before) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the other registry still sees %+v", n)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// the node moves; the other registry records it, this one still knows the old source
			mustOK(t, s2.Heartbeat(ctx, key, id, "203.0.113.44"))
			rev, err := st.Revision(ctx)
			mustOK(t, err)
			mustOK(t, st.Heartbeat(ctx, key, id, "198.51.100.7")) // held (known source)
			st.flushBeats(ctx)
			n, err := s2.Node(ctx, itoa(id))
			mustOK(t, err)
			rev2, err := st.Revision(ctx)
			mustOK(t, err)
			if n.SourceAddr != "198.51.100.7" || rev2 <= rev {
				t.Fatalf("after the flush: source %q, revision %d → %d; want the held source with a new revision", n.SourceAddr, rev, rev2)
			}
			// a held heartbeat older than the other registry's latest loses: its source
			// is stale and last_seen never moves back
			mustOK(t, st.Heartbeat(ctx, key, id, "198.51.100.7")) // held
			time.Sleep(time.Millisecond)
			mustOK(t, s2.Heartbeat(ctx, key, id, "203.0.113.45"))
			n, err = s2.Node(ctx, itoa(id))
			mustOK(t, err)
			st.flushBeats(ctx)
			after, err := s2.Node(ctx, itoa(id))
			mustOK(t, err)
			if after.SourceAddr != "203.0.113.45" || after.LastSeen.Before(n.LastSeen) {
				t.Fatalf("an older held heartbeat flushed over a newer one: source %q, last seen %v (was %v)", after.SourceAddr, after.LastSeen, n.LastSeen)
			}
		})
	}
}

// TestHeartbeatFlushError: a failed write of the held heartbeats is counted in
// zosnet_registry_heartbeat_flush_errors_total.
func TestHeartbeatFlushError(t *testing.T) {
	defer func(d time.Duration) { flushEvery = d }(flushEvery)
	flushEvery = time.Hour
	ctx := context.Background()
	st, key, id := heldSetup(t, filepath.Join(t.TempDir(), "grid.db"))
	defer st.Close()
	hs := serve(t, st, Config{})
	mustOK(t, st.Heartbeat(ctx, key, id, "198.51.100.7"))
	mustOK(t, st.db.Close()) // the database goes away
	st.flushBeats(ctx)
	if m := metricsText(t, hs.URL); !strings.Contains(m, "\nzosnet_registry_heartbeat_flush_errors_total 1\n") {
		t.Fatalf("want zosnet_registry_heartbeat_flush_errors_total 1 in:\n%s", m)
	}
}
