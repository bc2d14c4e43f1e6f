package localapi

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ErrInUse marks a socket on which a server already answers (or whose lock another
// process keeps holding): a second networkd must not take over the first one's socket.
var ErrInUse = errors.New("in use")

// errLocked is lockFile's answer while another process holds the lock.
var errLocked = errors.New("locked by another process")

// lockWait bounds how long Listen waits for a lock whose holder does not answer on
// the socket: a networkd that was just killed holds it until the kernel has closed
// its files, which can take a moment under load.
var lockWait = 10 * time.Second

// Listen claims the socket at path and listens there (mode 0666: reads are open,
// changes are checked per request). It refuses (ErrInUse) at once when a server
// answers on path. Otherwise it takes an exclusive lock on path+".lock", held until
// the listener is closed (a holder that does not answer, such as a process being
// killed, is waited for up to 10 s); a socket file nobody answers on is stale and
// removed. Closing the listener removes the socket and releases the lock.
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
		if err := answering(path); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s: %w for %v, and nothing answers on the socket (a networkd that hangs? stop it first, or use another --socket)", ErrInUse, path, err, lockWait)
		}
		time.Sleep(50 * time.Millisecond) // the holder is going away; bounded by lockWait
	}
}

func listen(path string) (net.Listener, error) {
	if err := answering(path); err != nil {
		return nil, err
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

// answering returns ErrInUse when something accepts connections on path, nil when
// nothing does (no file, or a stale one: connection refused).
func answering(path string) error {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	switch {
	case err == nil:
		c.Close()
		return fmt.Errorf("%w: a server answers on %s (is networkd already running? stop it first, or use another --socket)", ErrInUse, path)
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return nil
	}
	return fmt.Errorf("check socket %s: %w", path, err)
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
