package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Dialer reaches a backend on a user's network. On a node it opens the socket in the
// network's namespace n-<netID>; tests dial on loopback. network is "tcp" or "udp".
type Dialer interface {
	DialContext(ctx context.Context, network, netID string, addr netip.AddrPort) (net.Conn, error)
}

// HostDialer dials in the caller's own namespace, ignoring netID (tests, benchmarks).
type HostDialer struct{ net.Dialer }

// DialContext implements Dialer.
func (d *HostDialer) DialContext(ctx context.Context, network, _ string, addr netip.AddrPort) (net.Conn, error) {
	return d.Dialer.DialContext(ctx, network, addr.String())
}

// backend is one backend's address and health.
type backend struct {
	addr      netip.AddrPort
	healthy   atomic.Bool
	mu        sync.Mutex // guards the fields below
	fails     int        // consecutive failed checks
	oks       int        // consecutive good checks
	lastCheck time.Time
	lastErr   string
}

// pool is a route's backends: round-robin over the healthy ones, active health checks
// in one goroutine until stop.
type pool struct {
	route    *Route
	backends []*backend
	next     atomic.Uint32
	dialer   Dialer
	health   Health
	onChange func(b *backend) // health changed (metrics, logs)
	stop     context.CancelFunc
	done     chan struct{}
}

func newPool(r *Route, d Dialer, h Health, onChange func(*backend)) *pool {
	p := &pool{route: r, dialer: d, health: h.withDefaults(), onChange: onChange, done: make(chan struct{})}
	for _, a := range r.Backends {
		b := &backend{addr: a}
		b.healthy.Store(true) // optimistic: a new route serves at once
		p.backends = append(p.backends, b)
	}
	return p
}

// start runs the health checks until stop; UDP backends are not checked (there is no
// connect to try) and stay healthy.
func (p *pool) start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	if p.route.Kind == gridapi.ExposeUDP {
		close(p.done)
		return
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(p.health.Interval)
		defer t.Stop()
		for {
			p.checkAll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (p *pool) close() {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
}

func (p *pool) checkAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, b := range p.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, p.health.Timeout)
			defer cancel()
			c, err := p.dialer.DialContext(cctx, "tcp", p.route.Network, b.addr)
			if err == nil {
				c.Close()
			}
			if ctx.Err() == nil {
				p.observe(b, err)
			}
		}()
	}
	wg.Wait()
}

// observe records one check (or a failed dial of real traffic) and flips the backend
// after Fall failures or Rise successes in a row.
func (p *pool) observe(b *backend, err error) {
	b.mu.Lock()
	b.lastCheck = time.Now()
	was := b.healthy.Load()
	if err != nil {
		b.fails, b.oks, b.lastErr = b.fails+1, 0, err.Error()
		if was && b.fails >= p.health.Fall {
			b.healthy.Store(false)
		}
	} else {
		b.fails, b.oks, b.lastErr = 0, b.oks+1, ""
		if !was && b.oks >= p.health.Rise {
			b.healthy.Store(true)
		}
	}
	changed := was != b.healthy.Load()
	b.mu.Unlock()
	if changed && p.onChange != nil {
		p.onChange(b)
	}
}

// order is the order to try backends in for one connection: the healthy ones
// round-robin, then (a last resort when all seem down) the others.
func (p *pool) order() []*backend {
	n := len(p.backends)
	start := int(p.next.Add(1)) % n
	out := make([]*backend, 0, n)
	for _, healthy := range []bool{true, false} {
		for i := range n {
			if b := p.backends[(start+i)%n]; b.healthy.Load() == healthy {
				out = append(out, b)
			}
		}
	}
	return out
}

// errNoBackend is returned when no backend of a route answered.
var errNoBackend = errors.New("no backend answered")

// dial connects to the first backend of order that answers; a failed dial counts as a
// failed check, so traffic leaves a dead backend without waiting for the next check.
func (p *pool) dial(ctx context.Context, network string) (net.Conn, *backend, error) {
	var errs []error
	for _, b := range p.order() {
		c, err := p.dialer.DialContext(ctx, network, p.route.Network, b.addr)
		if err == nil {
			return c, b, nil
		}
		if network == "tcp" {
			p.observe(b, err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", b.addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, fmt.Errorf("%w: %w", errNoBackend, errors.Join(errs...))
}

// status is the backends' health as the registry report carries it.
func (p *pool) status() []gridapi.BackendHealth {
	out := make([]gridapi.BackendHealth, 0, len(p.backends))
	for _, b := range p.backends {
		b.mu.Lock()
		out = append(out, gridapi.BackendHealth{Addr: b.addr.String(), Healthy: b.healthy.Load(), LastCheck: b.lastCheck, LastError: b.lastErr})
		b.mu.Unlock()
	}
	return out
}
