package lab

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StopRegistry stops the lab's registry process (SIGTERM, SIGKILL after 10 s) and waits
// until it is gone; its database stays and the nodes keep running. Stopping a stopped
// registry is success. A small Go API for tests of registry outages (`zoslab service
// stop|start` of issue 19 may build on it).
func (l *Lab) StopRegistry(ctx context.Context) error {
	pid := l.registryPID()
	if pid == 0 {
		return nil
	}
	syscall.Kill(pid, syscall.SIGTERM)
	gone := func() bool { return !isLabProc(pid, l.name) }
	if err := poll(ctx, 10*time.Second, gone); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		if err := poll(ctx, 5*time.Second, gone); err != nil {
			return fmt.Errorf("registry (pid %d) does not exit: %w", pid, err)
		}
	}
	return nil
}

// StartRegistry starts the lab's registry again from o.BinDir on its kept database and
// waits until it answers. Starting a running registry is an error.
func (l *Lab) StartRegistry(ctx context.Context, o Options) error {
	if pid := l.registryPID(); pid != 0 {
		return fmt.Errorf("registry already running (pid %d)", pid)
	}
	o.Name = l.name
	if err := o.defaults(); err != nil {
		return err
	}
	if err := l.bootRegistry(o); err != nil {
		return err
	}
	return l.waitRegistry(ctx, o.BinDir)
}

// registryPID finds the lab's registry: a process named registry marked as the lab's
// and on no node.
func (l *Lab) registryPID() int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "registry" {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !hasEnv(env, envLab+"="+l.name) || strings.Contains(string(env), "\x00ZOSNET_NODE=") || isZombie(pid) {
			continue
		}
		return pid
	}
	return 0
}
