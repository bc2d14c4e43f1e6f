package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/localapi"
)

// publicConfigCommand is `zosnet node public-config set|show|unset [NODE]`. With a node
// id or name it goes to the registry as the farm's owner, and the node applies it when
// its provisiond sees the change; without one it goes straight to this node's networkd
// over the local socket (a node operator, or a node that has no registry). Either way
// the change applies without a reboot.
func publicConfigCommand() *Command {
	set := func(ctx context.Context, env *Env, o *publicConfigOpts, args []string) error {
		if len(args) == 0 {
			if o.pc.NIC != "" {
				return fmt.Errorf("%w: --nic is only for the registry path (give a NODE)", ErrUsage)
			}
			return publicConfigSet(ctx, env, o.local.client(), o.pc)
		}
		return o.onNode(ctx, args, "set", func(g *grid, id int64) error {
			n, err := g.c.SetPublicConfig(ctx, id, o.pc)
			if err != nil {
				return fmt.Errorf("public-config set: %w", err)
			}
			return env.Print(n, func(w io.Writer) { nodeDetail(w, n) })
		})
	}
	show := func(ctx context.Context, env *Env, o *publicConfigOpts, args []string) error {
		if len(args) == 0 {
			return publicConfigShow(ctx, env, o.local.client())
		}
		return o.onNode(ctx, args, "show", func(g *grid, id int64) error {
			n, err := g.c.Node(ctx, args[0])
			if err != nil {
				return fmt.Errorf("public-config show: %w", err)
			}
			return env.Print(map[string]any{"node_id": n.ID, "public_config": n.PublicConfig}, func(w io.Writer) {
				if n.PublicConfig == nil {
					fmt.Fprintf(w, "node %d (%s) has no public config\n", n.ID, n.Name)
					return
				}
				c := n.PublicConfig
				fmt.Fprintf(w, "NIC\t%s\nIPV4\t%s\tGW4\t%s\nIPV6\t%s\tGW6\t%s\nDOMAIN\t%s\n", c.NIC, c.IPv4, c.GW4, c.IPv6, c.GW6, c.Domain)
			})
		})
	}
	unset := func(ctx context.Context, env *Env, o *publicConfigOpts, args []string) error {
		if len(args) == 0 {
			return publicConfigUnset(ctx, env, o.local.client())
		}
		return o.onNode(ctx, args, "unset", func(g *grid, id int64) error {
			if err := g.c.UnsetPublicConfig(ctx, id); err != nil {
				return fmt.Errorf("public-config unset: %w", err)
			}
			return env.Print(map[string]any{"node_id": id, "public_config": nil}, func(w io.Writer) {
				fmt.Fprintf(w, "public config of node %d removed\n", id)
			})
		})
	}
	return &Command{Name: "public-config", Summary: "a node's public config: with NODE through the registry (farm owner), without on this node's networkd", Sub: []*Command{
		publicConfigVerb("set", "set or change the public config", "[NODE] [--ipv4 CIDR --gw4 IP] [--ipv6 CIDR --gw6 IP] [--domain NAME] [--nic NAME]", true, set),
		publicConfigVerb("show", "show the public config", "[NODE]", false, show),
		publicConfigVerb("unset", "remove the public config (sockets move back to the host)", "[NODE]", false, unset),
	}}
}

// publicConfigOpts are the flags of one `node public-config` command: the registry's,
// networkd's socket, and (set) the config itself.
type publicConfigOpts struct {
	grid  gridOpts
	local localOpts
	pc    gridapi.PublicConfig
}

func (o *publicConfigOpts) register(fs *flag.FlagSet, withConfig bool) {
	o.grid.register(fs)
	fs.StringVar(&o.local.socket, "socket", localapi.DefaultSocket, "networkd API socket (when no NODE is given)")
	if withConfig {
		fs.StringVar(&o.pc.IPv4, "ipv4", "", "public IPv4 address with prefix length, e.g. 203.0.113.10/24")
		fs.StringVar(&o.pc.GW4, "gw4", "", "IPv4 gateway")
		fs.StringVar(&o.pc.IPv6, "ipv6", "", "static public IPv6 address with prefix length (empty: SLAAC)")
		fs.StringVar(&o.pc.GW6, "gw6", "", "IPv6 gateway")
		fs.StringVar(&o.pc.Domain, "domain", "", "DNS name of the node's public address")
		fs.StringVar(&o.pc.NIC, "nic", "", "public NIC (registry only; default: the node picks)")
	}
}

// onNode runs fn on the registry for the one NODE in args (as the farm's owner, except
// for show).
func (o *publicConfigOpts) onNode(ctx context.Context, args []string, verb string, fn func(g *grid, id int64) error) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: public-config %s takes at most one NODE (id or name)", ErrUsage, verb)
	}
	g, err := o.grid.client(verb != "show")
	if err != nil {
		return err
	}
	id, err := g.nodeID(ctx, args[0])
	if err != nil {
		return err
	}
	return fn(g, id)
}

// publicConfigVerb builds one `node public-config` command with its own flags.
func publicConfigVerb(name, summary, usage string, withConfig bool,
	run func(ctx context.Context, env *Env, o *publicConfigOpts, args []string) error) *Command {
	var o publicConfigOpts
	return &Command{Name: name, Summary: summary, Usage: usage,
		Flags: func(fs *flag.FlagSet) { o.register(fs, withConfig) },
		Run:   func(ctx context.Context, env *Env, args []string) error { return run(ctx, env, &o, args) }}
}
