package nat

import (
	"fmt"
	"testing"
)

// A packet-level NAT simulator, independent of Punchable's rules: it checks that what
// Punchable says matches what packets do when two WireGuard peers first talk to a public
// relay (which observes their endpoints) and then send to each other's observed
// endpoints at once, roaming to whatever source a packet really came from.

type ep struct {
	ip   string
	port int
}

type box struct {
	b     Behavior
	ext   string
	next  int
	maps  map[string]int          // mapping key -> outside port
	rev   map[int]ep              // outside port -> inside endpoint
	perms map[int]map[ep]bool     // outside port -> remote endpoints sent to
	addrs map[int]map[string]bool // outside port -> remote addresses sent to
}

func newBox(b Behavior, ext string) *box {
	return &box{b: b, ext: ext, next: 40000, maps: map[string]int{}, rev: map[int]ep{},
		perms: map[int]map[ep]bool{}, addrs: map[int]map[string]bool{}}
}

// out translates a packet from inside src to dst and returns its outside source.
func (x *box) out(src, dst ep) ep {
	if x.b.Mapping == MapNone {
		return ep{x.ext, src.port}
	}
	key := fmt.Sprint(src)
	if x.b.Mapping == MapDependent {
		key += fmt.Sprint(dst)
	}
	p, ok := x.maps[key]
	if !ok {
		p = src.port // keep the port when free (Linux does)
		if _, used := x.rev[p]; used || x.b.Mapping == MapDependent {
			x.next++
			p = x.next
		}
		x.maps[key], x.rev[p] = p, src
		x.perms[p], x.addrs[p] = map[ep]bool{}, map[string]bool{}
	}
	x.perms[p][dst], x.addrs[p][dst.ip] = true, true
	return ep{x.ext, p}
}

// in returns the inside endpoint a packet from src to outside port is let in to.
func (x *box) in(src ep, port int) (ep, bool) {
	if x.b.Mapping == MapNone && x.b.Filtering == FilterNone {
		return ep{"inside", port}, true
	}
	to, ok := x.rev[port]
	switch {
	case !ok:
		return ep{}, false
	case x.b.Filtering == FilterAddress:
		return to, x.addrs[port][src.ip]
	case x.b.Filtering == FilterAddressPort:
		return to, x.perms[port][src]
	}
	return to, true
}

// side is a peer behind a chain of boxes (innermost first).
type side struct {
	self  ep
	boxes []*box
	peer  ep   // where it sends to the other peer
	heard bool // got a packet from the other peer
}

func (s *side) send(dst ep) ep {
	src := s.self
	for _, x := range s.boxes {
		src = x.out(src, dst)
	}
	return src
}

func (s *side) receive(src ep, port int) bool {
	for i := len(s.boxes) - 1; i >= 0; i-- {
		to, ok := s.boxes[i].in(src, port)
		if !ok {
			return false
		}
		port = to.port
	}
	return port == s.self.port
}

func newSide(t Type, n int) *side {
	ext := fmt.Sprintf("198.51.100.%d", n)
	s := &side{self: ep{fmt.Sprintf("10.0.%d.2", n), 51820}}
	switch t {
	case Public:
		s.self.ip = ext
	case CGNAT:
		s.boxes = []*box{newBox(behaviors[Easy], fmt.Sprintf("100.64.0.%d", n)), newBox(behaviors[Easy], ext)}
	default:
		s.boxes = []*box{newBox(behaviors[t], ext)}
	}
	return s
}

// punch simulates relay discovery then three rounds of simultaneous sends.
func punch(ta, tb Type) bool {
	a, b := newSide(ta, 1), newSide(tb, 2)
	relay := ep{"203.0.113.1", 51820}
	obsA, obsB := a.send(relay), b.send(relay) // what the relay observed
	a.peer, b.peer = obsB, obsA
	for range 3 {
		for _, p := range [][2]*side{{a, b}, {b, a}} {
			from, to := p[0], p[1]
			src := from.send(from.peer)
			if to.receive(src, from.peer.port) && from.peer.ip == to.ext() {
				to.heard, to.peer = true, src // WireGuard roams to the real source
			}
		}
	}
	return a.heard && b.heard
}

func (s *side) ext() string {
	if len(s.boxes) == 0 {
		return s.self.ip
	}
	return s.boxes[len(s.boxes)-1].ext
}

func TestPunchableMatchesSimulatedPackets(t *testing.T) {
	for _, a := range Types {
		for _, b := range Types {
			v, err := Punchable(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if got := punch(a, b); got != v.Possible {
				t.Errorf("%s/%s: packets say %v, Punchable says %+v", a, b, got, v)
			}
		}
	}
}
