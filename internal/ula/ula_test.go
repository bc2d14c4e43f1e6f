package ula

import (
	"net/netip"
	"testing"
)

func TestTwinShape(t *testing.T) {
	n48 := Net48("net1")
	if n48.Bits() != 48 || n48.Addr().As16()[0] != 0xfd {
		t.Fatalf("Net48 = %v, want an fd00::/8 /48", n48)
	}
	if Net48("net1") != n48 || Net48("net2") == n48 {
		t.Fatal("Net48 must be a function of the id alone, and differ between ids")
	}
	for _, tc := range []struct {
		v4   string
		bits int
		sub  string // the /48's suffix the twin must start with
	}{
		{"10.1.2.0/24", 64, ":102::/64"},
		{"10.1.0.0/16", 56, ":100::/56"},
		{"10.1.2.3/32", 128, ":102::3/128"},
		{"10.0.0.0/8", 48, "::/48"},
		{"10.1.2.128/25", 121, ":102::80/121"},
	} {
		tw := Twin("net1", netip.MustParsePrefix(tc.v4))
		if tw.Bits() != tc.bits || !n48.Contains(tw.Addr()) {
			t.Errorf("Twin(%s) = %v, want a /%d inside %v", tc.v4, tw, tc.bits, n48)
		}
		if got := tw.String(); got[len(got)-len(tc.sub):] != tc.sub {
			t.Errorf("Twin(%s) = %s, want suffix %s", tc.v4, got, tc.sub)
		}
	}
	// Containment: the twin of an address lies in the twin of its subnet.
	sub := netip.MustParsePrefix("10.1.2.0/24")
	if a := Addr("net1", netip.MustParseAddr("10.1.2.77")); !Twin("net1", sub).Contains(a) {
		t.Fatalf("Addr twin %v not inside subnet twin %v", a, Twin("net1", sub))
	}
}

// Expected values computed by hand from `echo -n ID | sha256sum`:
// net1 → 6c270ef2f2…, abc → ba7816bf8f…
func TestTwinValues(t *testing.T) {
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
		got := Twin(tt.id, netip.MustParsePrefix(tt.v4))
		if got.String() != tt.want {
			t.Errorf("Twin(%q, %s) = %s, want %s", tt.id, tt.v4, got, tt.want)
		}
	}
	if got := Addr("net1", netip.MustParseAddr("10.1.2.1")); got.String() != "fd6c:270e:f2f2:102::1" {
		t.Errorf("ULAAddr = %s", got)
	}
}

// The twin keeps containment: an address inside a v4 prefix has its twin inside the
// prefix's twin, and disjoint /24s of one range get disjoint /64s.
func TestTwinContainment(t *testing.T) {
	r := netip.MustParsePrefix("10.20.0.0/16")
	seen := map[netip.Prefix]bool{}
	for i := 0; i < 256; i++ {
		sub := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 20, byte(i), 0}), 24)
		tw := Twin("x", sub)
		if seen[tw] {
			t.Fatalf("twin %s of %s seen twice", tw, sub)
		}
		seen[tw] = true
		if !Twin("x", r).Contains(tw.Addr()) {
			t.Fatalf("twin %s of %s not inside range twin %s", tw, sub, Twin("x", r))
		}
		host := netip.AddrFrom4([4]byte{10, 20, byte(i), 77})
		if !tw.Contains(Addr("x", host)) {
			t.Fatalf("twin of %s not inside %s", host, tw)
		}
	}
}
