package cli

import (
	"context"
	"fmt"
	"io"

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
	}
}

func printFarms(env *Env, v any, fs []gridapi.Farm) error {
	return env.Print(v, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tOWNER")
		for _, f := range fs {
			fmt.Fprintf(w, "%d\t%s\t%s\n", f.ID, f.Name, f.Owner)
		}
	})
}
