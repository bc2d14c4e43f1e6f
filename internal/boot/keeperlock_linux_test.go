package boot

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A keeper starting while netinit's lockHeld probe holds the lock for an instant takes
// it once the probe lets go (before, it concluded another keeper ran and exited 0, and
// netinit failed: "lease keeper exited before holding its lock"); a lock held past the
// yield is another keeper's.
func TestTakeLockYieldsToProbe(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeeperLock)
	hold := func(d time.Duration) chan struct{} {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { time.Sleep(d); unix.Close(fd); close(done) }()
		return done
	}

	probe := hold(30 * time.Millisecond) // like lockHeld's, only longer
	fd, err := takeLock(path, time.Second)
	if err != nil {
		t.Fatalf("lock busy for 30 ms, yield 1 s: %v", err)
	}
	<-probe
	if held, err := lockHeld(path); err != nil || !held {
		t.Errorf("after takeLock: held %v, %v; want held", held, err)
	}
	unix.Close(fd)

	other := hold(300 * time.Millisecond) // another keeper
	if fd, err := takeLock(path, 100*time.Millisecond); !errors.Is(err, unix.EWOULDBLOCK) {
		unix.Close(fd)
		t.Fatalf("lock held by another keeper: %v, want EWOULDBLOCK", err)
	}
	<-other
}
