package cli

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/zosnet/zosnet/internal/gridapi"
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
// was read at, retrying on a concurrent change.
func (g *grid) editNetwork(ctx context.Context, idOrName string, change func(*gridapi.NetworkSpec) error) (gridapi.Network, error) {
	for try := 0; ; try++ {
		n, err := g.network(ctx, idOrName)
		if err != nil {
			return n, err
		}
		s := specOf(n)
		if err := change(&s); err != nil {
			return n, err
		}
		out, err := g.c.UpdateNetwork(ctx, n.ID, s)
		if err == nil || !gridapi.IsStatus(err, 409) || try == 10 {
			return out, err
		}
		var e *gridapi.APIError
		if ok := asAPIError(err, &e); ok && e.Field != "revision" {
			return out, err
		}
	}
}

func specOf(n gridapi.Network) gridapi.NetworkSpec {
	s := gridapi.NetworkSpec{Name: n.Name, IPRange: n.IPRange, SubnetSize: n.SubnetSize, Revision: n.Revision, Members: []int64{}}
	for _, m := range n.Members {
		s.Members = append(s.Members, m.NodeID)
	}
	for _, p := range n.AccessPeers {
		s.AccessPeers = append(s.AccessPeers, gridapi.AccessPeerSpec{Name: p.Name, PublicKey: p.PublicKey})
	}
	return s
}
