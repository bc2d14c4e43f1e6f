package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

func TestRemainder(t *testing.T) {
	tests := []struct {
		within string
		ex     []string
		want   []string
	}{
		{"10.0.0.0/22", nil, []string{"10.0.0.0/22"}},
		{"10.0.0.0/22", []string{"10.0.0.0/22"}, nil},
		{"10.0.0.0/22", []string{"10.0.0.0/8"}, nil},
		{"10.0.0.0/22", []string{"10.0.1.0/24"}, []string{"10.0.0.0/24", "10.0.2.0/23"}},
		{"10.0.0.0/22", []string{"10.0.3.0/24", "10.0.0.0/24"}, []string{"10.0.1.0/24", "10.0.2.0/24"}},
		{"10.0.0.0/24", []string{"10.0.0.5/32"}, []string{"10.0.0.0/30", "10.0.0.4/32", "10.0.0.6/31", "10.0.0.8/29", "10.0.0.16/28", "10.0.0.32/27", "10.0.0.64/26", "10.0.0.128/25"}},
		{"10.0.0.0/22", []string{"192.168.0.0/24", "fd00::/64"}, []string{"10.0.0.0/22"}},
		{"fd00::/62", []string{"fd00:0:0:1::/64"}, []string{"fd00::/64", "fd00:0:0:2::/63"}},
	}
	for _, tt := range tests {
		got := Remainder(pfx(tt.within), pfxs(tt.ex...))
		if fmt.Sprint(got) != fmt.Sprint(pfxs(tt.want...)) {
			t.Errorf("Remainder(%s, %v) = %v, want %v", tt.within, tt.ex, got, tt.want)
		}
	}
}

// Remainder plus the exclusions tile the prefix exactly: checked address by address.
func TestRemainderTiles(t *testing.T) {
	within := pfx("10.9.0.0/23")
	ex := pfxs("10.9.0.0/26", "10.9.0.77/32", "10.9.1.128/25", "10.9.1.16/28")
	rem := Remainder(within, ex)
	for a := within.Addr(); within.Contains(a); a = a.Next() {
		n := 0
		for _, p := range append(slices.Clone(rem), ex...) {
			if p.Contains(a) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%s is covered %d times", a, n)
		}
	}
}

func TestSubnetAssignment(t *testing.T) {
	in := Input{Network: Network{ID: "n", Range: pfx("10.7.0.0/22")}}
	for i := range 4 {
		in.Members = append(in.Members, Member{NodeID: fmt.Sprintf("m%d", i), PublicKey: key(byte(i + 1)), ListenPort: 1,
			Endpoints: []Endpoint{pub(fmt.Sprintf("198.51.100.%d", i+1))}})
	}
	full, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Prefix]bool{}
	for _, m := range full.Members {
		if !pfx("10.7.0.0/22").Contains(m.Subnet.Addr()) || m.Subnet.Bits() != 24 || seen[m.Subnet] {
			t.Fatalf("bad or duplicate subnet %s for %s", m.Subnet, m.NodeID)
		}
		seen[m.Subnet] = true
	}
	// Removing a member and planning again keeps everyone else's subnet, as long as no
	// one had to move off its hash slot; in a roomy range this is the rule.
	in.Network.Range = pfx("10.7.0.0/16")
	before, _ := Compute(in)
	in.Members = in.Members[1:]
	after, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range after.Members {
		if m.Subnet != before.Members[i+1].Subnet {
			t.Errorf("%s moved from %s to %s when m0 left", m.NodeID, before.Members[i+1].Subnet, m.Subnet)
		}
	}
	// A full range reports what to do.
	in.Network.Range = pfx("10.7.0.0/23")
	if _, err := Compute(in); err == nil || err.Error() != "impossible network: range 10.7.0.0/23 holds 2 subnet(s) of /24, but 3 member(s) and device slot(s) need one: use a range of /22 or larger, or a smaller subnet per member" {
		t.Fatalf("err = %v", err)
	}
}
