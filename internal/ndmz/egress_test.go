package ndmz

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestDenyList(t *testing.T) {
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	got := DenyList(Underlay{
		LAN:      []netip.Prefix{p("172.29.6.10/24"), p("2001:db8:600::/64"), p("2001:db8:600::/64"), p("::ffff:198.51.100.0/120")},
		Own:      []netip.Addr{a("172.29.6.10"), a("2001:db8:600::5"), a("fe80::1%zos"), a("203.0.113.10")},
		Gateways: []netip.Addr{a("172.29.6.1"), a("203.0.113.1"), a("::ffff:203.0.113.1")},
	})
	s := fmt.Sprint(got)
	for _, want := range []string{"172.29.6.0/24", "2001:db8:600::/64", "2001:db8:600::5/128", "fe80::1/128",
		"203.0.113.10/32", "203.0.113.1/32", "198.51.100.0/24", "10.0.0.0/8", "fc00::/7"} {
		if !strings.Contains(s, want) {
			t.Errorf("deny list lacks %s: %s", want, s)
		}
	}
	if strings.Count(s, "2001:db8:600::/64") != 1 || strings.Count(s, "203.0.113.1/32") != 1 {
		t.Errorf("duplicates: %s", s)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Addr().Compare(got[i].Addr()) > 0 {
			t.Fatalf("not sorted: %s", s)
		}
	}
	if n := len(DenyList(Underlay{})); n != len(Special) {
		t.Errorf("empty underlay: %d entries, want the %d special ranges", n, len(Special))
	}
}
