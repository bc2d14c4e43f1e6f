package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// KillService SIGKILLs a node's long-running service (netinit's keeper, networkd,
// provisiond: the process of that name with the lab's and the node's marks) and waits
// until it is gone; a service not running is success. With StartService, what a test
// needs of `zoslab service` (issue 19).
func (l *Lab) KillService(ctx context.Context, node, svc string) error {
	pid := l.servicePID(node, svc)
	if pid == 0 {
		return nil
	}
	syscall.Kill(pid, syscall.SIGKILL)
	if err := poll(ctx, 10*time.Second, func() bool { return !isLabProc(pid, l.name) }); err != nil {
		return fmt.Errorf("%s on %s (pid %d) does not exit: %w", svc, node, pid, err)
	}
	return nil
}

// StartService starts a node's long-running service from o.BinDir as boot does (same
// environment, log appended). Starting a running service is an error.
func (l *Lab) StartService(node, svc string, o Options) error {
	if pid := l.servicePID(node, svc); pid != 0 {
		return fmt.Errorf("%s already runs on %s (pid %d)", svc, node, pid)
	}
	o.Name = l.name
	if err := o.defaults(); err != nil {
		return err
	}
	cmd, err := l.serviceCmd(node, svc, filepath.Join(o.BinDir, svc))
	if err != nil {
		return err
	}
	err = cmd.Start()
	cmd.Stdout.(*os.File).Close() // the child has its own copy
	if err != nil {
		return fmt.Errorf("node %s: start %s: %w", node, svc, err)
	}
	go cmd.Wait()
	return nil
}

// servicePID finds a node's service by name and marks (0: not running).
func (l *Lab) servicePID(node, svc string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != svc {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && hasEnv(env, envLab+"="+l.name) && hasEnv(env, "ZOSNET_NODE="+node) && !isZombie(pid) {
			return pid
		}
	}
	return 0
}
