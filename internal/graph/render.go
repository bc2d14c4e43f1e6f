package graph

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"
)

// Format is an output format of Write.
type Format string

// The formats Write knows.
const (
	DOT Format = "dot"
	SVG Format = "svg"
)

// ParseFormat validates a --graph value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case DOT, SVG:
		return f, nil
	}
	return "", fmt.Errorf("--graph %q: want dot or svg", s)
}

// Write renders g in format f.
func (g Graph) Write(w io.Writer, f Format) error {
	if f == DOT {
		return g.WriteDOT(w)
	}
	return g.WriteSVG(w)
}

// WriteDOT writes g as a Graphviz undirected graph with every node's position pinned
// (`neato -n2 -Tpng` draws the same layout as the SVG).
func (g Graph) WriteDOT(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "graph %s {\n", dotQ(g.Name))
	fmt.Fprintf(b, "  graph [layout=neato, overlap=true, splines=false, label=%s, labelloc=t];\n", dotQ(g.title()))
	b.WriteString("  node [shape=circle, style=filled, fontname=\"sans-serif\", fontsize=10, width=0.5, fixedsize=false];\n")
	b.WriteString("  edge [penwidth=2];\n")
	for _, n := range g.Nodes {
		fill, pen := nodeColors(n)
		fmt.Fprintf(b, "  %s [pos=\"%.1f,%.1f!\", fillcolor=%s, color=%s, penwidth=%d, label=%s, tooltip=%s];\n",
			dotQ(n.Name), n.X, g.Height-n.Y, dotQ(fill), dotQ(pen), penWidth(n), dotQ(n.Name+"\n"+n.Subnet), dotQ(n.describe()))
	}
	for _, e := range g.Edges {
		attrs := fmt.Sprintf("color=%s, tooltip=%s", dotQ(styleOf(e.Class).Color), dotQ(e.describe()))
		if e.Via != "" {
			attrs += ", label=" + dotQ("via "+e.Via) + ", fontsize=9"
		}
		if !e.Up {
			attrs += ", style=dashed"
		}
		fmt.Fprintf(b, "  %s -- %s [%s];\n", dotQ(e.A), dotQ(e.B), attrs)
	}
	b.WriteString("}\n")
	return b.Flush()
}

