package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// The grid of a booted lab (issues 6 and 7): the registry host serves HTTPS with a
// certificate of a CA the lab makes (<lab dir>/grid/ca); every node trusts it
// (<state dir>/ca.crt, which provisiond reads), and so does the `user` host, which holds
// two zosnet CLI profiles in <lab dir>/grid/user (ZOSNET_CONFIG_DIR for commands run
// there): "farmer" (owns farm 1, the farmer_id on the nodes' command line) and "user"
// (the current profile). After the nodes boot, the farmer gives farm1 and farm2 public
// configs (203.0.113.10+ and 2001:db8:100::10+ on the PUBLIC segment), which makes them
// the network's public members.

// UserHost is the host that holds the CLI profiles.
const UserHost = "user"

// gridOn reports whether the lab runs a grid: a registry host and both binaries.
func (l *Lab) gridOn(o Options) bool {
	r := l.st.Spec.router("registry")
	if r == nil || len(r.Interfaces) == 0 || r.Interfaces[0].IPv4 == "" || l.st.Spec.router(UserHost) == nil {
		return false
	}
	for _, b := range []string{"registry", "zosnet"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return false
		}
	}
	return true
}

func (l *Lab) gridDir() string { return filepath.Join(l.dir, "grid") }

// userEnv is the environment of commands run on the user host.
func (l *Lab) userEnv(node string) []string {
	if node != UserHost {
		return nil
	}
	env := []string{"ZOSNET_CONFIG_DIR=" + filepath.Join(l.gridDir(), "user")}
	if exe, err := os.Executable(); err == nil {
		// zosnet next to zoslab (bin/) comes first, so `zoslab exec user -- zosnet ...` works
		env = append(env, "PATH="+filepath.Dir(exe)+":"+os.Getenv("PATH"))
	}
	return env
}

// bootGrid makes the CA, starts the registry, hands the CA to the nodes, creates the
// farmer and user profiles and the farm. It runs before the nodes boot.
func (l *Lab) bootGrid(ctx context.Context, o Options) error {
	r := l.st.Spec.router("registry")
	addr := netip.MustParsePrefix(r.Interfaces[0].IPv4).Addr().String()
	url := "https://" + addr + ":8443"
	dir, reg := l.gridDir(), filepath.Join(o.BinDir, "registry")
	ca := filepath.Join(dir, "ca")
	if err := l.run(ctx, "", reg, "ca", "init", "--dir", ca); err != nil {
		return err
	}
	if err := l.run(ctx, "", reg, "ca", "issue", "--dir", ca, "--host", addr, "--out", filepath.Join(dir, "server")); err != nil {
		return err
	}
	caFile := filepath.Join(ca, "ca.crt")
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("grid: %w", err)
	}
	for _, n := range l.st.Spec.Nodes {
		if err := os.WriteFile(filepath.Join(l.NodeDir(n.Name), "state", "ca.crt"), pem, 0o644); err != nil {
			return fmt.Errorf("grid: node %s: %w", n.Name, err)
		}
	}
	if err := l.startRegistry(o, reg, addr); err != nil {
		return err
	}
	z := filepath.Join(o.BinDir, "zosnet")
	for _, argv := range [][]string{
		{z, "key", "create", "farmer"}, {z, "key", "create", "user"},
		{z, "profile", "set", "farmer", "--registry", url, "--ca", caFile, "--key", "farmer"},
		{z, "profile", "set", "user", "--registry", url, "--ca", caFile, "--key", "user", "--use"},
	} {
		if err := l.run(ctx, UserHost, argv...); err != nil {
			return err
		}
	}
	if err := l.retry(ctx, 20*time.Second, UserHost, z, "farm", "list"); err != nil {
		return fmt.Errorf("grid: registry at %s did not answer: %w", url, err)
	}
	if err := l.run(ctx, UserHost, z, "farm", "create", "--profile", "farmer", "farm1"); err != nil {
		return err
	}
	o.Log.Info("boot: grid ready", "registry", url, "farm", "farm1")
	return nil
}

func (l *Lab) startRegistry(o Options, bin, addr string) error {
	dir := l.gridDir()
	cmd, err := l.Command(context.Background(), "registry", bin, "--db", filepath.Join(dir, "grid.db"),
		"--listen", addr+":8443", "--tls-cert", filepath.Join(dir, "server.crt"), "--tls-key", filepath.Join(dir, "server.key"))
	if err != nil {
		return err
	}
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
	o.Log.Info("boot: started registry", "listen", addr+":8443")
	return nil
}

// publicConfigs has the farmer set farm1's and farm2's public configs once they are
// registered (nodes register as soon as provisiond runs).
func (l *Lab) publicConfigs(ctx context.Context, o Options) error {
	z := filepath.Join(o.BinDir, "zosnet")
	for i, n := range []string{"farm1", "farm2"} {
		if l.st.Spec.node(n) == nil {
			continue
		}
		if err := l.retry(ctx, 60*time.Second, UserHost, z, "node", "show", n); err != nil {
			return fmt.Errorf("grid: node %s did not register: %w", n, err)
		}
		err := l.run(ctx, UserHost, z, "node", "public-config", "set", "--profile", "farmer", n,
			"--ipv4", fmt.Sprintf("203.0.113.%d/24", 10+i), "--gw4", "203.0.113.1",
			"--ipv6", fmt.Sprintf("2001:db8:100::%x/64", 0x10+i), "--gw6", "2001:db8:100::1")
		if err != nil {
			return err
		}
	}
	return nil
}

// run runs argv on the host (where == "") or in a lab namespace and fails with its output.
func (l *Lab) run(ctx context.Context, where string, argv ...string) error {
	var out bytes.Buffer
	cmd, err := l.gridCmd(ctx, where, argv)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("grid: %v: %w: %s", argv[1:], err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// retry runs argv until it succeeds or timeout passes.
func (l *Lab) retry(ctx context.Context, timeout time.Duration, where string, argv ...string) error {
	deadline := time.Now().Add(timeout)
	for {
		err := l.run(ctx, where, argv...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func (l *Lab) gridCmd(ctx context.Context, where string, argv []string) (*exec.Cmd, error) {
	if where == "" {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(cleanEnv(), envLab+"="+l.name)
		return cmd, nil
	}
	return l.Command(ctx, where, argv...)
}
