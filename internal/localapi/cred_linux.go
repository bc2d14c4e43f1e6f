package localapi

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"golang.org/x/sys/unix"
)

type credKey struct{}

// withPeerCred stores the uid of the process at the other end of a unix socket.
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
	raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return ctx
	}
	return context.WithValue(ctx, credKey{}, int(cred.Uid))
}

// root wraps a changing handler: only uid 0 (or AllowUID) may call it.
func (s *Server) root(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		uid, ok := r.Context().Value(credKey{}).(int)
		if !ok || (uid != 0 && uid != s.AllowUID) {
			reply(w, nil, fmt.Errorf("%w (peer uid %d)", ErrForbidden, uid))
			return
		}
		h(w, r)
	}
}
