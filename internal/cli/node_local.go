package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// localOpts are the flags every node-local command has.
type localOpts struct {
	socket string // networkd's API socket
}

func (o *localOpts) register(fs *flag.FlagSet) {
	fs.StringVar(&o.socket, "socket", localapi.DefaultSocket, "networkd API socket")
}

func (o *localOpts) client() *localapi.Client { return localapi.NewClient(o.socket) }

// localCommand builds a node-local command with its own flags (--socket plus extra's);
// run gets a client of networkd's local API.
func localCommand(name, summary, usage string, extra func(fs *flag.FlagSet),
	run func(ctx context.Context, env *Env, nd *localapi.Client, args []string) error) *Command {
	var o localOpts
	return &Command{Name: name, Summary: summary, Usage: usage,
		Flags: func(fs *flag.FlagSet) {
			o.register(fs)
			if extra != nil {
				extra(fs)
			}
		},
		Run: func(ctx context.Context, env *Env, args []string) error { return run(ctx, env, o.client(), args) }}
}

// nodeLocalCommands are the `zosnet node ...` commands that talk to the local networkd
// over its unix socket: nr list|show, wg show, workload add|rm|list.
func nodeLocalCommands() []*Command {
	var wa workloadAddOpts
	return []*Command{
		{Name: "nr", Summary: "network resources on this node", Sub: []*Command{
			localCommand("list", "list network resources", "", nil, nrList),
			localCommand("show", "show one network resource", "NETWORK", nil, nrShow),
			localCommand("apply", "create or update a network resource from a JSON spec (- = stdin)", "FILE", nil, nrApply),
			localCommand("rm", "remove a network resource and its workloads", "NETWORK", nil, nrRm),
		}},
		{Name: "wg", Summary: "WireGuard links on this node", Sub: []*Command{
			localCommand("show", "show WireGuard links like `wg show`", "[NETWORK]", nil, wgShow),
		}},
		{Name: "workload", Summary: "workloads attached to network resources", Sub: []*Command{
			localCommand("add", "attach a workload (prints its addresses)", "NETWORK NAME [--tap]", wa.register, wa.run),
			localCommand("rm", "detach a workload", "NAME", nil, workloadRm),
			localCommand("list", "list workloads and their addresses", "", nil, workloadList),
		}},
	}
}

func nrList(ctx context.Context, env *Env, nd *localapi.Client, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: nr list takes no arguments", ErrUsage)
	}
	nrs, err := nd.ListNRs(ctx)
	if err != nil {
		return fmt.Errorf("list network resources: %w", err)
	}
	return env.Print(nrs, func(w io.Writer) {
		fmt.Fprintln(w, "NETWORK\tNAME\tSUBNET\tSUBNET6\tPORT\tPEERS\tSTATE\tERROR")
		for _, nr := range nrs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", nr.Spec.NetworkID, cmp.Or(nr.Spec.Name, "-"), nr.Spec.Subnet, nr.Status.Subnet6,
				nr.Status.ListenPort, len(nr.Spec.Peers), nr.Status.State, nr.Status.LastError)
		}
	})
}

func nrShow(ctx context.Context, env *Env, nd *localapi.Client, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: nr show NETWORK", ErrUsage)
	}
	id, err := resolveNR(ctx, nd, args[0])
	if err != nil {
		return err
	}
	nr, err := nd.GetNR(ctx, id)
	if err != nil {
		return fmt.Errorf("show network resource %s: %w", args[0], err)
	}
	return env.Print(nr, func(w io.Writer) {
		s, st := nr.Spec, nr.Status
		fmt.Fprintf(w, "network:\t%s (%s)\nrange:\t%s\nsubnet:\t%s\nsubnet6:\t%s\n", s.NetworkID, cmp.Or(s.Name, "no name"), s.IPRange, s.Subnet, st.Subnet6)
		fmt.Fprintf(w, "public key:\t%s\nlisten port:\t%d\nwireguard:\t%s\nstate:\t%s\n", st.PublicKey, st.ListenPort, st.WGKind, st.State)
		if st.LastError != "" {
			fmt.Fprintf(w, "last error:\t%s\n", st.LastError)
		}
		printPeers(w, st.Peers)
	})
}

