package plan

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// spreadInput is a network of pubs public members (dual-stack) and hidden members each
// behind its own NAT, so every hidden pair is relayed; weights[i] is public member i's
// relay weight (missing: 0, i.e. 1).
func spreadInput(netID string, pubs, hidden int, weights ...int) Input {
	in := Input{Network: Network{ID: netID, Range: pfx("10.50.0.0/16")}}
	for i := range pubs {
		m := Member{NodeID: fmt.Sprintf("pub%02d", i), PublicKey: key(byte(i + 1)), ListenPort: 51820,
			Endpoints: []Endpoint{pub(fmt.Sprintf("198.51.100.%d", i+1)), pub(fmt.Sprintf("2001:db8::%x", i+1))}}
		if i < len(weights) {
			m.RelayWeight = weights[i]
		}
		in.Members = append(in.Members, m)
	}
	for i := range hidden {
		a := netip.AddrFrom4([4]byte{192, 168, byte(i), 10})
		in.Members = append(in.Members, Member{NodeID: fmt.Sprintf("hid%02d", i), PublicKey: key(byte(100 + i)), ListenPort: 51820,
			Endpoints: []Endpoint{{Addr: a}},
			LAN:       LAN{PublicSource: netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), Addresses: []netip.Prefix{netip.PrefixFrom(a, 24)}}})
	}
	return in
}

// homeLoads counts, per public member, the relayed members whose primary (k=0) or
// second (k=1) home relay it is.
func homeLoads(pl Plan, k int) map[string]int {
	out := map[string]int{}
	for _, m := range pl.Members {
		if len(m.Relays) > k {
			out[m.Relays[k]]++
		}
	}
	return out
}

// TestRelaySpread: in networks of 10 public and 10 hidden members (one per network id,
// the seed logged), every public member is the primary home relay of floor or ceil of
// its share of the hidden members, and the second of at most one more (equal weights);
// primary and second differ; both ends of every relayed pair agree on its relays.
func TestRelaySpread(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 19))
	for round := range 200 {
		in := spreadInput(fmt.Sprintf("s%d", r.IntN(1<<30)), 10, 10)
		pl, err := Compute(in)
		if err != nil {
			t.Fatal(err)
		}
		ctx := fmt.Sprintf("seed %d round %d network %s", seed, round, in.Network.ID)
		checkShares(t, pl, in, ctx)
		checkAgree(t, pl, ctx)
	}
}

// TestRelaySpreadWeighted: shares follow the members' relay weights.
func TestRelaySpreadWeighted(t *testing.T) {
	for _, tt := range []struct {
		pubs, hidden int
		weights      []int
	}{
		{4, 10, []int{1, 1, 1, 1}},
		{4, 10, []int{3, 1, 1, 0}}, // 0 counts as 1: shares 5, 1.67, 1.67, 1.67
		{3, 9, []int{1000, 1, 1}},
		{10, 10, []int{2, 2, 2, 2, 2, 1, 1, 1, 1, 1}},
		{5, 3, nil},                    // fewer hidden members than relays
		{2, 25, []int{7, 3}},           // shares 17.5 and 7.5
		{1, 12, nil},                   // one candidate: no second
		{10, 40, []int{9, 1, 1, 1, 1}}, // the rest default to 1
	} {
		name := fmt.Sprintf("%d public %d hidden weights %v", tt.pubs, tt.hidden, tt.weights)
		t.Run(name, func(t *testing.T) {
			in := spreadInput("w", tt.pubs, tt.hidden, tt.weights...)
			pl, err := Compute(in)
			if err != nil {
				t.Fatal(err)
			}
			checkShares(t, pl, in, name)
			checkAgree(t, pl, name)
		})
	}
}

// checkShares checks the bounded load of the home relays against the weights.
func checkShares(t *testing.T, pl Plan, in Input, ctx string) {
	t.Helper()
	total, relayed, equal := 0, 0, true
	for _, m := range in.Members {
		if m.Endpoints[0].Reachable {
			total += max(m.RelayWeight, 1)
			equal = equal && max(m.RelayWeight, 1) == 1
		}
	}
	for _, m := range pl.Members {
		if len(m.Relays) > 0 {
			relayed++
			if len(m.Relays) == 2 && m.Relays[0] == m.Relays[1] {
				t.Fatalf("%s: %s has %s as primary and second", ctx, m.NodeID, m.Relays[0])
			}
		}
	}
	prim, sec := homeLoads(pl, 0), homeLoads(pl, 1)
	for _, m := range in.Members {
		if !m.Endpoints[0].Reachable {
			continue
		}
		w := max(m.RelayWeight, 1)
		lo, hi := relayed*w/total, (relayed*w+total-1)/total
		if got := prim[m.NodeID]; got < lo || got > hi {
			t.Errorf("%s: %s (weight %d) is the primary of %d members, want %d–%d (share %.2f of %d)",
				ctx, m.NodeID, w, got, lo, hi, float64(relayed*w)/float64(total), relayed)
		}
		// with uneven weights a heavy relay's members must take their second elsewhere
		if got := sec[m.NodeID]; equal && len(prim) > 1 && got > hi+1 {
			t.Errorf("%s: %s (weight %d) is the second of %d members, want at most %d", ctx, m.NodeID, w, got, hi+1)
		}
	}
}

