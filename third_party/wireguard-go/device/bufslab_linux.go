/* SPDX-License-Identifier: MIT
 *
 * Copyright (C) 2017-2025 WireGuard LLC. All Rights Reserved.
 */

package device

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// slabMap maps size bytes of private anonymous memory (zosnet).
func slabMap(size int) ([]byte, error) {
	return unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

func slabUnmap(mem []byte) { unix.Munmap(mem) }

// slabRelease drops the pages of b (they read as zeros when touched again).
func slabRelease(b []byte) { unix.Madvise(b, unix.MADV_DONTNEED) }

func slabContains(mem []byte, b *[MaxMessageSize]byte) bool {
	p, lo := uintptr(unsafe.Pointer(b)), uintptr(unsafe.Pointer(&mem[0]))
	return p >= lo && p < lo+uintptr(len(mem))
}
