package cli

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/usernet"
)

// networkEditCommands are `zosnet network add-node|rm-node|add-peer|rm-peer`: each reads
// the network, changes its spec and writes it back with the revision it read, retrying
// when someone else changed it meanwhile (no lost updates).
func networkEditCommands() []*Command {
	edit := func(name, summary, usage string, change func(ctx context.Context, g *grid, s *gridapi.NetworkSpec, args []string) error) *Command {
		return gridCommand(name, summary, usage, true, nil, func(ctx context.Context, env *Env, g *grid, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("%w: want %s", ErrUsage, usage)
			}
			n, err := g.editNetwork(ctx, args[0], func(s *gridapi.NetworkSpec) error { return change(ctx, g, s, args[1:]) })
			if err != nil {
				return fmt.Errorf("network %s: %w", name, err)
			}
			return env.Print(n, func(w io.Writer) { networkDetail(w, n) })
		})
	}
	return []*Command{
		edit("add-node", "add member nodes to a network", "NETWORK NODE...", func(ctx context.Context, g *grid, s *gridapi.NetworkSpec, args []string) error {
			for _, a := range args {
				id, err := g.nodeID(ctx, a)
				if err != nil {
					return err
				}
				if !slices.Contains(s.Members, id) {
					s.Members = append(s.Members, id)
				}
			}
			return nil
		}),
		edit("rm-node", "remove member nodes from a network", "NETWORK NODE...", func(ctx context.Context, g *grid, s *gridapi.NetworkSpec, args []string) error {
			for _, a := range args {
				id, err := g.nodeID(ctx, a)
				if err != nil {
					return err
				}
				s.Members = slices.DeleteFunc(s.Members, func(m int64) bool { return m == id })
			}
			return nil
		}),
		edit("add-peer", "add external access peers (NAME=WIREGUARD_PUBLIC_KEY)", "NETWORK NAME=KEY...", func(_ context.Context, _ *grid, s *gridapi.NetworkSpec, args []string) error {
			ps, err := multiFlag(args).accessPeers()
			s.AccessPeers = append(s.AccessPeers, ps...)
			return err
		}),
		edit("rm-peer", "remove external access peers", "NETWORK NAME...", func(_ context.Context, _ *grid, s *gridapi.NetworkSpec, args []string) error {
			s.AccessPeers = slices.DeleteFunc(s.AccessPeers, func(p gridapi.AccessPeerSpec) bool { return slices.Contains(args, p.Name) })
			return nil
		}),
	}
}

// editNetwork applies change to the network's spec and writes it with the revision it
// was read at, retrying on a concurrent change (usernet.Edit).
func (g *grid) editNetwork(ctx context.Context, idOrName string, change func(*gridapi.NetworkSpec) error) (gridapi.Network, error) {
	return usernet.Edit(ctx, g.c, g.owner(), idOrName, change)
}
