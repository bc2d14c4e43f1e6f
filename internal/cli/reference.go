package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// referenceIntro is what every command shares; the rest of the reference is the tree.
const referenceIntro = `# zosnet command reference

<!-- Generated from the command tree in internal/cli by ` + "`go generate ./...`" + `; do not edit. -->

` + "`zosnet`" + ` is the one command line of zosnet: users (networks, access devices), farmers
(farms, public configs) and node operators (this node's networkd). The same text is in
each command's ` + "`--help`" + `.

- Every command takes ` + "`--json`" + ` (JSON on stdout instead of a table). Flags may come
  after the arguments.
- Exit codes: 0 done, 1 failed (one line on stderr says what and what to do), 2 bad usage.
- Registry commands read ` + "`config.yaml`" + ` and ` + "`keys/NAME.key`" + ` (0600) in
  ` + "`$ZOSNET_CONFIG_DIR`" + `, else ` + "`$XDG_CONFIG_HOME/zosnet`" + `, else
  ` + "`~/.config/zosnet`" + ` (inside a zoslab host: the lab's CLI config).
  ` + "`--registry`, `--ca`, `--key` and `--profile`" + ` override the current profile; so do
  ` + "`$ZOSNET_REGISTRY` and `$ZOSNET_PROFILE`" + `. Node names work wherever a node id does.
- Node-local commands (` + "`zosnet node nr|wg|workload|status`" + `, ` + "`public-config`" + `
  without a NODE) talk to networkd over its unix socket (` + "`--socket`" + `); changes need root.
`

// WriteReference writes the Markdown reference of the command tree under c (docs/cli.md):
// every command with its summary, usage, flags and example, in the tree's order.
func (c *Command) WriteReference(w io.Writer) error {
	var b strings.Builder
	b.WriteString(referenceIntro)
	b.WriteString("\n## Commands\n\n")
	for _, s := range c.Sub {
		s.writeIndex(&b, []string{c.Name}, 0)
	}
	for _, s := range c.Sub {
		s.writeSection(&b, []string{c.Name}, 2)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (c *Command) writeIndex(b *strings.Builder, parent []string, depth int) {
	path := append(append([]string(nil), parent...), c.Name)
	title := strings.Join(path, " ")
	fmt.Fprintf(b, "%s- [`%s`](#%s) — %s\n", strings.Repeat("  ", depth), title, anchor(title), c.Summary)
	for _, s := range c.Sub {
		s.writeIndex(b, path, depth+1)
	}
}

func (c *Command) writeSection(b *strings.Builder, parent []string, level int) {
	path := append(append([]string(nil), parent...), c.Name)
	title := strings.Join(path, " ")
	fmt.Fprintf(b, "\n%s %s\n\n%s\n", strings.Repeat("#", min(level, 6)), title, sentence(c.Summary))
	if c.Run != nil {
		fmt.Fprintf(b, "\n```\n%s\n```\n", strings.TrimSpace(title+" "+c.Usage))
		c.writeFlags(b, title)
	} else {
		b.WriteString("\n| command | what it does |\n|---|---|\n")
		for _, s := range c.Sub {
			st := title + " " + s.Name
			fmt.Fprintf(b, "| [`%s`](#%s) | %s |\n", s.Name, anchor(st), cell(s.Summary))
		}
	}
	if c.Example != "" {
		fmt.Fprintf(b, "\nExample:\n\n```sh\n%s\n```\n", strings.TrimRight(c.Example, "\n"))
	}
	for _, s := range c.Sub {
		s.writeSection(b, path, level+1)
	}
}

func (c *Command) writeFlags(b *strings.Builder, name string) {
	var json bool
	fs := c.flagSet(name, &json)
	b.WriteString("\n| flag | default | meaning |\n|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		def := f.DefValue
		if isBool(f) || def == "" || def == "[]" {
			def = ""
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(b, "| `--%s` | %s | %s |\n", strings.TrimSpace(f.Name+" "+typ), def, cell(usage))
	})
}

// anchor is the GitHub heading anchor of a command heading (letters, digits and '-' kept,
// spaces become '-').
func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sentence capitalizes a summary and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// cell escapes what would break a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
