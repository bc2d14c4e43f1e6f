package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// space is the network's IPv4 range cut into per-member subnet slots.
type space struct {
	netID string
	rng   netip.Prefix
	bits  int
	slots uint32
	used  map[uint32]owner // slot → what holds it
	// taken marks the slots of member subnets claimed by claimOK (a bitmap: cheaper
	// than used for every member; at most 2^22 slots, 512 KiB), whose owners
	// memberAt finds when a message needs them; claimed counts them.
	taken    []uint64
	claimed  int
	memberAt func(slot uint32) string
}

// held returns what holds slot, if anything.
func (s *space) held(slot uint32) (owner, bool) {
	if o, ok := s.used[slot]; ok {
		return o, true
	}
	if s.taken != nil && s.taken[slot/64]&(1<<(slot%64)) != 0 {
		return owner{"member", s.memberAt(slot)}, true
	}
	return owner{}, false
}

// reset forgets every claim.
func (s *space) reset() {
	clear(s.used)
	s.taken, s.claimed = nil, 0
}

// owner is what holds a slot: a member or a device, by name (kept apart, so claiming
// a slot builds no string).
type owner struct{ what, name string }

func (o owner) String() string { return o.what + " " + o.name }

func newSpace(netID string, rng netip.Prefix, bits int) *space {
	return &space{netID: netID, rng: rng, bits: bits, slots: 1 << (bits - rng.Bits()), used: map[uint32]owner{}}
}

func u32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func (s *space) slotOf(a netip.Addr) uint32 {
	return (u32(a) - u32(s.rng.Addr())) >> (32 - s.bits)
}

func (s *space) subnet(slot uint32) netip.Prefix {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u32(s.rng.Addr())+slot<<(32-s.bits))
	return netip.PrefixFrom(netip.AddrFrom4(b), s.bits)
}

// claim records an explicit member subnet.
func (s *space) claim(p netip.Prefix, o owner, field string) error {
	switch {
	case !p.Addr().Is4() || p.Bits() != s.bits:
		return invalid(field, "%s must be an IPv4 /%d", p, s.bits)
	case p.Masked() != p:
		return invalid(field, "%s has host bits set (did you mean %s?)", p, p.Masked())
	case !s.rng.Contains(p.Addr()):
		return invalid(field, "%s is outside the range %s", p, s.rng)
	}
	slot := s.slotOf(p.Addr())
	if prev, ok := s.held(slot); ok {
		return invalid(field, "%s is already used by %s", p, prev)
	}
	s.used[slot] = o
	return nil
}

// claimOK is claim of a member subnet without messages: it reports whether p could be
// claimed (and claims it).
func (s *space) claimOK(p netip.Prefix) bool {
	if !p.Addr().Is4() || p.Bits() != s.bits || p.Masked() != p || !s.rng.Contains(p.Addr()) {
		return false
	}
	if s.taken == nil {
		s.taken = make([]uint64, (s.slots+63)/64)
	}
	slot := s.slotOf(p.Addr())
	if _, ok := s.held(slot); ok {
		return false
	}
	s.taken[slot/64] |= 1 << (slot % 64)
	s.claimed++
	return true
}

// reserve marks the slot of a device address so no member gets that subnet.
func (s *space) reserve(a netip.Addr, o owner, field string) error {
	if !a.Is4() || !s.rng.Contains(a) {
		return invalid(field, "%s is not an IPv4 address inside the range %s", a, s.rng)
	}
	slot := s.slotOf(a)
	prev, ok := s.held(slot)
	if ok && prev.what == "member" {
		return invalid(field, "%s lies inside the subnet %s of %s", a, s.subnet(slot), prev)
	}
	if !ok {
		s.used[slot] = o
	}
	return nil
}

// assign gives each of ids (sorted) a free subnet: the slot at a hash of the network and
// node id, or the next free one after it. A member keeps its subnet when others join or
// leave as long as its hash slot was free; callers persist assigned subnets anyway.
func (s *space) assign(ids []string) ([]netip.Prefix, error) {
	if free := uint64(s.slots) - uint64(len(s.used)+s.claimed); uint64(len(ids)) > free {
		return nil, s.tooSmall(len(ids))
	}
	out := make([]netip.Prefix, len(ids))
	for i, id := range ids {
		h := sha256.Sum256([]byte(s.netID + "\x00subnet\x00" + id))
		slot := binary.BigEndian.Uint32(h[:4]) % s.slots
		for _, ok := s.held(slot); ok; _, ok = s.held(slot) {
			slot = (slot + 1) % s.slots
		}
		s.used[slot] = owner{"member", id}
		out[i] = s.subnet(slot)
	}
	return out, nil
}

func (s *space) tooSmall(want int) error {
	need := len(s.used) + s.claimed + want
	bits := s.bits
	for n := 1; n < need; n <<= 1 {
		bits--
	}
	return fmt.Errorf("%w: range %s holds %d subnet(s) of /%d, but %d member(s) and device slot(s) need one: use a range of /%d or larger, or a smaller subnet per member",
		ErrImpossible, s.rng, s.slots, s.bits, need, bits)
}
