package plan

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/views.golden from this code")

// bigInput builds a random network of n members (up to 4,000): a random share of public
// members (dual-stack, IPv4-only, IPv6-only, some with relay weights), hidden members
// behind home NATs with up to four LAN siblings, behind a carrier-grade NAT (same
// prefix, different routers), firewalled dual-stack hidden members, explicit and
// assigned subnets, and access devices (some pinned to an access node).
func bigInput(r *rand.Rand, n int) Input {
	in := Input{Network: Network{ID: fmt.Sprintf("b%d", r.IntN(1000)), Range: pfx("10.0.0.0/12")}}
	sp := newSpace(in.Network.ID, in.Network.Range, DefaultSubnetBits)
	pubShare := []int{2, 10, 30}[r.IntN(3)]
	for i := range n {
		var k [32]byte
		binary.BigEndian.PutUint32(k[:], uint32(i+1))
		k[31] = 7
		m := Member{NodeID: fmt.Sprintf("m%04d", i), PublicKey: base64.StdEncoding.EncodeToString(k[:]), ListenPort: 51820 + r.IntN(3)}
		v4 := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		home := netip.AddrFrom4([4]byte{203, 0, byte(i / 4 >> 8), byte(i / 4)}) // four members per home
		lan := netip.AddrFrom4([4]byte{192, 168, byte(r.IntN(2)), byte(i%4 + 1)})
		switch {
		case r.IntN(100) < pubShare:
			switch r.IntN(4) {
			case 0, 1:
				m.Endpoints = []Endpoint{{Addr: v4, Reachable: true}, {Addr: v6, Reachable: true}}
			case 2:
				m.Endpoints = []Endpoint{{Addr: v4, Reachable: true}}
			default:
				m.Endpoints = []Endpoint{{Addr: v6, Reachable: true}, {Addr: lan}}
			}
			if r.IntN(3) == 0 {
				m.RelayWeight = 1 + r.IntN(5)
			}
		case r.IntN(10) == 0: // firewalled dual-stack home: dials IPv6 out
			m.Endpoints = []Endpoint{{Addr: v6}, {Addr: lan}}
			m.LAN = LAN{PublicSource: home, Addresses: []netip.Prefix{netip.PrefixFrom(lan, 24)}}
		case r.IntN(10) == 0: // carrier-grade NAT: one source, same prefix, routers differ
			m.Endpoints = []Endpoint{{Addr: lan}}
			m.LAN = LAN{PublicSource: addr("203.0.113.250"), Addresses: []netip.Prefix{netip.PrefixFrom(lan, 24)},
				Router: fmt.Sprintf("r%d", r.IntN(8))}
		default:
			m.Endpoints = []Endpoint{{Addr: lan}}
			m.LAN = LAN{PublicSource: home, Addresses: []netip.Prefix{netip.PrefixFrom(lan, 24)}}
			m.Hidden = r.IntN(8) == 0
		}
		if r.IntN(3) == 0 {
			m.Subnet = sp.subnet(uint32(i))
		}
		in.Members = append(in.Members, m)
	}
	for d := range r.IntN(4) {
		a := sp.subnet(sp.slots - 1 - uint32(d)).Addr().Next()
		dev := AccessPeer{Name: fmt.Sprintf("dev%d", d), PublicKey: key(byte(200 + d)), Address: a}
		if d == 2 && in.Members[0].Endpoints[0].Reachable {
			dev.Via = in.Members[0].NodeID
		}
		in.Access = append(in.Access, dev)
	}
	return in
}

// viewCases are the random networks of TestViewsGolden: seeds and sizes.
var viewCases = []struct {
	seed uint64
	n    int
}{
	{1, 10}, {2, 10}, {3, 25}, {4, 50}, {5, 100}, {6, 100}, {7, 250}, {8, 500},
	{9, 1000}, {11, 2000},
}