func nrApply(ctx context.Context, env *Env, nd *localapi.Client, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: nr apply FILE (or - for stdin)", ErrUsage)
	}
	var b []byte
	var err error
	if args[0] == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(args[0])
	}
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	var s nodeapi.NRSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("spec %s: %w", args[0], err)
	}
	nr, err := nd.PutNR(ctx, s)
	if err != nil {
		return fmt.Errorf("apply network resource %s: %w", s.NetworkID, err)
	}
	return env.Print(nr, func(w io.Writer) {
		fmt.Fprintf(w, "network:\t%s\npublic key:\t%s\nlisten port:\t%d\nstate:\t%s\n", nr.Spec.NetworkID,
			nr.Status.PublicKey, nr.Status.ListenPort, nr.Status.State)
	})
}

func nrRm(ctx context.Context, env *Env, nd *localapi.Client, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: nr rm NETWORK", ErrUsage)
	}
	id, err := resolveNR(ctx, nd, args[0])
	if err != nil {
		return err
	}
	if err := nd.DeleteNR(ctx, id); errors.Is(err, nodeapi.ErrNotFound) {
		return fmt.Errorf("network resource %s was not there: nothing removed (`zosnet node nr list` shows the node's): %w", args[0], err)
	} else if err != nil {
		return fmt.Errorf("remove network resource %s: %w", args[0], err)
	}
	return env.Print(map[string]string{"removed": id}, func(w io.Writer) { fmt.Fprintf(w, "removed %s\n", args[0]) })
}

// resolveNR maps a network name to the id of the node's network resource of that
// name (provisiond records each network's name in its NR); an id, or a name no NR
// has, is returned as given, so that the daemon's own answer (not found) follows.
// A name two NRs share is refused, naming both ids.
func resolveNR(ctx context.Context, nd *localapi.Client, arg string) (string, error) {
	nrs, err := nd.ListNRs(ctx)
	if err != nil {
		return "", fmt.Errorf("network %s: list network resources: %w", arg, err)
	}
	var ids []string
	for _, nr := range nrs {
		if nr.Spec.NetworkID == arg {
			return arg, nil
		}
		if nr.Spec.Name == arg {
			ids = append(ids, nr.Spec.NetworkID)
		}
	}
	switch len(ids) {
	case 0:
		return arg, nil
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%w: network name %q is on %d network resources (%s): use the id", ErrUsage, arg, len(ids), strings.Join(ids, ", "))
}

func printPeers(w io.Writer, peers []nodeapi.PeerStatus) {
	for _, p := range peers {
		fmt.Fprintf(w, "\npeer:\t%s\n", p.PublicKey)
		if p.Endpoint != "" {
			fmt.Fprintf(w, "  endpoint:\t%s\n", p.Endpoint)
		}
		fmt.Fprintf(w, "  allowed ips:\t%s\n", strings.Join(p.AllowedIPs, ", "))
		if p.LatestHandshake != nil {
			fmt.Fprintf(w, "  latest handshake:\t%s ago\n", time.Since(*p.LatestHandshake).Round(time.Second))
		}
		fmt.Fprintf(w, "  transfer:\t%d B received, %d B sent\n", p.RxBytes, p.TxBytes)
	}
}

func wgShow(ctx context.Context, env *Env, nd *localapi.Client, args []string) error {
	if len(args) > 1 {
		return fmt.Errorf("%w: wg show [NETWORK]", ErrUsage)
	}
	nrs, err := nd.ListNRs(ctx)
	if err != nil {
		return fmt.Errorf("read wireguard links: %w", err)
	}
	if len(args) == 1 {
		nrs = filterNR(nrs, args[0])
		if len(nrs) == 0 {
			return fmt.Errorf("wg show %s: %w", args[0], nodeapi.ErrNotFound)
		}
	}
	type link struct {
		Interface  string               `json:"interface"`
		PublicKey  string               `json:"public_key"`
		ListenPort uint16               `json:"listen_port"`
		Kind       string               `json:"kind"`
		Peers      []nodeapi.PeerStatus `json:"peers"`
	}
	links := make([]link, 0, len(nrs))
	for _, nr := range nrs {
		links = append(links, link{"w-" + nr.Spec.NetworkID, nr.Status.PublicKey, nr.Status.ListenPort, nr.Status.WGKind, nr.Status.Peers})
	}
	return env.Print(links, func(w io.Writer) {
		for i, l := range links {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "interface:\t%s (%s)\n  public key:\t%s\n  listening port:\t%d\n", l.Interface, l.Kind, l.PublicKey, l.ListenPort)
			printPeers(w, l.Peers)
		}
	})
}

