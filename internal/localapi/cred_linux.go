package localapi

import (
	"context"
	"net"

	"golang.org/x/sys/unix"
)

type credKey struct{}

// withPeerCred stores the uid of the process at the other end of a unix socket. When
// it cannot be read the context stays without one, and every change is refused.
func withPeerCred(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	cerr := raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cerr != nil || err != nil || cred == nil {
		return ctx
	}
	return context.WithValue(ctx, credKey{}, int(cred.Uid))
}

// peerUID returns the caller's uid, if the connection told it.
func peerUID(ctx context.Context) (int, bool) {
	uid, ok := ctx.Value(credKey{}).(int)
	return uid, ok
}
