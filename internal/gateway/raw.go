package gateway

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// serveRaw serves one raw port's listener until it is closed.
func (s *Server) serveRaw(key string, l io2Closer) {
	kind, port, _ := cutPort(key)
	switch v := l.(type) {
	case net.Listener:
		s.goServe(func() {
			for {
				c, err := v.Accept()
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				rt := s.route(s.table.Load().Port(kind, port))
				if rt == nil {
					c.Close()
					continue
				}
				go s.forwardTCP(rt, c)
			}
		})
	case net.PacketConn:
		u := &udpPort{s: s, pc: v, port: port, sessions: map[string]*udpSession{}}
		s.goServe(u.serve)
	}
}

// udpPort relays one UDP port: a session (a connected socket towards the backend)
// per client address, ended after the idle time.
type udpPort struct {
	s        *Server
	pc       net.PacketConn
	port     int
	mu       sync.Mutex
	sessions map[string]*udpSession
}

type udpSession struct {
	b    net.Conn
	last time.Time // guarded by udpPort.mu
}

func (u *udpPort) serve() {
	buf := make([]byte, 64<<10)
	defer u.closeAll()
	for {
		n, from, err := u.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		rt := u.s.route(u.s.table.Load().Port(gridapi.ExposeUDP, u.port))
		if rt == nil {
			continue
		}
		sess := u.session(rt, from)
		if sess == nil {
			continue
		}
		if _, err := sess.b.Write(buf[:n]); err == nil {
			rt.m.bytes.WithLabelValues(rt.name, "in").Add(float64(n))
		}
	}
}

// session returns the client's session, opening one within the route's limits.
func (u *udpPort) session(rt *routeRT, from net.Addr) *udpSession {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s := u.sessions[from.String()]; s != nil {
		s.last = time.Now()
		return s
	}
	if !rt.lim.allow() || !rt.lim.acquire() {
		u.s.m.refused.WithLabelValues("udp_limit").Inc()
		return nil
	}
	b, _, err := rt.pool.dial(rt.ctx, "udp")
	if err != nil {
		rt.lim.release()
		return nil
	}
	if rt.r.ProxyProtocol {
		if err := writeProxyHeader(b, from, "udp"); err != nil {
			rt.lim.release()
			b.Close()
			return nil
		}
	}
	if !rt.track(b) {
		rt.lim.release()
		b.Close()
		return nil
	}
	s := &udpSession{b: b, last: time.Now()}
	u.sessions[from.String()] = s
	rt.m.requests.WithLabelValues(rt.name, "session").Inc()
	go u.replies(rt, s, from)
	return s
}

// replies relays the backend's datagrams to the client until the session idles out
// or its route goes.
func (u *udpPort) replies(rt *routeRT, s *udpSession, to net.Addr) {
	defer func() {
		u.mu.Lock()
		delete(u.sessions, to.String())
		u.mu.Unlock()
		rt.untrack(s.b)
		s.b.Close()
		rt.lim.release()
	}()
	buf := make([]byte, 64<<10)
	for {
		_ = s.b.SetReadDeadline(time.Now().Add(u.s.opts.UDPIdle))
		n, err := s.b.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				u.mu.Lock()
				idle := time.Since(s.last) >= u.s.opts.UDPIdle
				u.mu.Unlock()
				if !idle {
					continue
				}
			}
			return
		}
		if _, err := u.pc.WriteTo(buf[:n], to); err == nil {
			rt.m.bytes.WithLabelValues(rt.name, "out").Add(float64(n))
		}
	}
}

func (u *udpPort) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range u.sessions {
		s.b.Close()
	}
}
