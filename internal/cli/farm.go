package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// farmCommands are `zosnet farm create|list|show`.
func farmCommands() []*Command {
	return []*Command{
		gridCommand("create", "create a farm owned by your key", "NAME", true, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "NAME"); err != nil {
					return err
				}
				f, err := g.c.CreateFarm(ctx, gridapi.FarmCreate{Name: args[0]})
				if err != nil {
					return fmt.Errorf("farm create: %w", err)
				}
				return printFarms(env, f, []gridapi.Farm{f})
			}),
		gridCommand("list", "list farms", "", false, nil,
			func(ctx context.Context, env *Env, g *grid, _ []string) error {
				fs, err := g.c.Farms(ctx)
				if err != nil {
					return fmt.Errorf("farm list: %w", err)
				}
				return printFarms(env, fs, fs)
			}),
		gridCommand("show", "show a farm", "ID|NAME", false, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "ID|NAME"); err != nil {
					return err
				}
				f, err := g.c.Farm(ctx, args[0])
				if err != nil {
					return fmt.Errorf("farm show: %w", err)
				}
				return printFarms(env, f, []gridapi.Farm{f})
			}),
		gridCommand("allow", "set what workloads on the farm's nodes may reach on their LAN (replaces the list; none: the Internet only)", "ID|NAME [PREFIX[:PORT/PROTO]...]", true, nil, farmAllow),
	}
}

// farmAllow is `zosnet farm allow FARM [ENTRY...]`: the farm's egress allow list, checked
// here as the registry will, then set (signed by the farm's owner).
func farmAllow(ctx context.Context, env *Env, g *grid, args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("%w: allow needs ID|NAME [PREFIX[:PORT/PROTO]...]", ErrUsage)
	}
	a := gridapi.FarmEgressAllow{Allow: args[1:]}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%w: farm allow: %v", ErrUsage, err)
	}
	f, err := g.c.Farm(ctx, args[0])
	if err != nil {
		return fmt.Errorf("farm allow: %w", err)
	}
	if f, err = g.c.SetFarmEgressAllow(ctx, f.ID, a.Allow); err != nil {
		return fmt.Errorf("farm allow: %w", err)
	}
	return printFarms(env, f, []gridapi.Farm{f})
}

func printFarms(env *Env, v any, fs []gridapi.Farm) error {
	return env.Print(v, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tOWNER\tEGRESS ALLOWED")
		for _, f := range fs {
			allow := strings.Join(f.EgressAllow, " ")
			if allow == "" {
				allow = "-"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", f.ID, f.Name, f.Owner, allow)
		}
	})
}
