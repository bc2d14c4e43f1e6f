package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Listener opens the gateway's sockets; *net.ListenConfig is one (on a node, opened
// inside the `public` namespace).
type Listener interface {
	Listen(ctx context.Context, network, address string) (net.Listener, error)
	ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error)
}

// CertSource gives certificates for terminated names and answers ACME HTTP-01
// challenges. Forget drops a removed name's certificate; NotAfter is its expiry (zero:
// none yet).
type CertSource interface {
	GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error)
	HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool
	Forget(name string)
	NotAfter(name string) time.Time
}

// Options configure a Server. Listener and Dialer are required.
type Options struct {
	Listener Listener
	Dialer   Dialer
	Certs    CertSource // nil: terminated names are refused at TLS
	// HTTPAddr and HTTPSAddr are the web listeners (default ":80", ":443"); RawHost is
	// the host raw ports listen on ("" = every address).
	HTTPAddr, HTTPSAddr, RawHost string
	// HelloTimeout bounds the wait for a ClientHello (default 10 s); UDPIdle ends a UDP
	// session without traffic (default 60 s).
	HelloTimeout, UDPIdle time.Duration
	Log                   *slog.Logger
	Metrics               prometheus.Registerer // nil: not registered
}

// Server is a running gateway. Create it with New, open the web listeners with Start,
// serve a Config with Apply, end with Close.
type Server struct {
	opts  Options
	log   *slog.Logger
	m     *metrics
	table atomic.Pointer[Table]

	mu     sync.Mutex // serializes Apply and Close; guards the fields below
	routes map[string]*routeRT
	raw    map[string]io2Closer // "tcp:PORT"/"udp:PORT" → listener
	web    []net.Listener
	closed bool
	https  *http.Server
	http   *http.Server
	tlsL   *chanListener // terminated TLS connections, served by https
	// tlsRoutes maps a terminated *tls.Conn to its route until the server drops it
	tlsRoutes sync.Map
	wg        sync.WaitGroup
}

// io2Closer is a raw listener (net.Listener or net.PacketConn).
type io2Closer interface{ Close() error }

// New creates a Server serving an empty table.
func New(opts Options) (*Server, error) {
	if opts.Listener == nil || opts.Dialer == nil {
		return nil, errors.New("gateway: Listener and Dialer are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.HTTPAddr = orStr(opts.HTTPAddr, ":80")
	opts.HTTPSAddr = orStr(opts.HTTPSAddr, ":443")
	if opts.HelloTimeout == 0 {
		opts.HelloTimeout = 10 * time.Second
	}
	if opts.UDPIdle == 0 {
		opts.UDPIdle = 60 * time.Second
	}
	s := &Server{opts: opts, log: opts.Log, m: newMetrics(opts.Metrics), routes: map[string]*routeRT{},
		raw: map[string]io2Closer{}}
	empty, _ := Build(Config{})
	s.table.Store(empty)
	return s, nil
}

func orStr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (s *Server) cfgLimits() Limits { return s.table.Load().cfg.Limits }
func (s *Server) cfgHealth() Health { return s.table.Load().cfg.Health }

// Start opens the HTTP and HTTPS listeners and serves them until Close.
func (s *Server) Start(ctx context.Context) error {
	lh, err := s.opts.Listener.Listen(ctx, "tcp", s.opts.HTTPAddr)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", s.opts.HTTPAddr, err)
	}
	ls, err := s.opts.Listener.Listen(ctx, "tcp", s.opts.HTTPSAddr)
	if err != nil {
		lh.Close()
		return fmt.Errorf("gateway: listen %s: %w", s.opts.HTTPSAddr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.web = []net.Listener{lh, ls}
	s.http = &http.Server{Handler: s.handler("http"), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slogStd(s.log)}
	s.https = &http.Server{Handler: s.handler("https"), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slogStd(s.log),
		TLSConfig: &tls.Config{NextProtos: []string{"h2", "http/1.1"}}, // serve h2 on the handed-over TLS connections
		ConnState: s.connState}
	s.goServe(func() { _ = s.http.Serve(lh) })
	s.tlsL = &chanListener{ch: make(chan net.Conn), addr: ls.Addr(), done: make(chan struct{})}
	s.goServe(func() { _ = s.https.Serve(s.tlsL) })
	s.goServe(func() { s.acceptTLS(ls) })
	return nil
}

func (s *Server) goServe(fn func()) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); fn() }()
}

// Addrs returns the web listeners' addresses (HTTP, HTTPS), once started.
func (s *Server) Addrs() (http, https net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.web) < 2 {
		return nil, nil
	}
	return s.web[0].Addr(), s.web[1].Addr()
}

