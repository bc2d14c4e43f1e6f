package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// nodeUplinkCommands are the node-local uplink commands (issue 5), talking to
// networkd's local API: `zosnet node status`, and `zosnet node public-config
// set|show|unset` (public_config.go), which goes to the registry when given a NODE.
func nodeUplinkCommands() []*Command {
	return []*Command{
		localCommand("status", "uplinks, WireGuard endpoints and whether this node is hidden", "", nil, nodeStatus),
		publicConfigCommand(),
	}
}

// localPublicConfig turns the public-config flags into a validated config for networkd
// (nodeapi.ParsePublicConfig, then Validate); a value that does not parse names its flag.
func localPublicConfig(pc gridapi.PublicConfig) (nodeapi.PublicConfig, error) {
	c, err := nodeapi.ParsePublicConfig(pc.IPv4, pc.GW4, pc.IPv6, pc.GW6, pc.Domain)
	if err != nil {
		return c, fmt.Errorf("%w: --%v", ErrUsage, err)
	}
	return c, c.Validate()
}

func publicConfigSet(ctx context.Context, env *Env, nd *localapi.Client, pc gridapi.PublicConfig) error {
	c, err := localPublicConfig(pc)
	if err != nil {
		return err
	}
	if err := nd.SetPublicConfig(ctx, c); err != nil {
		return fmt.Errorf("set public config: %w", err)
	}
	return publicConfigShow(ctx, env, nd)
}

func publicConfigShow(ctx context.Context, env *Env, nd *localapi.Client) error {
	st, err := nd.PublicConfig(ctx)
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

func publicConfigUnset(ctx context.Context, env *Env, nd *localapi.Client) error {
	if err := nd.UnsetPublicConfig(ctx); err != nil {
		return fmt.Errorf("unset public config: %w", err)
	}
	return publicConfigShow(ctx, env, nd)
}

func orNone(v interface{ IsValid() bool }) string {
	if !v.IsValid() {
		return "-"
	}
	return fmt.Sprint(v)
}

func nodeStatus(ctx context.Context, env *Env, nd *localapi.Client, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: status takes no arguments", ErrUsage)
	}
	ns, err := nd.NodeStatus(ctx)
	if err != nil {
		return fmt.Errorf("node status: %w", err)
	}
	sum, err := nd.Status(ctx)
	if err != nil {
		return fmt.Errorf("node status: %w", err)
	}
	// WireGuard names the implementation networkd uses: kernel (the module) or
	// userspace (wireguard-go in networkd).
	st := struct {
		nodeapi.NodeStatus
		WireGuard string `json:"wireguard"`
	}{ns, sum.WGKind}
	return env.Print(st, func(w io.Writer) {
		fmt.Fprintf(w, "HIDDEN\t%v\nSOCKETS\t%s\nWIREGUARD\t%s\n", st.Hidden, st.SocketNamespace, st.WireGuard)
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
		printEgress(w, st.Egress)
		printRecovery(w, st.Registry, st.Restored, time.Now())
	})
}

// printRecovery prints the registry connection (as provisiond reported it) and what
// networkd restored from disk at start.
func printRecovery(w io.Writer, reg *nodeapi.RegistryStatus, res *nodeapi.Restored, now time.Time) {
	fmt.Fprintln(w)
	switch {
	case reg == nil:
		fmt.Fprintln(w, "REGISTRY\tunknown (provisiond has not reported yet)")
	case reg.Connected:
		fmt.Fprintf(w, "REGISTRY\tconnected since %s (%s ago)\t%s\n", reg.Since.Local().Format(time.DateTime), since(now, reg.Since), reg.URL)
	default:
		fmt.Fprintf(w, "REGISTRY\tretrying since %s (%s ago)\t%s\n", reg.Since.Local().Format(time.DateTime), since(now, reg.Since), reg.URL)
	}
	if reg != nil && reg.LastError != "" {
		fmt.Fprintf(w, "LAST ERROR\t%s (%s ago)\n", reg.LastError, since(now, reg.LastErrorAt))
	}
	if reg != nil && reg.NodeID == 0 {
		fmt.Fprintln(w, "NODE ID\tnot registered yet (the data plane runs without the registry)")
	}
	if res == nil {
		fmt.Fprintln(w, "RESTORED\tnot yet (networkd's first pass is running)")
		return
	}
	fmt.Fprintf(w, "RESTORED\t%d NRs, %d workloads, public config %v, %d learned endpoints, in %s at %s\n",
		len(res.NRs), res.Workloads, res.PublicConfig, res.LearnedEndpoints, res.Took.Round(time.Millisecond), res.At.Local().Format(time.DateTime))
	if len(res.Failed) > 0 {
		fmt.Fprintf(w, "NOT RESTORED\t%s (retried at every resync; see `zosnet node nr show ID`)\n", strings.Join(res.Failed, " "))
	}
}

func since(now, t time.Time) time.Duration {
	return max(0, now.Sub(t)).Round(time.Second)
}

// printEgress shows what workloads may reach: the refused destinations, the farmer's
// allow list and the packets refused per network.
func printEgress(w io.Writer, eg *nodeapi.EgressStatus) {
	if eg == nil {
		return
	}
	fmt.Fprintf(w, "\nEGRESS\tworkloads reach the Internet only; refused: %s\n", strings.Join(eg.Denied, " "))
	allow := make([]string, 0, len(eg.Allow))
	for _, a := range eg.Allow {
		allow = append(allow, a.String())
	}
	if len(allow) == 0 {
		allow = append(allow, "-")
	}
	fmt.Fprintf(w, "ALLOWED\t%s\n", strings.Join(allow, " "))
	ids := make([]string, 0, len(eg.Refused))
	for id := range eg.Refused {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintln(w, "\nNETWORK\tREFUSED PACKETS")
	for _, id := range ids {
		fmt.Fprintf(w, "%s\t%d\n", id, eg.Refused[id])
	}
}
