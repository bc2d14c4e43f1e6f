package nodeapi

import (
	"encoding/base64"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// pairwise is the O(n²) overlap check overlapping replaces.
func pairwise(s *NRSpec) bool {
	var taken []netip.Prefix
	for _, p := range s.Peers {
		for _, a := range p.AllowedIPs {
			for _, t := range taken {
				if t.Overlaps(a) {
					return true
				}
			}
			taken = append(taken, a)
		}
	}
	return false
}

// randomPrefix is a prefix in 10.1.0.0/16 (length 16..32) or in 2001:db8::/56
// (length 56..64), so that random sets often nest, touch and repeat.
func randomPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(3) == 0 {
		a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 6: byte(r.IntN(256)), 7: byte(r.IntN(4))}
		return netip.PrefixFrom(netip.AddrFrom16(a), 56+r.IntN(9)).Masked()
	}
	a := netip.AddrFrom4([4]byte{10, 1, byte(r.IntN(16)), byte(r.IntN(256))})
	return netip.PrefixFrom(a, 16+r.IntN(17)).Masked()
}

// TestOverlappingMatchesPairwise: the sorted check agrees with the pairwise one on
// random sets of allowed IPs (IPv4 and IPv6, nested, equal and disjoint), and
// Validate names the same first overlapping entry as before.
func TestOverlappingMatchesPairwise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	found := 0
	for i := range 5000 {
		s := NRSpec{}
		for range 1 + r.IntN(6) {
			p := Peer{}
			for range 1 + r.IntN(3) {
				p.AllowedIPs = append(p.AllowedIPs, randomPrefix(r))
			}
			s.Peers = append(s.Peers, p)
		}
		want := pairwise(&s)
		if got := s.overlapping(); got != want {
			t.Fatalf("case %d: overlapping = %v, pairwise = %v for %v", i, got, want, s.Peers)
		}
		if want {
			found++
			if s.firstOverlap() == nil {
				t.Fatalf("case %d: firstOverlap found nothing in %v", i, s.Peers)
			}
		}
	}
	if found < 500 || found > 4500 {
		t.Fatalf("%d of 5000 random cases overlap: the generator does not test both outcomes", found)
	}
}

// BenchmarkValidateLarge validates a spec of 999 peers (a 1,000-member network), each
// with an IPv4 /24 and an IPv6 /64.
func BenchmarkValidateLarge(b *testing.B) {
	s := NRSpec{NetworkID: "big", IPRange: pfx("10.64.0.0/12"), Subnet: pfx("10.64.0.0/24")}
	key := [32]byte{}
	for i := 1; i < 1000; i++ {
		key[0], key[1] = byte(i), byte(i>>8)
		v4 := netip.AddrFrom4([4]byte{10, byte(64 + i>>8), byte(i), 0})
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 6: byte(i >> 8), 7: byte(i)})
		s.Peers = append(s.Peers, Peer{PublicKey: keyOf(key), AllowedIPs: []netip.Prefix{netip.PrefixFrom(v4, 24), netip.PrefixFrom(v6, 64)}})
	}
	for b.Loop() {
		if err := s.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func keyOf(k [32]byte) string { return base64.StdEncoding.EncodeToString(k[:]) }
