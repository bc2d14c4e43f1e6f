package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// workloadCommands are `zosnet workload add|list|show|rm`: workloads through the grid.
func workloadCommands() []*Command {
	var add struct { // workload add's flags
		kind       string
		pub4, pub6 bool
	}
	return []*Command{
		gridCommand("add", "deploy a workload on a member node of your network", "NET NODE NAME [--kind container|vm] [--public-ipv4] [--public-ipv6]", true,
			func(fs *flag.FlagSet) {
				fs.StringVar(&add.kind, "kind", gridapi.KindContainer, "container (a network namespace) or vm (a tap; the node answers its DHCP and RAs)")
				fs.BoolVar(&add.pub4, "public-ipv4", false, "take a public IPv4 of the node's farm pool (node with a public NIC)")
				fs.BoolVar(&add.pub6, "public-ipv6", false, "take a global IPv6 of the node's public /64 (node with a public NIC)")
			},
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 3, "NET NODE NAME"); err != nil {
					return err
				}
				n, err := g.network(ctx, args[0])
				if err != nil {
					return err
				}
				node, err := g.nodeID(ctx, args[1])
				if err != nil {
					return err
				}
				spec := gridapi.WorkloadSpec{Name: args[2], NodeID: node, Kind: add.kind, PublicIPv4: add.pub4, PublicIPv6: add.pub6}
				w, err := g.c.CreateWorkload(ctx, n.ID, spec)
				if err != nil {
					return fmt.Errorf("workload add: %w", err)
				}
				return env.Print(w, func(tw io.Writer) { workloadDetail(tw, w) })
			}),
		gridCommand("list", "list the workloads of your networks (or of one)", "[NET]", false, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				ws, err := g.workloads(ctx, args)
				if err != nil {
					return err
				}
				return env.Print(ws, func(tw io.Writer) {
					fmt.Fprintln(tw, "NETWORK\tNAME\tNODE\tKIND\tSTATE\tIPV4\tIPV6\tPUBLIC")
					for _, w := range ws {
						r := reportOf(w)
						fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", w.NetworkID, w.Name, w.NodeID, w.Kind, r.State,
							dash(r.IPv4), dash(r.IPv6), dash(publicOf(w, r)))
					}
				})
			}),
		gridCommand("show", "show a workload with what its node reported", "NET NAME", false, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 2, "NET NAME"); err != nil {
					return err
				}
				n, err := g.network(ctx, args[0])
				if err != nil {
					return err
				}
				w, err := g.c.Workload(ctx, n.ID, args[1])
				if err != nil {
					return fmt.Errorf("workload show: %w", err)
				}
				return env.Print(w, func(tw io.Writer) { workloadDetail(tw, w) })
			}),
		gridCommand("rm", "remove a workload (its public address returns to the farm's pool)", "NET NAME", true, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 2, "NET NAME"); err != nil {
					return err
				}
				n, err := g.network(ctx, args[0])
				if err != nil {
					return err
				}
				if err := g.c.DeleteWorkload(ctx, n.ID, args[1]); err != nil {
					return fmt.Errorf("workload rm: %w", err)
				}
				return env.Print(map[string]string{"removed": args[1], "network_id": n.ID}, func(tw io.Writer) {
					fmt.Fprintf(tw, "workload %s of network %s removed\n", args[1], n.ID)
				})
			}),
	}
}

// workloads returns the workloads of the network named in args, else of all the
// key's networks.
func (g *grid) workloads(ctx context.Context, args []string) ([]gridapi.Workload, error) {
	var nets []gridapi.Network
	if len(args) > 0 {
		n, err := g.network(ctx, args[0])
		if err != nil {
			return nil, err
		}
		nets = []gridapi.Network{n}
	} else {
		if g.key == nil {
			return nil, errors.New("workload list: no key to find your networks (use --key, or name a network)")
		}
		var err error
		if nets, err = g.c.Networks(ctx, g.key.ID()); err != nil {
			return nil, fmt.Errorf("workload list: %w", err)
		}
	}
	out := []gridapi.Workload{}
	for _, n := range nets {
		ws, err := g.c.Workloads(ctx, n.ID)
		if err != nil {
			return nil, fmt.Errorf("workload list: network %s: %w", n.ID, err)
		}
		out = append(out, ws...)
	}
	return out, nil
}

