package localapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrInUse marks a socket on which a server already answers (or whose lock another
// process keeps holding): a second networkd must not take over the first one's socket.
var ErrInUse = errors.New("in use")

// errLocked is lockFile's answer while another process holds the lock.
var errLocked = errors.New("locked by another process")

// lockWait bounds how long Listen waits for a lock whose holder does not answer on
// the socket: a networkd that was just killed holds it until the kernel has closed
// its files (its socket may still accept connections meanwhile, but nothing serves
// them), which can take a moment under load.
var lockWait = 10 * time.Second

// probeTimeout bounds the HTTP request that checks whether a server answers. It only
// speeds up the refusal of a live networkd (which answers within milliseconds); one
// too busy to answer in time still holds the lock and is refused after lockWait.
var probeTimeout = 300 * time.Millisecond

// Listen claims the socket at path and listens there (mode 0666: reads are open,
// changes are checked per request). It refuses (ErrInUse) as soon as a server answers
// HTTP on path. It takes an exclusive lock on path+".lock", held until the listener
// is closed; a holder that does not answer (a networkd being killed, or one still in
// its first reconcile) is waited for up to 10 s, then refused too. A socket file on
// which nothing answers is stale and replaced. Closing the listener removes the
// socket and releases the lock.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	lock, err := claim(path)
	if err != nil {
		return nil, err
	}
	l, err := listen(path)
	if err != nil {
		return nil, errors.Join(err, lock.Close())
	}
	return &lockedListener{Listener: l, lock: lock}, nil
}

// claim takes the socket's lock, waiting while its holder does not answer on path.
func claim(path string) (io.Closer, error) {
	deadline := time.Now().Add(lockWait)
	for {
		lock, err := lockFile(path + ".lock")
		if !errors.Is(err, errLocked) {
			return lock, err
		}
		if answers(path) {
			return nil, inUse(path)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %w for %v by a process that does not answer on %s (a networkd that hangs? stop it first, or use another --socket)", ErrInUse, err, lockWait, path)
		}
		time.Sleep(50 * time.Millisecond) // the holder is going away; bounded by lockWait
	}
}

func listen(path string) (net.Listener, error) {
	if answers(path) { // a server that does not take the lock (another program)
		return nil, inUse(path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		return nil, errors.Join(fmt.Errorf("chmod %s: %w", path, err), l.Close())
	}
	return l, nil
}

func inUse(path string) error {
	return fmt.Errorf("%w: a server answers on %s (is networkd already running? stop it first, or use another --socket)", ErrInUse, path)
}

// answers reports whether a server answers an HTTP request on the unix socket at
// path (any status counts). No file, a refused connection, or no answer within
// probeTimeout (a dying process whose socket still accepts) is no server.
func answers(path string) bool {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://networkd/v1/status", nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// lockedListener releases the socket's lock once the listener is closed.
type lockedListener struct {
	net.Listener
	lock io.Closer
	once sync.Once
}

// Close closes the listener (which removes the socket file), then releases the lock.
func (l *lockedListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { err = errors.Join(err, l.lock.Close()) })
	return err
}
