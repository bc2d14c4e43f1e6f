package plan

import (
	"errors"
	"fmt"
)

// Shipped home relays (Input.HomesFor). The home relays are the one part of a member's
// view that needs the whole network: assigning them is a pass over every relayed member
// and every relay candidate. The registry assigns them once per network revision
// (Planner.Homes) and ships them in the desired state; a member then only checks them.

// loadHomes takes the members' home relays from the input and checks them against the
// facts: a relayed member has a primary and, with several relay candidates, a second,
// both relay candidates (public members that peer directly with every relayed member)
// and distinct; a member that is not relayed has none; no candidate is the primary of
// more than ceil(its share) members (the bound assignHomes keeps). Homes that pass give
// every relayed pair a working path; which of the candidates the registry picked is
// taken on trust, like the rest of its facts.
func (p *Planner) loadHomes() error {
	cand := make(map[string]int, len(p.cands)) // node id → candidate index
	for c, r := range p.cands {
		cand[p.nodes[r].id] = c
	}
	home := make([][2]int, len(p.nodes))
	prim := make([]int, len(p.cands))
	var errs []error
	for i := range p.nodes {
		h, err := p.nodeHomes(i, cand)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if h[0] >= 0 {
			prim[h[0]]++
			home[i] = [2]int{p.cands[h[0]], -1}
			if h[1] >= 0 {
				home[i][1] = p.cands[h[1]]
			}
		}
	}
	total := 0
	for _, r := range p.cands {
		total += p.nodes[r].weight
	}
	for c, r := range p.cands {
		if lim := (len(p.relayed)*p.nodes[r].weight + total - 1) / total; prim[c] > lim {
			errs = append(errs, invalid("members[].homes", "%s is the primary home relay of %d members, more than its share of %d relayed members (%d): the home relays do not match the members' facts",
				p.nodes[r].name, prim[c], len(p.relayed), lim))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(p.relayed) > 0 {
		p.home = home
	}
	p.shipped = true
	return nil
}

// nodeHomes checks member i's shipped homes and returns them as candidate indexes
// (-1: none).
func (p *Planner) nodeHomes(i int, cand map[string]int) ([2]int, error) {
	n := &p.nodes[i]
	h := [2]int{-1, -1}
	want := 0
	if n.relayed {
		want = min(len(p.cands), 2)
	}
	if len(n.homes) != want {
		return h, invalid(fmt.Sprintf("members[%d].homes", n.at), "%d home relays, but member %s needs %d (relayed: %t, %d relay candidates): the home relays do not match the members' facts",
			len(n.homes), n.name, want, n.relayed, len(p.cands))
	}
	for k, id := range n.homes {
		c, ok := cand[id]
		if !ok {
			return h, invalid(fmt.Sprintf("members[%d].homes[%d]", n.at, k), "%q is not a relay candidate (a public member that peers directly with every relayed member)", id)
		}
		h[k] = c
	}
	if h[1] >= 0 && h[0] == h[1] {
		return h, invalid(fmt.Sprintf("members[%d].homes", n.at), "primary and second home relay are both %q", n.homes[0])
	}
	return h, nil
}

// Homes returns the home relays of the member with node id nodeID (primary first, then
// the second), or nil when it is not relayed: what Member.Homes carries when the
// registry ships them (Input.HomesFor).
func (p *Planner) Homes(nodeID string) []string {
	home, _ := p.homes()
	i, ok := p.find(nodeID)
	if !ok || home == nil || !p.nodes[i].relayed {
		return nil
	}
	return p.homeIDs(home[i])
}
