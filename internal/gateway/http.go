package gateway

import (
	"bufio"
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

const acmePrefix = "/.well-known/acme-challenge/"

// handler serves one scheme's requests: only names of the table, never CONNECT or
// absolute URIs (the gateway is no open proxy).
func (s *Server) handler(scheme string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodConnect:
			s.refuse(w, "connect", http.StatusMethodNotAllowed, "CONNECT is not served: this gateway is not a proxy")
			return
		case !strings.HasPrefix(r.RequestURI, "/"):
			s.refuse(w, "absolute_url", http.StatusBadRequest, "absolute request URIs are not served: this gateway is not a proxy")
			return
		}
		route := s.table.Load().HTTP(r.Host)
		if route == nil {
			s.refuse(w, "unknown_name", http.StatusNotFound, "no service is exposed under this name on this gateway")
			return
		}
		if r.TLS != nil && !strings.EqualFold(r.TLS.ServerName, route.FQDN) {
			s.refuse(w, "misdirected", http.StatusMisdirectedRequest, "the TLS server name and the Host header differ")
			return
		}
		rt := s.route(route)
		if rt == nil {
			s.refuse(w, "unknown_name", http.StatusNotFound, "no service is exposed under this name on this gateway")
			return
		}
		if scheme == "http" && s.plainHTTP(w, r, rt) {
			return
		}
		s.proxyHTTP(w, r, rt, scheme)
	})
}

// plainHTTP handles what port 80 does besides proxying: ACME HTTP-01 challenges (for
// terminated names the CertSource answers them; for passthrough names they go to the
// backend's port 80) and the redirect of a passthrough name to https. true: handled.
func (s *Server) plainHTTP(w http.ResponseWriter, r *http.Request, rt *routeRT) bool {
	challenge := strings.HasPrefix(r.URL.Path, acmePrefix)
	switch {
	case rt.r.TLS == gridapi.TLSTerminate && challenge && s.opts.Certs != nil:
		return s.opts.Certs.HandleHTTPChallenge(w, r)
	case rt.r.TLS == gridapi.TLSPassthrough && challenge:
		s.challengeToBackend(w, r, rt)
		return true
	case rt.r.TLS == gridapi.TLSPassthrough:
		u := "https://" + rt.r.FQDN + r.URL.RequestURI()
		http.Redirect(w, r, u, http.StatusPermanentRedirect)
		return true
	}
	return false
}

// challengeToBackend forwards an HTTP-01 challenge of a passthrough name to port 80 of
// the backends (the backend holds the key, so it answers its own ACME challenges).
func (s *Server) challengeToBackend(w http.ResponseWriter, r *http.Request, rt *routeRT) {
	for _, b := range rt.pool.order() {
		c, err := s.opts.Dialer.DialContext(r.Context(), "tcp", rt.r.Network, netip.AddrPortFrom(b.addr.Addr(), 80))
		if err != nil {
			continue
		}
		defer c.Close()
		out := r.Clone(r.Context())
		out.RequestURI, out.Close = "", true
		out.Header.Set("X-Forwarded-For", clientIP(r.RemoteAddr))
		if err := out.Write(c); err != nil {
			break
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), out)
		if err != nil {
			break
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, 64<<10))
		return
	}
	http.Error(w, "the backend did not answer the ACME challenge on port 80", http.StatusBadGateway)
}

func clientIP(remote string) string {
	h, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return h
}

// proxyHTTP sends a request to the route's backends, within its limits.
func (s *Server) proxyHTTP(w http.ResponseWriter, r *http.Request, rt *routeRT, scheme string) {
	if !rt.lim.allow() {
		s.refuse(w, "rate", http.StatusTooManyRequests, "too many requests for this name: slow down")
		rt.m.requests.WithLabelValues(rt.name, "429").Inc()
		return
	}
	if !rt.lim.acquire() {
		s.refuse(w, "conns", http.StatusServiceUnavailable, "too many open requests for this name")
		rt.m.requests.WithLabelValues(rt.name, "503").Inc()
		return
	}
	defer rt.lim.release()
	start := time.Now()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(rt.ctx, cancel) // the route goes: the request (or upgrade) ends
	defer stop()
	if ra, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		ctx = context.WithValue(ctx, clientAddrKey, net.Addr(ra))
	}
	r = r.WithContext(ctx)
	cw := &countingWriter{ResponseWriter: w, code: http.StatusOK}
	body := &countingBody{ReadCloser: r.Body}
	r.Body = body
	rt.proxy.ServeHTTP(cw, r)
	rt.m.requests.WithLabelValues(rt.name, strconv.Itoa(cw.code)).Inc()
	rt.m.bytes.WithLabelValues(rt.name, "in").Add(float64(body.n))
	rt.m.bytes.WithLabelValues(rt.name, "out").Add(float64(cw.n))
	rt.m.latency.WithLabelValues(rt.name).Observe(time.Since(start).Seconds())
}

func (s *Server) refuse(w http.ResponseWriter, reason string, code int, msg string) {
	s.m.refused.WithLabelValues(reason).Inc()
	http.Error(w, msg, code)
}

// countingWriter counts response bytes and keeps the status; it passes Flush and
// Hijack (streaming, WebSockets) through Unwrap (http.ResponseController).
type countingWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

func (c *countingWriter) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

// Flush implements http.Flusher (ReverseProxy flushes streamed responses).
func (c *countingWriter) Flush() { _ = http.NewResponseController(c.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the connection (Hijack for upgrades).
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// chanListener is a net.Listener fed with connections (terminated TLS) by acceptTLS.
type chanListener struct {
	ch   chan net.Conn
	addr net.Addr
	done chan struct{}
	once sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

func slogStd(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}
