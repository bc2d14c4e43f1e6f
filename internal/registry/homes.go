package registry

import (
	"strconv"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// withHomes returns dn with every relayed member's home relays (plan.Planner.Homes):
// the one part of a member's plan that needs the whole network, assigned here once per
// network revision (desiredNetwork caches the result by revision) instead of on every
// member. The members are those the planner sees from the registry's facts
// (plan.FromGrid with no self: members with a network-resource report), counted in
// HomesFor so that a member whose own first report is not in yet (it plans with one
// member more) assigns them itself. A network the planner rejects ships no homes: its
// members reach the same error themselves and report it.
func withHomes(dn gridapi.DesiredNetwork) gridapi.DesiredNetwork {
	in, err := plan.FromGrid(dn, plan.Self{})
	if err != nil || len(in.Members) == 0 {
		return dn
	}
	p, err := plan.New(in)
	if err != nil {
		return dn
	}
	for i := range dn.Peers {
		ids := p.Homes(strconv.FormatInt(dn.Peers[i].NodeID, 10))
		if len(ids) == 0 {
			continue
		}
		homes := make([]int64, len(ids))
		for k, id := range ids {
			homes[k], _ = strconv.ParseInt(id, 10, 64) // plan node ids are FromGrid's decimal ids
		}
		dn.Peers[i].Homes = homes
	}
	dn.HomesFor = len(in.Members)
	return dn
}
