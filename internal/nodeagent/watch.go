package nodeagent

import (
	"context"
	"log/slog"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Watcher long-polls what a node must run and calls Apply with every new revision.
// While the registry is unreachable it backs off (short and jittered: it is back within
// about a second of the registry's return) and Apply is not called: whatever runs keeps
// running. A registry that sheds load (503 + Retry-After) is honoured. A failed Apply is
// retried with the same state after a backoff.
type Watcher struct {
	Client     Registry
	NodeID     int64
	Apply      func(ctx context.Context, d gridapi.Desired) error
	Timeout    time.Duration // long-poll timeout; default 30 s
	MinBackoff time.Duration // default 200 ms
	MaxBackoff time.Duration // default 1 s (each wait is jittered over [½, 1]× the step)
	Conn       *Conn         // optional: records the registry connection
	Log        *slog.Logger
}

// Run watches until ctx ends (it then returns nil).
func (w *Watcher) Run(ctx context.Context) error {
	log := w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bo := backoff{min: or(w.MinBackoff, 200*time.Millisecond), max: or(w.MaxBackoff, time.Second)}
	var rev int64
	var pending *gridapi.Desired
	for ctx.Err() == nil {
		if pending == nil {
			d, err := w.Client.Desired(ctx, w.NodeID, rev, or(w.Timeout, 30*time.Second))
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				w.Conn.Record(err, time.Now())
				delay := bo.after(err)
				log.Warn("nodeagent: watch failed, retrying", "err", err, "in", delay.Round(time.Millisecond))
				sleep(ctx, delay)
				continue
			}
			w.Conn.OK(time.Now())
			bo.reset()
			if d.Revision <= rev {
				continue // timeout, nothing new
			}
			pending = &d
		}
		if err := w.Apply(ctx, *pending); err != nil {
			delay := bo.next()
			log.Error("nodeagent: applying desired state failed, retrying", "revision", pending.Revision, "err", err, "in", delay.Round(time.Millisecond))
			sleep(ctx, delay)
			continue
		}
		rev, pending = pending.Revision, nil
	}
	return nil
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
