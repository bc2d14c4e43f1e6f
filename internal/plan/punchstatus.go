package plan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// punchInfo is what the members report about their direct paths (issue 14), by node id.
type punchInfo struct {
	nat   map[string]*gridapi.NATSeen
	punch map[string]map[string]gridapi.PunchState // from → to → state
}

func punchInfoOf(n gridapi.DesiredNetwork) punchInfo {
	pi := punchInfo{nat: map[string]*gridapi.NATSeen{}, punch: map[string]map[string]gridapi.PunchState{}}
	for _, p := range n.Peers {
		if p.NR == nil {
			continue
		}
		id := strconv.FormatInt(p.NodeID, 10)
		pi.nat[id] = p.NR.NAT
		for _, s := range p.NR.Punch {
			if pi.punch[id] == nil {
				pi.punch[id] = map[string]gridapi.PunchState{}
			}
			pi.punch[id][strconv.FormatInt(s.NodeID, 10)] = s
		}
	}
	return pi
}

// punched applies the members' direct-path reports to a pair (node ids, before names
// replace them): a relayed pair whose From reports it punched becomes PathPunched (From
// sends straight to To; the relays stay its fallback), and a relayed pair of two hidden
// members says why it is not punched, with the NAT behaviour seen on both sides.
func (pi punchInfo) punched(ps *PairStatus, hidden map[string]bool, name func(string) string) string {
	if ps.Path != PathRelayed || !hidden[ps.From] || !hidden[ps.To] {
		return ""
	}
	s, ok := pi.punch[ps.From][ps.To]
	if ok && s.Phase == "punched" {
		ps.Path, ps.Via = PathPunched, ""
		return ""
	}
	why := "no direct path tried yet"
	if ok {
		why = s.Phase
		if s.Reason != "" {
			why += ": " + s.Reason
		}
	}
	return fmt.Sprintf("%s (NAT seen: %s %s, %s %s)", why, name(ps.From), natWords(pi.nat[ps.From]), name(ps.To), natWords(pi.nat[ps.To]))
}

// natWords describes a member's NAT as discovery saw it.
func natWords(n *gridapi.NATSeen) string {
	if n == nil || len(n.Endpoints) == 0 {
		return "not observed"
	}
	return fmt.Sprintf("%s mapping, %d observer(s), %s", n.Mapping, n.Observers, strings.Join(n.Endpoints, " "))
}