// dotQ quotes s as a DOT string.
func dotQ(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func (g Graph) title() string {
	s := fmt.Sprintf("network %s (%s): %d members, %d links", g.Name, g.ID, len(g.Nodes), len(g.Edges))
	if g.PlanError != "" {
		s += "; no plan yet: " + g.PlanError
	}
	return s
}

func nodeColors(n Node) (fill, pen string) {
	fill = "#ffffff"
	if n.Hidden {
		fill = "#eaeef2"
	}
	pen = "#24292f"
	if n.State != "up" {
		pen = "#cf222e"
	}
	if n.InUse {
		pen = "#bc4c00"
	}
	return fill, pen
}

func penWidth(n Node) int {
	if n.Relay {
		return 4
	}
	return 2
}

func (n Node) describe() string {
	s := n.Name + ": " + map[bool]string{true: "hidden", false: "public"}[n.Hidden] + ", " + n.State
	if n.Subnet != "" {
		s += ", subnet " + n.Subnet
	}
	switch {
	case n.InUse:
		s += ", relay in use"
	case n.Relay:
		s += ", standby relay"
	}
	return s
}

func (e Edge) describe() string {
	s := e.A + " – " + e.B + ": " + styleOf(e.Class).Label
	if e.Via != "" {
		s += " via " + e.Via
	}
	if e.Up {
		return s + ", answering"
	}
	return s + ", not answering"
}

// WriteSVG writes g as a standalone, accessible SVG document: a title and description,
// one <line> per edge and one focusable <g> per node, each with a <title> that says in
// words what its colour and dashes say, and a legend. Elements carry data-* attributes
// (class, via, up, hidden, relay) for scripts and tests.
func (g Graph) WriteSVG(w io.Writer) error {
	b := bufio.NewWriter(w)
	esc := html.EscapeString
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="zosnet-graph" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-labelledby="g-title g-desc" data-network=%q>`+"\n",
		g.Width, g.Height, g.Width, g.Height, esc(g.ID))
	fmt.Fprintf(b, "<title id=\"g-title\">%s</title>\n", esc(g.title()))
	fmt.Fprintf(b, "<desc id=\"g-desc\">%s</desc>\n", esc(g.summary()))
	fmt.Fprintf(b, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n<g class=\"edges\">\n")
	for _, e := range g.Edges {
		a, _ := g.Node(e.A)
		z, _ := g.Node(e.B)
		dash := ""
		if !e.Up {
			dash = ` stroke-dasharray="6 5"`
		}
		fmt.Fprintf(b, `<line class="edge %s" data-a=%q data-b=%q data-class=%q data-via=%q data-up="%t" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke=%q stroke-width="2.5"%s><title>%s</title></line>`+"\n",
			esc(e.Class), esc(e.A), esc(e.B), esc(e.Class), esc(e.Via), e.Up, a.X, a.Y, z.X, z.Y, styleOf(e.Class).Color, dash, esc(e.describe()))
	}
	b.WriteString("</g>\n<g class=\"nodes\">\n")
	for _, n := range g.Nodes {
		fill, pen := nodeColors(n)
		cls := "node"
		if n.Hidden {
			cls += " hidden"
		}
		if n.Relay {
			cls += " relay"
		}
		fmt.Fprintf(b, `<g class=%q data-name=%q data-hidden="%t" data-relay="%t" data-relay-in-use="%t" data-state=%q tabindex="0" role="img" aria-label=%q transform="translate(%.1f %.1f)">`+"\n",
			cls, esc(n.Name), n.Hidden, n.Relay, n.InUse, esc(n.State), esc(n.describe()), n.X, n.Y)
		fmt.Fprintf(b, "<title>%s</title>\n", esc(n.describe()))
		if n.Relay {
			fmt.Fprintf(b, "<circle r=\"%.0f\" fill=\"none\" stroke=%q stroke-width=\"3\"/>\n", nodeRadius+6, pen)
		}
		fmt.Fprintf(b, "<circle r=\"%.0f\" fill=%q stroke=%q stroke-width=\"2\"/>\n", nodeRadius, fill, pen)
		fmt.Fprintf(b, "<text y=\"%.0f\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"12\" fill=\"#24292f\">%s</text>\n", nodeRadius+18, esc(n.Name))
		b.WriteString("</g>\n")
	}
	b.WriteString("</g>\n")
	g.legend(b)
	b.WriteString("</svg>\n")
	return b.Flush()
}

func (g Graph) summary() string {
	count := map[string]int{}
	down := 0
	for _, e := range g.Edges {
		count[e.Class]++
		if !e.Up {
			down++
		}
	}
	parts := []string{}
	for _, c := range Classes {
		if count[c] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[c], styleOf(c).Label))
		}
	}
	return fmt.Sprintf("links: %s; %d not answering (dashed)", strings.Join(parts, ", "), down)
}

// legend draws the path classes and the dash under the circle.
func (g Graph) legend(b *bufio.Writer) {
	y := g.Height - legendH/2
	fmt.Fprintf(b, "<g class=\"legend\" font-family=\"sans-serif\" font-size=\"12\" fill=\"#24292f\" aria-hidden=\"true\">\n")
	x := 16.0
	for _, c := range append(append([]string{}, Classes...), "down") {
		color, label, dash := styleOf(c).Color, styleOf(c).Label, ""
		if c == "down" {
			color, label, dash = "#57606a", "not answering", ` stroke-dasharray="6 5"`
		}
		fmt.Fprintf(b, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=%q stroke-width=\"2.5\"%s/><text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
			x, y, x+24, y, color, dash, x+30, y+4, label)
		x += 40 + 7*float64(len(label))
	}
	b.WriteString("</g>\n")
}
