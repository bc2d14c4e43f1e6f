package scenario

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/provision"
)

// EchoRate bounds the echo requests WaitMatrix sends per second over all pairs; each
// pair that has not answered yet is pinged every max(200 ms, pairs/EchoRate).
const EchoRate = 2000

// echoSocket is a raw ICMP socket opened inside one workload's namespace (so every
// packet it sends starts in the lab), bound to the workload's address; it records the
// first echo reply from each address.
type echoSocket struct {
	conn *net.IPConn
	id   uint16

	mu    sync.Mutex
	first map[netip.Addr]time.Time
}

// openEcho opens the socket of workload w: its namespace is found through the node's
// holder (/proc/PID/root/run/netns/NAME, the node's private /run).
func (m *Mesh) openEcho(w Workload, id uint16) (*echoSocket, error) {
	pid := m.Lab.NodePID(w.Node)
	if pid == 0 {
		return nil, fmt.Errorf("%s: not a namespace node", w.Node)
	}
	return openEchoAt("/proc/"+strconv.Itoa(pid)+"/root/run/netns/"+w.Netns, w.IPv4.Addr(), id)
}

// openEchoAt opens an echo socket bound to src in the namespace at path; it refuses the
// host's namespace.
func openEchoAt(path string, src netip.Addr, id uint16) (*echoSocket, error) {
	ns, err := netns.Open(path)
	if err != nil {
		return nil, fmt.Errorf("echo socket: %w", err)
	}
	defer ns.Close()
	host, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return nil, err
	}
	var conn *net.IPConn
	err = ns.Do(func() error {
		// never send lab traffic from the host's namespace
		if here, err := os.Stat("/proc/thread-self/ns/net"); err != nil || os.SameFile(here, host) {
			return fmt.Errorf("%s is the host's namespace (or unreadable: %v)", path, err)
		}
		var lerr error
		conn, lerr = net.ListenIP("ip4:icmp", &net.IPAddr{IP: src.AsSlice()})
		return lerr
	})
	if err != nil {
		return nil, fmt.Errorf("echo socket in %s: %w", path, err)
	}
	s := &echoSocket{conn: conn, id: id, first: map[netip.Addr]time.Time{}}
	go s.read()
	return s, nil
}

// send sends one echo request to each of dsts.
func (s *echoSocket) send(seq uint16, dsts []netip.Addr) {
	msg := provision.EchoRequest(s.id, seq)
	for _, a := range dsts {
		s.conn.WriteToIP(msg, &net.IPAddr{IP: a.AsSlice()})
	}
}

// answered returns when a first answered (zero: not yet).
func (s *echoSocket) answered(a netip.Addr) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first[a]
}

func (s *echoSocket) read() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromIP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !provision.EchoReplyTo(buf[:n], s.id) {
			continue
		}
		a, ok := netip.AddrFromSlice(from.IP)
		if !ok {
			continue
		}
		now := time.Now()
		s.mu.Lock()
		if _, seen := s.first[a.Unmap()]; !seen {
			s.first[a.Unmap()] = now
		}
		s.mu.Unlock()
	}
}

func (s *echoSocket) close() { s.conn.Close() }

// echoInterval is how often each pending pair is pinged: every 200 ms, slower when
// pending pairs × 5/s would exceed EchoRate.
func echoInterval(pending int) time.Duration {
	return max(200*time.Millisecond, time.Duration(pending)*time.Second/EchoRate)
}