// TestRelayLoss: when a relay is lost, exactly the groups whose primary it is move, to
// their second relay; every other pair keeps its relay. In status terms: the relayed
// pairs whose via changes are those through the lost relay, and only its home members'
// own groups move.
func TestRelayLoss(t *testing.T) {
	pl, err := Compute(spreadInput("loss", 10, 10))
	if err != nil {
		t.Fatal(err)
	}
	for _, dead := range pl.Relays {
		current := map[string]map[string]string{}
		for _, m := range pl.Members {
			current[m.NodeID] = map[string]string{}
			for k, r := range failedOver(m, dead) {
				current[m.NodeID][m.RelayGroups[k].Key()] = r
			}
		}
		before, after := Pairs(pl, nil, nil, time.Time{}, 0), Pairs(pl, current, nil, time.Time{}, 0)
		moved := 0
		for i, a := range after {
			b := before[i]
			switch {
			case b.Via == dead && (a.Via != b.Relays[1] || a.Via == dead):
				t.Errorf("lost %s: %s→%s via %s, want its second relay %s", dead, a.From, a.To, a.Via, b.Relays[1])
			case b.Via != dead && a.Via != b.Via:
				t.Errorf("lost %s: %s→%s moved from %s to %s", dead, a.From, a.To, b.Via, a.Via)
			case b.Via == dead:
				moved++
			}
		}
		if moved == 0 && homeLoads(pl, 0)[dead] > 0 {
			t.Errorf("lost %s: no pair moved, though it is the primary of %d members", dead, homeLoads(pl, 0)[dead])
		}
		for _, m := range pl.Members {
			if len(m.Relays) == 0 {
				continue
			}
			own := slices.IndexFunc(m.RelayGroups, func(g RelayGroup) bool { return slices.Equal(g.Relays, m.Relays) })
			if own < 0 {
				continue // owns no pair
			}
			if got, want := failedOver(m, dead)[own], map[bool]string{true: m.Relays[1], false: m.Relays[0]}[m.Relays[0] == dead]; got != want {
				t.Errorf("lost %s: %s's own group on %s, want %s", dead, m.NodeID, got, want)
			}
		}
	}
}

// TestPairOwners: each end of a relayed pair owns about half of them (over many
// networks), and the choice does not depend on the order of the ends.
func TestPairOwners(t *testing.T) {
	owned, pairs := 0, 0
	for n := range 50 {
		p, err := New(spreadInput(fmt.Sprintf("o%d", n), 3, 20))
		if err != nil {
			t.Fatal(err)
		}
		p.homes()
		for i := range p.nodes {
			for j := range p.nodes {
				if i == j || p.nodes[i].public || p.nodes[j].public {
					continue
				}
				if o := p.owner(i, j); o != p.owner(j, i) || (o != i && o != j) {
					t.Fatalf("owner(%d,%d) = %d, owner(%d,%d) = %d", i, j, o, j, i, p.owner(j, i))
				}
				if i < j {
					pairs++
					if p.owner(i, j) == i {
						owned++
					}
				}
			}
		}
	}
	if f := float64(owned) / float64(pairs); f < 0.45 || f > 0.55 {
		t.Errorf("the lower end owns %d of %d pairs (%.2f), want about half", owned, pairs, f)
	}
}

// TestRelayWeightInvalid: the weight is validated.
func TestRelayWeightInvalid(t *testing.T) {
	for _, w := range []int{-1, MaxRelayWeight + 1} {
		in := spreadInput("v", 2, 2, w)
		if _, err := New(in); err == nil || !strings.Contains(err.Error(), "members[0].relay_weight") {
			t.Errorf("weight %d: %v, want an error naming members[0].relay_weight", w, err)
		}
	}
}

// TestRelayGroupDevices: an access device on a member reached through a relay travels
// in that member's relay group (its address sorted among the subnets), and forwarding
// to it works before and after a relay's loss.
func TestRelayGroupDevices(t *testing.T) {
	in := Input{Network: Network{ID: "dv", Range: pfx("10.4.0.0/21")}, Members: []Member{
		{NodeID: "p4", PublicKey: key(1), ListenPort: 1, Subnet: pfx("10.4.0.0/24"), Endpoints: []Endpoint{pub("198.51.100.4")}},
		{NodeID: "p6", PublicKey: key(2), ListenPort: 2, Subnet: pfx("10.4.2.0/24"), Endpoints: []Endpoint{pub("2001:db8::6")}},
		{NodeID: "pd", PublicKey: key(3), ListenPort: 3, Subnet: pfx("10.4.3.0/24"), Endpoints: []Endpoint{pub("198.51.100.5"), pub("2001:db8::5")}},
		{NodeID: "pe", PublicKey: key(4), ListenPort: 4, Subnet: pfx("10.4.1.0/24"), Endpoints: []Endpoint{pub("198.51.100.6"), pub("2001:db8::7")}},
	}, Access: []AccessPeer{{Name: "phone", PublicKey: key(9), Address: addr("10.4.5.200"), Via: "p4", Family: IPv4}}}
	pl, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, in, pl, "devices")
	g := groupOf(pl, "p6", "p4")
	want := []netip.Prefix{pfx("10.4.0.0/24"), pfx("10.4.5.200/32"), twin("dv", "10.4.0.0/24")}
	if !slices.Equal(g.AllowedIPs, want) {
		t.Errorf("p6's group towards p4 carries %v, want %v", g.AllowedIPs, want)
	}
}
