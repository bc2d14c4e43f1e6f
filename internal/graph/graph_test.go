package graph

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/plan"
	"github.com/zosnet/zosnet/internal/testkit"
)

// labStatus is the default lab's six-member network as `zosnet network status --json`
// reports it: farm1 and farm2 relays (farm1 in use), home1/home2 on one LAN, home6
// and farm3 hidden elsewhere; home1→home6 has not answered lately.
func labStatus() plan.NetworkStatus {
	st := plan.NetworkStatus{ID: "net1", Name: "demo", Range: "10.100.0.0/16", Relays: []string{"farm1", "farm2"}}
	hidden := map[string]bool{"home1": true, "home2": true, "home6": true, "farm3": true}
	for i, n := range []string{"farm1", "farm2", "farm3", "home1", "home2", "home6"} {
		st.Members = append(st.Members, plan.MemberStatus{Name: n, Subnet: "10.100." + string(rune('0'+i)) + ".0/24", State: "up", Hidden: hidden[n]})
	}
	st.Members[2].State = "unreported"
	t := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, a := range st.Members {
		for _, b := range st.Members {
			if a.Name == b.Name {
				continue
			}
			p := plan.NetworkPair{PairStatus: plan.PairStatus{From: a.Name, To: b.Name, Path: plan.PathDirect, Reachable: true}, LastReply: &t}
			switch {
			case a.Hidden && b.Hidden && strings.HasPrefix(a.Name, "home") && strings.HasPrefix(b.Name, "home") && a.Name != "home6" && b.Name != "home6":
				p.Path = plan.PathSameLAN
			case a.Hidden && b.Hidden:
				p.Path, p.Via = plan.PathRelayed, "farm1"
			}
			if a.Name == "home1" && b.Name == "home6" {
				p.Reachable = false
			}
			st.Pairs = append(st.Pairs, p)
		}
	}
	return st
}

func TestFromStatus(t *testing.T) {
	g := FromStatus(labStatus())
	if len(g.Nodes) != 6 || len(g.Edges) != 15 {
		t.Fatalf("%d nodes, %d edges; want 6 and 15", len(g.Nodes), len(g.Edges))
	}
	want := map[string]Edge{
		"farm1-farm2": {Class: "direct", Up: true},
		"home1-home2": {Class: "same-lan", Up: true},
		"home1-home6": {Class: "relayed", Via: "farm1", Up: false}, // one direction silent: dashed
		"farm3-home6": {Class: "relayed", Via: "farm1", Up: true},
		"farm1-home6": {Class: "direct", Up: true},
	}
	for _, e := range g.Edges {
		if e.A >= e.B {
			t.Errorf("edge %s-%s: not ordered", e.A, e.B)
		}
		if w, ok := want[e.A+"-"+e.B]; ok && (w.Class != e.Class || w.Via != e.Via || w.Up != e.Up) {
			t.Errorf("edge %s-%s = %+v, want %+v", e.A, e.B, e, w)
		}
	}
	f1, _ := g.Node("farm1")
	f2, _ := g.Node("farm2")
	if !f1.Relay || !f1.InUse || !f2.Relay || f2.InUse {
		t.Errorf("farm1 %+v, farm2 %+v: want both relays, farm1 in use", f1, f2)
	}
	if _, ok := g.Node("nope"); ok {
		t.Error("Node(nope) found")
	}
}

// TestStablePlacement: a member keeps its place while paths and reachability change,
// and everything fits in the picture.
func TestStablePlacement(t *testing.T) {
	st := labStatus()
	a := FromStatus(st)
	for i := range st.Pairs {
		st.Pairs[i].Reachable = false
		st.Pairs[i].Path, st.Pairs[i].Via = plan.PathRelayed, "farm2"
	}
	st.Members[0], st.Members[5] = st.Members[5], st.Members[0] // order as reported does not matter
	b := FromStatus(st)
	for i := range a.Nodes {
		if a.Nodes[i].Name != b.Nodes[i].Name || a.Nodes[i].X != b.Nodes[i].X || a.Nodes[i].Y != b.Nodes[i].Y {
			t.Errorf("node %d moved: %+v → %+v", i, a.Nodes[i], b.Nodes[i])
		}
	}
	for _, n := range []int{0, 1, 2, 6, 100} {
		st := plan.NetworkStatus{ID: "x", Name: "x"}
		for i := range n {
			st.Members = append(st.Members, plan.MemberStatus{Name: "n" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
		}
		g := FromStatus(st)
		for _, nd := range g.Nodes {
			if nd.X < nodeRadius || nd.Y < nodeRadius || nd.X > g.Width-nodeRadius || nd.Y > g.Height-legendH-nodeRadius {
				t.Errorf("%d members: %s at (%v,%v) outside %vx%v", n, nd.Name, nd.X, nd.Y, g.Width, g.Height)
			}
		}
		for i := 1; i < len(g.Nodes); i++ {
			p, q := g.Nodes[i-1], g.Nodes[i]
			if d := (p.X-q.X)*(p.X-q.X) + (p.Y-q.Y)*(p.Y-q.Y); d < 4*nodeRadius*nodeRadius {
				t.Errorf("%d members: %s and %s overlap", n, p.Name, q.Name)
			}
		}
	}
}

func TestGolden(t *testing.T) {
	g := FromStatus(labStatus())
	for _, f := range []Format{SVG, DOT} {
		var b bytes.Buffer
		if err := g.Write(&b, f); err != nil {
			t.Fatal(err)
		}
		testkit.Golden(t, "testdata/lab."+string(f), b.String())
	}
}

func TestEscaping(t *testing.T) {
	st := plan.NetworkStatus{ID: "x", Name: `a"b<c>\`, Members: []plan.MemberStatus{{Name: `<script>"`}}}
	g := FromStatus(st)
	var svg, dot bytes.Buffer
	if err := g.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteDOT(&dot); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(svg.String(), "<script>") {
		t.Errorf("svg not escaped:\n%s", svg.String())
	}
	if !strings.Contains(dot.String(), `graph "a\"b<c>\\" {`) {
		t.Errorf("dot not quoted:\n%s", dot.String())
	}
}

func TestParseFormat(t *testing.T) {
	for in, ok := range map[string]bool{"dot": true, "svg": true, "": false, "png": false, "SVG": false} {
		if _, err := ParseFormat(in); (err == nil) != ok {
			t.Errorf("ParseFormat(%q) error %v, want ok=%v", in, err, ok)
		}
	}
}
