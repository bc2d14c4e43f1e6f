// Package portalloc hands out WireGuard listen ports, unique per socket namespace.
//
// An Allocator is pure bookkeeping (which owner holds which port); whether a port is
// also free in the kernel is asked through an optional Probe, so the allocator is
// table-testable. Its assignments are persisted by the caller (see internal/store) and
// restored with Restore, so an NR keeps its port across restarts. Safe for concurrent use.
package portalloc

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrTaken is returned (wrapped) when a requested port is held by another owner or is
// busy in the namespace.
var ErrTaken = errors.New("listen port taken")

// ErrExhausted is returned when every port of the range is in use.
var ErrExhausted = errors.New("no free listen port")

// Probe reports whether port is free for a new UDP socket in the socket namespace.
type Probe func(port uint16) bool

// Allocator assigns ports in [Min, Max] to owners (network ids).
type Allocator struct {
	min, max uint16
	start    uint16 // where the search for a free port begins (min unless Spread)
	probe    Probe
	mu       sync.Mutex
	byOwner  map[string]uint16
	byPort   map[uint16]string
}

// New returns an allocator for [min, max]; probe may be nil (no kernel check).
func New(min, max uint16, probe Probe) (*Allocator, error) {
	if min == 0 || max < min {
		return nil, fmt.Errorf("port range %d-%d: want 1 ≤ min ≤ max", min, max)
	}
	return &Allocator{min: min, max: max, start: min, probe: probe,
		byOwner: map[string]uint16{}, byPort: map[uint16]string{}}, nil
}

// Restore records assignments read back from disk, without probing (the ports are ours).
// A port claimed by two owners is an error naming both.
func (a *Allocator) Restore(assign map[string]uint16) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	owners := make([]string, 0, len(assign))
	for o := range assign {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	for _, o := range owners {
		p := assign[o]
		if other, ok := a.byPort[p]; ok && other != o {
			return fmt.Errorf("restore port %d of %s: %w by %s", p, o, ErrTaken, other)
		}
		a.set(o, p)
	}
	return nil
}

// Spread makes the search for a free port begin at a point of the range chosen by seed
// (and wrap), instead of at its lowest port. Two nodes behind one NAT then rarely listen
// on the same port: a NAT keeps a source port only while no other inside host holds
// it towards the same destination, so with equal ports the mapping seen from outside
// depends on who sent first, and looks endpoint-dependent (issue 14).
func (a *Allocator) Spread(seed uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.start = a.min + uint16(seed%(uint64(a.max-a.min)+1))
}

// Allocate returns owner's port. want 0 keeps the owner's current port, or picks the
// first free one from the start of the search (the lowest unless Spread); a non-zero want is given if free (the old port is released) and is
// ErrTaken otherwise. Calling it again with the same arguments is a no-op.
func (a *Allocator) Allocate(owner string, want uint16) (uint16, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, has := a.byOwner[owner]
	if has && (want == 0 || want == cur) {
		return cur, nil
	}
	if want != 0 {
		if other, ok := a.byPort[want]; ok {
			return 0, fmt.Errorf("listen port %d: %w by network %s", want, ErrTaken, other)
		}
		if a.probe != nil && !a.probe(want) {
			return 0, fmt.Errorf("listen port %d: %w by another socket in the namespace", want, ErrTaken)
		}
		a.set(owner, want)
		return want, nil
	}
	size := int(a.max) - int(a.min) + 1
	for i := range size {
		p := int(a.min) + (int(a.start)-int(a.min)+i)%size
		if _, ok := a.byPort[uint16(p)]; ok {
			continue
		}
		if a.probe != nil && !a.probe(uint16(p)) {
			continue
		}
		a.set(owner, uint16(p))
		return uint16(p), nil
	}
	return 0, fmt.Errorf("allocate listen port for %s in %d-%d: %w", owner, a.min, a.max, ErrExhausted)
}

func (a *Allocator) set(owner string, p uint16) {
	if old, ok := a.byOwner[owner]; ok {
		delete(a.byPort, old)
	}
	a.byOwner[owner], a.byPort[p] = p, owner
}

// Release frees owner's port; releasing an owner without a port is a no-op.
func (a *Allocator) Release(owner string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.byOwner[owner]; ok {
		delete(a.byPort, p)
		delete(a.byOwner, owner)
	}
}

// Port returns owner's port, if any.
func (a *Allocator) Port(owner string) (uint16, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.byOwner[owner]
	return p, ok
}

// Assignments returns a copy of every owner's port, for persisting.
func (a *Allocator) Assignments() map[string]uint16 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]uint16, len(a.byOwner))
	for o, p := range a.byOwner {
		out[o] = p
	}
	return out
}
