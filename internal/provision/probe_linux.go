package provision

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/zosnet/zosnet/internal/netns"
)

// icmpProber is the Prober of a node: it sends ICMP echo requests from a network resource's gateway address (inside
// its n-<id> namespace) to every other member's gateway over the overlay and records
// when each answered: the proof that packets really crossed, for `network status` and
// for relay failover. Safe for concurrent use; Close stops it.
type icmpProber struct {
	conn *net.IPConn
	id   uint16

	mu      sync.Mutex
	seq     uint16
	targets map[netip.Addr]int64 // gateway → node id
	last    map[int64]time.Time  // node id → last reply
}

// openICMP opens a raw ICMP socket bound to src in the namespace at nsPath (the default
// Config.OpenProber).
func openICMP(nsPath string, src netip.Addr, id uint16) (Prober, error) {
	ns, err := netns.Open(nsPath)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	var conn *net.IPConn
	err = ns.Do(func() error {
		var lerr error
		conn, lerr = net.ListenIP("ip4:icmp", &net.IPAddr{IP: src.AsSlice()})
		return lerr
	})
	if err != nil {
		return nil, fmt.Errorf("probe socket in %s: %w", nsPath, err)
	}
	p := &icmpProber{conn: conn, id: id, targets: map[netip.Addr]int64{}, last: map[int64]time.Time{}}
	go p.read()
	return p, nil
}

// SetTargets implements Prober. t is kept, not copied: the caller must not change it.
func (p *icmpProber) SetTargets(t map[netip.Addr]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.targets = t
	if len(p.last) == 0 {
		return
	}
	ids := make(map[int64]bool, len(t)) // a set: 1,000 members made the nested scan 10⁶ steps per pass
	for _, n := range t {
		ids[n] = true
	}
	for id := range p.last {
		if !ids[id] {
			delete(p.last, id)
		}
	}
}

// Send implements Prober: one echo request to every target.
func (p *icmpProber) Send() { p.send(nil) }

// SendTo implements Prober: one echo request to each target that is one of nodes.
func (p *icmpProber) SendTo(nodes []int64) {
	if len(nodes) > 0 {
		p.send(nodes)
	}
}

// send sends one echo request to the targets that are nodes (nil: all).
func (p *icmpProber) send(nodes []int64) {
	p.mu.Lock()
	p.seq++
	seq := p.seq
	var want map[int64]bool
	if nodes != nil {
		want = make(map[int64]bool, len(nodes))
		for _, n := range nodes {
			want[n] = true
		}
	}
	var dsts []netip.Addr
	for a, n := range p.targets {
		if want == nil || want[n] {
			dsts = append(dsts, a)
		}
	}
	p.mu.Unlock()
	msg := EchoRequest(p.id, seq)
	for _, a := range dsts {
		p.conn.WriteToIP(msg, &net.IPAddr{IP: a.AsSlice()})
	}
}

// Seen implements Prober.
func (p *icmpProber) Seen() map[int64]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int64]time.Time, len(p.last))
	for k, v := range p.last {
		out[k] = v
	}
	return out
}

func (p *icmpProber) read() {
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFromIP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !EchoReplyTo(buf[:n], p.id) {
			continue
		}
		a, ok := netip.AddrFromSlice(from.IP)
		if !ok {
			continue
		}
		p.mu.Lock()
		if node, ok := p.targets[a.Unmap()]; ok {
			p.last[node] = time.Now()
		}
		p.mu.Unlock()
	}
}

// Close implements Prober.
func (p *icmpProber) Close() error { return p.conn.Close() }

// EchoRequest builds an ICMP echo request (golang.org/x/net/icmp computes the
// checksum). The lab's echo sockets use it too.
func EchoRequest(id, seq uint16) []byte {
	b, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: int(id), Seq: int(seq), Data: []byte("zosprobe")}}).Marshal(nil)
	return b // Marshal fails only on a message type it does not know
}

// EchoReplyTo reports whether b (an ICMP message, as a raw ip4:icmp socket reads it)
// is an echo reply to the echo id id.
func EchoReplyTo(b []byte, id uint16) bool {
	m, err := icmp.ParseMessage(ipv4.ICMPTypeEcho.Protocol(), b)
	if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
		return false
	}
	e, ok := m.Body.(*icmp.Echo)
	return ok && e.ID == int(id)
}
