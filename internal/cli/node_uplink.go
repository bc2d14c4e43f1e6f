package cli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

// nodeUplinkCommands are the node-local uplink commands (issue 5), talking to
// networkd's local API: `zosnet node status`, and `zosnet node public-config
// set|show|unset` (public_config.go), which goes to the registry when given a NODE.
func nodeUplinkCommands() []*Command {
	return []*Command{
		{Name: "status", Summary: "uplinks, WireGuard endpoints and whether this node is hidden", Flags: withSocket(nil), Run: nodeStatus},
		publicConfigCommand(),
	}
}

// The local public-config values, set from public_config.go's flags.
var pcIPv4, pcGW4, pcIPv6, pcGW6, pcDomain string

// parsePublicConfig turns the flags into a validated config; errors name the flag.
func parsePublicConfig(ipv4, gw4, ipv6, gw6, domain string) (nodeapi.PublicConfig, error) {
	c := nodeapi.PublicConfig{Domain: domain}
	for _, f := range []struct {
		name, v string
		p       *netip.Prefix
		a       *netip.Addr
	}{{"--ipv4", ipv4, &c.IPv4, nil}, {"--gw4", gw4, nil, &c.GW4}, {"--ipv6", ipv6, &c.IPv6, nil}, {"--gw6", gw6, nil, &c.GW6}} {
		if f.v == "" {
			continue
		}
		var err error
		if f.p != nil {
			*f.p, err = netip.ParsePrefix(f.v)
		} else {
			*f.a, err = netip.ParseAddr(f.v)
		}
		if err != nil {
			return c, fmt.Errorf("%w: %s %q: %v", ErrUsage, f.name, f.v, err)
		}
	}
	return c, c.Validate()
}

func publicConfigSet(ctx context.Context, env *Env, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: public-config set takes only flags", ErrUsage)
	}
	c, err := parsePublicConfig(pcIPv4, pcGW4, pcIPv6, pcGW6, pcDomain)
	if err != nil {
		return err
	}
	if err := client().SetPublicConfig(ctx, c); err != nil {
		return fmt.Errorf("set public config: %w", err)
	}
	return publicConfigShow(ctx, env, nil)
}

func publicConfigShow(ctx context.Context, env *Env, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: public-config show takes no arguments", ErrUsage)
	}
	st, err := client().PublicConfig(ctx)
	if err != nil {
		return fmt.Errorf("get public config: %w", err)
	}
	return env.Print(st, func(w io.Writer) {
		if st.Config == nil {
			fmt.Fprintln(w, "no public config (WireGuard sockets live in the host namespace)")
			return
		}
		c := st.Config
		fmt.Fprintf(w, "IPV4\t%s\tGW4\t%s\nIPV6\t%s\tGW6\t%s\nDOMAIN\t%s\n", orNone(c.IPv4), orNone(c.GW4), orNone(c.IPv6), orNone(c.GW6), c.Domain)
	})
}

func publicConfigUnset(ctx context.Context, env *Env, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: public-config unset takes no arguments", ErrUsage)
	}
	if err := client().UnsetPublicConfig(ctx); err != nil {
		return fmt.Errorf("unset public config: %w", err)
	}
	return publicConfigShow(ctx, env, nil)
}

func orNone(v interface{ IsValid() bool }) string {
	if !v.IsValid() {
		return "-"
	}
	return fmt.Sprint(v)
}

func nodeStatus(ctx context.Context, env *Env, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: status takes no arguments", ErrUsage)
	}
	st, err := client().NodeStatus(ctx)
	if err != nil {
		return fmt.Errorf("node status: %w", err)
	}
	return env.Print(st, func(w io.Writer) {
		fmt.Fprintf(w, "HIDDEN\t%v\nSOCKETS\t%s\n", st.Hidden, st.SocketNamespace)
		if st.Note != "" {
			fmt.Fprintf(w, "NOTE\t%s\n", st.Note)
		}
		fmt.Fprintln(w, "\nUPLINK\tROLE\tMODE\tADDRESSES")
		for _, u := range st.Uplinks {
			mode := u.Mode
			if u.NIC != "" {
				mode += " " + u.NIC
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", u.Name, u.Role, mode, strings.Join(u.Addresses, " "))
		}
		fmt.Fprintln(w, "\nENDPOINT\tIFACE\tREASON")
		for _, e := range st.Endpoints {
			fmt.Fprintf(w, "%s\t%s\t%s\n", e.Addr, e.Iface, e.Reason)
		}
		for _, r := range st.Refused {
			fmt.Fprintf(w, "(not %s)\t%s\t%s\n", r.Addr, r.Iface, r.Reason)
		}
	})
}
