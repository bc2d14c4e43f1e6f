package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestGroup runs many concurrent callers through a group whose statement blocks until
// released: each caller gets its own item's result, the queued callers go in batches
// of more than one, no batch exceeds max, and every item runs exactly once.
func TestGroup(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	first := -1
	ran := map[int]int{}
	g := &group[int]{max: 8, run: func(_ context.Context, items []int) []error {
		mu.Lock()
		blocked := first < 0
		if blocked {
			first = len(items)
		}
		mu.Unlock()
		if blocked {
			<-release // the first batch holds the lead while the others queue
		}
		mu.Lock()
		sizes = append(sizes, len(items))
		mu.Unlock()
		errs := make([]error, len(items))
		for i, v := range items {
			ran[v]++
			if v%3 == 0 {
				errs[i] = fmt.Errorf("item %d", v)
			}
		}
		return errs
	}}
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	started := make(chan struct{}, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started <- struct{}{}
			errs[i] = g.do(context.Background(), i)
		}()
	}
	for range n {
		<-started
	}
	for { // wait until everyone queued behind the blocked leader
		g.mu.Lock()
		q := len(g.pending)
		g.mu.Unlock()
		mu.Lock()
		f := first
		mu.Unlock()
		if f > 0 && q+f == n {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if (i%3 == 0) != (err != nil) || (err != nil && err.Error() != fmt.Sprintf("item %d", i)) {
			t.Errorf("item %d: %v", i, err)
		}
		if ran[i] != 1 {
			t.Errorf("item %d ran %d times", i, ran[i])
		}
	}
	total, big := 0, 0
	for _, s := range sizes {
		total += s
		if s > 8 {
			t.Errorf("batch of %d > max 8", s)
		}
		if s > 1 {
			big++
		}
	}
	if total != n || big == 0 {
		t.Errorf("batches %v: want %d items in all, some batches of more than one", sizes, n)
	}
}

// TestHeartbeatBatch sends concurrent heartbeats of many nodes over HTTP and checks
// they all land (last_seen moves: at once as seen by the API, in the database after a
// flush), while a heartbeat for another node's id is refused (it is not held; the full
// path says why).
func TestHeartbeatBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		const nodes = 24
		clients := make([]*gridapi.Client, nodes)
		ids := make([]int64, nodes)
		for i := range clients {
			clients[i] = &gridapi.Client{Base: w.url, Key: newKey(t), HTTP: http.DefaultClient}
			n, err := clients[i].Register(ctx, gridapi.NodeRegister{FarmID: w.farm.ID, Name: fmt.Sprintf("hb%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = n.ID
		}
		before := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, nodes)
		var forbidden error
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					if err := clients[i].Heartbeat(ctx, ids[i]); err != nil {
						errs[i] = err
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			forbidden = clients[0].Heartbeat(ctx, ids[1])
		}()
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("node %d: %v", i, err)
			}
		}
		var ae *gridapi.APIError
		if !errors.As(forbidden, &ae) || ae.Status != http.StatusForbidden {
			t.Errorf("heartbeat for another node: %v, want 403", forbidden)
		}
		for i, id := range ids {
			n, err := st.Node(ctx, fmt.Sprint(id))
			if err != nil {
				t.Fatal(err)
			}
			if n.LastSeen.Before(before) {
				t.Errorf("node %d: last seen %v, heartbeats sent after %v", i, n.LastSeen, before)
			}
		}
		s := st.(*sqlStore)
		s.flushBeats(ctx)
		for i, id := range ids {
			if seen := dbLastSeen(t, s, id); seen.Before(before) {
				t.Errorf("node %d: last seen in the database %v after the flush, heartbeats sent after %v", i, seen, before)
			}
		}
	})
}

// TestSeenBatch records signatures on PostgreSQL (the shared dialect) in one batch and
// again: a signature twice in a batch is a replay the second time, one recorded before
// is a replay in a later batch.
func TestSeenBatch(t *testing.T) {
	s := openStore(t, newPGDatabase(t)).(*sqlStore)
	ctx := context.Background()
	until := time.Now().Add(time.Minute).UnixNano()
	errs := s.seenBatch(ctx, []seenItem{{"a", until}, {"a", until}, {"b", until}})
	if errs[0] != nil || !errors.Is(errs[1], errReplaySeen) || errs[2] != nil {
		t.Fatalf("first batch: %v", errs)
	}
	errs = s.seenBatch(ctx, []seenItem{{"c", until}, {"b", until}})
	if errs[0] != nil || !errors.Is(errs[1], errReplaySeen) {
		t.Fatalf("second batch: %v", errs)
	}
	if fresh, err := s.markSeen(ctx, "a", time.Now().Add(time.Minute)); err != nil || fresh {
		t.Fatalf("markSeen of a recorded signature: %v, %v", fresh, err)
	}
}
