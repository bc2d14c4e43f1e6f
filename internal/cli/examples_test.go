package cli

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
)

// walk calls fn for every command of the tree under c with its path.
func walk(c *Command, path []string, fn func(c *Command, path string)) {
	path = append(path, c.Name)
	fn(c, strings.Join(path, " "))
	for _, s := range c.Sub {
		walk(s, path, fn)
	}
}

func TestEveryCommandHasAnExample(t *testing.T) {
	names := map[string]bool{}
	walk(Root(), nil, func(c *Command, path string) {
		names[path] = true
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no example: add one to examples (examples.go)", path)
		}
	})
	for p := range examples {
		if !names[p] {
			t.Errorf("examples has %q, which is no command", p)
		}
	}
}

// TestExamplesAreValid parses every zosnet command line of every example against the
// tree: the command exists and runs (not a group), its flags exist and their values
// parse. Nothing is run.
func TestExamplesAreValid(t *testing.T) {
	root := Root()
	n := 0
	walk(root, nil, func(c *Command, path string) {
		for _, line := range exampleCommands(c.Example) {
			n++
			if err := parseOnly(root, line); err != nil {
				t.Errorf("example of %q: %q: %v", path, line, err)
			}
		}
	})
	if n < 50 {
		t.Fatalf("only %d example command lines found", n)
	}
}

// exampleCommands returns the zosnet invocations of an example: one per line or per
// `&&`-joined part, comments dropped.
func exampleCommands(ex string) [][]string {
	var out [][]string
	for _, line := range strings.Split(ex, "\n") {
		if i := strings.Index(line, "  #"); i >= 0 {
			line = line[:i]
		}
		for _, part := range strings.Split(line, "&&") {
			f := strings.Fields(part)
			if len(f) > 0 && f[0] == "zosnet" {
				out = append(out, f[1:])
			}
		}
	}
	return out
}

func parseOnly(root *Command, args []string) error {
	c := root
	path := []string{root.Name}
	for c.Run == nil {
		if len(args) == 0 {
			return nil // a group's help
		}
		var next *Command
		for _, s := range c.Sub {
			if s.Name == args[0] {
				next = s
			}
		}
		if next == nil {
			return fmt.Errorf("no command %q under %q", args[0], strings.Join(path, " "))
		}
		c, path, args = next, append(path, args[0]), args[1:]
	}
	var json bool
	fs := c.flagSet(strings.Join(path, " "), &json)
	fs.SetOutput(io.Discard)
	return fs.Parse(interleave(fs, args))
}

func TestHelpShowsExample(t *testing.T) {
	for _, args := range [][]string{{"network", "create", "--help"}, {"node"}, {"node", "public-config", "help"}} {
		var out, errOut bytes.Buffer
		if code := Main(args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		got := out.String() + errOut.String()
		if !strings.Contains(got, "\nexample:\n  zosnet ") {
			t.Errorf("%v: help has no example:\n%s", args, got)
		}
	}
}

func TestReferenceListsEveryCommandAndFlag(t *testing.T) {
	var b bytes.Buffer
	root := Root()
	if err := root.WriteReference(&b); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	walk(root, nil, func(c *Command, path string) {
		if path == "zosnet" {
			return
		}
		if !strings.Contains(doc, "\n#") || !strings.Contains(doc, " "+path+"\n") {
			t.Errorf("reference has no heading for %q", path)
		}
		if c.Run == nil {
			return
		}
		var json bool
		c.flagSet(path, &json).VisitAll(func(f *flag.Flag) {
			if !strings.Contains(doc, "`--"+f.Name) {
				t.Errorf("reference lacks %s --%s", path, f.Name)
			}
		})
	})
}
