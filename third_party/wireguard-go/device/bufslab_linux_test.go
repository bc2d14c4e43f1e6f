/* SPDX-License-Identifier: MIT
 *
 * Copyright (C) 2017-2025 WireGuard LLC. All Rights Reserved.
 */

package device

import (
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun/tuntest"
)

// residentPages counts the pages of mem the process has mapped (mincore).
func residentPages(t *testing.T, mem []byte) int {
	vec := make([]byte, len(mem)/unix.Getpagesize())
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// receivePaths is how many receive functions the standard bind opens here (IPv4, and
// IPv6 where the host has it).
func receivePaths(t *testing.T) int {
	b := conn.NewStdNetBind()
	fns, _, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	return len(fns)
}

// upIdleDevice brings a device up on a channel TUN and the standard bind, waits until
// its receive routines and TUN reader hold their batches of buffers, and returns how
// many of its slab's pages are resident. No packet ever reaches it.
func upIdleDevice(t *testing.T) (resident, held int) {
	tn := tuntest.NewChannelTUN()
	d := NewDevice(tn.TUN(), conn.NewStdNetBind(), NewLogger(LogLevelError, ""))
	defer d.Close()
	if d.pool.slab == nil {
		t.Fatal("no buffer slab on Linux")
	}
	if err := d.Up(); err != nil {
		t.Fatal(err)
	}
	want := (1 + receivePaths(t)) * d.BatchSize() // the TUN reader and each receive routine
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		d.pool.slab.mu.Lock()
		out := d.pool.slab.out
		d.pool.slab.mu.Unlock()
		if out >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the device's routines took %d buffers, want %d", out, want)
		}
	}
	return residentPages(t, d.pool.slab.mem), want
}

// TestMessageBuffersUntouched (zosnet): an idle device's routines hold their batches
// of message buffers without making a page of them resident; sliced as upstream
// (TouchBuffers) the first page of each becomes resident.
func TestMessageBuffersUntouched(t *testing.T) {
	if got, _ := upIdleDevice(t); got != 0 {
		t.Errorf("idle device: %d pages of its buffer slab resident, want 0", got)
	}
	TouchBuffers = true
	defer func() { TouchBuffers = false }()
	if got, want := upIdleDevice(t); got < want {
		t.Errorf("TouchBuffers: %d pages resident, want ≥ %d (one per buffer held)", got, want)
	}
}
