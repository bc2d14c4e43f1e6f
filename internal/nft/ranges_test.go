package nft

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestRanges(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tt := range []struct {
		name   string
		in     []netip.Prefix
		v4, v6 string
	}{
		{"empty", nil, "[]", "[]"},
		{"inside is absorbed", []netip.Prefix{p("10.201.0.0/24"), p("10.0.0.0/8")}, "[10.0.0.0/8]", "[]"},
		{"host bits masked", []netip.Prefix{p("10.201.0.7/24")}, "[10.201.0.0/24]", "[]"},
		{"adjacent merge into a prefix", []netip.Prefix{p("224.0.0.0/4"), p("240.0.0.0/4")}, "[224.0.0.0/3]", "[]"},
		{"adjacent merge into a range", []netip.Prefix{p("10.0.0.1/32"), p("10.0.0.2/31")}, "[10.0.0.1-10.0.0.3]", "[]"},
		{"sorted, families apart", []netip.Prefix{p("fe80::/10"), p("192.168.0.0/16"), p("::1/128"), p("10.0.0.0/8")},
			"[10.0.0.0/8 192.168.0.0/16]", "[::1 fe80::/10]"},
		{"mapped stays IPv6", []netip.Prefix{p("::ffff:10.1.2.3/128")}, "[]", "[::ffff:10.1.2.3]"},
		{"top of the space", []netip.Prefix{p("255.255.255.255/32"), p("240.0.0.0/4")}, "[240.0.0.0/4]", "[]"},
		{"invalid skipped", []netip.Prefix{{}, p("2001:db8:600::/64"), p("2001:db8:600::5/128")}, "[]", "[2001:db8:600::/64]"},
		{"not adjacent", []netip.Prefix{p("10.0.0.0/32"), p("10.0.0.2/32")}, "[10.0.0.0 10.0.0.2]", "[]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v4, v6 := Ranges(tt.in)
			if got := fmt.Sprint(v4); got != tt.v4 {
				t.Errorf("v4 = %s, want %s", got, tt.v4)
			}
			if got := fmt.Sprint(v6); got != tt.v6 {
				t.Errorf("v6 = %s, want %s", got, tt.v6)
			}
		})
	}
}
