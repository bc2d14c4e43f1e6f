package plan

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// gridLab is testdata/grid-lab.json: the default farm's network as the registry reports
// it to a member.
func gridLab(t testing.TB) gridapi.DesiredNetwork {
	t.Helper()
	b, err := os.ReadFile("testdata/grid-lab.json")
	if err != nil {
		t.Fatal(err)
	}
	var dn gridapi.DesiredNetwork
	if err := json.Unmarshal(b, &dn); err != nil {
		t.Fatal(err)
	}
	return dn
}

func TestFromGrid(t *testing.T) {
	dn := gridLab(t)
	in, err := FromGrid(dn, Self{NodeID: 2, PublicKey: dn.Peers[1].NR.PublicKey, ListenPort: 3001})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Members) != 4 {
		t.Fatalf("members %d, want 4 (farm3 has not reported)", len(in.Members))
	}
	byName := map[string]Member{}
	for _, m := range in.Members {
		byName[m.Name] = m
	}
	tests := []struct {
		name   string
		hidden bool
		lan    []string
		src    string
	}{
		{"farm1", false, []string{"10.201.0.101/24"}, "198.51.100.2"},
		{"home1", true, []string{"172.29.1.101/24"}, "198.51.100.3"}, // b-net1 left out
		{"home2", true, []string{"172.29.1.102/24"}, "198.51.100.3"},
		{"home6", true, []string{"172.29.6.100/24"}, "198.51.100.4"}, // SLAAC IPv6 alone is not reachable
	}
	for _, tc := range tests {
		m := byName[tc.name]
		if m.Hidden != tc.hidden {
			t.Errorf("%s: hidden %v, want %v", tc.name, m.Hidden, tc.hidden)
		}
		var lan []string
		for _, a := range m.LAN.Addresses {
			lan = append(lan, a.String())
		}
		if strings.Join(lan, ",") != strings.Join(tc.lan, ",") || m.LAN.PublicSource.String() != tc.src {
			t.Errorf("%s: LAN %v from %s, want %v from %s", tc.name, lan, m.LAN.PublicSource, tc.lan, tc.src)
		}
	}
	if byName["home1"].ListenPort != 3001 {
		t.Errorf("self's port %d, want the local 3001", byName["home1"].ListenPort)
	}
	if len(in.Access) != 1 || in.Access[0].Address != addr("10.100.255.2") {
		t.Errorf("access %+v", in.Access)
	}
	// the hidden pair behind one NAT peers over its LAN
	pl, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range pl.Members {
		for _, p := range m.Peers {
			if m.Name == "home1" && p.Name == "home2" && p.Path != PathSameLAN {
				t.Errorf("home1 → home2: path %q, want same-lan", p.Path)
			}
		}
	}
}

// TestFromGridOutside: without self (the CLI's view) a member's own report counts, and
// a member that has not reported, self or not, is left out.
func TestFromGridOutside(t *testing.T) {
	dn := gridLab(t)
	dn.Peers[1].NR = nil // home1 not reported yet
	in, err := FromGrid(dn, Self{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range in.Members {
		names = append(names, m.Name)
	}
	if got := strings.Join(names, " "); got != "farm1 home2 home6" {
		t.Errorf("members %q, want farm1 home2 home6", got)
	}
}

func TestFromGridErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		mut  func(*gridapi.DesiredNetwork)
		want string
	}{
		"range":  {func(d *gridapi.DesiredNetwork) { d.IPRange = "10.100.0.0/33" }, "ip_range"},
		"subnet": {func(d *gridapi.DesiredNetwork) { d.Peers[0].Subnet = "x" }, "member farm1: subnet"},
		"access": {func(d *gridapi.DesiredNetwork) { d.AccessPeers[0].Address = "nope" }, "access peer laptop: address"},
	} {
		d := gridLab(t)
		tc.mut(&d)
		if _, err := FromGrid(d, Self{}); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "network net1: ") {
			t.Errorf("%s: error %v, want one naming the network and %q", name, err, tc.want)
		}
	}
}

// TestStatusOf: members and their states, names for node ids, the planned paths, the
// relay a member reports using, and reachability only from fresh probe answers.
func TestStatusOf(t *testing.T) {
	dn := gridLab(t)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	dn.Peers[1].NR.Seen = []gridapi.PeerSeen{{NodeID: 3, LastReply: now.Add(-time.Second)}, {NodeID: 1, LastReply: now.Add(-time.Hour)}}
	dn.Peers[2].NR.Relay = "1"
	st := StatusOf(dn, now, Fresh)
	if st.PlanError != "" || st.Name != "lab" || st.Range != "10.100.0.0/16" || len(st.Members) != 5 {
		t.Fatalf("status: %+v", st)
	}
	if m := st.Members[4]; m.Name != "farm3" || m.State != "unreported" || m.Hidden {
		t.Errorf("farm3 (not reported): %+v", m)
	}
	if m := st.Members[2]; m.Relay != "farm1" || !m.Hidden || m.State != "up" {
		t.Errorf("home2 reports relay farm1: %+v", m)
	}
	if len(st.Relays) != 1 || st.Relays[0] != "farm1" || len(st.Pairs) != 4*3 {
		t.Fatalf("relays %v, %d pairs; want [farm1], 12", st.Relays, len(st.Pairs))
	}
	// home1 and home2 (one LAN) reach home6 through farm1, and home6 them: 3 members, 4 pairs
	if len(st.RelayLoad) != 1 || st.RelayLoad[0] != (RelayLoad{Relay: "farm1", Homes: 3, Members: 3, Pairs: 4}) {
		t.Errorf("relay load %+v, want farm1 home of 3, carrying 3 members and 4 pairs", st.RelayLoad)
	}
	want := map[string]string{ // from→to: path via reachable last-reply
		"home1→home2": "same-lan  true 11:59:59", "home2→home1": "same-lan  false -",
		"home1→farm1": "direct  false 11:00:00", "home1→home6": "relayed farm1 false -",
	}
	for _, p := range st.Pairs {
		lr := "-"
		if p.LastReply != nil {
			lr = p.LastReply.Format(time.TimeOnly)
		}
		got := string(p.Path) + " " + p.Via + " " + map[bool]string{true: "true", false: "false"}[p.Reachable] + " " + lr
		if w, ok := want[p.From+"→"+p.To]; ok && got != w {
			t.Errorf("%s→%s: %q, want %q", p.From, p.To, got, w)
		}
		delete(want, p.From+"→"+p.To)
	}
	if len(want) != 0 {
		t.Errorf("pairs missing: %v", want)
	}
	dn.IPRange = "bad"
	if st := StatusOf(dn, now, Fresh); st.PlanError == "" || len(st.Pairs) != 0 || len(st.Members) != 5 {
		t.Errorf("unplannable network: %+v", st)
	}
}

