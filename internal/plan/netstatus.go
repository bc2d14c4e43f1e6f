package plan

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Fresh is how recent an answered overlay probe must be for a pair to count as
// reachable in a NetworkStatus.
const Fresh = 30 * time.Second

// NetworkStatus is a network's status as `zosnet network status --json` prints it:
// members as their nodes reported them, and every pair with its planned path and its
// observed reachability. Node ids are replaced by member names throughout.
type NetworkStatus struct {
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Range   string         `json:"range"`
	Relays  []string       `json:"relays"`
	Members []MemberStatus `json:"members"`
	Pairs   []NetworkPair  `json:"pairs"`
	// RelayLoad is what each relay carries now: the members relaying through it and
	// the ordered relayed pairs that cross it, busiest first (empty when nothing is
	// relayed).
	RelayLoad []RelayLoad `json:"relay_load"`
	// PlanError says why no plan could be made yet (e.g. members not reported).
	PlanError string `json:"plan_error,omitempty"`
}

// NetworkPair is one ordered pair of members that reported: its PairStatus (from, to,
// path, via, reachable) and when From last got an answer from To over the overlay.
type NetworkPair struct {
	PairStatus
	LastReply *time.Time `json:"last_reply,omitempty"`
	// FailedOverSince is when From moved this relayed pair off its primary relay (it
	// goes through Via, the second relay, since then); nil while on the primary.
	FailedOverSince *time.Time `json:"failed_over_since,omitempty"`

	// NotPunched says, for a relayed pair of two hidden members, why From does not
	// send to To over a punched direct path: its phase and reason, and the NAT
	// behaviour seen on both sides.
	NotPunched string `json:"not_punched,omitempty"`
}

// RelayLoad is one relay's load in a NetworkStatus.
type RelayLoad struct {
	Relay string `json:"relay"`
	// Homes counts the relayed members whose primary home relay it is (the planned
	// spread: floor or ceil of its share).
	Homes   int `json:"homes"`
	Members int `json:"members"` // members sending relayed traffic through it now
	Pairs   int `json:"pairs"`   // ordered relayed pairs through it now
}

// relayLoad counts, per relay, the members having it as primary home (homes, by relay
// name), the members using it and the relayed pairs via it.
func relayLoad(st NetworkStatus, homes map[string]int) []RelayLoad {
	idx := map[string]int{}
	var out []RelayLoad
	at := func(r string) *RelayLoad {
		if _, ok := idx[r]; !ok {
			idx[r] = len(out)
			out = append(out, RelayLoad{Relay: r})
		}
		return &out[idx[r]]
	}
	for r, n := range homes {
		at(r).Homes = n
	}
	users := map[string]bool{}
	for _, p := range st.Pairs {
		if p.Path == PathRelayed && p.Via != "" {
			at(p.Via).Pairs++
			if !users[p.Via+"\x00"+p.From] {
				users[p.Via+"\x00"+p.From] = true
				at(p.Via).Members++
			}
		}
	}
	slices.SortFunc(out, func(a, b RelayLoad) int {
		return cmp.Or(cmp.Compare(b.Pairs, a.Pairs), cmp.Compare(a.Relay, b.Relay))
	})
	return out
}

// MemberStatus is one member as its node reported it.
type MemberStatus struct {
	NodeID    int64    `json:"node_id"`
	Name      string   `json:"name"`
	Subnet    string   `json:"subnet"`
	State     string   `json:"state"` // the NR report's state, "unreported" before one
	Hidden    bool     `json:"hidden"`
	Endpoints []string `json:"endpoints"`
	Relay     string   `json:"relay,omitempty"` // relay carrying the pairs it owns, for relayed members
	// NAT is a hidden member's socket as the public members see it (its mapped
	// endpoints and whether the mapping is endpoint-independent).
	NAT       *gridapi.NATSeen `json:"nat,omitempty"`
	LastError string           `json:"last_error,omitempty"`
	Updated   string           `json:"updated,omitempty"`
}

