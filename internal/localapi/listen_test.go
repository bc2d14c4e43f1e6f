package localapi

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serveHTTP answers every request on l (404) until l is closed.
func serveHTTP(t *testing.T, l net.Listener) {
	done := make(chan struct{})
	go func() { http.Serve(l, http.NotFoundHandler()); close(done) }()
	t.Cleanup(func() { l.Close(); <-done })
}

// shortWaits makes the bounded waits of Listen short for one test.
func shortWaits(t *testing.T) {
	lw, pt := lockWait, probeTimeout
	lockWait, probeTimeout = 500*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { lockWait, probeTimeout = lw, pt })
}

// A second Listen on a socket that is served fails with ErrInUse and leaves the first
// one answering; once the first listener is closed the socket can be claimed again.
func TestListenRefusesLiveSocket(t *testing.T) {
	shortWaits(t)
	sock := filepath.Join(t.TempDir(), "nd.sock")
	l1, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	serveHTTP(t, l1)
	if _, err := Listen(sock); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen: %v, want ErrInUse", err)
	}
	if !answers(sock) {
		t.Fatal("the first listener no longer answers")
	}
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Listen(sock)
	if err != nil {
		t.Fatalf("Listen after the first closed: %v", err)
	}
	l2.Close()
}

// A server that answers without holding the lock (another program) is refused, and
// its socket file stays.
func TestListenRefusesForeignServer(t *testing.T) {
	shortWaits(t)
	sock := filepath.Join(t.TempDir(), "nd.sock")
	foreign, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	serveHTTP(t, foreign)
	if _, err := Listen(sock); !errors.Is(err, ErrInUse) {
		t.Fatalf("Listen over a live foreign server: %v, want ErrInUse", err)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the live socket was removed: %v", err)
	}
}

// Socket files nobody serves are stale and replaced: one left by a crash (connection
// refused) and one whose owner still accepts but never answers (a dying process).
func TestListenReplacesStaleSocket(t *testing.T) {
	shortWaits(t)
	for _, silent := range []bool{false, true} {
		sock := filepath.Join(t.TempDir(), "nd.sock")
		old, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		if silent {
			defer old.Close()
		} else {
			old.SetUnlinkOnClose(false)
			old.Close()
		}
		if _, err := os.Stat(sock); err != nil {
			t.Fatalf("stale socket file missing: %v", err)
		}
		l, err := Listen(sock)
		if err != nil {
			t.Fatalf("Listen over a stale socket (silent %v): %v", silent, err)
		}
		serveHTTP(t, l)
		if !answers(sock) {
			t.Fatalf("the new listener does not answer (silent %v)", silent)
		}
	}
}

// A lock whose holder does not answer (a networkd being killed) is waited for: Listen
// succeeds once it is released, and gives up with ErrInUse when it never is.
func TestListenWaitsForDyingHolder(t *testing.T) {
	shortWaits(t)
	lockWait = 5 * time.Second // well beyond the holder's release below
	sock := filepath.Join(t.TempDir(), "nd.sock")
	held, err := lockFile(sock + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(200 * time.Millisecond) // the holder dies a moment later
		held.Close()
		close(released)
	}()
	l, err := Listen(sock)
	if err != nil {
		t.Fatalf("Listen after the holder released the lock: %v", err)
	}
	select {
	case <-released:
	default:
		t.Fatal("Listen succeeded while the lock was still held")
	}
	l.Close()

	held, err = lockFile(sock + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	lockWait = 300 * time.Millisecond
	if _, err := Listen(sock); !errors.Is(err, ErrInUse) {
		t.Fatalf("Listen with the lock never released: %v, want ErrInUse", err)
	}
}
