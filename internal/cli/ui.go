package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/zosnet/zosnet/internal/webui"
)

// uiCommand is `zosnet ui`: the local web view of your networks (package webui).
func uiCommand() *Command {
	var o struct {
		listen  string
		refresh time.Duration
	}
	return gridCommand("ui", "a local web page with your networks as live graphs", "[--listen 127.0.0.1:0] [--refresh 2s]", false,
		func(fs *flag.FlagSet) {
			fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "loopback address to serve on (port 0: any free port)")
			fs.DurationVar(&o.refresh, "refresh", 2*time.Second, "how often a shown network's status is read from the registry")
		},
		func(ctx context.Context, env *Env, g *grid, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if o.refresh < 500*time.Millisecond || o.refresh > time.Minute {
				return fmt.Errorf("%w: --refresh %s: want 500ms to 1m", ErrUsage, o.refresh)
			}
			s, err := webui.New(webui.Config{Client: g.c, Owner: g.owner(), Registry: g.c.Base, Log: env.Log, Refresh: o.refresh})
			if err != nil {
				return err
			}
			ln, err := s.Listen(o.listen)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUsage, err)
			}
			errc := make(chan error, 1)
			go func() { errc <- s.Serve(ctx, ln) }()
			if g.key == nil {
				env.Log.Warn("ui: no key: your networks cannot be listed or changed (zosnet key create)")
			}
			url := s.URL()
			if err := env.Print(map[string]string{"url": url}, func(w io.Writer) { fmt.Fprintf(w, "zosnet ui: open %s (Ctrl-C stops it)\n", url) }); err != nil {
				return err
			}
			return <-errc
		})
}
