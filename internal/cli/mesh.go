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

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/plan"
	"github.com/zosnet/zosnet/internal/wgquick"
)

// meshCommands are `zosnet network remove-node|access add|status` (add-node and rm-node
// are in network_edit.go).
func meshCommands() []*Command {
	var add struct { // access add's flags
		device, out string
		wait        time.Duration
	}
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
		gridCommand("status", "members, pairs, paths and reachability of a network", "NAME|ID", false, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "NAME|ID"); err != nil {
					return err
				}
				st, err := g.status(ctx, args[0])
				if err != nil {
					return err
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

// accessAdd makes the device's key here, registers its public key, waits until the
// access node has reported, and writes the wg-quick file (0600).
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
	key, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return err
	}
	n, err = g.editNetwork(ctx, n.ID, func(s *gridapi.NetworkSpec) error {
		s.AccessPeers = append(s.AccessPeers, gridapi.AccessPeerSpec{Name: device, PublicKey: key.PublicKey().String()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("network %s: access add: %w", netName, err)
	}
	d, dn, err := g.waitDevice(ctx, n, device, wait)
	if err != nil {
		return err
	}
	d.AccessNode = plan.NodeName(dn, d.AccessNode)
	f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("access add: %w", err)
	}
	err = errors.Join(wgquick.RenderDevice(f, n.ID, d, key.String(), 0), f.Close())
	if err != nil {
		os.Remove(out)
		return fmt.Errorf("access add: %s: %w", out, err)
	}
	res := map[string]any{"network": n.ID, "device": device, "address": d.Address, "address6": d.Address6,
		"access_node": d.AccessNode, "file": out}
	return env.Print(res, func(w io.Writer) {
		fmt.Fprintf(w, "device %s of network %s: address %s and %s via node %s\nwg-quick file: %s (bring it up with `wg-quick up %s`)\n",
			device, n.Name, d.Address, d.Address6, d.AccessNode, out, out)
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

func (g *grid) waitDevice(ctx context.Context, n gridapi.Network, device string, wait time.Duration) (plan.DevicePlan, gridapi.DesiredNetwork, error) {
	deadline := time.Now().Add(wait)
	for {
		dn, err := g.desiredNetwork(ctx, n)
		var d plan.DevicePlan
		if err == nil {
			var p *plan.Planner
			if p, err = planner(dn); err == nil {
				d, err = p.Device(device)
			}
		}
		if err == nil && d.Peer.Endpoint.IsValid() {
			return d, dn, nil
		}
		if time.Now().After(deadline) {
			return d, dn, fmt.Errorf("access add: no access node ready after %s: %v", wait, err)
		}
		select {
		case <-ctx.Done():
			return d, dn, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// desiredNetwork reads the network with every member's facts and reports (the view a
// member node gets).
func (g *grid) desiredNetwork(ctx context.Context, n gridapi.Network) (gridapi.DesiredNetwork, error) {
	if len(n.Members) == 0 {
		return gridapi.DesiredNetwork{Network: n}, nil
	}
	d, err := g.c.Desired(ctx, n.Members[0].NodeID, 0, time.Second)
	if err != nil {
		return gridapi.DesiredNetwork{}, fmt.Errorf("network %s: %w", n.Name, err)
	}
	for _, dn := range d.Networks {
		if dn.ID == n.ID {
			return dn, nil
		}
	}
	return gridapi.DesiredNetwork{}, fmt.Errorf("network %s: not in its member's view yet", n.Name)
}

// planner plans a network from the registry's view of it, as an outsider (no self).
func planner(dn gridapi.DesiredNetwork) (*plan.Planner, error) {
	in, err := plan.FromGrid(dn, plan.Self{})
	if err != nil {
		return nil, err
	}
	return plan.New(in)
}
