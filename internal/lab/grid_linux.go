package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/cmdline"
	"github.com/zosnet/zosnet/internal/registry/ca"
)

// The grid of a booted lab (issue 6), kept in this file apart from the rest of the lab.
//
// Before the registry starts (prepareGrid), when BinDir has `registry`:
//   - the lab's CA is made in <lab dir>/registry/ca (package registry/ca, as `registry ca
//     init|issue` does) with a server certificate for the registry host's addresses in
//     <lab dir>/registry/tls/, which the registry picks up from its ZOSNET_STATE_DIR;
//   - the CA bundle is copied to every node's state dir as registry-ca.crt (what the
//     node agent trusts when zosnet.ca= is not given) and to <lab dir>/zosnet/ca.crt.
//
// After it started (setupGrid), when BinDir also has `zosnet` and the lab a `user` host,
// zosnet runs in the user host with ZOSNET_CONFIG_DIR=<lab dir>/zosnet (the config
// `zoslab exec user -- zosnet ...` finds through ZOSLAB_LAB) to: wait for the registry,
// create the keys and profiles "farmer" and "user" (current), and create the farm whose
// id the nodes have as farmer_id= on their command line.

// GridFarm is the name of the farm setupGrid creates.
const GridFarm = "labfarm"

func (l *Lab) registryURL() (string, []string, bool) {
	r := l.st.Spec.router("registry")
	if r == nil || len(r.Interfaces) == 0 || r.Interfaces[0].IPv4 == "" {
		return "", nil, false
	}
	var hosts []string
	for _, a := range []string{r.Interfaces[0].IPv4, r.Interfaces[0].IPv6} {
		if p, err := netip.ParsePrefix(a); err == nil {
			hosts = append(hosts, p.Addr().String())
		}
	}
	return "https://" + hosts[0] + ":8443", hosts, true
}

func (l *Lab) prepareGrid(o Options) error {
	_, hosts, ok := l.registryURL()
	if _, err := os.Stat(filepath.Join(o.BinDir, "registry")); err != nil || !ok {
		return nil
	}
	dir := filepath.Join(l.dir, "registry")
	caDir := filepath.Join(dir, "ca")
	if err := ca.Init(caDir, "zoslab "+l.name+" CA"); err != nil {
		return fmt.Errorf("grid: %w", err)
	}
	if err := ca.IssueServer(caDir, hosts, filepath.Join(dir, "tls", "server.crt"), filepath.Join(dir, "tls", "server.key")); err != nil {
		return fmt.Errorf("grid: %w", err)
	}
	pem, err := os.ReadFile(filepath.Join(caDir, ca.CertFile))
	if err != nil {
		return fmt.Errorf("grid: %w", err)
	}
	dsts := []string{filepath.Join(l.dir, "zosnet", "ca.crt")}
	for _, n := range l.st.Spec.Nodes {
		dsts = append(dsts, filepath.Join(l.NodeDir(n.Name), "state", "registry-ca.crt"))
	}
	for _, d := range dsts {
		if err := os.MkdirAll(filepath.Dir(d), 0o700); err != nil {
			return fmt.Errorf("grid: %w", err)
		}
		if err := os.WriteFile(d, pem, 0o644); err != nil {
			return fmt.Errorf("grid: CA bundle: %w", err)
		}
	}
	return nil
}

// GridCommand returns (not started) `zosnet args...` run in the lab's user host with the
// lab's CLI config.
func (l *Lab) GridCommand(ctx context.Context, binDir string, args ...string) (*exec.Cmd, error) {
	cmd, err := l.Command(ctx, "user", append([]string{filepath.Join(binDir, "zosnet")}, args...)...)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(cmd.Env, "ZOSNET_CONFIG_DIR="+filepath.Join(l.dir, "zosnet"))
	return cmd, nil
}

func (l *Lab) zosnet(ctx context.Context, binDir string, args ...string) ([]byte, error) {
	cmd, err := l.GridCommand(ctx, binDir, args...)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return out, fmt.Errorf("grid: zosnet %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

func (l *Lab) setupGrid(ctx context.Context, o Options) error {
	url, _, ok := l.registryURL()
	_, errR := os.Stat(filepath.Join(o.BinDir, "registry"))
	_, errZ := os.Stat(filepath.Join(o.BinDir, "zosnet"))
	if !ok || errR != nil || errZ != nil || l.st.Spec.router("user") == nil {
		o.Log.Debug("grid: no registry, zosnet or user host: no grid identities")
		return nil
	}
	bundle := filepath.Join(l.dir, "zosnet", ca.CertFile)
	steps := [][]string{
		{"key", "create", "farmer"}, {"key", "create", "user"},
		{"profile", "set", "farmer", "--registry", url, "--ca", bundle, "--key", "farmer"},
		{"profile", "set", "user", "--registry", url, "--ca", bundle, "--key", "user", "--use"},
	}
	for _, s := range steps {
		if _, err := l.zosnet(ctx, o.BinDir, s...); err != nil {
			return err
		}
	}
	if err := l.waitRegistry(ctx, o.BinDir); err != nil {
		return err
	}
	return l.createFarm(ctx, o)
}

func (l *Lab) waitRegistry(ctx context.Context, binDir string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := l.zosnet(ctx, binDir, "farm", "list")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("grid: registry not answering after 30 s (see %s): %w", filepath.Join(l.dir, "registry", "registry.log"), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createFarm creates the farm as the farmer and checks it got the id the nodes boot with.
func (l *Lab) createFarm(ctx context.Context, o Options) error {
	out, err := l.zosnet(ctx, o.BinDir, "farm", "create", GridFarm, "--profile", "farmer", "--json")
	if err != nil {
		return err
	}
	var f struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(out, &f); err != nil {
		return fmt.Errorf("grid: farm create: %w", err)
	}
	for _, n := range l.st.Spec.Nodes {
		c, err := cmdline.Parse(n.Cmdline)
		if err == nil && c.FarmerID != 0 && c.FarmerID != f.ID {
			return fmt.Errorf("grid: node %s boots with farmer_id=%d but the lab's farm got id %d", n.Name, c.FarmerID, f.ID)
		}
	}
	o.Log.Info("grid: farm and identities ready", "farm", f.ID, "config", filepath.Join(l.dir, "zosnet"))
	return nil
}
