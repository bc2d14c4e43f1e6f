package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/plan"
)

// NetworkStatus is `zosnet network status --json`.
type NetworkStatus struct {
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Range   string         `json:"range"`
	Relays  []string       `json:"relays"`
	Members []MemberStatus `json:"members"`
	// Pairs has every ordered pair of members that reported; Reachable is true only when
	// an overlay probe from From's subnet to To's got its answer within Fresh.
	Pairs []PairStatus `json:"pairs"`
	// PlanError says why no plan could be made yet (e.g. members not reported).
	PlanError string `json:"plan_error,omitempty"`
}

// PairStatus is one ordered pair: plan.PairStatus (from, to, path, via, reachable) and
// when From last got an answer from To over the overlay.
type PairStatus struct {
	plan.PairStatus
	LastReply *time.Time `json:"last_reply,omitempty"`
}

// MemberStatus is one member as its node reported it.
type MemberStatus struct {
	NodeID    int64    `json:"node_id"`
	Name      string   `json:"name"`
	Subnet    string   `json:"subnet"`
	State     string   `json:"state"` // the NR report's state, "unreported" before one
	Hidden    bool     `json:"hidden"`
	Endpoints []string `json:"endpoints"`
	Relay     string   `json:"relay,omitempty"` // relay in use, for hidden members
	LastError string   `json:"last_error,omitempty"`
	Updated   string   `json:"updated,omitempty"`
}

// status builds a network's status from the registry: the plan from every member's
// facts (the same pure planner the nodes run), the relays members report using, and
// reachability from the probe results they report.
func (g *grid) status(ctx context.Context, idOrName string) (NetworkStatus, error) {
	n, err := g.network(ctx, idOrName)
	if err != nil {
		return NetworkStatus{}, err
	}
	dn, err := g.desiredNetwork(ctx, n)
	if err != nil {
		return NetworkStatus{}, err
	}
	name := idName(dn)
	st := NetworkStatus{ID: n.ID, Name: n.Name, Range: n.IPRange, Relays: []string{}, Members: []MemberStatus{}, Pairs: []PairStatus{}}
	current := map[string]string{}
	var obs []plan.PairObservation
	for _, p := range dn.Peers {
		id := strconv.FormatInt(p.NodeID, 10)
		m := MemberStatus{NodeID: p.NodeID, Name: p.Name, Subnet: p.Subnet, State: "unreported", Endpoints: []string{}}
		if r := p.NR; r != nil {
			m.State, m.LastError, m.Endpoints, m.Updated = r.State, r.LastError, r.Endpoints, r.Updated.Format(time.RFC3339)
			if r.Relay != "" {
				m.Relay, current[id] = name(r.Relay), r.Relay
			}
			for _, s := range r.Seen {
				obs = append(obs, plan.PairObservation{From: id, To: strconv.FormatInt(s.NodeID, 10), LastReply: s.LastReply})
			}
		}
		st.Members = append(st.Members, m)
	}
	p, err := planner(dn)
	if err != nil {
		st.PlanError = err.Error()
		return st, nil
	}
	pl := p.Plan()
	for i, m := range st.Members {
		for _, mp := range pl.Members {
			if mp.NodeID == strconv.FormatInt(m.NodeID, 10) {
				st.Members[i].Hidden = mp.Hidden
				if mp.Hidden && st.Members[i].Relay == "" && len(mp.Relays) > 0 {
					st.Members[i].Relay = name(mp.Relays[0])
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
	for _, ps := range plan.Pairs(pl, current, obs, time.Now(), Fresh) {
		p := PairStatus{PairStatus: ps}
		if t, ok := last[[2]string{ps.From, ps.To}]; ok {
			p.LastReply = &t
		}
		p.From, p.To = name(ps.From), name(ps.To)
		if ps.Via != "" {
			p.Via = name(ps.Via)
		}
		st.Pairs = append(st.Pairs, p)
	}
	return st, nil
}

func printStatus(w io.Writer, st NetworkStatus) {
	fmt.Fprintf(w, "network %s (%s)  range %s  relays %s\n\n", st.Name, st.ID, st.Range, strings.Join(st.Relays, ", "))
	fmt.Fprintln(w, "MEMBER\tSUBNET\tSTATE\tHIDDEN\tRELAY\tENDPOINTS\tERROR")
	for _, m := range st.Members {
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", m.Name, m.Subnet, m.State, m.Hidden, dash(m.Relay), dash(strings.Join(m.Endpoints, ",")), dash(m.LastError))
	}
	if st.PlanError != "" {
		fmt.Fprintf(w, "\nno plan yet: %s\n", st.PlanError)
		return
	}
	fmt.Fprintln(w, "\nFROM\tTO\tPATH\tVIA\tREACHABLE\tLAST REPLY")
	for _, p := range st.Pairs {
		lr := "never"
		if p.LastReply != nil {
			lr = ago(*p.LastReply)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%s\n", p.From, p.To, p.Path, dash(p.Via), p.Reachable, lr)
	}
}