// Apply makes the gateway serve cfg: the table is built and every new raw port opened
// first (any error leaves the previous config serving, untouched); then the table is
// swapped in one step. Routes that stay keep their connections and health state; a
// removed or changed route's connections close and a removed name's certificate is
// forgotten. Idempotent.
func (s *Server) Apply(ctx context.Context, cfg Config) error {
	t, err := Build(cfg)
	if err != nil {
		s.m.applyErrs.Inc()
		return fmt.Errorf("gateway: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("gateway: closed")
	}
	opened, err := s.openRaw(ctx, t)
	if err != nil {
		for _, l := range opened {
			l.Close()
		}
		s.m.applyErrs.Inc()
		return err
	}
	s.table.Store(t)
	s.swapRoutes(t)
	s.closeRaw(t)
	for k, l := range opened {
		s.raw[k] = l
		s.serveRaw(k, l)
	}
	s.m.applied.Set(float64(len(t.cfg.Routes)))
	return nil
}

// openRaw opens the listeners of raw ports t has and the server does not.
func (s *Server) openRaw(ctx context.Context, t *Table) (map[string]io2Closer, error) {
	opened := map[string]io2Closer{}
	for _, kind := range []string{gridapi.ExposeTCP, gridapi.ExposeUDP} {
		for _, p := range t.Ports(kind) {
			k := kind + ":" + strconv.Itoa(p)
			if s.raw[k] != nil {
				continue
			}
			addr := net.JoinHostPort(s.opts.RawHost, strconv.Itoa(p))
			var l io2Closer
			var err error
			if kind == gridapi.ExposeTCP {
				l, err = s.opts.Listener.Listen(ctx, "tcp", addr)
			} else {
				l, err = s.opts.Listener.ListenPacket(ctx, "udp", addr)
			}
			if err != nil {
				return opened, fmt.Errorf("gateway: listen %s %s: %w", kind, addr, err)
			}
			opened[k] = l
		}
	}
	return opened, nil
}

// closeRaw closes the raw listeners t no longer has.
func (s *Server) closeRaw(t *Table) {
	for k, l := range s.raw {
		kind, port, _ := cutPort(k)
		if t.Port(kind, port) == nil {
			l.Close()
			delete(s.raw, k)
		}
	}
}

func cutPort(k string) (string, int, bool) {
	for i := range k {
		if k[i] == ':' {
			p, err := strconv.Atoi(k[i+1:])
			return k[:i], p, err == nil
		}
	}
	return k, 0, false
}

// swapRoutes keeps the runtimes of unchanged routes, starts new ones, stops the rest.
func (s *Server) swapRoutes(t *Table) {
	next := make(map[string]*routeRT, len(t.cfg.Routes))
	for i := range t.cfg.Routes {
		r := &t.cfg.Routes[i]
		if old := s.routes[r.ID]; old != nil && old.same(r) {
			next[r.ID] = old // old.r stays: the same content, and immutable
			continue
		}
		next[r.ID] = s.newRouteRT(r)
	}
	for id, old := range s.routes {
		if next[id] == nil || next[id] != old {
			old.stop()
			if next[id] == nil || next[id].name != old.name {
				s.m.forget(old.name)
			}
			if s.opts.Certs != nil && old.r.Kind == gridapi.ExposeHTTP && (next[id] == nil || next[id].name != old.name) {
				s.opts.Certs.Forget(old.r.FQDN)
			}
		}
	}
	s.routes = next
}

// route returns the runtime of a route of the current table.
func (s *Server) route(r *Route) *routeRT {
	if r == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routes[r.ID]
}

// Status is each route's backends' health and certificate expiry, by route id.
func (s *Server) Status() map[string]gridapi.ExposureReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]gridapi.ExposureReport, len(s.routes))
	for id, rt := range s.routes {
		rep := gridapi.ExposureReport{Backends: rt.pool.status()}
		if s.opts.Certs != nil && rt.r.Kind == gridapi.ExposeHTTP && rt.r.TLS == gridapi.TLSTerminate {
			rep.CertNotAfter = s.opts.Certs.NotAfter(rt.r.FQDN)
		}
		out[id] = rep
	}
	return out
}

// Table returns the table being served.
func (s *Server) Table() *Table { return s.table.Load() }

// Close stops every listener, route and connection, and waits for the servers.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, l := range s.web {
		l.Close()
	}
	for k, l := range s.raw {
		l.Close()
		delete(s.raw, k)
	}
	for _, rt := range s.routes {
		rt.stop()
	}
	s.routes = map[string]*routeRT{}
	hs := []*http.Server{s.http, s.https}
	s.mu.Unlock()
	for _, h := range hs {
		if h != nil {
			h.Close()
		}
	}
	s.wg.Wait()
	return nil
}

// addrPort is a net.Addr's address and port, when it has them.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	switch v := a.(type) {
	case *net.TCPAddr:
		return v.AddrPort(), true
	case *net.UDPAddr:
		return v.AddrPort(), true
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap, err == nil
}

// TerminatedName says whether name is a terminated name of the current table: the
// only names a CertSource may ask a CA for.
func (s *Server) TerminatedName(name string) bool {
	r := s.table.Load().HTTP(name)
	return r != nil && r.TLS == gridapi.TLSTerminate
}

// SetCerts sets the certificate source (before the first Apply).
func (s *Server) SetCerts(c CertSource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Certs = c
}
