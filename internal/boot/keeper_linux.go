package boot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/dhcp"
)

// ensureKeeper starts `netinit keep` detached (own session, log in the run dir) unless
// a keeper already holds the lock, and waits until the new one holds it.
func (f *flags) ensureKeeper(log *slog.Logger) error {
	lock := filepath.Join(f.runDir, KeeperLock)
	if held, err := lockHeld(lock); err != nil || held {
		if held {
			log.Info("lease keeper already running", "pid", readPID(filepath.Join(f.runDir, KeeperPID)))
		}
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start lease keeper: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(f.runDir, KeeperLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start lease keeper: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(exe, "keep", "--run-dir", f.runDir, "--resolv-conf", f.resolv)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start lease keeper: %w", err)
	}
	pid := cmd.Process.Pid
	// Reap it if it dies early (then the error says so at once); once it holds the lock
	// it outlives netinit, which leaves it to init.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// A loaded machine (VMs under TCG beside it) may take seconds to start a process:
	// wait for the lock up to keeperStart, but not past the keeper's exit.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(keeperStart)
	defer deadline.Stop()
	for {
		if held, _ := lockHeld(lock); held {
			log.Info("lease keeper started", "pid", pid, "log", logf.Name())
			return nil
		}
		select {
		case err := <-exited:
			if held, _ := lockHeld(lock); held { // another keeper won the race
				return nil
			}
			return fmt.Errorf("lease keeper (pid %d) exited before holding its lock (%v): see %s", pid, err, logf.Name())
		case <-deadline.C:
			return fmt.Errorf("lease keeper (pid %d) did not start within %v: see %s", pid, keeperStart, logf.Name())
		case <-tick.C:
		}
	}
}

// keeperStart bounds how long netinit waits for a new lease keeper to hold its lock.
const keeperStart = 30 * time.Second

// lockHeld reports whether another process holds the flock on path. It takes the lock
// for an instant to see (flock has no test-only operation), which is why a starting
// keeper yields a little (takeLock).
func lockHeld(path string) (bool, error) {
	fd, err := takeLock(path, 0)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("keeper lock %s: %w", path, err)
	}
	unix.Close(fd) // releases the lock
	return false, nil
}

// keeperYield is how long a starting keeper waits for a busy lock before it concludes
// that another keeper holds it: netinit's lockHeld takes the lock for an instant to see
// whether it is free, and a keeper starting in that instant must not give up.
const keeperYield = 500 * time.Millisecond

// takeLock opens path and takes its flock, retrying while it is busy for up to yield;
// a lock still busy then fails with EWOULDBLOCK. On success the fd holds the lock.
func takeLock(path string, yield time.Duration) (int, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return -1, err
	}
	deadline := time.Now().Add(yield)
	for {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return fd, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || !time.Now().Before(deadline) {
			unix.Close(fd)
			return -1, err
		}
		time.Sleep(5 * time.Millisecond) // a probe holds it for microseconds; bounded by yield
	}
}

func readPID(path string) int {
	b, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(string(b))
	return n
}

// keepMain is `netinit keep`: hold the lease on zos until SIGTERM. It exits 0 at once
// if another keeper holds the lock.
func keepMain(args []string, stderr io.Writer, log *slog.Logger) int {
	f, _, err := parseFlags("netinit keep", args, stderr)
	if err != nil {
		return 2
	}
	fd, err := takeLock(filepath.Join(f.runDir, KeeperLock), keeperYield) // held until exit
	if errors.Is(err, unix.EWOULDBLOCK) {
		log.Info("another lease keeper is running")
		return 0
	}
	if err != nil {
		log.Error("lease keeper lock", "err", err)
		return 1
	}
	defer unix.Close(fd)
	pidFile := filepath.Join(f.runDir, KeeperPID)
	os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644)
	defer os.Remove(pidFile)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k := &dhcp.Keeper{Iface: Bridge, ResolvConf: f.resolv, Log: log, OnLease: func(l *dhcp.Lease) {
		if err := writeJSON(filepath.Join(f.runDir, LeaseFile), l); err != nil {
			log.Error("save lease", "err", err)
		}
	}}
	log.Info("lease keeper running", "iface", Bridge, "pid", os.Getpid())
	if err := k.Run(ctx, loadLease(filepath.Join(f.runDir, LeaseFile), log)); err != nil && ctx.Err() == nil {
		log.Error("lease keeper stopped", "err", err)
		return 1
	}
	return 0
}

// loadLease reads the lease netinit applied; nil (discover first) if there is none.
func loadLease(path string, log *slog.Logger) *dhcp.Lease {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var l dhcp.Lease
	if err := json.Unmarshal(b, &l); err != nil {
		log.Warn("saved lease unusable, discovering", "path", path, "err", err)
		return nil
	}
	return &l
}
