package registry

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// FlushInterval is how often the heartbeats held in memory are written to the
// database (one statement per up to flushChunk nodes). It bounds what a crash loses
// (the last interval's heartbeats: a node's last-seen time in the database lags by at
// most this much, far inside gridapi.OnlineWindow) and how late another registry
// sharing the database sees a heartbeat.
const FlushInterval = time.Second

// flushEvery is FlushInterval; tests that must see a heartbeat still held lengthen it.
var flushEvery = FlushInterval

// flushChunk bounds the nodes per flush statement (4 parameters each, far below both
// databases' limits).
const flushChunk = 1000

// beatNode is what the database holds for a node, as this process last read or wrote
// it: a heartbeat with this key and source address changes nothing but last-seen.
type beatNode struct{ key, src string }

// beat is a heartbeat held in memory.
type beat struct {
	beatNode
	at int64 // unix nanoseconds
}

// beats holds the heartbeats not yet written, at most one (the latest) per node, and
// the key and source address of the nodes known to this process. A heartbeat that
// matches what is known is a map write; anything else takes the full path
// (sqlStore.heartbeatSlow). Safe for concurrent use.
type beats struct {
	mu       sync.Mutex
	known    map[int64]beatNode
	pending  map[int64]beat
	flushing map[int64]beat // taken by the last flush, shown until the next one
}

func newBeats() *beats {
	return &beats{known: map[int64]beatNode{}, pending: map[int64]beat{}}
}

// hold records a heartbeat at time at if node is known with this key and source; false
// means the caller must take the full path.
func (b *beats) hold(node int64, key, src string, at int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.known[node]
	if !ok || k.key != key || k.src != src {
		return false
	}
	b.pending[node] = beat{beatNode: k, at: max(at, b.pending[node].at)}
	return true
}

// learn records what the database holds for node (after the full path read or wrote it).
func (b *beats) learn(node int64, key, src string) {
	b.mu.Lock()
	b.known[node] = beatNode{key: key, src: src}
	b.mu.Unlock()
}

// forget drops what is known of node: its next heartbeat takes the full path.
func (b *beats) forget(node int64) {
	b.mu.Lock()
	delete(b.known, node)
	b.mu.Unlock()
}

// lastSeen is node's held heartbeat time, also while a flush writes it (0: none).
func (b *beats) lastSeen(node int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.pending[node].at, b.flushing[node].at)
}

// take returns the held heartbeats for a flush. They stay visible (lastSeen) until the
// next take, an interval later, when the database has them: a read that queried the
// database before the flush wrote them and looks here after it still sees them.
func (b *beats) take() map[int64]beat {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pending
	if len(p) == 0 {
		b.flushing = nil
		return nil
	}
	b.pending, b.flushing = make(map[int64]beat, len(p)), p
	return p
}

// Heartbeat implements Store. A heartbeat of a node whose key and source address this
// process knows is held in memory and written with the others of its interval (see
// FlushInterval; Node and Nodes show it at once). Anything else — the first heartbeat
// after a start, a new source address (a change for the node's peers, written at once
// like facts), a wrong key or node — takes the full path.
func (s *sqlStore) Heartbeat(ctx context.Context, actor string, node int64, src string) error {
	if s.beats.hold(node, actor, src, nowNano()) {
		return nil
	}
	return s.heartbeatSlow(ctx, actor, node, src, nowNano())
}

// heartbeatSlow checks node and actor in the database; an unchanged source address is
// then held like any heartbeat, a new one written at once with a new revision for the
// node and its peers.
func (s *sqlStore) heartbeatSlow(ctx context.Context, actor string, node int64, src string, at int64) error {
	var key, old string
	var seen int64
	err := s.db.QueryRowContext(ctx, s.d.q("SELECT key, source_addr, COALESCE(last_seen, 0) FROM nodes WHERE id = ?"), node).Scan(&key, &old, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("node", node)
	}
	if err != nil {
		return err
	}
	if key != actor {
		return forbidden("only node %d itself may heartbeat for it", node)
	}
	if old == src {
		s.beats.learn(node, key, src)
		s.beats.hold(node, key, src, at)
		return nil
	}
	s.beats.forget(node)
	if at < seen {
		// a held heartbeat older than what another registry wrote since: its
		// source is stale, and writing it would move last_seen back
		s.beats.learn(node, key, old)
		return nil
	}
	err = s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		if _, err := s.exec(ctx, tx, "UPDATE nodes SET last_seen = ?, source_addr = ? WHERE id = ?", at, src, node); err != nil {
			return nil, err
		}
		return s.coMembers(ctx, tx, node)
	})
	if err == nil {
		s.beats.learn(node, key, src)
	}
	return err
}

