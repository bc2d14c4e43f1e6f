package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The mesh part of a booted lab (issue 7), apart from the rest of the lab: once the
// nodes run, the farmer gives farm1 and farm2 public configs on the PUBLIC segment
// (203.0.113.10+ with gateway .1, 2001:db8:100::10+ with gateway ::1), which makes them
// the public members of users' networks (every other node is hidden). And zosnet next
// to zoslab is on the PATH of everything run in the lab, so
// `zoslab exec user -- zosnet node list` just works.

// UserHost is the host that holds the lab's CLI profiles ("farmer", "user").
const UserHost = "user"

// PublicNodes are the nodes the lab's farmer gives public configs, in order.
var PublicNodes = []string{"farm1", "farm2"}

// meshSetup sets the public configs of PublicNodes once they are registered, when
// Options.PublicConfigs is set. It runs after the nodes booted, when the grid is on
// (BinDir has registry, zosnet and provisiond).
func (l *Lab) meshSetup(ctx context.Context, o Options) error {
	if !o.PublicConfigs {
		return nil
	}
	for _, b := range []string{"registry", "zosnet", "provisiond"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return nil
		}
	}
	if l.st.Spec.router("user") == nil {
		return nil
	}
	// Every node that boots provisiond registers itself; wait for all of them, so a
	// network can name any node as soon as Up returns.
	for _, nd := range l.st.Spec.Nodes {
		if nd.runsProvisiond() {
			if err := l.waitRegistered(ctx, o, nd.Name); err != nil {
				return err
			}
		}
	}
	for i, n := range PublicNodes {
		if l.st.Spec.node(n) == nil {
			continue
		}
		v4, v6 := publicAddrs(i)
		_, err := l.zosnet(ctx, o.BinDir, "node", "public-config", "set", n, "--profile", "farmer",
			"--ipv4", v4+"/24", "--gw4", "203.0.113.1", "--ipv6", v6+"/64", "--gw6", "2001:db8:100::1",
			"--domain", GatewayDomains[n])
		if err != nil {
			return fmt.Errorf("mesh: %w", err)
		}
	}
	// Up returns once the nodes applied them (provisiond reports the public-config
	// endpoints after networkd applied the config), so no network resource is created
	// while networkd is still moving its WireGuard sockets to the public namespace.
	for _, n := range PublicNodes {
		if l.st.Spec.node(n) == nil {
			continue
		}
		if err := l.waitPublic(ctx, o, n); err != nil {
			return err
		}
	}
	o.Log.Info("mesh: public configs applied", "nodes", PublicNodes)
	return nil
}

// waitRegistered polls the registry (as the user) until node is known, for 60 s.
func (l *Lab) waitRegistered(ctx context.Context, o Options, node string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := l.zosnet(ctx, o.BinDir, "node", "show", node)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mesh: node %s did not register within 60s: %w", node, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (l *Lab) waitPublic(ctx context.Context, o Options, node string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := l.zosnet(ctx, o.BinDir, "node", "show", node, "--json")
		var nd struct {
			Facts struct {
				Endpoints []struct{ Reason string } `json:"endpoints"`
			} `json:"facts"`
		}
		if err == nil && json.Unmarshal(out, &nd) == nil {
			for _, e := range nd.Facts.Endpoints {
				if e.Reason == "public-config" {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mesh: node %s did not apply its public config within 60s", node)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pathEnv puts the directory of the running zoslab (bin/, where zosnet is) first on the
// PATH of commands run in the lab.
func pathEnv() []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	dir := filepath.Dir(exe)
	if _, err := os.Stat(filepath.Join(dir, "zosnet")); err != nil {
		return nil
	}
	return []string{"PATH=" + dir + ":" + os.Getenv("PATH")}
}
