package plan

import (
	"cmp"
	"time"
)

// PairObservation is what a prober saw for one ordered pair of members: the last time a
// packet sent from From's subnet to To's subnet over the overlay got its answer.
type PairObservation struct {
	From      string    `json:"from"`
	To        string    `json:"to"`
	LastReply time.Time `json:"last_reply"`
}

// PairStatus is one entry of the `pairs` list of `zosnet network status`.
type PairStatus struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Path is direct, same-lan or relayed.
	Path Path `json:"path"`
	// Via is the relay's node id for a relayed pair: the relay From currently sends
	// the pair's traffic through.
	Via string `json:"via,omitempty"`
	// Relays are a relayed pair's planned relays, primary first (the home relays of the
	// pair's owner).
	Relays []string `json:"relays,omitempty"`
	// Reachable is true only when packets really crossed within the freshness window.
	Reachable bool `json:"reachable"`
}

// Pairs returns the status of every ordered pair of distinct members of pl, sorted by
// from then to: the path from the plan, the relay each member currently uses for the
// pair's relay group (current maps a node id, then a RelayGroup.Key, to the relay
// carrying that group; missing or empty means the group's primary), and reachability
// from obs (a reply at most fresh old at now). Its cost is quadratic in the number of
// members, like its output.
func Pairs(pl Plan, current map[string]map[string]string, obs []PairObservation, now time.Time, fresh time.Duration) []PairStatus {
	type pair struct{ from, to string }
	last := make(map[pair]time.Time, len(obs))
	for _, o := range obs {
		if k := (pair{o.From, o.To}); o.LastReply.After(last[k]) {
			last[k] = o.LastReply
		}
	}
	out := make([]PairStatus, 0, len(pl.Members)*max(len(pl.Members)-1, 0))
	for _, a := range pl.Members {
		direct := make(map[string]Path, len(a.Peers))
		for _, pe := range a.Peers {
			if pe.NodeID != "" {
				direct[pe.NodeID] = pe.Path
			}
		}
		group := map[string]int{}
		for k, g := range a.RelayGroups {
			for _, id := range g.Members {
				group[id] = k
			}
		}
		for _, b := range pl.Members {
			if a.NodeID == b.NodeID {
				continue
			}
			st := PairStatus{From: a.NodeID, To: b.NodeID, Path: direct[b.NodeID]}
			if k, ok := group[b.NodeID]; ok && st.Path == "" {
				g := a.RelayGroups[k]
				st.Path, st.Relays = PathRelayed, g.Relays
				st.Via = cmp.Or(current[a.NodeID][g.Key()], g.Relays[0])
			}
			t := last[pair{a.NodeID, b.NodeID}]
			st.Reachable = !t.IsZero() && !t.After(now.Add(fresh)) && now.Sub(t) <= fresh
			out = append(out, st)
		}
	}
	return out
}
