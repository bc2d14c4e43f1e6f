package gateway

import (
	"sync/atomic"

	"golang.org/x/time/rate"
)

// limiter is a route's request rate limit and connection cap.
type limiter struct {
	rate  *rate.Limiter
	max   int64
	conns atomic.Int64
}

func newLimiter(l Limits) *limiter {
	l = l.withDefaults()
	return &limiter{rate: rate.NewLimiter(rate.Limit(l.Rate), l.Burst), max: int64(l.MaxConns)}
}

// allow takes one request (or new connection) from the rate limit.
func (l *limiter) allow() bool { return l.rate.Allow() }

// acquire takes a connection slot; release gives it back. false: the cap is reached.
func (l *limiter) acquire() bool {
	if l.conns.Add(1) > l.max {
		l.conns.Add(-1)
		return false
	}
	return true
}

func (l *limiter) release() { l.conns.Add(-1) }
