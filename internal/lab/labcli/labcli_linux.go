// Package labcli is the zoslab command line: up, down, status, exec, shell, demo and the
// lab's small tools (lease, carrier, dhcp). Every command takes --name (default "lab");
// flags may come before or after arguments, and everything after "--" is passed on.
package labcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
)

// env is what a command gets.
type env struct {
	out, errw io.Writer
	log       *slog.Logger
	name      string
}

type command struct {
	name, usage, summary string
	flags                func(fs *flag.FlagSet)
	run                  func(ctx context.Context, e *env, args []string) error
}

var errUsage = errors.New("usage")

// Main runs zoslab with args (without the program name) and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{out: stdout, errw: stderr, log: slog.New(slog.NewTextHandler(stderr, nil))}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.exec(ctx, e, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "zoslab %s: %v\nusage: zoslab %s %s\n", c.name, err, c.name, c.usage)
			return 2
		default:
			// exec and shell pass the command's own exit code on (it printed its errors);
			// anything else that failed says why.
			var ee *exec.ExitError
			if (c.name == "exec" || c.name == "shell") && errors.As(err, &ee) {
				return ee.ExitCode()
			}
			fmt.Fprintf(stderr, "zoslab %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "zoslab: unknown command %q (see `zoslab help`)\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "zoslab — a 0-OS farm made of namespaces on this machine (run as root)")
	fmt.Fprintln(w, "\ncommands (each takes --name NAME, default \"lab\"):")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %-52s %s\n", c.name, c.usage, c.summary)
	}
}

// exec parses flags anywhere among the arguments (up to "--") and runs the command.
func (c *command) exec(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.name, "name", lab.DefaultName, "lab name")
	if c.flags != nil {
		c.flags(fs)
	}
	var pos, rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if rest != nil {
		pos = append(pos, append([]string{"--"}, rest...)...)
	}
	return c.run(ctx, e, pos)
}

func commands() []*command {
	return []*command{
		upCmd(), downCmd(), statusCmd(), execCmd(), shellCmd(), demoCmd(), leaseCmd(), carrierCmd(), dhcpCmd(), rebootCmd(),
		serviceCmd(), profileCmd(), serveCmd(),
	}
}

func upCmd() *command {
	var spec, binDir, imageDir string
	var noBoot bool
	var bootTimeout time.Duration
	return &command{
		name: "up", usage: "[--spec FILE] [--no-boot] [--bin-dir DIR] [--boot-timeout D]", summary: "build the lab (default farm) and boot its nodes",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&spec, "spec", "", "lab spec (YAML); default: the default farm")
			fs.BoolVar(&noBoot, "no-boot", false, "do not start node services")
			fs.StringVar(&binDir, "bin-dir", "", "where node service binaries are (default: zoslab's directory)")
			fs.DurationVar(&bootTimeout, "boot-timeout", 2*time.Minute, "how long netinit may take on a node")
			fs.StringVar(&imageDir, "image-dir", "", "the node image vm nodes boot (default: BIN-DIR/image, from make image)")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
			}
			s := lab.DefaultSpec()
			if spec != "" {
				var err error
				if s, err = lab.LoadSpec(spec); err != nil {
					return err
				}
			}
			t := time.Now()
			l, err := lab.Up(ctx, s, lab.Options{Name: e.name, BinDir: binDir, ImageDir: imageDir, Boot: !noBoot, BootTimeout: bootTimeout, Log: e.log, PublicConfigs: true})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.out, "lab %s up in %s: %d nodes, %d routers/hosts, %d segments (zoslab status --name %s)\n",
				l.Name(), time.Since(t).Round(time.Millisecond), len(s.Nodes), len(s.Routers)+len(s.Hosts), len(s.Segments), l.Name())
			return nil
		},
	}
}

func downCmd() *command {
	return &command{
		name: "down", summary: "remove everything of the lab (also after a crash)",
		run: func(ctx context.Context, e *env, args []string) error {
			t := time.Now()
			if err := lab.Down(ctx, e.name); err != nil {
				return err
			}
			fmt.Fprintf(e.out, "lab %s down in %s\n", e.name, time.Since(t).Round(time.Millisecond))
			return nil
		},
	}
}

