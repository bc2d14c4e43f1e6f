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

func TestParsePublicConfig(t *testing.T) {
	for _, tt := range []struct {
		args [5]string
		want string // "" ok, else the error's start
	}{
		{[5]string{"203.0.113.10/24", "203.0.113.1", "", "", ""}, ""},
		{[5]string{"", "", "2001:db8:100::10/64", "fe80::1", "farm1.example.com"}, ""},
		{[5]string{"", "", "", "", ""}, ""}, // syntax only: Validate refuses it
		{[5]string{"203.0.113.10", "203.0.113.1", "", "", ""}, `ipv4 "203.0.113.10": `},
		{[5]string{"203.0.113.10/24", "gw", "", "", ""}, `gw4 "gw": `},
		{[5]string{"", "", "2001:db8::1/64x", "", ""}, `ipv6 "2001:db8::1/64x": `},
		{[5]string{"", "", "", "fe80::1/64", ""}, `gw6 "fe80::1/64": `},
		{[5]string{"x", "y", "", "", ""}, `ipv4 "x": `}, // the first bad field
	} {
		c, err := ParsePublicConfig(tt.args[0], tt.args[1], tt.args[2], tt.args[3], tt.args[4])
		if (tt.want == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), tt.want)) {
			t.Errorf("%q: error %v, want %q", tt.args, err, tt.want)
			continue
		}
		if err == nil && (c.Domain != tt.args[4] || fmtOr(c.IPv4) != tt.args[0] || fmtOr(c.GW4) != tt.args[1] || fmtOr(c.IPv6) != tt.args[2] || fmtOr(c.GW6) != tt.args[3]) {
			t.Errorf("%q: parsed %+v", tt.args, c)
		}
	}
}

func fmtOr(v interface {
	IsValid() bool
	String() string
}) string {
	if !v.IsValid() {
		return ""
	}
	return v.String()
}
