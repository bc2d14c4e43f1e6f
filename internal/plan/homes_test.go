package plan

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"testing"
)

// refHomes is assignHomes by its definition: every pick scans the tiers (pickHome).
func refHomes(p *Planner, members, cands []int) [][2]int {
	weights, total, equal := make([]int, len(cands)), 0, true
	hashes := make([]uint64, len(cands))
	for c, r := range cands {
		weights[c], hashes[c] = p.nodes[r].weight, mix(p.hashes[r])
		total += weights[c]
		equal = equal && weights[c] == weights[0]
	}
	n := len(members)
	limits := [3][]int{make([]int, len(cands)), make([]int, len(cands)), make([]int, len(cands))}
	for c, w := range weights {
		limits[0][c], limits[1][c], limits[2][c] = n*w/total, (n*w+total-1)/total, math.MaxInt
	}
	order := slices.Clone(members)
	slices.SortFunc(order, func(a, b int) int { return cmp.Or(cmp.Compare(p.hashes[a], p.hashes[b]), cmp.Compare(a, b)) })
	load := [2][]int{make([]int, len(cands)), make([]int, len(cands))}
	scores := make([]uint64, len(cands))
	out := make([][2]int, len(p.nodes))
	for _, i := range order {
		for c := range cands {
			scores[c] = scoreOf(p.hashes[i], hashes[c], weights[c], equal)
		}
		prim := pickHome(scores, &limits, load[0], -1)
		h := [2]int{cands[prim], -1}
		if len(cands) > 1 {
			h[1] = cands[pickHome(scores, &limits, load[1], prim)]
		}
		out[i] = h
	}
	return out
}

// TestAssignHomesShortcut: assignHomes' shortcut (a member's best candidates when they
// have room) gives exactly the homes of the tiered definition, weighted or not.
func TestAssignHomesShortcut(t *testing.T) {
	for n := range 300 {
		w := []int{}
		for k := range n % 7 {
			w = append(w, 1+(n*k)%5)
		}
		in := spreadInput(fmt.Sprintf("x%d", n), 1+n%12, 1+n%40, w...)
		p, err := New(in)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := p.homes()
		if len(p.cands) == 0 {
			continue
		}
		want := refHomes(p, p.relayed, p.cands)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d differs: %v\n%v", n, got, want)
		}
	}
}