// StatusOf computes a network's status from the registry's view of it (every member's
// facts and network-resource report): the plan from the facts (FromGrid, outside view),
// the relays members report using, and reachability from the probe results they report
// (a reply at most fresh old at now; see Pairs). A network that cannot be planned yet
// has its members and PlanError, and no pairs.
func StatusOf(n gridapi.DesiredNetwork, now time.Time, fresh time.Duration) NetworkStatus {
	names := make(map[string]string, len(n.Peers))
	for _, p := range n.Peers {
		names[strconv.FormatInt(p.NodeID, 10)] = p.Name
	}
	name := func(id string) string {
		if s, ok := names[id]; ok {
			return s
		}
		return id
	}
	st := NetworkStatus{ID: n.ID, Name: n.Name, Range: n.IPRange, Relays: []string{}, Members: []MemberStatus{}, Pairs: []NetworkPair{},
		RelayLoad: []RelayLoad{}}
	current := map[string]map[string]string{}
	movedAt := map[[2]string]time.Time{} // member id, group key → failed over since
	var obs []PairObservation
	for _, p := range n.Peers {
		id := strconv.FormatInt(p.NodeID, 10)
		m := MemberStatus{NodeID: p.NodeID, Name: p.Name, Subnet: p.Subnet, State: "unreported", Endpoints: []string{}}
		if r := p.NR; r != nil {
			m.State, m.LastError, m.Endpoints, m.Updated = r.State, r.LastError, r.Endpoints, r.Updated.Format(time.RFC3339)
			m.Relay = name(r.Relay)
			m.NAT = r.NAT
			current[id] = map[string]string{}
			for _, g := range r.RelayGroups {
				current[id][RelayGroup{Relays: g.Relays}.Key()] = g.Current
				if !g.Since.IsZero() {
					movedAt[[2]string{id, RelayGroup{Relays: g.Relays}.Key()}] = g.Since
				}
			}
			for _, s := range r.Seen {
				obs = append(obs, PairObservation{From: id, To: strconv.FormatInt(s.NodeID, 10), LastReply: s.LastReply})
			}
		}
		st.Members = append(st.Members, m)
	}
	in, err := FromGrid(n, Self{})
	var p *Planner
	if err == nil {
		p, err = New(in)
	}
	if err != nil {
		st.PlanError = err.Error()
		return st
	}
	pl := p.Plan()
	homes := map[string]int{}
	hidden := map[string]bool{}
	for i, m := range st.Members {
		for _, mp := range pl.Members {
			if mp.NodeID == strconv.FormatInt(m.NodeID, 10) {
				st.Members[i].Hidden = mp.Hidden
				hidden[mp.NodeID] = mp.Hidden
				if len(mp.Relays) > 0 {
					st.Members[i].Relay = cmp.Or(st.Members[i].Relay, name(mp.Relays[0]))
					homes[name(mp.Relays[0])]++
				}
			}
		}
	}
	for _, r := range pl.Relays {
		st.Relays = append(st.Relays, name(r))
	}
	last := map[[2]string]time.Time{}
	for _, o := range obs {
		last[[2]string{o.From, o.To}] = o.LastReply
	}
	pi := punchInfoOf(n)
	for _, ps := range Pairs(pl, current, obs, now, fresh) {
		p := NetworkPair{PairStatus: ps}
		p.NotPunched = pi.punched(&p.PairStatus, hidden, name)
		ps = p.PairStatus
		if t, ok := last[[2]string{ps.From, ps.To}]; ok {
			p.LastReply = &t
		}
		if t, ok := movedAt[[2]string{ps.From, RelayGroup{Relays: ps.Relays}.Key()}]; ok && ps.Path == PathRelayed && len(ps.Relays) > 0 && ps.Via != ps.Relays[0] {
			p.FailedOverSince = &t
		}
		p.From, p.To = name(ps.From), name(ps.To)
		if ps.Via != "" {
			p.Via = name(ps.Via)
		}
		p.Relays = nil
		for _, r := range ps.Relays {
			p.Relays = append(p.Relays, name(r))
		}
		st.Pairs = append(st.Pairs, p)
	}
	st.RelayLoad = relayLoad(st, homes)
	return st
}
