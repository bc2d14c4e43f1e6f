package guestagent

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
)

// Router is the host side of the serial link: it gives each local client connection's
// streams their own ids on the link and routes frames both ways. A client speaks the
// same frames as the link. When the guest says Hello again (its agent restarted: the
// guest rebooted), the streams opened while the earlier agent ran end with an error;
// streams opened before the first Hello wait for the agent. Safe for concurrent use.
type Router struct {
	Serial io.ReadWriter
	Log    *slog.Logger

	wmu     sync.Mutex // serial writes
	mu      sync.Mutex
	next    uint32
	routes  map[uint32]route // link id → client
	hellos  int
	helloCh chan struct{}
}

type route struct {
	c     *clientConn
	id    uint32 // the client's id
	epoch int    // hellos seen when it opened
}

type clientConn struct {
	conn net.Conn
	wmu  sync.Mutex
	ids  map[uint32]uint32 // client id → link id
}

func (c *clientConn) write(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.Write(b)
}

func (r *Router) init() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.routes == nil {
		r.routes = map[uint32]route{}
		r.helloCh = make(chan struct{})
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
}

// Hellos returns how many times the guest agent said hello (boots seen).
func (r *Router) Hellos() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hellos
}

// Open returns how many streams are open.
func (r *Router) Open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.routes)
}

// Serve accepts clients on l and routes until the serial link fails; it then closes l
// and returns the link's error.
func (r *Router) Serve(l net.Listener) error {
	r.init()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go r.client(&clientConn{conn: c, ids: map[uint32]uint32{}})
		}
	}()
	err := r.readSerial()
	l.Close()
	r.failAll("the VM's serial link closed (the VM is off)")
	return err
}

func (r *Router) readSerial() error {
	for {
		f, err := ReadFrame(r.Serial)
		if err != nil {
			return err
		}
		if f.Type == THello {
			var h Hello
			json.Unmarshal(f.Payload, &h)
			r.Log.Info("guest agent hello", "node", h.Node)
			r.mu.Lock()
			r.hellos++
			r.mu.Unlock()
			r.fail("the guest agent restarted (the VM rebooted)", func(rt route) bool { return rt.epoch > 0 })
			continue
		}
		r.mu.Lock()
		rt, ok := r.routes[f.Stream]
		if ok && f.Type == TExit {
			delete(r.routes, f.Stream)
			delete(rt.c.ids, rt.id)
		}
		r.mu.Unlock()
		if ok {
			rt.c.write(AppendFrame(nil, rt.id, f.Type, f.Payload))
		}
	}
}

// failAll ends every open stream with an error.
func (r *Router) failAll(msg string) { r.fail(msg, func(route) bool { return true }) }

// fail ends the open streams which match with an error.
func (r *Router) fail(msg string, match func(route) bool) {
	r.mu.Lock()
	var failed []route
	for link, rt := range r.routes {
		if match(rt) {
			failed = append(failed, rt)
			delete(r.routes, link)
			delete(rt.c.ids, rt.id)
		}
	}
	r.mu.Unlock()
	for _, rt := range failed {
		rt.c.write(jsonFrame(rt.id, TExit, Exit{Code: 255, Error: msg}))
	}
}

func (r *Router) sendSerial(b []byte) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_, err := r.Serial.Write(b)
	return err
}

// client routes one client's frames to the link until it disconnects; its open
// streams' commands are then killed.
func (r *Router) client(c *clientConn) {
	defer c.conn.Close()
	for {
		f, err := ReadFrame(c.conn)
		if err != nil {
			break
		}
		r.mu.Lock()
		link, ok := c.ids[f.Stream]
		if !ok && f.Type == TOpen {
			r.next++
			if r.next == 0 {
				r.next++
			}
			link, ok = r.next, true
			c.ids[f.Stream] = link
			r.routes[link] = route{c: c, id: f.Stream, epoch: r.hellos}
		}
		r.mu.Unlock()
		if !ok {
			continue // a stream that already ended
		}
		if err := r.sendSerial(AppendFrame(nil, link, f.Type, f.Payload)); err != nil {
			c.write(jsonFrame(f.Stream, TExit, Exit{Code: 255, Error: "serial link: " + err.Error()}))
			break
		}
	}
	r.mu.Lock()
	var open []uint32
	for _, link := range c.ids {
		open = append(open, link)
		delete(r.routes, link)
	}
	c.ids = map[uint32]uint32{}
	r.mu.Unlock()
	for _, link := range open {
		r.sendSerial(AppendFrame(nil, link, TKill, nil))
	}
}

// ErrChannel is returned (wrapped) when the agent channel fails before the command ends.
var ErrChannel = errors.New("guest agent channel failed")
