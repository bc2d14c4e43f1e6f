// Package cli implements the zosnet command line: a small tree of commands, each with
// its own flag set, a shared --json switch, and errors printed as one plain line that
// says what failed and what to do. Command groups live in their own files:
// node_local.go (the node's networkd API), grid.go (the registry), and so on.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
)

// Env is what a running command gets: its output streams, whether --json was asked for,
// and a logger (to stderr).
type Env struct {
	Stdout, Stderr io.Writer
	JSON           bool
	Log            *slog.Logger
}

// Command is one node of the command tree. A command has either Run or Sub.
type Command struct {
	Name    string
	Summary string
	Usage   string // arguments after the name, e.g. "NAME [--range CIDR]"
	// Flags, when set, declares the command's flags on fs; Run gets fs.Args().
	Flags func(fs *flag.FlagSet)
	Run   func(ctx context.Context, env *Env, args []string) error
	Sub   []*Command
	// Example is one or more command lines (with # comments) that --help and the CLI
	// reference (docs/cli.md) show; every command has one (examples.go).
	Example string
}

// ErrUsage marks an error in how a command was called; Main prints the usage with it.
var ErrUsage = errors.New("usage")

// Root returns the whole command tree.
func Root() *Command {
	root := &Command{Name: "zosnet", Summary: "the zosnet command line", Sub: rootCommands()}
	root.attachExamples(nil)
	return root
}

// Main runs the CLI with args (without the program name) and returns the exit code:
// 0 success, 1 failure, 2 bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &Env{Stdout: stdout, Stderr: stderr, Log: slog.New(slog.NewTextHandler(stderr, nil))}
	err := Root().run(ctx, env, nil, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintln(stderr, "zosnet:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "zosnet:", err)
		return 1
	}
}

func (c *Command) run(ctx context.Context, env *Env, path []string, args []string) error {
	path = append(path, c.Name)
	if c.Run == nil {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			c.help(env.Stdout, path)
			return nil
		}
		for _, s := range c.Sub {
			if s.Name == args[0] {
				return s.run(ctx, env, path, args[1:])
			}
		}
		c.help(env.Stderr, path)
		return fmt.Errorf("%w: unknown command %q for %q", ErrUsage, args[0], strings.Join(path, " "))
	}
	fs := c.flagSet(strings.Join(path, " "), &env.JSON)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: %s %s\n\n%s\n\nflags:\n", strings.Join(path, " "), c.Usage, c.Summary)
		fs.PrintDefaults()
		c.printExample(env.Stderr)
	}
	if err := fs.Parse(interleave(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return c.Run(ctx, env, fs.Args())
}

// flagSet returns a runnable command's flags: the shared --json (into json) and its own.
func (c *Command) flagSet(name string, json *bool) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.BoolVar(json, "json", false, "print JSON instead of tables")
	if c.Flags != nil {
		c.Flags(fs)
	}
	return fs
}

// interleave lets flags come after positional arguments (`network create NAME --range X`).
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBool(f) && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(append(flags, "--"), pos...)
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func (c *Command) help(w io.Writer, path []string) {
	fmt.Fprintf(w, "%s — %s\n\ncommands:\n", strings.Join(path, " "), c.Summary)
	subs := append([]*Command(nil), c.Sub...)
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range subs {
		fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.Summary)
	}
	tw.Flush()
	c.printExample(w)
}

// printExample writes the command's example, indented, after a blank line.
func (c *Command) printExample(w io.Writer) {
	if c.Example == "" {
		return
	}
	fmt.Fprintln(w, "\nexample:")
	for _, l := range strings.Split(strings.TrimRight(c.Example, "\n"), "\n") {
		fmt.Fprintln(w, "  "+l)
	}
}

// Print writes v as indented JSON when --json was given, else calls table with a
// tabwriter that is flushed afterwards.
func (e *Env) Print(v any, table func(w io.Writer)) error {
	if e.JSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(e.Stdout, 2, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}
