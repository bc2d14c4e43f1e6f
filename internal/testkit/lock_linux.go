package testkit

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lockPath is the machine-wide lock that serializes root test binaries (RequireRoot, LeakCheck).
const lockPath = "/run/lock/zosnet-tests.lock"

// lockWait bounds how long a test binary without a deadline waits for another one to
// finish before it runs anyway (and may then see the other's objects in its leak check).
// With a deadline (go test -timeout), it waits until 3 minutes before it.
const lockWait = 30 * time.Minute

var machineLock sync.Once

// lockMachine takes, once per test binary and until it exits, a machine-wide lock, so that
// the machine-wide leak check of two test binaries (two engineers' suites on one shared
// machine) never sees the other's namespaces, links and mounts. CI runs one suite, where the
// lock is always free. ZOSNET_TEST_LOCK=off skips it; =held says a parent (make test
// holds it for the whole suite) has it already.
func lockMachine(t testing.TB) {
	machineLock.Do(func() {
		switch os.Getenv("ZOSNET_TEST_LOCK") {
		case "off", "held":
			return
		}
		f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Logf("test lock: %v (running without it)", err)
			return
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			wait := waitBudget(t)
			t.Logf("test lock: waiting for %s, held by pid %s (at most %v)", lockPath, holder(f), wait)
			if !waitLock(f, wait) {
				t.Logf("test lock: still held after %v; running without it", wait)
				f.Close()
				return
			}
		}
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		// f stays open: the kernel releases the lock when this process exits.
	})
}

// waitBudget is how long the test binary can wait for the lock and still finish.
func waitBudget(t testing.TB) time.Duration {
	tt, ok := t.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return lockWait
	}
	d, ok := tt.Deadline()
	if !ok {
		return lockWait
	}
	return max(time.Until(d)-3*time.Minute, 0)
}

func waitLock(f *os.File, max time.Duration) bool {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

func holder(f *os.File) string {
	b := make([]byte, 16)
	n, _ := f.ReadAt(b, 0)
	if s := strings.TrimSpace(string(b[:n])); s != "" {
		return s
	}
	return "?"
}
