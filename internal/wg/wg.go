// Package wg puts WireGuard behind one interface: the kernel module driven through
// netlink and wgctrl when the kernel has it, else embedded wireguard-go on a TUN. The
// choice is made at run time by probing (see Probe and Create).
//
// A Device's cleartext link lives in one namespace (the NR's n-<id>) while its UDP
// socket lives in another (the socket namespace: host, or `public`). Configuration is
// declarative with wgtypes.Config semantics, so peer-only updates (UpdateOnly, Remove,
// ReplaceAllowedIPs) change nothing else and never flap the link.
//
// The userspace device lives inside the calling process: when it exits the link is
// gone, and the caller recreates it from persisted state (same key and port, so peers
// keep working after their next handshake).
package wg

import (
	"errors"
	"log/slog"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/netns"
)

// Kind names an implementation.
type Kind string

// The implementations.
const (
	Kernel    Kind = "kernel"
	Userspace Kind = "userspace"
	Auto      Kind = "" // probe: kernel when available, else userspace
)

// ErrNoKernel is returned (wrapped) by Probe when the kernel has no WireGuard support.
var ErrNoKernel = errors.New("wireguard kernel module not available")

// ErrPortInUse is returned (wrapped) when the listen port cannot be bound.
var ErrPortInUse = errors.New("address already in use")

// Device is one WireGuard link. Methods are safe for concurrent use.
type Device interface {
	// Name is the link name (in the link namespace).
	Name() string
	// Kind says which implementation runs the device.
	Kind() Kind
	// Index is the link's ifindex in the link namespace.
	Index() int
	// Configure applies cfg with wgctrl semantics (nil fields unchanged).
	Configure(cfg wgtypes.Config) error
	// Device reads the current state (keys, port, peers with stats).
	Device() (*wgtypes.Device, error)
	// Close removes the link and releases the socket. Safe to call twice.
	Close() error
	// Release forgets the device but leaves a kernel link in place, so the data plane
	// survives a daemon restart (Adopt takes it back). A userspace device lives in
	// this process, so Release closes it like Close.
	Release() error
}

// Handshaker is a Device that can start handshakes on demand. wireguard-go implements
// it; the kernel module has no such call (its peers handshake on their first packet).
type Handshaker interface {
	// Handshake queues a keepalive to each peer in keys that has an endpoint, which
	// makes the device handshake with it now (with WireGuard's own retransmissions)
	// instead of on the next packet. Peers without an endpoint are skipped.
	Handshake(keys []wgtypes.Key)
}

// Options says where and how to create a device.
type Options struct {
	Name   string    // link name, ≤ 15 bytes
	LinkNS *netns.NS // namespace of the cleartext link
	SockNS *netns.NS // namespace of the UDP socket
	MTU    int       // link MTU (set with netlink)
	Kind   Kind      // Auto probes
	Log    *slog.Logger
}