// flushLoop writes the held heartbeats every FlushInterval until stop is closed, then
// once more.
func (s *sqlStore) flushLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			s.flushBeats(context.Background())
			return
		}
		s.flushBeats(context.Background())
	}
}

// flushBeats writes the held heartbeats. A node whose key or source address in the
// database is no longer what this process knew (another registry sharing the database
// recorded a new source) is forgotten and its heartbeat re-run on the full path, which
// records the source change for its peers. Errors are logged: the heartbeats were
// already answered; a failed flush loses at most one interval of them. One flush runs
// at a time: when flushBeats returns, every heartbeat held before the call is written.
func (s *sqlStore) flushBeats(ctx context.Context) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	p := s.beats.take()
	if len(p) == 0 {
		return
	}
	nodes := make([]int64, 0, len(p))
	for n := range p {
		nodes = append(nodes, n)
	}
	for i := 0; i < len(nodes); i += flushChunk {
		chunk := nodes[i:min(i+flushChunk, len(nodes))]
		matched, err := s.flushChunk(ctx, chunk, p)
		if err != nil {
			s.flushErrors.Add(1)
			s.log.Error("registry: writing heartbeats failed", "nodes", len(chunk), "err", err)
			continue
		}
		for _, n := range chunk {
			if matched[n] {
				continue
			}
			s.beats.forget(n)
			if err := s.heartbeatSlow(ctx, p[n].key, n, p[n].src, p[n].at); err != nil {
				s.log.Warn("registry: held heartbeat refused", "node", n, "err", err)
			}
		}
	}
}

// flushChunk writes the heartbeats of nodes in one statement (last-seen never moves
// back) and returns the nodes whose key and source matched.
func (s *sqlStore) flushChunk(ctx context.Context, nodes []int64, p map[int64]beat) (map[int64]bool, error) {
	var b strings.Builder
	args := make([]any, 0, 4*len(nodes))
	b.WriteString(`UPDATE nodes SET last_seen = CASE WHEN nodes.last_seen > v.column2 THEN nodes.last_seen ELSE v.column2 END
		FROM (VALUES `)
	for i, n := range nodes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT))")
		args = append(args, n, p[n].at, p[n].key, p[n].src)
	}
	b.WriteString(`) AS v WHERE nodes.id = v.column1 AND nodes.key = v.column3 AND nodes.source_addr = v.column4
		RETURNING nodes.id`)
	unlock := s.lockWrites()
	defer unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if s.d.shared {
		// Writers lock the revision row first, then their nodes; so does the flush, or
		// its many rows and a writer's few could lock in opposite orders (a deadlock
		// PostgreSQL breaks by failing one of them).
		if _, err := tx.ExecContext(ctx, "SELECT v FROM meta WHERE k = 'revision' FOR UPDATE"); err != nil {
			return nil, err
		}
	}
	rows, err := tx.QueryContext(ctx, s.d.q(b.String()), args...)
	if err != nil {
		return nil, err
	}
	ids, err := collectIDs(rows, make([]int64, 0, len(nodes)))
	if err != nil {
		return nil, err
	}
	matched := make(map[int64]bool, len(ids))
	for _, id := range ids {
		matched[id] = true
	}
	return matched, tx.Commit()
}

// withHeld shows node's held heartbeat (not yet written) in its last-seen time.
func (s *sqlStore) withHeld(n *gridapi.Node) {
	at := s.beats.lastSeen(n.ID)
	if at == 0 || !fromNano(at).After(n.LastSeen) {
		return
	}
	n.LastSeen = fromNano(at)
	n.Online = time.Since(n.LastSeen) < gridapi.OnlineWindow
}

// heartbeatFlushErrors counts the failed heartbeat writes (the registry's metric).
func (s *sqlStore) heartbeatFlushErrors() int64 { return s.flushErrors.Load() }
