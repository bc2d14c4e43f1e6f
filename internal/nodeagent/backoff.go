package nodeagent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is an exponential backoff with jitter. Not safe for concurrent use.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// next returns the next delay: min, 2·min, ... up to max, each with ±20 % jitter.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	j := time.Duration(float64(b.cur) * (0.8 + 0.4*rand.Float64()))
	return j
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
