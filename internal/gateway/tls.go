package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// acceptTLS serves port 443: each connection's ClientHello is peeked, its server name
// looked up, and the connection either spliced to a passthrough backend or handed,
// with the peeked bytes, to the HTTPS server under a certificate from the CertSource.
func (s *Server) acceptTLS(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go s.serveTLSConn(c)
	}
}

func (s *Server) serveTLSConn(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(s.opts.HelloTimeout))
	sni, hello, err := PeekSNI(c)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		s.m.refused.WithLabelValues("bad_hello").Inc()
		c.Close()
		return
	}
	route := s.table.Load().HTTP(sni)
	rt := s.route(route)
	if rt == nil || sni == "" {
		s.m.refused.WithLabelValues("unknown_name").Inc()
		c.Close()
		return
	}
	pc := &prefixConn{Conn: c, prefix: hello}
	if route.TLS == gridapi.TLSPassthrough {
		s.forwardTCP(rt, pc)
		return
	}
	if s.opts.Certs == nil {
		s.m.refused.WithLabelValues("no_certificates").Inc()
		c.Close()
		return
	}
	// the HTTPS server needs the *tls.Conn itself (HTTP/2 is chosen by type); the
	// connection leaves its route's set through connState
	tc := tls.Server(pc, s.tlsConfig())
	if !rt.track(tc) {
		c.Close()
		return
	}
	s.tlsRoutes.Store(tc, rt)
	select {
	case s.tlsL.ch <- tc:
	case <-s.tlsL.done:
		s.tlsRoutes.Delete(tc)
		rt.untrack(tc)
		tc.Close()
	}
}

// connState untracks a terminated TLS connection when the HTTPS server is done with it.
func (s *Server) connState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	if v, ok := s.tlsRoutes.LoadAndDelete(c); ok {
		v.(*routeRT).untrack(c)
	}
}

// tlsConfig serves certificates only for terminated names of the table.
func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			r := s.table.Load().HTTP(h.ServerName)
			if r == nil || r.TLS != gridapi.TLSTerminate {
				return nil, errors.New("no such name on this gateway")
			}
			return s.opts.Certs.GetCertificate(h)
		},
	}
}

// forwardTCP splices a client connection to one of the route's backends, within its
// limits, with a PROXY v2 header first when asked; it returns when both directions end.
func (s *Server) forwardTCP(rt *routeRT, c net.Conn) {
	defer c.Close()
	if !rt.lim.allow() {
		s.m.refused.WithLabelValues("rate").Inc()
		return
	}
	if !rt.lim.acquire() {
		s.m.refused.WithLabelValues("conns").Inc()
		return
	}
	defer rt.lim.release()
	if !rt.track(c) {
		return
	}
	defer rt.untrack(c)
	ctx, cancel := context.WithTimeout(rt.ctx, 10*time.Second)
	start := time.Now()
	b, _, err := rt.pool.dial(ctx, "tcp")
	cancel()
	if err != nil {
		s.log.Warn("gateway: no backend", "route", rt.name, "err", err)
		rt.m.requests.WithLabelValues(rt.name, "no_backend").Inc()
		return
	}
	rt.m.connect.WithLabelValues(rt.name).Observe(time.Since(start).Seconds())
	if !rt.track(b) {
		b.Close()
		return
	}
	defer rt.untrack(b)
	defer b.Close()
	if rt.r.ProxyProtocol {
		if err := writeProxyHeader(b, c.RemoteAddr(), "tcp"); err != nil {
			return
		}
	}
	rt.m.requests.WithLabelValues(rt.name, "conn").Inc()
	in, out := splice(c, b)
	rt.m.bytes.WithLabelValues(rt.name, "in").Add(float64(in))
	rt.m.bytes.WithLabelValues(rt.name, "out").Add(float64(out))
}

// splice copies both ways until both directions end, half-closing as each ends; it
// returns the bytes from client to backend and back.
func splice(client, backend net.Conn) (in, out int64) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in, _ = io.Copy(backend, client)
		closeWrite(backend)
	}()
	out, _ = io.Copy(client, backend)
	closeWrite(client)
	wg.Wait()
	return in, out
}

func closeWrite(c net.Conn) {
	for {
		switch v := c.(type) {
		case interface{ CloseWrite() error }:
			_ = v.CloseWrite()
			return
		case *prefixConn:
			c = v.Conn
		default:
			_ = c.Close()
			return
		}
	}
}
