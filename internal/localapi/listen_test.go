package localapi

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A second Listen on a socket that is served fails with ErrInUse and leaves the first
// one answering; once the first listener is closed the socket can be claimed again.
func TestListenRefusesLiveSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nd.sock")
	l1, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(sock); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen: %v, want ErrInUse", err)
	}
	if c, err := net.Dial("unix", sock); err != nil {
		t.Fatalf("the first listener no longer answers: %v", err)
	} else {
		c.Close()
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

// A server that answers without holding the lock (e.g. started by something else) is
// refused by the answering check alone, and its socket file stays.
func TestListenRefusesForeignServer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nd.sock")
	foreign, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	if _, err := Listen(sock); !errors.Is(err, ErrInUse) {
		t.Fatalf("Listen over a live foreign socket: %v, want ErrInUse", err)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the live socket was removed: %v", err)
	}
}

// A socket file nobody answers on (left by a crash) is stale: Listen replaces it.
func TestListenReplacesStaleSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nd.sock")
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket file missing: %v", err)
	}
	l, err := Listen(sock)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer l.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("new listener does not answer: %v", err)
	}
	c.Close()
}

// A lock whose holder does not answer on the socket (a networkd being killed) is
// waited for: Listen succeeds once it is released, and gives up with ErrInUse when it
// never is.
func TestListenWaitsForDyingHolder(t *testing.T) {
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
	old := lockWait
	lockWait = 300 * time.Millisecond
	defer func() { lockWait = old }()
	if _, err := Listen(sock); !errors.Is(err, ErrInUse) {
		t.Fatalf("Listen with the lock never released: %v, want ErrInUse", err)
	}
}
