package plan

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
)

// benchInput is a network of n members shaped like a grid network: a tenth public
// (at most 50; half dual-stack, half IPv4-only), the rest hidden behind home NATs with
// four members per LAN, in 10.0.0.0/8 with /24 subnets. A full mesh of 10,000 public
// members would be 10^8 peer entries whatever the planner, so public members are capped.
func benchInput(n int) Input {
	in := Input{Network: Network{ID: "bench", Range: netip.MustParsePrefix("10.0.0.0/8")}}
	pubs := min(max(n/10, 2), 50)
	for i := range n {
		var k [32]byte
		binary.BigEndian.PutUint32(k[:], uint32(i+1))
		m := Member{NodeID: fmt.Sprintf("node%05d", i), PublicKey: base64.StdEncoding.EncodeToString(k[:]), ListenPort: 51820}
		v4 := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		if i < pubs {
			m.Endpoints = []Endpoint{{Addr: v4, Reachable: true}}
			if i%2 == 0 {
				m.Endpoints = append(m.Endpoints, Endpoint{Addr: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), Reachable: true})
			}
		} else {
			lan := netip.AddrFrom4([4]byte{192, 168, 1, byte(i%4 + 1)})
			m.Endpoints = []Endpoint{{Addr: lan}}
			m.LAN = LAN{PublicSource: netip.AddrFrom4([4]byte{203, byte(i >> 16), byte(i >> 10), byte(i >> 2)}), Addresses: []netip.Prefix{netip.PrefixFrom(lan, 24)}}
		}
		in.Members = append(in.Members, m)
	}
	return in
}

var sizes = []int{10, 100, 1000, 10000}

// shippedInput is benchInput(n) as a node gets it from the registry: with the subnets
// the registry assigned and the home relays it ships (Member.Homes).
func shippedInput(b *testing.B, n int) Input {
	in := benchInput(n)
	p, err := New(in)
	if err != nil {
		b.Fatal(err)
	}
	for i := range in.Members {
		m := &in.Members[i]
		j, _ := p.find(m.NodeID)
		m.Subnet, m.Homes = p.nodes[j].subnet, p.Homes(m.NodeID)
	}
	in.HomesFor = n
	return in
}

// BenchmarkMemberView is what provisiond does on a hidden member on every change:
// validate the whole network (and the home relays the registry shipped) and compute
// its own view.
func BenchmarkMemberView(b *testing.B) {
	for _, n := range sizes {
		in := shippedInput(b, n)
		id := in.Members[n-1].NodeID
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			for b.Loop() {
				p, err := New(in)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Member(id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemberViewLocal is BenchmarkMemberView when the member assigns the home
// relays itself (no shipped homes: an older registry, or the member's own first report
// not yet in the registry's view).
func BenchmarkMemberViewLocal(b *testing.B) {
	for _, n := range sizes {
		in := benchInput(n)
		id := in.Members[n-1].NodeID
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			for b.Loop() {
				p, err := New(in)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Member(id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublicMemberView: a public member's view lists every member, so it is O(n).
func BenchmarkPublicMemberView(b *testing.B) {
	for _, n := range sizes {
		in := benchInput(n)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			for b.Loop() {
				p, err := New(in)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Member(in.Members[0].NodeID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRegistryHomes is the registry's share, once per network revision: validate
// the network and assign every member's home relays (Planner.Homes for each member).
func BenchmarkRegistryHomes(b *testing.B) {
	for _, n := range sizes {
		in := benchInput(n)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			for b.Loop() {
				p, err := New(in)
				if err != nil {
					b.Fatal(err)
				}
				for i := range in.Members {
					p.Homes(in.Members[i].NodeID)
				}
			}
		})
	}
}

func BenchmarkWholeNetwork(b *testing.B) {
	for _, n := range sizes {
		in := benchInput(n)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Compute(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
