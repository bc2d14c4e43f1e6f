package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// routeRT is a route at run time: its backends, limits and open connections. It lives
// from the Apply that adds the route to the Apply that removes or changes it.
type routeRT struct {
	r     *Route
	name  string
	pool  *pool
	lim   *limiter
	proxy *httputil.ReverseProxy // http routes
	tr    *http.Transport
	m     *metrics

	ctx    context.Context // ends when the route goes: its requests and upgrades end
	cancel context.CancelFunc

	mu    sync.Mutex
	conns map[net.Conn]struct{} // client connections, closed when the route goes
	gone  bool
}

type ctxKey int

const clientAddrKey ctxKey = iota

func (s *Server) newRouteRT(r *Route) *routeRT {
	rt := &routeRT{r: r, name: r.Name(), lim: newLimiter(s.cfgLimits()), m: s.m, conns: map[net.Conn]struct{}{}}
	rt.ctx, rt.cancel = context.WithCancel(context.Background())
	rt.pool = newPool(r, s.opts.Dialer, s.cfgHealth(), func(b *backend) {
		s.m.up.WithLabelValues(rt.name, b.addr.String()).Set(b01(b.healthy.Load()))
		s.log.Info("gateway: backend health changed", "route", rt.name, "backend", b.addr, "healthy", b.healthy.Load(), "err", b.lastErr)
	})
	for _, b := range rt.pool.backends {
		s.m.up.WithLabelValues(rt.name, b.addr.String()).Set(1)
	}
	if r.Kind == "http" {
		rt.tr = &http.Transport{
			DialContext:           rt.dialHTTP,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 0, // streaming responses may start late
			DisableKeepAlives:     r.ProxyProtocol,
		}
		rt.proxy = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(&url.URL{Scheme: "http", Host: "backend"})
				pr.Out.Host = pr.In.Host
				pr.SetXForwarded()
			},
			Transport: rt,
			// 0: ReverseProxy flushes streamed answers (no Content-Length, event
			// streams) at every write and lets sized ones fill its buffers
			FlushInterval: 0,
			BufferPool:    bufPool{},
			ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
				s.log.Warn("gateway: backend failed", "route", rt.name, "err", err)
				http.Error(w, "the service behind this name is not answering", http.StatusBadGateway)
			},
		}
	}
	rt.pool.start()
	return rt
}

// bufPool lends the reverse proxy 256 KiB copy buffers (bulk answers cross the
// gateway in fewer, larger writes than with its default 32 KiB).
type bufPool struct{}

var proxyBufs = sync.Pool{New: func() any { return make([]byte, 256<<10) }}

func (bufPool) Get() []byte { return proxyBufs.Get().([]byte) }

//lint:ignore SA6002 the interface hands out slices; boxing the header costs one small allocation per answer, not per copy
func (bufPool) Put(b []byte) { proxyBufs.Put(b) }

func b01(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// RoundTrip implements http.RoundTripper for the reverse proxy: each request goes to
// the next healthy backend (round robin per request, over kept-alive connections per
// backend); when a backend cannot be connected to, nothing was sent, and a request
// without a body to replay moves on to the next backend.
func (rt *routeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	var lastErr error
	for i, b := range rt.pool.order() {
		out := req
		if i > 0 {
			if req.Body != nil && req.Body != http.NoBody {
				break
			}
			out = req.Clone(req.Context())
		}
		out.URL.Host = b.addr.String()
		resp, err := rt.tr.RoundTrip(out)
		var de *dialError
		if err == nil || !errors.As(err, &de) {
			return resp, err
		}
		rt.pool.observe(b, de.err)
		lastErr = err
	}
	if lastErr == nil {
		lastErr = errNoBackend
	}
	return nil, lastErr
}

// dialError is a failed connect to a backend (nothing of the request was sent).
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect to backend: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dialHTTP is the HTTP transport's dial to the backend RoundTrip chose, in the route's
// network; a PROXY v2 header with the client's address (from the request context)
// goes first when asked.
func (rt *routeRT) dialHTTP(ctx context.Context, _, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, &dialError{err}
	}
	start := time.Now()
	c, err := rt.pool.dialer.DialContext(ctx, "tcp", rt.r.Network, ap)
	if err != nil {
		return nil, &dialError{err}
	}
	rt.m.connect.WithLabelValues(rt.name).Observe(time.Since(start).Seconds())
	if rt.r.ProxyProtocol {
		client, _ := ctx.Value(clientAddrKey).(net.Addr)
		if err := writeProxyHeader(c, client, "tcp"); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// writeProxyHeader sends a PROXY protocol v2 header: the client's address as source,
// the backend connection's local address as destination.
func writeProxyHeader(c net.Conn, client net.Addr, network string) error {
	if client == nil {
		return nil
	}
	tp := proxyproto.TCPv4
	if network == "udp" {
		tp = proxyproto.UDPv4
	}
	if ap, ok := addrPort(client); ok && !ap.Addr().Unmap().Is4() {
		tp = map[string]proxyproto.AddressFamilyAndProtocol{"tcp": proxyproto.TCPv6, "udp": proxyproto.UDPv6}[network]
	}
	h := proxyproto.HeaderProxyFromAddrs(2, client, c.LocalAddr())
	h.TransportProtocol = tp
	_, err := h.WriteTo(c)
	return err
}

// track registers a client connection of the route; false when the route is gone.
func (rt *routeRT) track(c net.Conn) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.gone {
		return false
	}
	rt.conns[c] = struct{}{}
	rt.m.conns.WithLabelValues(rt.name).Set(float64(len(rt.conns)))
	return true
}

func (rt *routeRT) untrack(c net.Conn) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	delete(rt.conns, c)
	if !rt.gone {
		rt.m.conns.WithLabelValues(rt.name).Set(float64(len(rt.conns)))
	}
}

// stop ends the route: health checks stop, its client connections close.
func (rt *routeRT) stop() {
	rt.mu.Lock()
	rt.gone = true
	conns := rt.conns
	rt.conns = nil
	rt.mu.Unlock()
	rt.cancel()
	for c := range conns {
		c.Close()
	}
	rt.pool.close()
	if rt.tr != nil {
		rt.tr.CloseIdleConnections()
	}
}

// same says whether a new route can keep this runtime (same backends and behaviour).
func (rt *routeRT) same(r *Route) bool {
	o := rt.r
	if o.Network != r.Network || o.Kind != r.Kind || o.FQDN != r.FQDN || o.TLS != r.TLS || o.Port != r.Port ||
		o.ProxyProtocol != r.ProxyProtocol || len(o.Backends) != len(r.Backends) {
		return false
	}
	for i := range o.Backends {
		if o.Backends[i] != r.Backends[i] {
			return false
		}
	}
	return true
}
