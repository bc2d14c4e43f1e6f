package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
)

// Boot services: the contract between zoslab and the node daemons.
//
// For each node, the services of its boot list whose binary exists in Options.BinDir are
// started in order inside the node (network, mount, PID and UTS namespaces of the node):
//   - argv: just the binary path, no arguments; configuration comes from /proc/cmdline
//     (the node's, from the spec) and the environment;
//   - environment: the caller's plus ZOSNET_NODE=<node>, ZOSNET_STATE_DIR=/var/lib/zosnet
//     (the node's private state directory) and ZOSLAB_LAB=<lab>;
//   - stdout and stderr: /var/lib/zosnet/log/<service>.log in the node, i.e.
//     <NodeDir>/state/log/<service>.log on the host;
//   - "netinit" is one-shot: Up waits (Options.BootTimeout) for it to exit 0 on every node
//     and fails otherwise; the other services are started after it and run until Down.
//
// The registry host runs BinDir/registry (if it exists) in its network namespace, with
// ZOSNET_LISTEN=<registry IPv4>:8443 and ZOSNET_STATE_DIR=<lab dir>/registry, output to
// <lab dir>/registry/registry.log.

// oneShot names the services Up waits for.
var oneShot = map[string]bool{"netinit": true}

func (l *Lab) boot(ctx context.Context, o Options) error {
	if err := l.prepareGrid(o); err != nil { // grid_linux.go
		return err
	}
	if err := l.bootRegistry(o); err != nil {
		return err
	}
	if err := l.setupGrid(ctx, o); err != nil { // grid_linux.go
		return err
	}
	if err := l.bootGatewayServices(ctx, o); err != nil { // gateway_linux.go
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(l.st.Spec.Nodes))
	for i, n := range l.st.Spec.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.IsVM() {
				errs[i] = l.bootVM(ctx, o, &l.st.Spec.Nodes[i]) // vm_linux.go
				return
			}
			errs[i] = l.bootNode(ctx, o, n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := l.save(); err != nil {
		return err
	}
	return l.meshSetup(ctx, o) // mesh_linux.go
}

func (l *Lab) bootNode(ctx context.Context, o Options, n Node) error {
	for _, svc := range n.Boot {
		bin := filepath.Join(o.BinDir, svc)
		if _, err := os.Stat(bin); err != nil {
			o.Log.Debug("boot: no binary, skipped", "node", n.Name, "service", svc, "path", bin)
			continue
		}
		cmd, err := l.serviceCmd(n.Name, svc, bin)
		if err != nil {
			return err
		}
		if !oneShot[svc] {
			err := cmd.Start()
			cmd.Stdout.(*os.File).Close() // the child has its own copy
			if err != nil {
				return fmt.Errorf("node %s: start %s: %w", n.Name, svc, err)
			}
			go cmd.Wait()
			o.Log.Info("boot: started", "node", n.Name, "service", svc)
			continue
		}
		err = runOneShot(ctx, cmd, o)
		cmd.Stdout.(*os.File).Close()
		if err != nil {
			log, _ := os.ReadFile(cmd.Stdout.(*os.File).Name())
			return fmt.Errorf("node %s: %s: %w; its log ends: %s", n.Name, svc, err, lastLines(string(log), 10))
		}
		o.Log.Info("boot: done", "node", n.Name, "service", svc)
	}
	return nil
}

func runOneShot(ctx context.Context, cmd *exec.Cmd, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.BootTimeout)
	defer cancel()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("did not finish within %s: %w", o.BootTimeout, ctx.Err())
	}
}

func (l *Lab) serviceCmd(node, svc, bin string) (*exec.Cmd, error) {
	cmd, err := l.Command(context.Background(), node, bin)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(cmd.Env, "ZOSNET_NODE="+node, "ZOSNET_STATE_DIR="+NodeStateDir)
	log, err := os.OpenFile(filepath.Join(l.NodeDir(node), "state", "log", svc+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("node %s: %s log: %w", node, svc, err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd, nil
}

func (l *Lab) bootRegistry(o Options) error {
	bin := filepath.Join(o.BinDir, "registry")
	r := l.st.Spec.router("registry")
	if r == nil || len(r.Interfaces) == 0 || r.Interfaces[0].IPv4 == "" {
		return nil
	}
	if _, err := os.Stat(bin); err != nil {
		return nil
	}
	if err := l.startRegistry(bin); err != nil {
		return err
	}
	o.Log.Info("boot: started registry")
	return nil
}

// startRegistry starts the registry host's service (the boot contract above).
func (l *Lab) startRegistry(bin string) error {
	r := l.st.Spec.router("registry")
	if r == nil || len(r.Interfaces) == 0 || r.Interfaces[0].IPv4 == "" {
		return fmt.Errorf("lab %s has no registry host", l.name)
	}
	dir := filepath.Join(l.dir, "registry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	cmd, err := l.Command(context.Background(), "registry", bin)
	if err != nil {
		return err
	}
	addr := netip.MustParsePrefix(r.Interfaces[0].IPv4).Addr().String()
	cmd.Env = append(cmd.Env, "ZOSNET_LISTEN="+addr+":8443", "ZOSNET_STATE_DIR="+dir)
	log, err := os.OpenFile(filepath.Join(dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("registry: log: %w", err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("registry: start: %w", err)
	}
	go cmd.Wait()
	return nil
}
