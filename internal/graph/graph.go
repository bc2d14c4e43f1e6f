// Package graph turns a network's status (plan.NetworkStatus) into a picture: members
// placed on a circle in a stable order, one edge per pair of members coloured by the
// path the status reports (direct, same-lan, relayed via a relay, punched), dashed
// while the pair does not answer, and the relays highlighted. It renders the picture as
// Graphviz DOT (with the positions pinned, for neato) and as SVG, written in Go with no
// Graphviz needed. `zosnet network status --graph` and the web view (package webui)
// both draw through this package, so the layout lives in one place.
//
// Everything here is pure: the same status gives the same bytes.
package graph

import (
	"cmp"
	"math"
	"slices"

	"github.com/zosnet/zosnet/internal/plan"
)

// Node is one member, placed.
type Node struct {
	Name   string  `json:"name"`
	Subnet string  `json:"subnet"`
	State  string  `json:"state"` // the member's reported state ("up", "unreported", ...)
	Hidden bool    `json:"hidden"`
	Relay  bool    `json:"relay"`  // one of the network's relays
	InUse  bool    `json:"in_use"` // a relay some pair is relayed through now
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
}

// Edge is one unordered pair of members. A < B by name.
type Edge struct {
	A     string `json:"a"`
	B     string `json:"b"`
	Class string `json:"class"`         // the path: direct, same-lan, relayed or punched
	Via   string `json:"via,omitempty"` // the relay of a relayed pair (A's, when A and B differ)
	// Up is true when both directions answered within the status's freshness window;
	// an edge that is not up is drawn dashed.
	Up bool `json:"up"`
}

// Graph is a placed network picture. Nodes are sorted by name, edges by A then B.
type Graph struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	Nodes  []Node  `json:"nodes"`
	Edges  []Edge  `json:"edges"`
	// PlanError is the status's reason for having no pairs yet ("" when planned).
	PlanError string `json:"plan_error,omitempty"`
}

// Layout constants, in SVG user units.
const (
	margin     = 90.0 // room for labels around the circle
	minRadius  = 140.0
	nodeRadius = 18.0
	perNode    = 3.2 * nodeRadius // arc length per member on the circle
	legendH    = 40.0
	minWidth   = 560.0 // the legend's width
)

// FromStatus builds the picture of st. Members are placed on one circle in name order,
// starting at the top and going clockwise, so a member keeps its place while states,
// paths and reachability change.
func FromStatus(st plan.NetworkStatus) Graph {
	g := Graph{ID: st.ID, Name: st.Name, PlanError: st.PlanError, Nodes: []Node{}, Edges: []Edge{}}
	relays := map[string]bool{}
	for _, r := range st.Relays {
		relays[r] = true
	}
	for _, m := range st.Members {
		g.Nodes = append(g.Nodes, Node{Name: m.Name, Subnet: m.Subnet, State: m.State, Hidden: m.Hidden, Relay: relays[m.Name]})
	}
	slices.SortFunc(g.Nodes, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	g.Edges = edges(st.Pairs)
	inUse := map[string]bool{}
	for _, e := range g.Edges {
		if e.Via != "" {
			inUse[e.Via] = true
		}
	}
	for i := range g.Nodes {
		g.Nodes[i].InUse = inUse[g.Nodes[i].Name]
	}
	g.place()
	return g
}

// edges folds the ordered pairs into one edge per unordered pair.
func edges(pairs []plan.NetworkPair) []Edge {
	type key struct{ a, b string }
	idx := map[key]int{}
	var out []Edge
	for _, p := range pairs {
		a, b := p.From, p.To
		if b < a {
			a, b = b, a
		}
		k := key{a, b}
		i, ok := idx[k]
		if !ok {
			idx[k] = len(out)
			out = append(out, Edge{A: a, B: b, Class: string(p.Path), Via: p.Via, Up: p.Reachable})
			continue
		}
		e := &out[i]
		e.Up = e.Up && p.Reachable
		if p.From == a { // A's view names the class and the relay
			e.Class, e.Via = string(p.Path), p.Via
		}
	}
	slices.SortFunc(out, func(x, y Edge) int { return cmp.Or(cmp.Compare(x.A, y.A), cmp.Compare(x.B, y.B)) })
	if out == nil {
		out = []Edge{}
	}
	return out
}

// place puts the nodes on a circle big enough for them, first at the top.
func (g *Graph) place() {
	n := float64(len(g.Nodes))
	r := max(minRadius, n*perNode/(2*math.Pi))
	g.Width, g.Height = max(2*(margin+r), minWidth), 2*(margin+r)+legendH
	cx, cy := g.Width/2, margin+r
	for i := range g.Nodes {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/max(n, 1)
		g.Nodes[i].X = round1(cx + r*math.Cos(a))
		g.Nodes[i].Y = round1(cy + r*math.Sin(a))
	}
	if len(g.Nodes) == 1 {
		g.Nodes[0].X, g.Nodes[0].Y = cx, cy
	}
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// Node returns the node named name, and whether it is in the graph.
func (g Graph) Node(name string) (Node, bool) {
	i, ok := slices.BinarySearchFunc(g.Nodes, name, func(n Node, s string) int { return cmp.Compare(n.Name, s) })
	if !ok {
		return Node{}, false
	}
	return g.Nodes[i], true
}

// Style is how one path class is drawn.
type Style struct {
	Color string // stroke colour, with at least 4.5:1 contrast on white
	Label string // the legend's words
}

// Styles are the path classes' colours; an unknown class is drawn grey.
var Styles = map[string]Style{
	string(plan.PathDirect):  {"#1a7f37", "direct"},
	string(plan.PathSameLAN): {"#0550ae", "same LAN"},
	string(plan.PathRelayed): {"#bc4c00", "relayed"},
	"punched":                {"#8250df", "punched"},
}

// Classes lists Styles' keys in legend order.
var Classes = []string{string(plan.PathDirect), string(plan.PathSameLAN), string(plan.PathRelayed), "punched"}

func styleOf(class string) Style {
	if s, ok := Styles[class]; ok {
		return s
	}
	return Style{"#57606a", class}
}
