package plan

import (
	"net"
	"net/netip"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
)

// fabric is an in-memory underlay for wireguard-go devices: public addresses that
// accept anything, NATs and stateful firewalls that accept only replies to what went
// out (endpoint-independent mapping, like nft masquerade), and LANs where hosts reach
// each other's private addresses. No kernel, no root: it tests what the plan tells
// WireGuard against WireGuard's own rules.
type fabric struct {
	mu      sync.Mutex
	outside map[netip.AddrPort]*host   // public, NAT or firewalled address:port
	lan     map[lanAddr]*host          // private address:port on one LAN
	conns   map[[2]netip.AddrPort]bool // (outside source, remote) pairs seen going out
	seen    map[[2]netip.AddrPort]int  // datagrams per (source, destination)
	down    map[*host]bool             // hosts cut off the network
	hosts   map[string]*host           // by name
}

type lanAddr struct {
	lan string
	ap  netip.AddrPort
}

// host is one machine on the fabric.
type host struct {
	name    string
	port    uint16        // listen port: on open outside addresses and on the LAN
	natPort uint16        // source port on a closed outside address (0: port)
	outside [2]netip.Addr // per family: the address others see (own or its NAT's)
	open    [2]bool       // inbound accepted without a prior outbound packet
	lanID   string
	lanPfx  netip.Prefix // the host's LAN address with its prefix length
	rx      chan datagram
}

type datagram struct {
	src netip.AddrPort
	b   []byte
}

func newFabric() *fabric {
	return &fabric{outside: map[netip.AddrPort]*host{}, lan: map[lanAddr]*host{}, conns: map[[2]netip.AddrPort]bool{},
		seen: map[[2]netip.AddrPort]int{}, down: map[*host]bool{}, hosts: map[string]*host{}}
}

func (f *fabric) add(h *host) {
	h.rx = make(chan datagram, 1024)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[h.name] = h
	for fm, a := range h.outside {
		if a.IsValid() && h.open[fm] {
			f.outside[netip.AddrPortFrom(a, h.port)] = h
		}
	}
	if h.lanID != "" {
		f.lan[lanAddr{h.lanID, netip.AddrPortFrom(h.lanPfx.Addr(), h.port)}] = h
	}
}

// send carries one datagram from h to dst, or drops it as the network would.
func (f *fabric) send(h *host, dst netip.AddrPort, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[h] {
		return
	}
	var src netip.AddrPort
	var to *host
	if h.lanID != "" && h.lanPfx.Masked().Contains(dst.Addr()) {
		src, to = netip.AddrPortFrom(h.lanPfx.Addr(), h.port), f.lan[lanAddr{h.lanID, dst}]
	} else {
		out := h.outside[fam(familyOf(dst.Addr()))]
		if !out.IsValid() {
			return // no route for this family
		}
		src = netip.AddrPortFrom(out, h.port)
		if f := fam(familyOf(dst.Addr())); !h.open[f] && h.natPort != 0 {
			src = netip.AddrPortFrom(out, h.natPort)
		}
		f.conns[[2]netip.AddrPort{src, dst}] = true
		f.outside[src] = h // the mapping exists; the firewall below decides who may use it
		to = f.outside[dst]
		if to != nil && !to.open[fam(familyOf(dst.Addr()))] && !f.conns[[2]netip.AddrPort{dst, src}] {
			to = nil // NAT or stateful firewall: not a reply
		}
	}
	if to == nil || f.down[to] {
		return
	}
	f.seen[[2]netip.AddrPort{src, dst}]++
	select {
	case to.rx <- datagram{src, append([]byte(nil), b...)}:
	default: // queue full: lost, as UDP may be
	}
}

// count returns how many datagrams went from any of a's addresses to any of b's.
func (f *fabric) count(a, b *host) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, c := range f.seen {
		if f.owner(k[0], a) && f.owner(k[1], b) {
			n += c
		}
	}
	return n
}

func (f *fabric) owner(ap netip.AddrPort, h *host) bool {
	if ap.Port() != h.port && ap.Port() != h.natPort {
		return false
	}
	return ap.Addr() == h.outside[0] || ap.Addr() == h.outside[1] || (h.lanID != "" && ap.Addr() == h.lanPfx.Addr())
}

// bind is h's conn.Bind on the fabric. wireguard-go may close and reopen it.
type bind struct {
	f      *fabric
	h      *host
	mu     sync.Mutex
	closed chan struct{}
}

type endpoint struct{ dst netip.AddrPort }

func (e endpoint) ClearSrc()           {}
func (e endpoint) SrcToString() string { return "" }
func (e endpoint) DstToString() string { return e.dst.String() }
func (e endpoint) DstToBytes() []byte  { b, _ := e.dst.MarshalBinary(); return b }
func (e endpoint) DstIP() netip.Addr   { return e.dst.Addr() }
func (e endpoint) SrcIP() netip.Addr   { return netip.Addr{} }

func (b *bind) Open(uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	closed := make(chan struct{})
	b.closed = closed
	b.mu.Unlock()
	recv := func(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		select {
		case <-closed:
			return 0, net.ErrClosed
		case d := <-b.h.rx:
			sizes[0] = copy(bufs[0], d.b)
			eps[0] = endpoint{d.src}
			return 1, nil
		}
	}
	return []conn.ReceiveFunc{recv}, b.h.port, nil
}

func (b *bind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed != nil {
		close(b.closed)
		b.closed = nil
	}
	return nil
}

func (b *bind) SetMark(uint32) error { return nil }
func (b *bind) BatchSize() int       { return 1 }

func (b *bind) Send(bufs [][]byte, ep conn.Endpoint) error {
	for _, p := range bufs {
		b.f.send(b.h, ep.(endpoint).dst, p)
	}
	return nil
}

func (b *bind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	return endpoint{ap}, err
}
