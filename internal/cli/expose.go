package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// exposeOpts are the flags of `zosnet expose http|tcp|udp`.
type exposeOpts struct {
	to, gateway, tls string
	port             int
	proxyProtocol    bool
}

func (o *exposeOpts) register(fs *flag.FlagSet, kind string) {
	fs.StringVar(&o.to, "to", "", "backends: WORKLOAD:PORT (a grid workload of the network) or ADDR:PORT on the network, comma-separated")
	fs.StringVar(&o.gateway, "gateway", "", "gateway node (id or name); default: the registry picks one")
	fs.BoolVar(&o.proxyProtocol, "proxy-protocol", false, "send a PROXY protocol v2 header with the client's address to the backends")
	if kind == gridapi.ExposeHTTP {
		fs.StringVar(&o.tls, "tls", gridapi.TLSTerminate, "terminate (the gateway gets an ACME certificate) or passthrough (routed by SNI; the backend holds the key)")
	} else {
		fs.IntVar(&o.port, "port", 0, "public port on the gateway (1024-65535 without 3000-3999); default: one of 20000-29999")
	}
}

// exposeCommands are `zosnet expose http|tcp|udp|list|show|rm`.
func exposeCommands() []*Command {
	var list struct{ all bool }
	return []*Command{
		exposeKind(gridapi.ExposeHTTP, "expose a web service by name under a gateway's domain (ports 80 and 443)",
			"NET NAME --to WORKLOAD:PORT|ADDR:PORT[,...] [--gateway NODE] [--tls terminate|passthrough] [--proxy-protocol]"),
		exposeKind(gridapi.ExposeTCP, "expose a TCP service on a port of a gateway's public addresses",
			"NET --to WORKLOAD:PORT|ADDR:PORT[,...] [--gateway NODE] [--port N] [--proxy-protocol]"),
		exposeKind(gridapi.ExposeUDP, "expose a UDP service on a port of a gateway's public addresses",
			"NET --to WORKLOAD:PORT|ADDR:PORT [--gateway NODE] [--port N]"),
		gridCommand("list", "list your exposures (--all: everyone's)", "[--all]", false,
			func(fs *flag.FlagSet) { fs.BoolVar(&list.all, "all", false, "list every owner's exposures") },
			func(ctx context.Context, env *Env, g *grid, _ []string) error {
				owner := ""
				if !list.all {
					if g.key == nil {
						return errors.New("expose list: no key to list your exposures (use --key, or --all)")
					}
					owner = g.key.ID()
				}
				es, err := g.c.Exposures(ctx, owner, 0)
				if err != nil {
					return fmt.Errorf("expose list: %w", err)
				}
				return env.Print(es, func(w io.Writer) { exposureTable(w, es) })
			}),
		gridCommand("show", "show an exposure: backends' health, certificate expiry", "ID|FQDN", false, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "ID|FQDN"); err != nil {
					return err
				}
				e, err := g.exposure(ctx, args[0])
				if err != nil {
					return err
				}
				return env.Print(e, func(w io.Writer) { exposureDetail(w, e, time.Now()) })
			}),
		gridCommand("rm", "remove an exposure you own: its name or port is free at once", "ID|FQDN", true, nil,
			func(ctx context.Context, env *Env, g *grid, args []string) error {
				if err := needArgs(args, 1, "ID|FQDN"); err != nil {
					return err
				}
				e, err := g.exposure(ctx, args[0])
				if err != nil {
					return err
				}
				if err := g.c.DeleteExposure(ctx, e.ID); err != nil {
					return fmt.Errorf("expose rm: %w", err)
				}
				return env.Print(map[string]string{"deleted": e.ID}, func(w io.Writer) { fmt.Fprintf(w, "exposure %s (%s) removed\n", e.ID, exposureWhere(e)) })
			}),
	}
}

