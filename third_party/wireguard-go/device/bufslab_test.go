/* SPDX-License-Identifier: MIT
 *
 * Copyright (C) 2017-2025 WireGuard LLC. All Rights Reserved.
 */

package device

import (
	"runtime"
	"testing"
)

// TestBufSlab (zosnet): buffers come from the slab until it is empty, go back to it,
// a heap buffer is refused, and close unmaps at once or when the last buffer returns.
func TestBufSlab(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the buffer slab is Linux-only")
	}
	s := newBufSlab(3)
	if s == nil {
		t.Fatal("newBufSlab(3) = nil on Linux")
	}
	var got []*[MaxMessageSize]byte
	for i := 0; i < 3; i++ {
		b := s.get()
		if b == nil {
			t.Fatalf("get %d: slab empty after %d of 3", i, i)
		}
		b[0], b[MaxMessageSize-1] = byte(i), byte(i) // writable, whole buffer
		got = append(got, b)
	}
	if b := s.get(); b != nil {
		t.Fatal("get from an empty slab returned a buffer")
	}
	if got[0] == got[1] || got[1] == got[2] {
		t.Fatal("the slab handed out one buffer twice")
	}
	if s.put(new([MaxMessageSize]byte)) {
		t.Fatal("put accepted a heap buffer")
	}
	if !s.put(got[2]) {
		t.Fatal("put refused a slab buffer")
	}
	if b := s.get(); b != got[2] {
		t.Fatal("get after put did not reuse the returned buffer")
	}
	s.put(got[0])
	s.close()
	if s.mem == nil {
		t.Fatal("close unmapped the slab with two buffers still out")
	}
	if b := s.get(); b != nil {
		t.Fatal("get after close returned a buffer")
	}
	s.put(got[1])
	if s.mem == nil {
		t.Fatal("unmapped with one buffer still out")
	}
	s.put(got[2])
	if s.mem != nil {
		t.Fatal("the last buffer back after close did not unmap the slab")
	}
	if s.put(got[2]) {
		t.Fatal("put into an unmapped slab accepted a buffer")
	}
}

// TestBufSlabHeapBuffers (zosnet): HeapBuffers turns the slab off.
func TestBufSlabHeapBuffers(t *testing.T) {
	HeapBuffers = true
	defer func() { HeapBuffers = false }()
	if s := newBufSlab(3); s != nil {
		t.Fatal("newBufSlab with HeapBuffers set returned a slab")
	}
	var s *bufSlab
	if s.get() != nil || s.put(new([MaxMessageSize]byte)) {
		t.Fatal("a nil slab handed out or took a buffer")
	}
	s.close()
}
