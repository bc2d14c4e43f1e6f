package zinit

import (
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Reaper is PID 1's child reaper: it waits for every child (its own and orphans that
// were re-parented to it) and hands the exit codes of the processes started through
// Start to whoever waits for them. Never call exec.Cmd.Wait on those: the reaper owns
// wait4. Safe for concurrent use.
type Reaper struct {
	mu      sync.Mutex
	waiting map[int]chan int
	early   map[int]int // exits of processes not registered (yet)
}

// NewReaper returns a reaper; call Run in a goroutine.
func NewReaper() *Reaper {
	return &Reaper{waiting: map[int]chan int{}, early: map[int]int{}}
}

// Run reaps children until stop is closed.
func (r *Reaper) Run(stop <-chan struct{}) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	for {
		r.reap()
		select {
		case <-sigs:
		case <-stop:
			return
		}
	}
}

func (r *Reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		code := ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		r.mu.Lock()
		if ch, ok := r.waiting[pid]; ok {
			delete(r.waiting, pid)
			ch <- code
		} else if len(r.early) < 4096 {
			r.early[pid] = code
		}
		r.mu.Unlock()
	}
}

// Start starts cmd (whose Stdin/Stdout/Stderr must be nil or *os.File, so that no copy
// goroutines need Wait) and returns its PID and a channel that receives its exit code
// (128+signal when killed). The caller keeps ownership of the files it passed;
// cmd.Process is released (use the PID).
func (r *Reaper) Start(cmd *exec.Cmd) (int, <-chan int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	pid := cmd.Process.Pid
	ch := make(chan int, 1)
	if code, ok := r.early[pid]; ok {
		delete(r.early, pid)
		ch <- code
	} else {
		r.waiting[pid] = ch
	}
	cmd.Process.Release()
	return pid, ch, nil
}