func statusCmd() *command {
	var asJSON bool
	return &command{
		name: "status", usage: "[--json]", summary: "print the lab's map: segments, routers, nodes, addresses",
		flags: func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
		run: func(ctx context.Context, e *env, args []string) error {
			l, err := lab.Open(e.name)
			if err != nil {
				return err
			}
			st := l.Status()
			if asJSON {
				enc := json.NewEncoder(e.out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printMap(e.out, st)
			return nil
		},
	}
}

func execCmd() *command {
	return &command{
		name: "exec", usage: "NODE -- CMD [ARG...]", summary: "run a command in a node, router or host",
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) < 3 || args[1] != "--" {
				return fmt.Errorf("%w: need NODE -- CMD", errUsage)
			}
			return runIn(ctx, e, args[0], args[2:]...)
		},
	}
}

func shellCmd() *command {
	return &command{
		name: "shell", usage: "NODE", summary: "open a shell in a node, router or host",
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: need NODE", errUsage)
			}
			sh := os.Getenv("SHELL")
			if sh == "" {
				sh = "/bin/sh"
			}
			if l, err := lab.Open(e.name); err == nil && l.Spec().Kind(args[0]) == lab.KindVM {
				// No terminal through the guest agent: a shell without prompt, one
				// command per line (or read the console log).
				sh = "/bin/sh"
			}
			return runIn(ctx, e, args[0], sh)
		},
	}
}

func runIn(ctx context.Context, e *env, node string, argv ...string) error {
	l, err := lab.Open(e.name)
	if err != nil {
		return err
	}
	cmd, err := l.Command(ctx, node, argv...)
	if err != nil {
		return err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, e.out, e.errw
	return cmd.Run()
}

func leaseCmd() *command {
	var timeout time.Duration
	return &command{
		name: "lease", usage: "NODE NIC [--timeout D]", summary: "get a DHCP lease on a node NIC (plain test client)",
		flags: func(fs *flag.FlagSet) { fs.DurationVar(&timeout, "timeout", 20*time.Second, "give up after") },
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("%w: need NODE NIC", errUsage)
			}
			l, err := lab.Open(e.name)
			if err != nil {
				return err
			}
			a, gw, err := l.Lease(ctx, args[0], args[1], timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.out, "%s/%s: %s router %s\n", args[0], args[1], a, gw)
			return nil
		},
	}
}

func carrierCmd() *command {
	return &command{
		name: "carrier", usage: "NODE NIC up|down", summary: "plug or unplug a node NIC's cable",
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 3 || (args[2] != "up" && args[2] != "down") {
				return fmt.Errorf("%w: need NODE NIC up|down", errUsage)
			}
			l, err := lab.Open(e.name)
			if err != nil {
				return err
			}
			return l.SetCarrier(args[0], args[1], args[2] == "up")
		},
	}
}

func dhcpCmd() *command {
	var rng string
	return &command{
		name: "dhcp", usage: "SEGMENT on|off [--range CIDR|FIRST-LAST]", summary: "start, stop or re-range a segment's dnsmasq",
		flags: func(fs *flag.FlagSet) { fs.StringVar(&rng, "range", "", "new DHCP range") },
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 2 || (args[1] != "on" && args[1] != "off") {
				return fmt.Errorf("%w: need SEGMENT on|off", errUsage)
			}
			l, err := lab.Open(e.name)
			if err != nil {
				return err
			}
			return l.SetDHCP(args[0], args[1] == "on", rng)
		},
	}
}

func rebootCmd() *command {
	var binDir string
	var noBoot bool
	return &command{
		name: "reboot", usage: "NODE [--no-boot] [--bin-dir DIR]", summary: "power-cycle a node (state dir kept) and boot it again",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&noBoot, "no-boot", false, "do not start node services")
			fs.StringVar(&binDir, "bin-dir", "", "where node service binaries are (default: zoslab's directory)")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: need NODE", errUsage)
			}
			l, err := lab.Open(e.name)
			if err != nil {
				return err
			}
			return l.Reboot(ctx, args[0], lab.Options{BinDir: binDir, Boot: !noBoot, Log: e.log})
		},
	}
}

