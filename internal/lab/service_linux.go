package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Registry is the pseudo node name of the registry host's service in StopService,
// StartService and ServicePIDs.
const Registry = "registry"

// ServicePIDs returns the pids of service svc of this lab on node (Registry: the
// registry host's), found by name and by the environment of the boot contract
// (ZOSLAB_LAB, ZOSNET_NODE), in one pass over /proc.
func (l *Lab) ServicePIDs(node, svc string) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(d + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != svc {
			continue
		}
		env, err := os.ReadFile(d + "/environ")
		if err != nil || !hasEnv(env, envLab+"="+l.name) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		onNode := strings.Contains(string(env), "\x00ZOSNET_NODE=") || strings.HasPrefix(string(env), "ZOSNET_NODE=")
		if (node == Registry && !onNode) || (node != Registry && hasEnv(env, "ZOSNET_NODE="+node)) {
			if !isZombie(pid) {
				out = append(out, pid)
			}
		}
	}
	slices.Sort(out)
	return out
}

// StopService stops service svc on node (Registry: the registry) with SIGTERM and
// waits until it has exited (SIGKILL after grace). Stopping a service that does not
// run is an error that says so.
func (l *Lab) StopService(ctx context.Context, node, svc string, grace time.Duration) error {
	if err := l.checkService(node, svc); err != nil {
		return err
	}
	pids := l.ServicePIDs(node, svc)
	if len(pids) == 0 {
		return fmt.Errorf("lab %s: %s is not running on %s", l.name, svc, node)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for len(l.ServicePIDs(node, svc)) > 0 {
		if time.Now().After(deadline) {
			for _, pid := range l.ServicePIDs(node, svc) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			deadline = time.Now().Add(grace)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// StartService starts service svc on node (Registry: the registry) from the lab's
// binary directory, with the argv, environment and log file of the boot contract
// (boot_linux.go). It refuses a service that already runs, and one the node does not
// boot. A one-shot service (netinit) runs to its end.
func (l *Lab) StartService(ctx context.Context, node, svc string) error {
	if err := l.checkService(node, svc); err != nil {
		return err
	}
	if pids := l.ServicePIDs(node, svc); len(pids) > 0 {
		return fmt.Errorf("lab %s: %s already runs on %s (pid %d): use restart", l.name, svc, node, pids[0])
	}
	if l.st.BinDir == "" {
		return fmt.Errorf("lab %s was not booted (zoslab up --no-boot): no services to start", l.name)
	}
	bin := filepath.Join(l.st.BinDir, svc)
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("lab %s: %s: %w", l.name, svc, err)
	}
	if node == Registry {
		if err := l.startRegistry(bin); err != nil {
			return err
		}
		return l.waitService(ctx, node, svc, filepath.Join(l.dir, "registry", "registry.log"))
	}
	cmd, err := l.serviceCmd(node, svc, bin)
	if err != nil {
		return err
	}
	defer cmd.Stdout.(*os.File).Close()
	if oneShot[svc] {
		return runOneShot(ctx, cmd, Options{BootTimeout: 2 * time.Minute})
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("node %s: start %s: %w", node, svc, err)
	}
	go cmd.Wait()
	return l.waitService(ctx, node, svc, cmd.Stdout.(*os.File).Name())
}

// waitService waits until svc runs under its own name (nsenter has exec'd it), and
// stays up a moment; a service that exits at once is an error with its log's end.
func (l *Lab) waitService(ctx context.Context, node, svc, logFile string) error {
	deadline := time.Now().Add(10 * time.Second)
	seen := 0
	for seen < 3 { // three looks 100 ms apart: it runs, and did not die at once
		if len(l.ServicePIDs(node, svc)) > 0 {
			seen++
		} else if seen > 0 || time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			return fmt.Errorf("lab %s: %s on %s did not stay up; its log ends: %s", l.name, svc, node, lastLines(string(log), 10))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// checkService refuses a node or service the lab does not have.
func (l *Lab) checkService(node, svc string) error {
	if node == Registry {
		if svc != "registry" {
			return fmt.Errorf("lab %s: the registry host runs only the service registry, not %q", l.name, svc)
		}
		if l.st.Spec.router(Registry) == nil {
			return fmt.Errorf("lab %s has no registry host", l.name)
		}
		return nil
	}
	for _, n := range l.st.Spec.Nodes {
		if n.Name != node {
			continue
		}
		if n.IsVM() {
			return fmt.Errorf("lab %s: node %s is a VM: its services run inside the guest", l.name, node)
		}
		if !slices.Contains(n.Boot, svc) {
			return fmt.Errorf("lab %s: node %s does not run %q (its services: %s)", l.name, node, svc, strings.Join(n.Boot, ", "))
		}
		return nil
	}
	return errors.New("lab " + l.name + " has no node " + strconv.Quote(node) + " (see zoslab status)")
}

// NewProfile makes a zosnet key and profile called name for a new user of the lab, in
// the user host's zosnet config (Status.ZosnetConfig): `zosnet key create NAME` and
// `zosnet profile set NAME --registry URL --ca CA --key NAME`, without making it the
// current one. An existing key or profile of that name is an error.
func (l *Lab) NewProfile(ctx context.Context, name string) error {
	url, _, ok := l.registryURL()
	if !ok || l.st.BinDir == "" || !fileExists(l.CAFile()) {
		return fmt.Errorf("lab %s has no grid (a booted lab with a registry host makes one)", l.name)
	}
	if _, err := l.zosnet(ctx, l.st.BinDir, "key", "create", name); err != nil {
		return err
	}
	_, err := l.zosnet(ctx, l.st.BinDir, "profile", "set", name, "--registry", url, "--ca", l.CAFile(), "--key", name)
	return err
}
