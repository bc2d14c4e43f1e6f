package nodeagent

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// backoff is an exponential backoff with jitter. Not safe for concurrent use.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// next returns the next delay: min, 2·min, ... up to max, each uniform in [½, 1]× that
// step ("equal jitter"), so nodes that lost the registry together do not come back in
// lockstep.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

// after returns the delay before retrying err: the backoff's next step, or longer when
// the registry asked for it (Retry-After on a 503 or 429) plus up to a second of jitter,
// so that nodes it sent away together do not return together.
func (b *backoff) after(err error) time.Duration {
	d := b.next()
	if ra := gridapi.RetryAfter(err); ra > 0 {
		d = max(d, ra+rand.N(time.Second))
	}
	return d
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
