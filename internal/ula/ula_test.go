package ula

import (
	"net/netip"
	"testing"
)

func TestTwin(t *testing.T) {
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