// viewsDigest hashes what the planner answers for in: the relays, the views of up to
// 60 members spread over the network (all of them up to 60 members) and every device's
// view; or the error.
func viewsDigest(in Input) string {
	p, err := New(in)
	if err != nil {
		return "error " + err.Error()
	}
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(p.Relays())
	step := max(1, len(in.Members)/60)
	for i := 0; i < len(in.Members); i += step {
		mp, err := p.Member(in.Members[i].NodeID)
		if err != nil {
			return "member error " + err.Error()
		}
		_ = enc.Encode(mp)
	}
	for _, d := range in.Access {
		dp, err := p.Device(d.Name)
		if err != nil {
			return "device error " + err.Error()
		}
		_ = enc.Encode(dp)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestViewsGolden keeps the planner's answers identical to those of the planner before
// the fast validation path and the shipped home relays (testdata/views.golden was
// written by that code, with -update): random networks of 10 to 2,000 members with
// relay groups, LAN siblings, carrier-grade NAT neighbours and access devices.
func TestViewsGolden(t *testing.T) {
	var got strings.Builder
	for _, c := range viewCases {
		in := bigInput(rand.New(rand.NewPCG(c.seed, 99)), c.n)
		fmt.Fprintf(&got, "%d %d %s\n", c.seed, c.n, viewsDigest(in))
	}
	const file = "testdata/views.golden"
	if *updateGolden {
		if err := os.WriteFile(file, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("views changed:\ngot\n%swant\n%s", got.String(), want)
	}
}

// withHomes returns in with every member's home relays as p (planned from in) assigns
// them, as the registry ships them.
func withHomes(p *Planner, in Input) Input {
	out := in
	out.Members = append([]Member(nil), in.Members...)
	for i := range out.Members {
		out.Members[i].Homes = p.Homes(out.Members[i].NodeID)
	}
	out.HomesFor = len(out.Members)
	return out
}

// TestShippedHomes: a member planning with the home relays the registry computed for
// the same members gets exactly the view it computes alone, on the networks of
// TestViewsGolden (which cover relay groups, LAN siblings and access devices: counted).
func TestShippedHomes(t *testing.T) {
	var groups, sameLAN, access int
	for _, c := range viewCases {
		in := bigInput(rand.New(rand.NewPCG(c.seed, 99)), c.n)
		p, err := New(in)
		if err != nil {
			continue
		}
		shipped := withHomes(p, in)
		q, err := New(shipped)
		if err != nil {
			t.Fatalf("seed %d: shipped homes rejected: %v", c.seed, err)
		}
		if !q.shipped {
			t.Fatalf("seed %d: shipped homes not used", c.seed)
		}
		if a, b := viewsDigest(in), viewsDigest(shipped); a != b {
			t.Fatalf("seed %d, %d members: views differ with shipped homes", c.seed, c.n)
		}
		if c.n <= 250 { // every view, field by field
			a, b := p.Plan(), q.Plan()
			if d := cmpDiff(a, b); d != "" {
				t.Fatalf("seed %d: plans differ:\n%s", c.seed, d)
			}
			for _, mp := range a.Members {
				groups += len(mp.RelayGroups)
				for _, pe := range mp.Peers {
					sameLAN += b2i(pe.Path == PathSameLAN)
					access += b2i(pe.Path == PathAccess)
				}
			}
		}
	}
	if groups == 0 || sameLAN == 0 || access == 0 {
		t.Fatalf("the random networks miss a case: %d relay groups, %d same-LAN peers, %d access peers", groups, sameLAN, access)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestShippedHomesChecked: home relays that do not match the facts are rejected with
// an error naming the member's field; homes computed for other members are ignored.
func TestShippedHomesChecked(t *testing.T) {
	in := bigInput(rand.New(rand.NewPCG(3, 99)), 100)
	p, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	good := withHomes(p, in)
	relayed, hidden, direct := -1, -1, -1 // two hidden relayed members, one not relayed
	for i, m := range good.Members {
		switch {
		case len(m.Homes) == 2 && !m.Endpoints[0].Reachable && relayed < 0:
			relayed = i
		case len(m.Homes) == 2 && !m.Endpoints[0].Reachable && hidden < 0:
			hidden = i
		case len(m.Homes) == 0 && direct < 0:
			direct = i
		}
	}
	if relayed < 0 || hidden < 0 || direct < 0 {
		t.Fatal("network without relayed and direct members")
	}
	rh := good.Members[relayed].Homes
	tests := []struct {
		name, want string
		edit       func(in *Input)
	}{
		{"relayed without homes", fmt.Sprintf("members[%d].homes: 0 home relays", relayed), func(in *Input) { in.Members[relayed].Homes = nil }},
		{"homes on a direct member", fmt.Sprintf("members[%d].homes: 2 home relays", direct), func(in *Input) { in.Members[direct].Homes = rh }},
		{"unknown relay", fmt.Sprintf("members[%d].homes[1]: \"nope\" is not a relay candidate", relayed), func(in *Input) { in.Members[relayed].Homes = []string{rh[0], "nope"} }},
		{"hidden relay", fmt.Sprintf("members[%d].homes[0]: %q is not a relay candidate", relayed, good.Members[hidden].NodeID), func(in *Input) {
			in.Members[relayed].Homes = []string{good.Members[hidden].NodeID, rh[1]}
		}},
		{"same twice", fmt.Sprintf("members[%d].homes: primary and second home relay are both", relayed), func(in *Input) { in.Members[relayed].Homes = []string{rh[0], rh[0]} }},
		{"one relay carries all", "more than its share", func(in *Input) {
			for i := range in.Members {
				if len(in.Members[i].Homes) == 2 && in.Members[i].Homes[0] != rh[0] {
					in.Members[i].Homes = []string{rh[0], in.Members[i].Homes[0]}
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := good
			bad.Members = append([]Member(nil), good.Members...)
			tt.edit(&bad)
			_, err := New(bad)
			if err == nil || !errorsIsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalid with %q", err, tt.want)
			}
			bad.HomesFor = len(bad.Members) + 1 // computed for other members: ignored
			q, err := New(bad)
			if err != nil || q.shipped {
				t.Fatalf("homes for other members: err %v, used %t", err, q != nil && q.shipped)
			}
			if viewsDigest(bad) != viewsDigest(in) {
				t.Fatal("ignored homes changed the views")
			}
		})
	}
}

func errorsIsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

func cmpDiff(a, b Plan) string {
	if reflect.DeepEqual(a, b) {
		return ""
	}
	return cmp.Diff(a, b, cmpOpts...)
}

// TestFromGridHomes: the registry's home relays and their member count pass through
// the conversion, and New uses them.
func TestFromGridHomes(t *testing.T) {
	dn := gridLab(t)
	self := Self{NodeID: 2, PublicKey: dn.Peers[1].NR.PublicKey, ListenPort: 3001}
	in, err := FromGrid(dn, self)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range dn.Peers {
		for _, id := range p.Homes(fmt.Sprint(dn.Peers[i].NodeID)) {
			var h int64
			fmt.Sscan(id, &h)
			dn.Peers[i].Homes = append(dn.Peers[i].Homes, h)
		}
	}
	dn.HomesFor = len(in.Members)
	shipped, err := FromGrid(dn, self)
	if err != nil {
		t.Fatal(err)
	}
	q, err := New(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if shipped.HomesFor != len(in.Members) || !q.shipped {
		t.Fatalf("homes_for %d, used %t", shipped.HomesFor, q.shipped)
	}
	if d := cmpDiff(p.Plan(), q.Plan()); d != "" {
		t.Fatal(d)
	}
}
