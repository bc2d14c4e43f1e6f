package plan

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestStatusOfPunched: home1 reports its direct path to home6 punched, home6 reports
// home1 held: home1→home6 is punched (no relay, off farm1's load), home6→home1 stays
// relayed via farm1 and says why, with both sides' NAT as seen; home2, which reports
// nothing about home6, says no direct path was tried yet.
func TestStatusOfPunched(t *testing.T) {
	dn := gridLab(t)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	dn.Peers[1].NR.Punch = []gridapi.PunchState{{NodeID: 4, Phase: "punched"}}
	dn.Peers[1].NR.NAT = &gridapi.NATSeen{Endpoints: []string{"198.51.100.3:3000"}, Observers: 2, Mapping: "endpoint-independent"}
	dn.Peers[3].NR.Punch = []gridapi.PunchState{{NodeID: 2, Phase: "held", Reason: "direct path stopped answering (4 probes missed)"}}
	dn.Peers[3].NR.NAT = &gridapi.NATSeen{Endpoints: []string{"198.51.100.4:1000", "198.51.100.4:2000"}, Observers: 2, Mapping: "endpoint-dependent"}
	st := StatusOf(dn, now, Fresh)
	got := map[string]NetworkPair{}
	for _, p := range st.Pairs {
		got[p.From+"→"+p.To] = p
	}
	if p := got["home1→home6"]; p.Path != PathPunched || p.Via != "" || p.NotPunched != "" {
		t.Errorf("home1→home6: %+v, want punched", p)
	}
	p := got["home6→home1"]
	if p.Path != PathRelayed || p.Via != "farm1" || !strings.HasPrefix(p.NotPunched, "held: direct path stopped answering") ||
		!strings.Contains(p.NotPunched, "home6 endpoint-dependent mapping") || !strings.Contains(p.NotPunched, "home1 endpoint-independent mapping") {
		t.Errorf("home6→home1: %+v", p)
	}
	if p := got["home2→home6"]; p.Path != PathRelayed || !strings.HasPrefix(p.NotPunched, "no direct path tried yet") ||
		!strings.Contains(p.NotPunched, "home2 not observed") {
		t.Errorf("home2→home6: %+v", p)
	}
	if p := got["home1→farm1"]; p.NotPunched != "" {
		t.Errorf("a direct pair says why not punched: %+v", p)
	}
	if len(st.RelayLoad) != 1 || st.RelayLoad[0].Pairs != 3 {
		t.Errorf("relay load %+v; want farm1 carrying 3 pairs (home1→home6 is punched)", st.RelayLoad)
	}
	if st.Members[3].NAT == nil || st.Members[3].NAT.Mapping != "endpoint-dependent" {
		t.Errorf("home6's NAT: %+v", st.Members[3].NAT)
	}
	// home1's relay group for the pair moved off its primary: the punched pair uses no
	// relay, so it is not failed over
	ids := map[string]string{}
	for _, m := range dn.Peers {
		ids[m.Name] = strconv.FormatInt(m.NodeID, 10)
	}
	var rs []string
	for _, r := range got["home1→home6"].Relays {
		rs = append(rs, ids[r])
	}
	if len(rs) == 0 {
		t.Fatalf("home1→home6 has no planned relays: %+v", got["home1→home6"])
	}
	dn.Peers[1].NR.RelayGroups = []gridapi.RelayGroupUse{{Relays: rs, Current: rs[len(rs)-1], Since: now.Add(-time.Minute)}}
	for _, p := range StatusOf(dn, now, Fresh).Pairs {
		if p.From == "home1" && p.To == "home6" && (p.Path != PathPunched || p.FailedOverSince != nil) {
			t.Errorf("home1→home6 after its group moved: %s, failed over since %v; want punched, not failed over", p.Path, p.FailedOverSince)
		}
	}
}