// printMap prints the lab as text: segments, routers and hosts, nodes.
func printMap(w io.Writer, st lab.Status) {
	fmt.Fprintf(w, "lab %s\n", st.Name)
	if st.Registry != "" {
		fmt.Fprintf(w, "registry %s (on host registry)\n", st.Registry)
	}
	if st.CA != "" {
		fmt.Fprintf(w, "lab CA %s (zosnet profile set NAME --registry %s --ca %s; or zoslab profile NAME)\n", st.CA, st.Registry, st.CA)
		fmt.Fprintf(w, "zosnet config of the user host %s\n", st.ZosnetConfig)
	}
	fmt.Fprintln(w, "\nsegments:")
	for _, g := range st.Segments {
		var extra []string
		if g.DHCP {
			r := "router option"
			if !g.DHCPRouter {
				r = "no router option"
			}
			d := ""
			if g.DHCPDelay != "" {
				d = ", starts after " + g.DHCPDelay
			}
			extra = append(extra, fmt.Sprintf("dhcp %s (%s%s)", g.DHCPRange, r, d))
		}
		if g.RA != "" {
			extra = append(extra, "ra "+g.RA)
		}
		if g.Gateway != "" {
			extra = append(extra, "gateway "+g.Gateway)
		}
		fmt.Fprintf(w, "  %-8s %-16s %-20s mtu %d  %s\n", g.Name, g.IPv4, g.IPv6, g.MTU, strings.Join(extra, ", "))
	}
	fmt.Fprintln(w, "\nrouters and hosts (zoslab exec NAME -- CMD):")
	for _, r := range st.Routers {
		var ifs []string
		for _, it := range r.Interfaces {
			ifs = append(ifs, strings.TrimSpace(fmt.Sprintf("%s: %s %s", it.Segment, it.IPv4, it.IPv6)))
		}
		extra := ""
		if r.NAT != lab.NATNone {
			extra += "  nat " + r.NAT
		}
		if r.Firewall.Inbound4 || r.Firewall.Inbound6 {
			extra += fmt.Sprintf("  inbound firewall from %s (v4 %v, v6 %v)", r.Firewall.Out, r.Firewall.Inbound4, r.Firewall.Inbound6)
		}
		fmt.Fprintf(w, "  %-8s %-6s %s%s\n", r.Name, r.Kind, strings.Join(ifs, "; "), extra)
	}
	fmt.Fprintln(w, "\nnodes:")
	for _, n := range st.Nodes {
		var nics []string
		for _, c := range n.NICs {
			s := fmt.Sprintf("%s %s on %s", c.Name, c.MAC, c.Segment)
			if !c.Carrier {
				s += " (no carrier)"
			}
			if len(c.Addrs) > 0 {
				s += " [" + strings.Join(c.Addrs, " ") + "]"
			}
			nics = append(nics, s)
		}
		run := "running"
		if !n.Running {
			run = "NOT RUNNING"
		}
		if n.Kind == lab.KindVM {
			run += ", vm (boot " + n.Boot + "; console " + n.Console + ")"
		}
		fmt.Fprintf(w, "  %-8s pid %-7d %s; %s\n           cmdline: %s\n", n.Name, n.PID, run, strings.Join(nics, "; "), n.Cmdline)
	}
}

func serviceCmd() *command {
	var grace time.Duration
	return &command{
		name: "service", usage: "stop|start|restart NODE|registry [SERVICE]",
		summary: "stop, start or restart one service of a node (networkd, provisiond, ...) or the registry",
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&grace, "grace", 10*time.Second, "how long stop waits before SIGKILL")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) == 2 && args[1] == lab.Registry {
				args = append(args, "registry")
			}
			if len(args) != 3 || !slices.Contains([]string{"stop", "start", "restart"}, args[0]) {
				return fmt.Errorf("%w: need stop|start|restart NODE SERVICE", errUsage)
			}
			l, err := lab.Open(e.name)
			if err != nil {
				return err
			}
			verb, node, svc := args[0], args[1], args[2]
			if verb != "start" {
				if err := l.StopService(ctx, node, svc, grace); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "stopped %s on %s\n", svc, node)
			}
			if verb != "stop" {
				if err := l.StartService(ctx, node, svc); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "started %s on %s (pid %v)\n", svc, node, l.ServicePIDs(node, svc))
			}
			return nil
		},
	}
}

func profileCmd() *command {
	return &command{
		name: "profile", usage: "NAME", summary: "make a zosnet key and profile for a new user of the lab",
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: need NAME", errUsage)
			}
			l, err := lab.Open(e.name)
			if err != nil {
				return err
			}
			if err := l.NewProfile(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.out, "profile %s with a new key %s (registry %s, CA %s)\nuse it: zoslab exec --name %s user -- zosnet network list --profile %s\n",
				args[0], args[0], l.Status().Registry, l.CAFile(), e.name, args[0])
			return nil
		},
	}
}
