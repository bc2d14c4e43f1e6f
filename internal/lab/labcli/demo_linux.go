package labcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
)

func demoCmd() *command {
	var stay, classes bool
	return &command{
		name: "demo", usage: "[--stay] [--classes]", summary: "the whole OS on the default farm: an encrypted network over every node, all-pairs pings, a laptop joining with wg-quick, then the NAT grid punching direct paths (--classes: the bare farm's connectivity classes instead)",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&stay, "stay", false, "leave the lab up afterwards")
			fs.BoolVar(&classes, "classes", false, "check the bare farm's connectivity classes (no node services)")
		},
		run: func(ctx context.Context, e *env, args []string) (err error) {
			if len(args) != 0 {
				return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
			}
			if !classes {
				return meshDemo(ctx, e, stay)
			}
			t := time.Now()
			l, err := lab.Up(ctx, lab.DefaultSpec(), lab.Options{Name: e.name, Log: e.log})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.out, "default farm up as lab %q in %s\n\n", e.name, time.Since(t).Round(time.Millisecond))
			if !stay {
				defer func() {
					derr := lab.Down(context.Background(), e.name)
					if derr == nil {
						fmt.Fprintf(e.out, "\nlab %s down\n", e.name)
					}
					err = errors.Join(err, derr)
				}()
			}
			printMap(e.out, l.Status())
			fmt.Fprintln(e.out, "\nconnectivity classes (plain DHCP client and SLAAC inside the nodes):")
			failed := l.CheckClasses(ctx, func(r lab.CheckResult) {
				mark := "PASS"
				if !r.OK() {
					mark = "FAIL"
				}
				fmt.Fprintf(e.out, "  %s  %-62s %6s  %s\n", mark, r.Name, r.Took.Round(time.Millisecond), r.Detail)
			})
			if stay {
				fmt.Fprintf(e.out, "\nlab %s stays up: zoslab status|exec|shell --name %s; zoslab down --name %s\n", e.name, e.name, e.name)
			}
			if failed > 0 {
				return fmt.Errorf("%d connectivity checks failed", failed)
			}
			return nil
		},
	}
}
