package registry

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// shedder bounds the requests working in the store at once. When thousands of nodes
// reconnect together (a registry restart), a request that gets no slot within its wait
// is refused with 503 and a Retry-After spread over more seconds the more were refused
// in the last second, so the nodes come back spread out instead of queueing in
// goroutines, connections and database waits. Parked long-polls hold no slot. Safe for
// concurrent use.
type shedder struct {
	slots chan struct{}
	wait  time.Duration

	mu      sync.Mutex
	window  time.Time // start of the current one-second window
	refused int       // refused in the current window
	prev    int       // refused in the previous window
}

// maxRetryAfter caps the Retry-After the registry hands out.
const maxRetryAfter = 30 * time.Second

func newShedder(maxInflight int, wait time.Duration) *shedder {
	return &shedder{slots: make(chan struct{}, maxInflight), wait: wait}
}

// acquire takes a slot, waiting up to the shedder's wait. It returns the release
// function, or (nil release) the delay the client should wait before retrying.
func (s *shedder) acquire(ctx context.Context) (func(), time.Duration, error) {
	select {
	case s.slots <- struct{}{}:
		return s.release, 0, nil
	default:
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return s.release, 0, nil
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	case <-t.C:
		return nil, s.refuse(time.Now()), nil
	}
}

// acquireWait takes a slot, waiting as long as ctx allows: for work an admitted request
// must finish (a long-poll's reads after a wake-up).
func (s *shedder) acquireWait(ctx context.Context) (func(), error) {
	select {
	case s.slots <- struct{}{}:
		return s.release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *shedder) release() { <-s.slots }

// inflight is the number of requests holding a slot.
func (s *shedder) inflight() int { return len(s.slots) }

// refuse counts a refusal at now and returns the Retry-After for it: whole seconds,
// uniform in [1, 1+spread] where spread grows with the refusals of the last second
// relative to the capacity, up to maxRetryAfter.
func (s *shedder) refuse(now time.Time) time.Duration {
	s.mu.Lock()
	if now.Sub(s.window) >= time.Second {
		s.prev = s.refused
		if now.Sub(s.window) >= 2*time.Second {
			s.prev = 0
		}
		s.window, s.refused = now, 0
	}
	s.refused++
	load := max(s.refused, s.prev)
	s.mu.Unlock()
	return retryAfter(load, cap(s.slots))
}

// retryAfter spreads refused clients over whole seconds: with refused clients in the
// last second and capacity slots, over 1 + refused/capacity seconds (at most
// maxRetryAfter).
func retryAfter(refused, capacity int) time.Duration {
	spread := min(1+refused/max(capacity, 1), int(maxRetryAfter/time.Second))
	return time.Duration(1+rand.IntN(spread)) * time.Second
}