func TestNodeName(t *testing.T) {
	dn := gridLab(t)
	if got := NodeName(dn, "4"); got != "home6" {
		t.Errorf("NodeName(4) = %q, want home6", got)
	}
	if got := NodeName(dn, "99"); got != "99" {
		t.Errorf("NodeName(99) = %q, want the id", got)
	}
}

// FuzzFromGrid: whatever the registry sends, the conversion and the planner return an
// error or a plan, never panic.
func FuzzFromGrid(f *testing.F) {
	b, err := os.ReadFile("testdata/grid-lab.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var dn gridapi.DesiredNetwork
		if json.Unmarshal(b, &dn) != nil {
			return
		}
		in, err := FromGrid(dn, Self{NodeID: 2, PublicKey: key(2), ListenPort: 1})
		if err == nil {
			_, _ = Compute(in)
		}
		_ = StatusOf(dn, time.Time{}, Fresh)
	})
}

// TestFromGridRelayWeight: a member's reported relay_weight becomes its RelayWeight; an
// out-of-range one (the registry refuses those) counts as the default.
func TestFromGridRelayWeight(t *testing.T) {
	for _, tc := range []struct{ reported, want int }{{0, 0}, {3, 3}, {MaxRelayWeight, MaxRelayWeight}, {MaxRelayWeight + 1, 0}, {-2, 0}} {
		dn := gridLab(t)
		dn.Peers[0].Facts.RelayWeight = tc.reported
		in, err := FromGrid(dn, Self{})
		if err != nil {
			t.Fatal(err)
		}
		if got := in.Members[0].RelayWeight; got != tc.want {
			t.Errorf("reported %d: relay weight %d, want %d", tc.reported, got, tc.want)
		}
		if _, err := New(in); err != nil {
			t.Errorf("reported %d: %v", tc.reported, err)
		}
	}
}

// TestStatusOfRelayGroups: a member reporting a relay group off its primary moves the
// via of exactly that group's pairs, and the relay load follows.
func TestStatusOfRelayGroups(t *testing.T) {
	dn := gridLab(t)
	farm2 := dn.Peers[0]
	farm2.NodeID, farm2.Name, farm2.Subnet = 6, "farm2", "10.100.5.0/24"
	farm2.NR = &gridapi.NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", ListenPort: 3000, State: "up"}
	farm2.Facts.Endpoints = []gridapi.Endpoint{{IP: "203.0.113.11", Family: 4, Reason: gridapi.ReasonPublicConfig}}
	dn.Peers = append(dn.Peers, farm2)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	before := StatusOf(dn, now, Fresh)
	var moved NetworkPair
	for _, p := range before.Pairs {
		if p.From == "home6" && p.Path == PathRelayed {
			moved = p
		}
	}
	if len(moved.Relays) != 2 || moved.Via != moved.Relays[0] {
		t.Fatalf("home6's relayed pair %+v: want one via the first of two relays", moved)
	}
	ids := map[string]string{"farm1": "1", "farm2": "6"}
	for _, p := range dn.Peers {
		if p.Name == "home6" {
			p.NR.RelayGroups = []gridapi.RelayGroupUse{{Relays: []string{ids[moved.Relays[0]], ids[moved.Relays[1]]}, Current: ids[moved.Relays[1]],
				Since: now.Add(-time.Minute)}}
		}
	}
	after := StatusOf(dn, now, Fresh)
	for i, p := range after.Pairs {
		b := before.Pairs[i]
		want := b.Via
		if p.From == "home6" && slices.Equal(b.Relays, moved.Relays) {
			want = moved.Relays[1]
		}
		if p.Via != want {
			t.Errorf("%s→%s via %q, want %q", p.From, p.To, p.Via, want)
		}
		switch {
		case want != b.Via && (p.FailedOverSince == nil || !p.FailedOverSince.Equal(now.Add(-time.Minute))):
			t.Errorf("%s→%s failed over since %v, want a minute ago", p.From, p.To, p.FailedOverSince)
		case want == b.Via && p.FailedOverSince != nil:
			t.Errorf("%s→%s on its primary shows failed over since %v", p.From, p.To, p.FailedOverSince)
		}
	}
	load := func(st NetworkStatus, relay string) RelayLoad {
		for _, l := range st.RelayLoad {
			if l.Relay == relay {
				return l
			}
		}
		return RelayLoad{}
	}
	if b, a := load(before, moved.Relays[1]), load(after, moved.Relays[1]); a.Pairs <= b.Pairs || a.Homes != b.Homes {
		t.Errorf("second relay %s: load %+v before, %+v after; want more pairs, the same homes", moved.Relays[1], b, a)
	}
}
