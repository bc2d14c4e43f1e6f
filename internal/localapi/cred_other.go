//go:build !linux

package localapi

import (
	"context"
	"net"
)

// withPeerCred: peer credentials are read on Linux only (where networkd runs); here
// the caller stays unknown and every change is refused.
func withPeerCred(ctx context.Context, _ net.Conn) context.Context { return ctx }

// peerUID never knows the caller outside Linux.
func peerUID(context.Context) (int, bool) { return 0, false }