// filterNR keeps the NR with id (or, failing that, name) arg.
func filterNR(nrs []nodeapi.NR, arg string) []nodeapi.NR {
	for _, nr := range nrs {
		if nr.Spec.NetworkID == arg {
			return []nodeapi.NR{nr}
		}
	}
	var out []nodeapi.NR
	for _, nr := range nrs {
		if nr.Spec.Name == arg {
			out = append(out, nr)
		}
	}
	return out
}

// workloadAddOpts are the flags of `node workload add`.
type workloadAddOpts struct {
	tap bool // a tap for a VM instead of a namespace
}

func (o *workloadAddOpts) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.tap, "tap", false, "a tap for a VM instead of a namespace")
}

func (o *workloadAddOpts) run(ctx context.Context, env *Env, nd *localapi.Client, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("%w: workload add NETWORK NAME [--tap]", ErrUsage)
	}
	id, err := resolveNR(ctx, nd, args[0])
	if err != nil {
		return err
	}
	s := nodeapi.WorkloadSpec{NetworkID: id, Name: args[1], Kind: nodeapi.KindNetns}
	if o.tap {
		s.Kind = nodeapi.KindTap
	}
	info, err := nd.AddWorkload(ctx, s)
	if err != nil {
		return fmt.Errorf("add workload %s: %w", args[1], err)
	}
	return env.Print(info, func(w io.Writer) { printWorkloads(w, []nodeapi.Workload{info}) })
}

func workloadRm(ctx context.Context, env *Env, nd *localapi.Client, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: workload rm NAME", ErrUsage)
	}
	if err := nd.RemoveWorkload(ctx, args[0]); errors.Is(err, nodeapi.ErrNotFound) {
		return fmt.Errorf("workload %s was not there: nothing removed (`zosnet node workload list` shows the node's): %w", args[0], err)
	} else if err != nil {
		return fmt.Errorf("remove workload %s: %w", args[0], err)
	}
	return env.Print(map[string]string{"removed": args[0]}, func(w io.Writer) { fmt.Fprintf(w, "removed %s\n", args[0]) })
}

func workloadList(ctx context.Context, env *Env, nd *localapi.Client, args []string) error {
	ws, err := nd.ListWorkloads(ctx)
	if err != nil {
		return fmt.Errorf("list workloads: %w", err)
	}
	return env.Print(ws, func(w io.Writer) { printWorkloads(w, ws) })
}

func printWorkloads(w io.Writer, ws []nodeapi.Workload) {
	fmt.Fprintln(w, "NAME\tNETWORK\tKIND\tIPV4\tIPV6\tGATEWAY\tMAC\tNETNS/TAP")
	for _, x := range ws {
		where := x.Netns
		if x.Kind == nodeapi.KindTap {
			where = x.Tap
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Name, x.NetworkID, x.Kind, x.IPv4, x.IPv6, x.Gateway, x.MAC, where)
	}
}
