package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// group is group commit for the registry's hottest write on a shared database, the
// seen signatures (heartbeats are held in memory instead, heartbeats.go): concurrent callers queue their item, the
// first becomes the leader and runs one statement for everything queued (up to max
// items), hands the results out and passes the lead to the next in the queue. Alone,
// a caller runs its item by itself at once: nothing waits for a timer; under load
// the batches grow by themselves while a statement runs.
type group[T any] struct {
	max int
	run func(ctx context.Context, items []T) []error // one error per item

	mu      sync.Mutex
	pending []*groupCall[T]
	running bool
}

type groupCall[T any] struct {
	v    T
	err  error
	done bool
	wake chan struct{}
}

// do queues v and returns its result.
func (g *group[T]) do(ctx context.Context, v T) error {
	c := &groupCall[T]{v: v, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead {
		<-c.wake // a leader ran our item, or we lead now
		if c.done {
			return c.err
		}
	}
	// The leader is at the head of the queue, so its item is in this batch.
	g.mu.Lock()
	n := min(len(g.pending), g.max)
	batch := slices.Clone(g.pending[:n])
	g.pending = g.pending[n:]
	g.mu.Unlock()
	items := make([]T, len(batch))
	for i, b := range batch {
		items[i] = b.v
	}
	errs := g.run(context.WithoutCancel(ctx), items)
	for i, b := range batch {
		b.err, b.done = errs[i], true
		if b != c {
			b.wake <- struct{}{}
		}
	}
	g.mu.Lock()
	if len(g.pending) > 0 {
		g.pending[0].wake <- struct{}{} // the next leader
	} else {
		g.running = false
	}
	g.mu.Unlock()
	return c.err
}

type seenItem struct {
	sig   string
	until int64
}

// errReplaySeen marks a signature another request (of this or another registry
// sharing the database) recorded first.
var errReplaySeen = errors.New("signature already seen")

// seenBatch records the signatures in one statement; a signature already recorded (or
// twice in the batch: the first wins) gets errReplaySeen.
func (s *sqlStore) seenBatch(ctx context.Context, items []seenItem) []error {
	errs := make([]error, len(items))
	first := map[string]bool{}
	var b strings.Builder
	var args []any
	b.WriteString("INSERT INTO seen_signatures (sig, until) VALUES ")
	for i, it := range items {
		if first[it.sig] {
			errs[i] = errReplaySeen
			continue
		}
		first[it.sig] = true
		if len(args) > 0 {
			b.WriteString(",")
		}
		b.WriteString("(?, ?)")
		args = append(args, it.sig, it.until)
	}
	b.WriteString(" ON CONFLICT DO NOTHING RETURNING sig")
	rows, err := s.db.QueryContext(ctx, s.d.q(b.String()), args...)
	inserted := map[string]bool{}
	if err == nil {
		for rows.Next() {
			var sig string
			if err = rows.Scan(&sig); err != nil {
				break
			}
			inserted[sig] = true
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	for i, it := range items {
		switch {
		case errs[i] != nil:
		case err != nil:
			errs[i] = fmt.Errorf("record signature: %w", err)
		case !inserted[it.sig]:
			errs[i] = errReplaySeen
		}
	}
	return errs
}

// maxBatch bounds a batch: 2 parameters per signature stay far below both databases'
// limits, and one statement stays short.
const maxBatch = 256

// prepare sets up the batched hot writes.
func (s *sqlStore) prepare() {
	s.beats = newBeats()
	s.seen = &group[seenItem]{max: maxBatch, run: s.seenBatch}
}
