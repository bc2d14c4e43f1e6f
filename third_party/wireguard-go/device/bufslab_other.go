//go:build !linux

/* SPDX-License-Identifier: MIT
 *
 * Copyright (C) 2017-2025 WireGuard LLC. All Rights Reserved.
 */

package device

import "errors"

// zosnet: the buffer slab is Linux-only; elsewhere every buffer comes from the heap.
func slabMap(int) ([]byte, error) { return nil, errors.New("no buffer slab on this platform") }

func slabUnmap([]byte) {}

func slabRelease([]byte) {}

func slabContains([]byte, *[MaxMessageSize]byte) bool { return false }
