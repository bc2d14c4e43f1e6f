package nodeapi

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestPublicConfigValidate(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	ok4 := PublicConfig{IPv4: p("203.0.113.10/24"), GW4: a("203.0.113.1")}
	tests := []struct {
		name string
		c    PublicConfig
		want string // "" = valid; else the field named in the error
	}{
		{"ipv4 only", ok4, ""},
		{"ipv6 only", PublicConfig{IPv6: p("2001:db8:100::10/64"), GW6: a("2001:db8:100::1")}, ""},
		{"ipv6 link-local gateway", PublicConfig{IPv6: p("2001:db8:100::10/64"), GW6: a("fe80::1")}, ""},
		{"both and domain", PublicConfig{IPv4: p("203.0.113.10/24"), GW4: a("203.0.113.1"), IPv6: p("2001:db8:100::10/64"), GW6: a("2001:db8:100::1"), Domain: "farm1.example.com"}, ""},
		{"empty", PublicConfig{}, "ipv4"},
		{"private ipv4", PublicConfig{IPv4: p("10.0.0.5/24"), GW4: a("10.0.0.1")}, "ipv4"},
		{"ipv6 in ipv4 field", PublicConfig{IPv4: p("2001:db8::5/64"), GW4: a("203.0.113.1")}, "ipv4"},
		{"network address", PublicConfig{IPv4: p("203.0.113.0/24"), GW4: a("203.0.113.1")}, "ipv4"},
		{"prefix too long", PublicConfig{IPv4: p("203.0.113.10/32"), GW4: a("203.0.113.1")}, "ipv4"},
		{"missing gw4", PublicConfig{IPv4: p("203.0.113.10/24")}, "gw4"},
		{"gw4 outside", PublicConfig{IPv4: p("203.0.113.10/24"), GW4: a("198.51.100.1")}, "gw4"},
		{"gw4 is self", PublicConfig{IPv4: p("203.0.113.10/24"), GW4: a("203.0.113.10")}, "gw4"},
		{"gw4 without ipv4", PublicConfig{IPv6: p("2001:db8:100::10/64"), GW6: a("2001:db8:100::1"), GW4: a("203.0.113.1")}, "gw4"},
		{"ula ipv6", PublicConfig{IPv6: p("fd00::10/64"), GW6: a("fd00::1")}, "ipv6"},
		{"gw6 v4", PublicConfig{IPv6: p("2001:db8:100::10/64"), GW6: a("203.0.113.1")}, "gw6"},
		{"named nic", PublicConfig{NIC: "eth1", IPv4: p("203.0.113.10/24"), GW4: a("203.0.113.1")}, ""},
		{"nic is ours", PublicConfig{NIC: "br-pub", IPv4: p("203.0.113.10/24"), GW4: a("203.0.113.1")}, "nic"},
		{"nic too long", PublicConfig{NIC: "a234567890123456", IPv4: p("203.0.113.10/24"), GW4: a("203.0.113.1")}, "nic"},
		{"bad domain", PublicConfig{IPv4: p("203.0.113.10/24"), GW4: a("203.0.113.1"), Domain: "Not A Name"}, "domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "invalid public config: "+tt.want+": ") {
				t.Fatalf("error %v, want ErrInvalid naming %q", err, tt.want)
			}
		})
	}
}