// reportOf returns the workload's report, or a pending one before its node reported.
func reportOf(w gridapi.Workload) gridapi.WorkloadReport {
	if w.Report == nil {
		return gridapi.WorkloadReport{State: "pending"}
	}
	return *w.Report
}

func publicOf(w gridapi.Workload, r gridapi.WorkloadReport) string {
	s := firstNonEmpty(r.PublicIPv4, w.PublicIPv4)
	if r.PublicIPv6 != "" {
		if s != "" {
			s += ","
		}
		s += r.PublicIPv6
	}
	return s
}

func workloadDetail(w io.Writer, wl gridapi.Workload) {
	r := reportOf(wl)
	fmt.Fprintf(w, "network\t%s\nname\t%s\nnode\t%d\nkind\t%s\nstate\t%s\n", wl.NetworkID, wl.Name, wl.NodeID, wl.Kind, r.State)
	fmt.Fprintf(w, "ipv4\t%s\nipv6\t%s\nmac\t%s\n", dash(r.IPv4), dash(r.IPv6), dash(r.MAC))
	if wl.PublicIPv4 != "" || wl.PublicIPv6 {
		fmt.Fprintf(w, "public ipv4\t%s (gateway %s)\npublic ipv6\t%s\n", dash(firstNonEmpty(r.PublicIPv4, wl.PublicIPv4)), dash(wl.PublicGW4), dash(r.PublicIPv6))
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error\t%s\n", r.Error)
	}
}

// farmPublicIPCommands are `zosnet farm public-ips add|rm|list`.
func farmPublicIPCommands() *Command {
	var gw string
	return &Command{Name: "public-ips", Summary: "a farm's public IPv4 pool for workloads", Sub: []*Command{
		gridCommand("add", "add IPv4 addresses to your farm's pool", "FARM IP/PREFIX... --gateway IP", true,
			func(fs *flag.FlagSet) { fs.StringVar(&gw, "gateway", "", "the addresses' gateway (on their link)") },
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if len(args) < 2 {
					return fmt.Errorf("%w: want FARM and at least one IP/PREFIX", ErrUsage)
				}
				pool, err := g.c.AddPublicIPs(ctx, args[0], gridapi.PublicIPsAdd{IPs: args[1:], Gateway: gw})
				if err != nil {
					return fmt.Errorf("farm public-ips add: %w", err)
				}
				return printPool(env, pool)
			}),
		gridCommand("rm", "remove a free address from your farm's pool", "FARM IP", true, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 2, "FARM IP"); err != nil {
					return err
				}
				if err := g.c.RemovePublicIP(ctx, args[0], args[1]); err != nil {
					return fmt.Errorf("farm public-ips rm: %w", err)
				}
				return env.Print(map[string]string{"removed": args[1]}, func(w io.Writer) { fmt.Fprintf(w, "%s removed from farm %s\n", args[1], args[0]) })
			}),
		gridCommand("list", "list a farm's pool and who uses each address", "FARM", false, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "FARM"); err != nil {
					return err
				}
				pool, err := g.c.PublicIPs(ctx, args[0])
				if err != nil {
					return fmt.Errorf("farm public-ips list: %w", err)
				}
				return printPool(env, pool)
			}),
	}}
}

func printPool(env *Env, pool []gridapi.PublicIP) error {
	return env.Print(pool, func(w io.Writer) {
		fmt.Fprintln(w, "IP\tGATEWAY\tUSED BY")
		for _, p := range pool {
			by := "-"
			if p.Workload != "" {
				by = p.NetworkID + "/" + p.Workload
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", p.IP, p.Gateway, by)
		}
	})
}
