package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/usernet"
)

// networkCommands are `zosnet network create|show|delete|list`.
func networkCommands() []*Command {
	var create struct { // network create's flags
		rng, nodes string
		size       int
		peers      multiFlag
	}
	var list struct{ all bool } // network list's flags
	return append([]*Command{
		gridCommand("create", "create a network owned by your key", "NAME --range CIDR [--nodes ID|NAME,...] [--subnet-size 24] [--peer NAME=WGKEY]...", true,
			func(fs *flag.FlagSet) {
				fs.StringVar(&create.rng, "range", "", "IPv4 range of the network (CIDR)")
				fs.StringVar(&create.nodes, "nodes", "", "comma-separated member nodes (ids or names)")
				fs.IntVar(&create.size, "subnet-size", 24, "prefix length of each node's subnet")
				fs.Var(&create.peers, "peer", "external access peer NAME=WIREGUARD_PUBLIC_KEY (repeatable)")
			},
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "NAME"); err != nil {
					return err
				}
				spec := gridapi.NetworkSpec{Name: args[0], IPRange: create.rng, SubnetSize: create.size}
				var err error
				if spec.Members, err = g.resolveNodes(ctx, create.nodes); err != nil {
					return err
				}
				if spec.AccessPeers, err = create.peers.accessPeers(); err != nil {
					return err
				}
				n, err := g.c.CreateNetwork(ctx, spec)
				if err != nil {
					return fmt.Errorf("network create: %w", err)
				}
				return env.Print(n, func(w io.Writer) { networkDetail(w, n) })
			}),
		gridCommand("show", "show a network", "ID|NAME", false, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "ID|NAME"); err != nil {
					return err
				}
				n, err := g.network(ctx, args[0])
				if err != nil {
					return err
				}
				st, err := g.c.NetworkStatus(ctx, n.ID)
				if err != nil {
					return fmt.Errorf("network show: %w", err)
				}
				return env.Print(st, func(w io.Writer) { networkStatus(w, st) })
			}),
		gridCommand("delete", "delete a network you own", "ID|NAME", true, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "ID|NAME"); err != nil {
					return err
				}
				n, err := g.network(ctx, args[0])
				if err != nil {
					return err
				}
				if err := g.c.DeleteNetwork(ctx, n.ID); err != nil {
					return fmt.Errorf("network delete: %w", err)
				}
				return env.Print(map[string]string{"deleted": n.ID}, func(w io.Writer) { fmt.Fprintf(w, "network %s (%s) deleted\n", n.Name, n.ID) })
			}),
		gridCommand("list", "list your networks (--all: everyone's)", "[--all]", false,
			func(fs *flag.FlagSet) { fs.BoolVar(&list.all, "all", false, "list every owner's networks") },
			func(ctx context.Context, env *Env, g *grid, _ []string) error {
				owner := ""
				if !list.all {
					if g.key == nil {
						return errors.New("network list: no key to list your networks (use --key, or --all)")
					}
					owner = g.key.ID()
				}
				ns, err := g.c.Networks(ctx, owner)
				if err != nil {
					return fmt.Errorf("network list: %w", err)
				}
				return env.Print(ns, func(w io.Writer) {
					fmt.Fprintln(w, "ID\tNAME\tRANGE\tSUBNET\tMEMBERS\tPEERS\tREVISION")
					for _, n := range ns {
						fmt.Fprintf(w, "%s\t%s\t%s\t/%d\t%d\t%d\t%d\n", n.ID, n.Name, n.IPRange, n.SubnetSize, len(n.Members), len(n.AccessPeers), n.Revision)
					}
				})
			}),
	}, networkEditCommands()...)
}

// network finds a network by id, else by name among your networks.
func (g *grid) network(ctx context.Context, idOrName string) (gridapi.Network, error) {
	return usernet.Find(ctx, g.c, g.owner(), idOrName)
}

func (g *grid) resolveNodes(ctx context.Context, list string) ([]int64, error) {
	out := []int64{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, err := g.nodeID(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

func networkDetail(w io.Writer, n gridapi.Network) {
	fmt.Fprintf(w, "id\t%s\nname\t%s\nowner\t%s\nrange\t%s\nsubnet size\t/%d\nrevision\t%d\n", n.ID, n.Name, n.Owner, n.IPRange, n.SubnetSize, n.Revision)
	for _, m := range n.Members {
		fmt.Fprintf(w, "member\tnode %d\t%s\n", m.NodeID, m.Subnet)
	}
	for _, p := range n.AccessPeers {
		fmt.Fprintf(w, "access peer\t%s\t%s\t%s\n", p.Name, p.Address, p.PublicKey)
	}
}

func networkStatus(w io.Writer, st gridapi.DesiredNetwork) {
	n := st.Network
	fmt.Fprintf(w, "id\t%s\nname\t%s\nowner\t%s\nrange\t%s\nsubnet size\t/%d\nrevision\t%d\n\n", n.ID, n.Name, n.Owner, n.IPRange, n.SubnetSize, n.Revision)
	fmt.Fprintln(w, "NODE\tNAME\tSUBNET\tHIDDEN\tSTATE\tPORT\tENDPOINTS\tERROR")
	for _, p := range st.Peers {
		state, port, eps, lastErr := "waiting", "-", "-", ""
		if p.NR != nil {
			state, port, eps, lastErr = p.NR.State, fmt.Sprint(p.NR.ListenPort), dash(strings.Join(p.NR.Endpoints, ",")), p.NR.LastError
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%v\t%s\t%s\t%s\t%s\n", p.NodeID, p.Name, p.Subnet, p.Facts.Hidden, state, port, eps, lastErr)
	}
	for _, a := range n.AccessPeers {
		fmt.Fprintf(w, "access\t%s\t%s\t\t\t\t%s\t\n", a.Name, a.Address, a.PublicKey)
	}
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

// String implements flag.Value.
func (m *multiFlag) String() string { return strings.Join(*m, ",") }

// Set implements flag.Value: each use adds one value.
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (m multiFlag) accessPeers() ([]gridapi.AccessPeerSpec, error) {
	var out []gridapi.AccessPeerSpec
	for _, v := range m {
		name, key, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("%w: --peer %q: want NAME=WIREGUARD_PUBLIC_KEY", ErrUsage, v)
		}
		out = append(out, gridapi.AccessPeerSpec{Name: name, PublicKey: key})
	}
	return out, nil
}
