/* SPDX-License-Identifier: MIT
 *
 * Copyright (C) 2017-2025 WireGuard LLC. All Rights Reserved.
 */

package device

import (
	"sync"
	"unsafe"
)

// zosnet: HeapBuffers, when true, turns off the per-device buffer slab (upstream's
// behaviour: every message buffer comes from the Go heap through a sync.Pool). It is
// read when a device is created; it exists to measure the slab against upstream.
var HeapBuffers bool

// zosnet: TouchBuffers, when true, makes new devices slice message buffers as upstream
// does (b[:], whose nil check reads the buffer's first byte). It is read when a device
// is created; it exists to measure messageSlice against upstream.
var TouchBuffers bool

// messageSlice is b[:] without reading b (zosnet). The receive routines and the TUN
// reader slice a batch of 128 buffers each when they start and whenever one is
// consumed; b[:] compiles to a nil check that loads b's first byte, and that read
// fault makes the buffer's first page resident (here a real zeroed page, not the
// shared zero page: smaps counts it), 3 × 128 pages = 1.5 MiB per device with no
// traffic at all. unsafe.Slice of the converted pointer checks nil without a load.
func (device *Device) messageSlice(b *[MaxMessageSize]byte) []byte {
	if device.pool.touchOnSlice {
		return b[:]
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(b)), MaxMessageSize)
}

// bufSlab holds a device's working set of message buffers outside the Go heap
// (zosnet): one anonymous mapping of n buffers, taken lazily from the kernel (a page
// is resident only once a packet touched it), handed out from a free list, and
// returned to the kernel when the device closes and every buffer is back. Buffers
// beyond the slab (bursts) come from the heap pool as upstream's do.
//
// Why: the receive and TUN routines hold 3 × 128 buffers of 64 KiB (24 MiB) for the
// device's lifetime. On the Go heap, memory of removed devices is reused for new
// ones and zeroed, so under churn every new device became resident at once, where a
// fresh daemon's stay untouched until traffic needs them.
type bufSlab struct {
	mu     sync.Mutex
	mem    []byte
	free   []*[MaxMessageSize]byte
	out    int
	closed bool
}

// slabStride is the distance between buffers in the mapping (a page multiple).
const slabStride = 1 << 16

// newBufSlab maps n buffers; nil (use the heap) if the platform has no mapping or it
// fails.
func newBufSlab(n int) *bufSlab {
	if HeapBuffers || n <= 0 {
		return nil
	}
	mem, err := slabMap(n * slabStride)
	if err != nil {
		return nil
	}
	s := &bufSlab{mem: mem, free: make([]*[MaxMessageSize]byte, 0, n)}
	for i := n - 1; i >= 0; i-- {
		s.free = append(s.free, (*[MaxMessageSize]byte)(mem[i*slabStride:]))
	}
	return s
}

// get takes a buffer from the slab, or nil when it has none left (or is closed).
func (s *bufSlab) get() *[MaxMessageSize]byte {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.free) == 0 {
		return nil
	}
	b := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	s.out++
	return b
}

// put returns b to the slab if it is one of its buffers (false: a heap buffer); the
// last one back after close unmaps the slab.
func (s *bufSlab) put(b *[MaxMessageSize]byte) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mem == nil || !slabContains(s.mem, b) {
		return false
	}
	s.out--
	if s.closed {
		if s.out == 0 {
			s.unmapLocked()
		}
		return true
	}
	s.free = append(s.free, b)
	return true
}

// close gives the slab's memory back: at once if every buffer is back, else the free
// buffers' pages now and the mapping when the last buffer returns (workers may still
// drain queues after Device.Close).
func (s *bufSlab) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.out == 0 {
		s.unmapLocked()
		return
	}
	for _, b := range s.free {
		slabRelease(b[:])
	}
	s.free = nil
}

func (s *bufSlab) unmapLocked() {
	if s.mem != nil {
		slabUnmap(s.mem)
		s.mem, s.free = nil, nil
	}
}
