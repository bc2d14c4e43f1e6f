package plan

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestPairsLab(t *testing.T) {
	pl, err := Compute(labInput())
	if err != nil {
		t.Fatal(err)
	}
	g16, g61, g63 := groupOf(pl, "home1", "home6"), groupOf(pl, "home6", "home1"), groupOf(pl, "home6", "farm3")
	if len(g16.Relays) != 2 || g16.Key() != g61.Key() {
		t.Fatalf("home1→home6 via %v, back via %v; want the same primary and failover relay", g16.Relays, g61.Relays)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	obs := []PairObservation{
		{From: "home1", To: "home2", LastReply: now.Add(-5 * time.Second)},
		{From: "home1", To: "home2", LastReply: now.Add(-time.Hour)}, // older duplicate: ignored
		{From: "home1", To: "home6", LastReply: now.Add(-2 * time.Minute)},
		{From: "farm1", To: "home6", LastReply: now.Add(-10 * time.Second)},
	}
	// home6 moved the group that holds home1 to its second relay
	moved := g61.Relays[1]
	got := Pairs(pl, map[string]map[string]string{"home6": {g61.Key(): moved}}, obs, now, time.Minute)
	if len(got) != 6*5 {
		t.Fatalf("%d pairs, want 30", len(got))
	}
	via63 := g63.Relays[0]
	if g63.Key() == g61.Key() {
		via63 = moved
	}
	g31 := groupOf(pl, "farm3", "home1")
	want := map[[2]string]PairStatus{
		{"home1", "home2"}: {From: "home1", To: "home2", Path: PathSameLAN, Reachable: true},
		{"home2", "home1"}: {From: "home2", To: "home1", Path: PathSameLAN},
		{"home1", "home6"}: {From: "home1", To: "home6", Path: PathRelayed, Via: g16.Relays[0], Relays: g16.Relays},
		{"home6", "home1"}: {From: "home6", To: "home1", Path: PathRelayed, Via: moved, Relays: g61.Relays},
		{"home6", "farm3"}: {From: "home6", To: "farm3", Path: PathRelayed, Via: via63, Relays: g63.Relays},
		{"farm1", "home6"}: {From: "farm1", To: "home6", Path: PathDirect, Reachable: true},
		{"home6", "farm1"}: {From: "home6", To: "farm1", Path: PathDirect},
		{"farm1", "farm2"}: {From: "farm1", To: "farm2", Path: PathDirect},
		{"farm3", "home1"}: {From: "farm3", To: "home1", Path: PathRelayed, Via: g31.Relays[0], Relays: g31.Relays},
	}
	for i, p := range got {
		if i > 0 && (got[i-1].From > p.From || (got[i-1].From == p.From && got[i-1].To >= p.To)) {
			t.Fatalf("pairs not sorted at %d: %+v after %+v", i, p, got[i-1])
		}
		if w, ok := want[[2]string{p.From, p.To}]; ok && !reflect.DeepEqual(w, p) {
			t.Errorf("pair %s→%s = %+v, want %+v", p.From, p.To, p, w)
		}
		delete(want, [2]string{p.From, p.To})
	}
	if len(want) != 0 {
		t.Errorf("pairs missing: %v", want)
	}
}

func TestPairsFreshness(t *testing.T) {
	pl := Plan{Members: []MemberPlan{
		{NodeID: "a", Peers: []Peer{{NodeID: "b", Path: PathDirect}}},
		{NodeID: "b", Peers: []Peer{{NodeID: "a", Path: PathDirect}}},
	}}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		last time.Time
		want bool
	}{
		{"never", time.Time{}, false},
		{"just now", now, true},
		{"at the edge", now.Add(-30 * time.Second), true},
		{"too old", now.Add(-31 * time.Second), false},
		{"from the future", now.Add(time.Hour), false},
	} {
		got := Pairs(pl, nil, []PairObservation{{From: "a", To: "b", LastReply: tt.last}}, now, 30*time.Second)
		if got[0].Reachable != tt.want || got[1].Reachable {
			t.Errorf("%s: reachable a→b %v b→a %v, want %v false", tt.name, got[0].Reachable, got[1].Reachable, tt.want)
		}
	}
}

// groupOf returns the relay group of member from that holds member to.
func groupOf(pl Plan, from, to string) RelayGroup {
	for _, m := range pl.Members {
		for _, g := range m.RelayGroups {
			if m.NodeID == from && slices.Contains(g.Members, to) {
				return g
			}
		}
	}
	return RelayGroup{}
}