func exposeKind(kind, summary, usage string) *Command {
	var o exposeOpts
	return gridCommand(kind, summary, usage, true, func(fs *flag.FlagSet) { o.register(fs, kind) },
		func(ctx context.Context, env *Env, g *grid, args []string) error {
			want, what := 1, "NET"
			if kind == gridapi.ExposeHTTP {
				want, what = 2, "NET NAME"
			}
			if err := needArgs(args, want, what); err != nil {
				return err
			}
			if o.to == "" {
				return fmt.Errorf("%w: --to is required", ErrUsage)
			}
			n, err := g.network(ctx, args[0])
			if err != nil {
				return err
			}
			spec := gridapi.ExposureSpec{Network: n.ID, Kind: kind, TLS: o.tls, Port: o.port,
				Backends: strings.Split(o.to, ","), ProxyProtocol: o.proxyProtocol}
			if kind == gridapi.ExposeHTTP {
				spec.Name = args[1]
			}
			if o.gateway != "" {
				if spec.Gateway, err = g.nodeID(ctx, o.gateway); err != nil {
					return err
				}
			}
			e, err := g.c.CreateExposure(ctx, spec)
			if err != nil {
				return fmt.Errorf("expose %s: %w", kind, err)
			}
			return env.Print(e, func(w io.Writer) { exposureDetail(w, e, time.Now()) })
		})
}

// exposure finds an exposure by id, else by FQDN among all exposures.
func (g *grid) exposure(ctx context.Context, idOrFQDN string) (gridapi.Exposure, error) {
	if !strings.Contains(idOrFQDN, ".") {
		e, err := g.c.Exposure(ctx, idOrFQDN)
		if err != nil {
			return e, fmt.Errorf("exposure %s: %w", idOrFQDN, err)
		}
		return e, nil
	}
	es, err := g.c.Exposures(ctx, "", 0)
	if err != nil {
		return gridapi.Exposure{}, fmt.Errorf("exposure %s: %w", idOrFQDN, err)
	}
	for _, e := range es {
		if e.FQDN == idOrFQDN {
			return e, nil
		}
	}
	return gridapi.Exposure{}, fmt.Errorf("exposure %s: no exposure has this name (zosnet expose list)", idOrFQDN)
}

func exposureWhere(e gridapi.Exposure) string {
	if e.Kind == gridapi.ExposeHTTP {
		return e.FQDN
	}
	return fmt.Sprintf("%s port %d on node %d", e.Kind, e.Port, e.Gateway)
}

func exposureTable(w io.Writer, es []gridapi.Exposure) {
	fmt.Fprintln(w, "ID\tKIND\tWHERE\tTLS\tNETWORK\tGATEWAY\tBACKENDS\tHEALTHY")
	for _, e := range es {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.Kind, exposureWhere(e), cmp.Or(e.TLS, "-"), e.Network,
			e.Gateway, strings.Join(e.Backends, ","), healthySummary(e))
	}
}

func healthySummary(e gridapi.Exposure) string {
	if e.Status == nil {
		return "not reported"
	}
	up := 0
	for _, b := range e.Status.Backends {
		if b.Healthy {
			up++
		}
	}
	return fmt.Sprintf("%d/%d", up, len(e.Status.Backends))
}

func exposureDetail(w io.Writer, e gridapi.Exposure, now time.Time) {
	fmt.Fprintf(w, "ID\t%s\nKIND\t%s\nWHERE\t%s\nNETWORK\t%s\nGATEWAY\t%d\n", e.ID, e.Kind, exposureWhere(e), e.Network, e.Gateway)
	if e.TLS != "" {
		fmt.Fprintf(w, "TLS\t%s\n", e.TLS)
	}
	fmt.Fprintf(w, "PROXY PROTOCOL\t%v\n", e.ProxyProtocol)
	if e.Status == nil {
		fmt.Fprintln(w, "STATUS\tnot reported by the gateway yet")
		for i, b := range e.Backends {
			fmt.Fprintf(w, "BACKEND\t%s\t%s\n", b, e.Resolved[i])
		}
		return
	}
	if !e.Status.CertNotAfter.IsZero() {
		fmt.Fprintf(w, "CERTIFICATE\texpires %s (in %s)\n", e.Status.CertNotAfter.Format(time.RFC3339), e.Status.CertNotAfter.Sub(now).Round(time.Hour))
	} else if e.TLS == gridapi.TLSTerminate {
		fmt.Fprintln(w, "CERTIFICATE\tnone yet (asked for at the first TLS connection)")
	}
	for _, b := range e.Status.Backends {
		state := "healthy"
		if !b.Healthy {
			state = "DOWN " + b.LastError
		}
		fmt.Fprintf(w, "BACKEND\t%s\t%s\n", b.Addr, state)
	}
	if e.Status.LastError != "" {
		fmt.Fprintf(w, "ERROR\t%s\n", e.Status.LastError)
	}
	fmt.Fprintf(w, "REPORTED\t%s ago\n", now.Sub(e.Status.Updated).Round(time.Second))
}
