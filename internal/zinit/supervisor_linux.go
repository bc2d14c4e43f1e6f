package zinit

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// State of a supervised service.
const (
	StateWaiting = "waiting" // not started yet (an earlier service is not done/ready)
	StateRunning = "running"
	StateDone    = "done"    // a one-shot that exited 0
	StateBackoff = "backoff" // exited; restarts after a delay
	StateStopped = "stopped" // stopped by Stop
)

// Status is one service as the supervisor sees it (the guest agent's "status").
type Status struct {
	Name     string    `json:"name"`
	State    string    `json:"state"`
	PID      int       `json:"pid,omitempty"`
	Starts   int       `json:"starts"`
	LastExit *int      `json:"last_exit,omitempty"`
	Since    time.Time `json:"since"`
}

// Supervisor runs services in order and restarts them when they exit, like zinit.
// Status is safe to call concurrently with Run.
type Supervisor struct {
	Services []Service
	// LogDir receives <service>.log (empty: console only).
	LogDir  string
	Console *Console
	Reaper  *Reaper
	Log     *slog.Logger

	mu     sync.Mutex
	status map[string]*Status
}

// Status returns every service's status, in start order.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.Services))
	for _, svc := range s.Services {
		if st := s.status[svc.Name]; st != nil {
			out = append(out, *st)
		} else {
			out = append(out, Status{Name: svc.Name, State: StateWaiting})
		}
	}
	return out
}

func (s *Supervisor) set(name string, fn func(*Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == nil {
		s.status = map[string]*Status{}
	}
	st := s.status[name]
	if st == nil {
		st = &Status{Name: name}
		s.status[name] = st
	}
	fn(st)
	st.Since = time.Now()
}

// Run starts the services in order — each after the previous one-shot exited 0, or the
// previous service's ReadyFile appeared — and keeps them running until ctx ends; then
// it stops them in reverse order (SIGTERM, SIGKILL after 10 s).
func (s *Supervisor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, svc := range s.Services {
		ready := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.keep(ctx, svc, ready)
		}()
		select {
		case <-ready:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	<-ctx.Done()
	s.stopAll()
	wg.Wait()
}

// keep runs one service forever (one-shots until they succeed), closing ready once the
// next service may start.
func (s *Supervisor) keep(ctx context.Context, svc Service, ready chan struct{}) {
	var once sync.Once
	markReady := func() { once.Do(func() { close(ready) }) }
	var delay time.Duration
	for ctx.Err() == nil {
		started := time.Now()
		exit, err := s.start(svc)
		if err != nil {
			s.Log.Error("service failed to start", "service", svc.Name, "err", err)
		} else {
			if !svc.OneShot {
				go s.waitReady(ctx, svc, markReady)
			}
			code := <-exit
			s.set(svc.Name, func(st *Status) { st.PID, st.LastExit = 0, &code })
			if svc.OneShot && code == 0 {
				s.set(svc.Name, func(st *Status) { st.State = StateDone })
				s.Log.Info("service done", "service", svc.Name, "took", time.Since(started).Round(time.Millisecond))
				markReady()
				return
			}
			if ctx.Err() != nil {
				return
			}
			s.Log.Warn("service exited", "service", svc.Name, "code", code, "ran", time.Since(started).Round(time.Millisecond))
		}
		delay = Backoff(delay, time.Since(started))
		s.set(svc.Name, func(st *Status) { st.State = StateBackoff })
		s.Log.Info("service restarts", "service", svc.Name, "in", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
}

func (s *Supervisor) waitReady(ctx context.Context, svc Service, ready func()) {
	if svc.ReadyFile == "" {
		ready()
		return
	}
	deadline := time.Now().Add(ReadyTimeout)
	for ctx.Err() == nil {
		if _, err := os.Stat(svc.ReadyFile); err == nil {
			ready()
			return
		}
		if time.Now().After(deadline) {
			s.Log.Warn("service not ready in time; starting the next one anyway", "service", svc.Name, "waited_for", svc.ReadyFile)
			ready()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// start starts one run of svc with its output piped to the logs.
func (s *Supervisor) start(svc Service) (<-chan int, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(svc.Argv[0], svc.Argv[1:]...)
	cmd.Env, cmd.Dir = svc.Env, "/"
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	pid, exit, err := s.Reaper.Start(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("start %s: %w", svc.Argv[0], err)
	}
	go pipeLogs(pr, svc.Name, s.LogDir, s.Console)
	s.set(svc.Name, func(st *Status) { st.State, st.PID = StateRunning, pid; st.Starts++ })
	s.Log.Info("service started", "service", svc.Name, "pid", pid)
	return exit, nil
}

// stopAll stops the running services in reverse start order.
func (s *Supervisor) stopAll() {
	for i := len(s.Services) - 1; i >= 0; i-- {
		name := s.Services[i].Name
		pid := s.pid(name)
		if pid <= 1 || s.state(name) != StateRunning {
			continue
		}
		syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && s.state(name) == StateRunning && s.pid(name) != 0 {
			time.Sleep(50 * time.Millisecond)
		}
		if s.pid(name) == pid {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		s.set(name, func(st *Status) { st.State = StateStopped })
	}
}

func (s *Supervisor) state(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.status[name]; st != nil {
		return st.State
	}
	return StateWaiting
}

func (s *Supervisor) pid(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.status[name]; st != nil {
		return st.PID
	}
	return 0
}
