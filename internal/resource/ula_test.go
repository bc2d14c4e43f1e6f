package resource

import (
	"net/netip"
	"testing"
)

// Expected values computed by hand from `echo -n ID | sha256sum`:
// net1 → 6c270ef2f2…, abc → ba7816bf8f…
func TestULATwin(t *testing.T) {
	tests := []struct {
		id, v4, want string
	}{
		{"net1", "10.1.2.0/24", "fd6c:270e:f2f2:102::/64"},
		{"net1", "10.1.0.0/16", "fd6c:270e:f2f2:100::/56"},
		{"net1", "10.0.0.0/8", "fd6c:270e:f2f2::/48"},
		{"net1", "10.255.7.0/24", "fd6c:270e:f2f2:ff07::/64"},
		{"net1", "10.1.2.64/26", "fd6c:270e:f2f2:102::40/122"},
		{"net1", "10.1.2.9/32", "fd6c:270e:f2f2:102::9/128"},
		{"net1", "0.0.0.0/0", "fd6c:270e:f2f2::/48"},
		{"abc", "172.16.3.0/24", "fdba:7816:bf8f:1003::/64"},
		{"abc", "192.168.0.0/20", "fdba:7816:bf8f:a800::/60"},
	}
	for _, tt := range tests {
		got := ULATwin(tt.id, netip.MustParsePrefix(tt.v4))
		if got.String() != tt.want {
			t.Errorf("ULATwin(%q, %s) = %s, want %s", tt.id, tt.v4, got, tt.want)
		}
	}
	if got := ULASubnet("net1", netip.MustParsePrefix("10.1.2.0/24")); got.String() != "fd6c:270e:f2f2:102::/64" {
		t.Errorf("ULASubnet = %s", got)
	}
	if got := ULAAddr("net1", netip.MustParseAddr("10.1.2.1")); got.String() != "fd6c:270e:f2f2:102::1" {
		t.Errorf("ULAAddr = %s", got)
	}
}

// The twin keeps containment: an address inside a v4 prefix has its twin inside the
// prefix's twin, and disjoint /24s of one range get disjoint /64s.
func TestULATwinContainment(t *testing.T) {
	r := netip.MustParsePrefix("10.20.0.0/16")
	seen := map[netip.Prefix]bool{}
	for i := 0; i < 256; i++ {
		sub := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 20, byte(i), 0}), 24)
		tw := ULATwin("x", sub)
		if seen[tw] {
			t.Fatalf("twin %s of %s seen twice", tw, sub)
		}
		seen[tw] = true
		if !ULATwin("x", r).Contains(tw.Addr()) {
			t.Fatalf("twin %s of %s not inside range twin %s", tw, sub, ULATwin("x", r))
		}
		host := netip.AddrFrom4([4]byte{10, 20, byte(i), 77})
		if !tw.Contains(ULAAddr("x", host)) {
			t.Fatalf("twin of %s not inside %s", host, tw)
		}
	}
}
