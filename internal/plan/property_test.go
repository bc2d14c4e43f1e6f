package plan

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zosnet/zosnet/internal/ula"
)

// randomInput builds a random network of n members: public dual-stack, IPv4-only and
// IPv6-only members, hidden members behind a few shared NATs/LANs, firewalled dual-stack
// hidden members, some with explicit subnets, and a few access devices.
func randomInput(r *rand.Rand, n int) Input {
	in := Input{Network: Network{ID: fmt.Sprintf("r%d", r.IntN(1000)), Range: pfx("10.64.0.0/16")}}
	if r.IntN(2) == 0 {
		in.Network.Range, in.Network.SubnetBits = pfx("172.16.0.0/20"), 26
	}
	sp := newSpace(in.Network.ID, in.Network.Range, cmpOr(in.Network.SubnetBits, DefaultSubnetBits))
	for i := range n {
		m := Member{NodeID: fmt.Sprintf("n%03d", i), PublicKey: key(byte(i + 1)), ListenPort: 51820 + r.IntN(3)}
		v4 := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})
		switch kind := r.IntN(8); kind {
		case 0, 1:
			m.Endpoints = []Endpoint{{Addr: v4, Reachable: true}, {Addr: v6, Reachable: true}}
		case 2:
			m.Endpoints = []Endpoint{{Addr: v4, Reachable: true}}
		case 3:
			m.Endpoints = []Endpoint{{Addr: v6, Reachable: true}, {Addr: addr("192.168.200.1")}}
		case 4:
			m.Endpoints = []Endpoint{{Addr: v6}, {Addr: netip.AddrFrom4([4]byte{192, 168, 50, byte(i + 1)})}}
		default: // behind one of three home NATs, on one of two LANs there
			nat := r.IntN(3)
			lanNet := r.IntN(2)
			a := netip.AddrFrom4([4]byte{192, 168, byte(lanNet), byte(i + 1)})
			m.LAN = LAN{PublicSource: netip.AddrFrom4([4]byte{203, 0, 113, byte(nat + 1)}), Addresses: []netip.Prefix{netip.PrefixFrom(a, 24)}}
			if r.IntN(3) > 0 { // NAT 0 is a carrier-grade NAT: homes with the same prefix, different routers
				m.LAN.Router = fmt.Sprintf("router-%d-%d-%d", nat, lanNet, map[bool]int{true: r.IntN(2)}[nat == 0])
			}
			m.Endpoints = []Endpoint{{Addr: a}}
			m.Hidden = r.IntN(4) == 0
		}
		if r.IntN(3) == 0 {
			m.Subnet = sp.subnet(uint32(i))
		}
		if r.IntN(4) == 0 {
			m.RelayWeight = 1 + r.IntN(5)
		}
		in.Members = append(in.Members, m)
	}
	for d := range r.IntN(3) {
		a := sp.subnet(sp.slots - 1 - uint32(d)).Addr().Next()
		in.Access = append(in.Access, AccessPeer{Name: fmt.Sprintf("dev%d", d), PublicKey: key(byte(200 + d)), Address: a})
	}
	return in
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func shuffled(r *rand.Rand, in Input) Input {
	out := in
	out.Members = append([]Member(nil), in.Members...)
	r.Shuffle(len(out.Members), func(i, j int) { out.Members[i], out.Members[j] = out.Members[j], out.Members[i] })
	for i := range out.Members {
		m := &out.Members[i]
		m.Endpoints = append([]Endpoint(nil), m.Endpoints...)
		r.Shuffle(len(m.Endpoints), func(i, j int) { m.Endpoints[i], m.Endpoints[j] = m.Endpoints[j], m.Endpoints[i] })
	}
	out.Access = append([]AccessPeer(nil), in.Access...)
	r.Shuffle(len(out.Access), func(i, j int) { out.Access[i], out.Access[j] = out.Access[j], out.Access[i] })
	return out
}

func TestPlanProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	planned := 0
	for round := range 300 {
		in := randomInput(r, 2+r.IntN(24))
		pl, err := Compute(in)
		if errors.Is(err, ErrImpossible) {
			continue
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		planned++
		checkPlan(t, in, pl, fmt.Sprintf("round %d", round))
		again, err := Compute(shuffled(r, in))
		if err != nil {
			t.Fatalf("round %d shuffled: %v", round, err)
		}
		if !reflect.DeepEqual(pl, again) {
			t.Fatalf("round %d: plan changed with shuffled input:\n%s", round, cmp.Diff(pl, again, cmpOpts...))
		}
	}
	if planned < 200 {
		t.Fatalf("only %d of 300 random networks were plannable; the generator is off", planned)
	}
}

var cmpOpts = []cmp.Option{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

// checkPlan checks the invariants of a plan: its shape, that both ends of every relayed
// pair agree on the relays, and forwarding with every group on its primary relay and
// then after each relay's loss (its groups on their second relay, the others staying).
func checkPlan(t *testing.T, in Input, pl Plan, ctx string) {
	t.Helper()
	checkShape(t, in, pl, ctx)
	checkAgree(t, pl, ctx)
	checkForwarding(t, pl, "", ctx)
	if len(pl.Relays) >= 2 {
		for _, r := range pl.Relays {
			checkForwarding(t, pl, r, ctx+" after the loss of "+r)
		}
	}
}

// checkAgree: every member that is not a direct peer is in exactly one relay group, and
// the far end has this member in a group with the same relays.
func checkAgree(t *testing.T, pl Plan, ctx string) {
	t.Helper()
	relaysTo := map[[2]string][]string{}
	for _, m := range pl.Members {
		for _, pe := range m.Peers {
			if slices.ContainsFunc(pe.AllowedIPs, func(a netip.Prefix) bool { return !a.IsValid() }) {
				t.Fatalf("%s: %s's entry for %s: an invalid allowed IP: %v", ctx, m.NodeID, pe.Name, pe.AllowedIPs)
			}
			if !slices.IsSortedFunc(pe.AllowedIPs, cmpPrefix) {
				t.Fatalf("%s: %s's entry for %s: allowed IPs not sorted: %v", ctx, m.NodeID, pe.Name, pe.AllowedIPs)
			}
		}
		if !slices.IsSortedFunc(m.RelayGroups, func(a, b RelayGroup) int { return slices.Compare(a.Relays, b.Relays) }) {
			t.Fatalf("%s: %s's relay groups not sorted by relays", ctx, m.NodeID)
		}
		for _, g := range m.RelayGroups {
			if len(g.AllowedIPs) < 2*len(g.Members) || slices.ContainsFunc(g.AllowedIPs, func(a netip.Prefix) bool { return !a.IsValid() }) {
				t.Fatalf("%s: %s's relay group %v: %d allowed IPs for %d members: %v", ctx, m.NodeID, g.Relays, len(g.AllowedIPs), len(g.Members), g.AllowedIPs)
			}
			if !slices.IsSortedFunc(g.AllowedIPs, cmpPrefix) || !slices.IsSorted(g.Members) {
				t.Fatalf("%s: %s's relay group %v not sorted: %v %v", ctx, m.NodeID, g.Relays, g.Members, g.AllowedIPs)
			}
			for _, b := range g.Members {
				k := [2]string{m.NodeID, b}
				if _, dup := relaysTo[k]; dup {
					t.Fatalf("%s: %s has %s in two relay groups", ctx, m.NodeID, b)
				}
				relaysTo[k] = g.Relays
			}
		}
	}
	for _, m := range pl.Members {
		for _, o := range pl.Members {
			_, direct := findPeer(m.Peers, o.NodeID)
			rs, relayed := relaysTo[[2]string{m.NodeID, o.NodeID}]
			if o.NodeID == m.NodeID || direct {
				if relayed {
					t.Fatalf("%s: %s has %s both as a peer and in a relay group", ctx, m.NodeID, o.NodeID)
				}
				continue
			}
			back := relaysTo[[2]string{o.NodeID, m.NodeID}]
			if !relayed || !slices.Equal(rs, back) {
				t.Fatalf("%s: %s → %s via %v, back via %v", ctx, m.NodeID, o.NodeID, rs, back)
			}
		}
	}
}

// checkShape: no overlap on one interface, hidden members peer only with public members
// or LAN neighbours with keepalive, hidden pairs are same-lan exactly when they share a LAN.
func checkShape(t *testing.T, in Input, pl Plan, ctx string) {
	t.Helper()
	byID := map[string]MemberPlan{}
	for _, m := range pl.Members {
		byID[m.NodeID] = m
	}
	facts := map[string]Member{}
	for _, m := range in.Members {
		facts[m.NodeID] = m
	}
	for _, m := range pl.Members {
		for _, peers := range peerSets(m) {
			if err := overlap(append([]netip.Prefix{m.Subnet, m.ULA}, allowed(peers)...)); err != nil {
				t.Fatalf("%s: member %s: %v", ctx, m.NodeID, err)
			}
		}
		for _, pe := range m.Peers {
			if pe.Path == PathSameLAN && m.NodeID > pe.NodeID {
				if pe.Endpoint.IsValid() || pe.Keepalive != 0 {
					t.Fatalf("%s: %s dials its LAN neighbour %s with the lower node id", ctx, m.NodeID, pe.NodeID)
				}
				continue // the LAN neighbour with the lower node id dials
			}
			if !m.Hidden || pe.Path == PathAccess {
				continue
			}
			if pe.Keepalive < 20 || pe.Keepalive > 25 || !pe.Endpoint.IsValid() {
				t.Fatalf("%s: hidden %s → %s: keepalive %d endpoint %v", ctx, m.NodeID, pe.NodeID, pe.Keepalive, pe.Endpoint)
			}
			if o := byID[pe.NodeID]; o.Hidden && pe.Path != PathSameLAN {
				t.Fatalf("%s: hidden %s peers with hidden %s over %s", ctx, m.NodeID, o.NodeID, pe.Path)
			}
		}
		for _, o := range pl.Members {
			if !m.Hidden || !o.Hidden || o.NodeID == m.NodeID {
				continue
			}
			pe, direct := findPeer(m.Peers, o.NodeID)
			share := shareLAN(facts[m.NodeID].LAN, facts[o.NodeID].LAN)
			if direct != share || (direct && pe.Path != PathSameLAN) {
				t.Fatalf("%s: hidden %s ↔ %s: direct %v, share a LAN %v", ctx, m.NodeID, o.NodeID, direct, share)
			}
		}
	}
}

func peerSets(m MemberPlan) [][]Peer {
	sets := [][]Peer{m.Peers}
	for _, g := range m.RelayGroups {
		sets = append(sets, WithRelay(m, failedOver(m, g.Relays[0])))
	}
	return sets
}

func allowed(peers []Peer) []netip.Prefix {
	var out []netip.Prefix
	for _, pe := range peers {
		out = append(out, pe.AllowedIPs...)
	}
	return out
}

// overlap returns an error naming two overlapping prefixes, if any: sorted by first
// address, a prefix overlaps an earlier one iff it starts before the furthest end so far.
func overlap(ps []netip.Prefix) error {
	ps = append([]netip.Prefix(nil), ps...)
	sortPrefixes(ps)
	far := 0
	for i := 1; i < len(ps); i++ {
		if ps[far].Overlaps(ps[i]) {
			return fmt.Errorf("allowed IPs %s and %s overlap", ps[far], ps[i])
		}
		if lastAddr(ps[i]).Compare(lastAddr(ps[far])) > 0 {
			far = i
		}
	}
	return nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func findPeer(peers []Peer, id string) (Peer, bool) {
	for _, pe := range peers {
		if pe.NodeID == id && id != "" {
			return pe, true
		}
	}
	return Peer{}, false
}

func shareLAN(a, b LAN) bool {
	if !a.PublicSource.IsValid() || a.PublicSource != b.PublicSource || (a.Router != "" && b.Router != "" && a.Router != b.Router) {
		return false
	}
	for _, x := range a.Addresses {
		for _, y := range b.Addresses {
			if x.Masked() == y.Masked() {
				return true
			}
		}
	}
	return false
}

// hop is one WireGuard interface in the simulation: a member or a device.
type hop struct {
	owns  []netip.Prefix
	peers []Peer
}

// checkForwarding sends a packet from every member and device to every other one, over
// IPv4 and the ULA twin, hop by hop: at each interface the entry whose allowed IPs hold
// the destination carries it, and the receiver must accept the source from that sender
// (WireGuard's cryptokey routing drops it otherwise). With dead set, that relay is lost:
// every member moves the groups it is the primary of to their second relay, and no
// packet between two other ends may cross it.
func checkForwarding(t *testing.T, pl Plan, dead string, ctx string) {
	t.Helper()
	hops := map[string]hop{} // by public key
	var srcs []netip.Addr
	keyOf := map[string]string{}
	for _, m := range pl.Members {
		peers := m.Peers
		if dead != "" {
			peers = WithRelay(m, failedOver(m, dead))
		}
		k := pubKeyOf(pl, m.NodeID)
		keyOf[m.NodeID] = k
		hops[k] = hop{owns: []netip.Prefix{m.Subnet, m.ULA}, peers: peers}
		srcs = append(srcs, m.Subnet.Addr().Next(), ula.Addr(pl.NetworkID, m.Subnet.Addr().Next()))
	}
	for _, d := range pl.Devices {
		k := devKey(pl, d.Name)
		hops[k] = hop{owns: []netip.Prefix{netip.PrefixFrom(d.Address, 32)}, peers: []Peer{d.Peer}}
		srcs = append(srcs, d.Address)
	}
	avoid, gone := "", map[netip.Addr]bool{} // the lost relay, and what only it reaches
	if dead != "" {
		avoid = keyOf[dead]
		for _, s := range srcs {
			gone[s] = owns(hops[avoid].owns, s)
		}
		for _, d := range pl.Devices {
			gone[d.Address] = gone[d.Address] || d.AccessNode == dead
		}
	}
	for _, src := range srcs {
		for _, dst := range srcs {
			if src == dst || src.Is4() != dst.Is4() || gone[src] || gone[dst] {
				continue
			}
			if err := deliver(hops, src, dst, avoid); err != nil {
				t.Fatalf("%s: %s → %s: %v", ctx, src, dst, err)
			}
		}
	}
}

func deliver(hops map[string]hop, src, dst netip.Addr, avoid string) error {
	at := ""
	for k, h := range hops {
		if owns(h.owns, src) {
			at = k
		}
	}
	for range 4 {
		h := hops[at]
		if owns(h.owns, dst) {
			return nil
		}
		next := ""
		for _, pe := range h.peers {
			if owns(pe.AllowedIPs, dst) {
				next = pe.PublicKey
			}
		}
		if next == "" {
			return fmt.Errorf("no peer of %.8s carries the destination", at)
		}
		back := false
		for _, pe := range hops[next].peers {
			back = back || (pe.PublicKey == at && owns(pe.AllowedIPs, src))
		}
		if !back {
			return fmt.Errorf("%.8s drops the packet from %.8s: source not in that peer's allowed IPs", next, at)
		}
		if next == avoid && avoid != "" {
			return fmt.Errorf("%.8s sends it to the lost relay", at)
		}
		at = next
	}
	return fmt.Errorf("more than 4 hops")
}

func owns(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// pubKeyOf finds a member's key from the entries that peer with it (the plan has no
// field for a member's own key).
func pubKeyOf(pl Plan, id string) string {
	for _, m := range pl.Members {
		if pe, ok := findPeer(m.Peers, id); ok {
			return pe.PublicKey
		}
	}
	for _, d := range pl.Devices {
		if d.Peer.NodeID == id {
			return d.Peer.PublicKey
		}
	}
	return "self-" + id
}

func devKey(pl Plan, name string) string {
	for _, m := range pl.Members {
		for _, pe := range m.Peers {
			if pe.Path == PathAccess && pe.Name == name {
				return pe.PublicKey
			}
		}
	}
	return "dev-" + name
}
