package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// nodeGridCommands are the `zosnet node ...` commands that talk to the registry:
// list and show (public-config, shared with the local path, is in public_config.go).
func nodeGridCommands() []*Command {
	var list struct{ farm string } // node list's flags
	return []*Command{
		gridCommand("list", "list the grid's nodes", "[--farm ID|NAME]", false,
			func(fs *flag.FlagSet) { fs.StringVar(&list.farm, "farm", "", "only this farm's nodes") },
			func(ctx context.Context, env *Env, g *grid, _ []string) error {
				var id int64
				if list.farm != "" {
					f, err := g.c.Farm(ctx, list.farm)
					if err != nil {
						return fmt.Errorf("node list: farm %s: %w", list.farm, err)
					}
					id = f.ID
				}
				ns, err := g.c.Nodes(ctx, id)
				if err != nil {
					return fmt.Errorf("node list: %w", err)
				}
				return env.Print(ns, func(w io.Writer) { nodeTable(w, ns) })
			}),
		gridCommand("show", "show a node's facts and public config", "ID|NAME", false, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "ID|NAME"); err != nil {
					return err
				}
				n, err := g.c.Node(ctx, args[0])
				if err != nil {
					return fmt.Errorf("node show: %w", err)
				}
				return env.Print(n, func(w io.Writer) { nodeDetail(w, n) })
			}),
	}
}

func nodeTable(w io.Writer, ns []gridapi.Node) {
	fmt.Fprintln(w, "ID\tNAME\tFARM\tSTATUS\tLAST SEEN\tHIDDEN\tENDPOINTS\tPUBLIC")
	for _, n := range ns {
		var eps []string
		for _, e := range n.Facts.Endpoints {
			eps = append(eps, e.IP)
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\t%v\t%s\t%s\n", n.ID, n.Name, n.FarmID, status(n), ago(n.LastSeen),
			n.Facts.Hidden, dash(strings.Join(eps, ",")), dash(publicSummary(n.PublicConfig)))
	}
}

func nodeDetail(w io.Writer, n gridapi.Node) {
	fmt.Fprintf(w, "id\t%d\nname\t%s\nfarm\t%d\nkey\t%s\nstatus\t%s (last seen %s)\nsource\t%s\nversion\t%s\nhidden\t%v\nwg ports\t%v\npublic config\t%s\n",
		n.ID, n.Name, n.FarmID, n.Key, status(n), ago(n.LastSeen), n.SourceAddr, n.Facts.Version, n.Facts.Hidden,
		n.Facts.WGPorts, dash(publicSummary(n.PublicConfig)))
	for _, e := range n.Facts.Endpoints {
		fmt.Fprintf(w, "endpoint\t%s (%s)\n", e.IP, e.Reason)
	}
	for _, nic := range n.Facts.NICs {
		fmt.Fprintf(w, "nic %s\t%s up=%v %s\n", nic.Name, nic.MAC, nic.Up, strings.Join(nic.Addrs, " "))
		for _, r := range nic.Routes {
			fmt.Fprintf(w, "  route\t%s via %s\n", r.Dst, dash(r.Gw))
		}
	}
}

func status(n gridapi.Node) string {
	if n.Online {
		return "online"
	}
	return "offline"
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func publicSummary(p *gridapi.PublicConfig) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(strings.Join([]string{p.IPv4, p.IPv6}, " "))
}
