/* SPDX-License-Identifier: MIT
 *
 * Copyright (C) 2017-2025 WireGuard LLC. All Rights Reserved.
 */

package tun

import (
	"encoding/binary"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// tcp4Segment is an IPv4 TCP segment (ACK, valid checksums) of the flow
// 192.0.2.1:1000 → 192.0.2.2:2000 with seq and payloadLen bytes of payload, behind
// virtioNetHdrLen bytes of room for the virtio header.
func tcp4Segment(seq uint32, payloadLen int) []byte {
	b := make([]byte, virtioNetHdrLen+40+payloadLen)
	pkt := b[virtioNetHdrLen:]
	pkt[0], pkt[8], pkt[9] = 0x45, 64, unix.IPPROTO_TCP
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	copy(pkt[12:], []byte{192, 0, 2, 1, 192, 0, 2, 2})
	binary.BigEndian.PutUint16(pkt[10:], ^checksum(pkt[:20], 0))
	tcp := pkt[20:]
	binary.BigEndian.PutUint16(tcp[0:], 1000)
	binary.BigEndian.PutUint16(tcp[2:], 2000)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12], tcp[tcpFlagsOffset] = 5<<4, tcpFlagACK
	for i := range tcp[20:] {
		tcp[20+i] = byte(i)
	}
	psum := pseudoHeaderChecksumNoFold(unix.IPPROTO_TCP, pkt[12:16], pkt[16:20], uint16(len(tcp)))
	binary.BigEndian.PutUint16(tcp[16:], ^checksum(tcp, psum))
	return b
}

// TestGROTablesLazy (zosnet): new GRO tables allocate almost nothing (upstream's took
// ~1.7 MB per TUN), coalesce as before when packets come, and reuse what they
// allocated in later batches.
func TestGROTablesLazy(t *testing.T) {
	perTUN := func() uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const n = 10
		tables := make([]any, 0, 2*n)
		for i := 0; i < n; i++ {
			tables = append(tables, newTCPGROTable(), newUDPGROTable())
		}
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(tables)
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	lazy := perTUN()
	EagerGROTables = true
	eager := perTUN()
	EagerGROTables = false
	t.Logf("GRO tables per TUN before any packet: lazy %d bytes, eager (upstream) %d bytes", lazy, eager)
	if lazy > 4096 {
		t.Errorf("a TCP and a UDP GRO table allocate %d bytes before any packet, want ≤ 4096", lazy)
	}
	if eager < 1<<20 {
		t.Errorf("EagerGROTables: %d bytes per TUN, want upstream's preallocation (> 1 MiB)", eager)
	}

	tcpT, udpT := newTCPGROTable(), newUDPGROTable()
	batch := func() ([][]byte, []int) {
		bufs := [][]byte{tcp4Segment(1, 100), tcp4Segment(101, 100), tcp4Segment(201, 100)}
		for i := range bufs {
			bufs[i] = append(bufs[i], make([]byte, 300)...)[:len(bufs[i])] // room to coalesce into
		}
		var toWrite []int
		if err := handleGRO(bufs, virtioNetHdrLen, tcpT, udpT, true, &toWrite); err != nil {
			t.Fatal(err)
		}
		return bufs, toWrite
	}
	for round := 0; round < 2; round++ {
		bufs, toWrite := batch()
		if len(toWrite) != 1 || toWrite[0] != 0 {
			t.Fatalf("round %d: toWrite = %v, want [0] (three segments of one flow coalesced)", round, toWrite)
		}
		if got, want := len(bufs[0])-virtioNetHdrLen, 40+300; got != want {
			t.Errorf("round %d: coalesced packet is %d bytes, want %d", round, got, want)
		}
		var hdr virtioNetHdr
		if err := hdr.decode(bufs[0]); err != nil {
			t.Fatal(err)
		}
		if hdr.gsoType != unix.VIRTIO_NET_HDR_GSO_TCPV4 || hdr.gsoSize != 100 {
			t.Errorf("round %d: virtio header %+v, want GSO TCPv4 with gsoSize 100", round, hdr)
		}
		tcpT.reset()
		udpT.reset()
	}
	if len(tcpT.itemsPool) != 1 {
		t.Errorf("after two batches of one flow the TCP table pools %d item slices, want 1 (allocated once, reused)", len(tcpT.itemsPool))
	}
}

// BenchmarkHandleGRO (zosnet) measures a batch of 128 TCP segments (8 flows)
// coalesced into GSO writes, with lazy and with preallocated (upstream) GRO tables: the
// steady state of both is the same work on reused item slices.
func BenchmarkHandleGRO(b *testing.B) {
	var tmpl [][]byte
	for i := 0; i < 128; i++ {
		s := tcp4Segment(uint32(1+(i/8)*100), 100)
		s[virtioNetHdrLen+23] = byte(i % 8) // source port low byte: 8 flows
		pkt := s[virtioNetHdrLen:]
		pkt[36], pkt[37] = 0, 0
		psum := pseudoHeaderChecksumNoFold(unix.IPPROTO_TCP, pkt[12:16], pkt[16:20], uint16(len(pkt)-20))
		binary.BigEndian.PutUint16(pkt[36:], ^checksum(pkt[20:], psum))
		tmpl = append(tmpl, s)
	}
	for _, eager := range []bool{false, true} {
		name := "lazy"
		if eager {
			name = "eager"
		}
		b.Run(name, func(b *testing.B) {
			EagerGROTables = eager
			tcpT, udpT := newTCPGROTable(), newUDPGROTable()
			EagerGROTables = false
			bufs := make([][]byte, len(tmpl))
			backing := make([][]byte, len(tmpl))
			for i := range backing {
				backing[i] = make([]byte, 0, 65535)
			}
			toWrite := make([]int, 0, len(tmpl))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				for j, s := range tmpl {
					bufs[j] = append(backing[j][:0], s...)
				}
				toWrite = toWrite[:0]
				if err := handleGRO(bufs, virtioNetHdrLen, tcpT, udpT, true, &toWrite); err != nil {
					b.Fatal(err)
				}
				if len(toWrite) != 8 {
					b.Fatalf("%d writes, want 8 (one per flow)", len(toWrite))
				}
				tcpT.reset()
				udpT.reset()
			}
		})
	}
}
