package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/zosnet/zosnet/internal/graph"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/usernet"
	"github.com/zosnet/zosnet/internal/wgquick"
)

// meshCommands are `zosnet network remove-node|access add|status` (add-node and rm-node
// are in network_edit.go).
func meshCommands() []*Command {
	var add struct { // access add's flags
		device, out string
		wait        time.Duration
	}
	var statusGraph string // status's --graph
	return []*Command{
		removeNodeAlias(),
		{Name: "access", Summary: "external devices (wg-quick) in your networks", Sub: []*Command{
			gridCommand("add", "add a device and write its wg-quick file", "NAME|ID --device NAME [--out FILE] [--wait 60s]", true,
				func(fs *flag.FlagSet) {
					fs.StringVar(&add.device, "device", "", "the device's name, e.g. laptop")
					fs.StringVar(&add.out, "out", "", "wg-quick file to write: an interface name (at most 15 characters) + .conf (default ./NETWORK-DEVICE.conf, shortened to fit)")
					fs.DurationVar(&add.wait, "wait", time.Minute, "how long to wait for the access node")
				},
				func(ctx context.Context, env *Env, g *grid, args []string) error {
					if err := needArgs(args, 1, "NAME|ID"); err != nil {
						return err
					}
					return g.accessAdd(ctx, env, args[0], add.device, add.out, add.wait)
				}),
		}},
		gridCommand("status", "members, pairs, paths and reachability of a network (--graph: as a picture)", "NAME|ID [--graph dot|svg]", false,
			func(fs *flag.FlagSet) {
				fs.StringVar(&statusGraph, "graph", "", "write the network as a graph instead: dot (Graphviz) or svg")
			},
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "NAME|ID"); err != nil {
					return err
				}
				var f graph.Format
				if statusGraph != "" {
					var err error
					if f, err = graph.ParseFormat(statusGraph); err != nil {
						return fmt.Errorf("%w: %w", ErrUsage, err)
					}
				}
				st, err := g.status(ctx, args[0])
				if err != nil {
					return err
				}
				if f != "" {
					return graph.FromStatus(st).Write(env.Stdout, f)
				}
				return env.Print(st, func(w io.Writer) { printStatus(w, st) })
			}),
	}
}

// removeNodeAlias is `network remove-node`, the name for `network rm-node`.
func removeNodeAlias() *Command {
	for _, c := range networkEditCommands() {
		if c.Name == "rm-node" {
			alias := *c
			alias.Name, alias.Summary = "remove-node", c.Summary+" (= rm-node)"
			return &alias
		}
	}
	panic("cli: no rm-node command")
}

// accessAdd adds the device (usernet.AddDevice: key made here, public key registered,
// wait for the access node) and writes its wg-quick file (0600).
func (g *grid) accessAdd(ctx context.Context, env *Env, netName, device, out string, wait time.Duration) error {
	if err := gridapi.ValidName("--device", device); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	n, err := g.network(ctx, netName)
	if err != nil {
		return err
	}
	if out, err = accessFile(out, n.Name, device); err != nil {
		return err
	}
	d, err := usernet.AddDevice(ctx, g.c, g.owner(), n.ID, device, wait)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("access add: %w", err)
	}
	_, err = f.Write(d.Conf)
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(out)
		return fmt.Errorf("access add: %s: %w", out, err)
	}
	res := map[string]any{"network": d.Network.ID, "device": device, "address": d.Address, "address6": d.Address6,
		"access_node": d.AccessNode, "file": out}
	return env.Print(res, func(w io.Writer) {
		fmt.Fprintf(w, "device %s of network %s: address %s and %s via node %s\nwg-quick file: %s (bring it up with `wg-quick up %s`)\n",
			device, d.Network.Name, d.Address, d.Address6, d.AccessNode, out, out)
	})
}

// accessFile returns the absolute path of the wg-quick file to write: --out, or the
// default name in the current directory. It refuses, before anything is registered, a
// name wg-quick would refuse (saying why and what would work) and a file that exists.
// The path is absolute because wg-quick reads a bare "NAME.conf" as
// /etc/wireguard/NAME.conf.conf.
func accessFile(out, netName, device string) (string, error) {
	if out == "" {
		out = wgquick.DefaultFileName(netName, device)
	}
	if err := wgquick.CheckFileName(out); err != nil {
		return "", fmt.Errorf("%w: --out: %w; e.g. --out %s", ErrUsage, err,
			filepath.Join(filepath.Dir(out), wgquick.DefaultFileName(netName, device)))
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return "", fmt.Errorf("--out: %w", err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return "", fmt.Errorf("%w: --out: %s already exists: remove it or choose another file", ErrUsage, abs)
	}
	return abs, nil
}

// desiredNetwork reads the network with every member's facts and reports (the view a
// member node gets).
func (g *grid) desiredNetwork(ctx context.Context, n gridapi.Network) (gridapi.DesiredNetwork, error) {
	return usernet.View(ctx, g.c, n)
}

// owner is the key id whose networks names are looked up in ("" without a key).
func (g *grid) owner() string {
	if g.key == nil {
		return ""
	}
	return g.key.ID()
}
