package nodeapi

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

const (
	keyA = "YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
	keyB = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func goodSpec() NRSpec {
	return NRSpec{
		NetworkID: "net1", IPRange: pfx("10.1.0.0/16"), Subnet: pfx("10.1.1.0/24"),
		Peers: []Peer{
			{PublicKey: keyA, Endpoint: "192.0.2.1:3000", AllowedIPs: []netip.Prefix{pfx("10.1.2.0/24")}},
			{PublicKey: keyB, AllowedIPs: []netip.Prefix{pfx("10.1.3.0/24"), pfx("10.1.4.5/32")}, PersistentKeepalive: 25},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(s *NRSpec)
		field string // "" = valid
	}{
		{"good", func(s *NRSpec) {}, ""},
		{"no peers", func(s *NRSpec) { s.Peers = nil }, ""},
		{"v6 endpoint", func(s *NRSpec) { s.Peers[0].Endpoint = "[2001:db8::1]:51820" }, ""},
		{"v6 allowed", func(s *NRSpec) { s.Peers[0].AllowedIPs = append(s.Peers[0].AllowedIPs, pfx("2001:db8:1::/64")) }, ""},
		{"id too long", func(s *NRSpec) { s.NetworkID = "abcdefghijkl" }, "network_id"},
		{"id uppercase", func(s *NRSpec) { s.NetworkID = "Net1" }, "network_id"},
		{"id empty", func(s *NRSpec) { s.NetworkID = "" }, "network_id"},
		{"id dash", func(s *NRSpec) { s.NetworkID = "a-b" }, "network_id"},
		{"range missing", func(s *NRSpec) { s.IPRange = netip.Prefix{} }, "ip_range"},
		{"range v6", func(s *NRSpec) { s.IPRange = pfx("2001:db8::/32") }, "ip_range"},
		{"range host bits", func(s *NRSpec) { s.IPRange = pfx("10.1.0.1/16") }, "ip_range"},
		{"range too wide", func(s *NRSpec) { s.IPRange = pfx("8.0.0.0/7") }, "ip_range"},
		{"subnet outside", func(s *NRSpec) { s.Subnet = pfx("10.2.1.0/24") }, "subnet"},
		{"subnet wider", func(s *NRSpec) { s.Subnet = pfx("10.0.0.0/8") }, "subnet"},
		{"subnet host bits", func(s *NRSpec) { s.Subnet = pfx("10.1.1.1/24") }, "subnet"},
		{"subnet /31", func(s *NRSpec) { s.Subnet = pfx("10.1.1.0/31") }, "subnet"},
		{"bad key", func(s *NRSpec) { s.Peers[1].PublicKey = "nope" }, "peers[1].public_key"},
		{"short key", func(s *NRSpec) { s.Peers[0].PublicKey = "AAAA" }, "peers[0].public_key"},
		{"dup key", func(s *NRSpec) { s.Peers[1].PublicKey = keyA }, "peers[1].public_key"},
		{"endpoint no port", func(s *NRSpec) { s.Peers[0].Endpoint = "192.0.2.1" }, "peers[0].endpoint"},
		{"endpoint port 0", func(s *NRSpec) { s.Peers[0].Endpoint = "192.0.2.1:0" }, "peers[0].endpoint"},
		{"endpoint name", func(s *NRSpec) { s.Peers[0].Endpoint = "example.com:1" }, "peers[0].endpoint"},
		{"endpoint unspecified", func(s *NRSpec) { s.Peers[0].Endpoint = "0.0.0.0:1" }, "peers[0].endpoint"},
		{"keepalive negative", func(s *NRSpec) { s.Peers[0].PersistentKeepalive = -1 }, "peers[0].persistent_keepalive"},
		{"no allowed", func(s *NRSpec) { s.Peers[0].AllowedIPs = nil }, "peers[0].allowed_ips"},
		{"no allowed, direct path tried", func(s *NRSpec) { s.Peers[0].AllowedIPs, s.Peers[0].PersistentKeepalive = nil, 1 }, ""},
		{"no allowed, no endpoint", func(s *NRSpec) { s.Peers[1].AllowedIPs, s.Peers[1].PersistentKeepalive = nil, 1 }, "peers[1].allowed_ips"},
		{"allowed outside", func(s *NRSpec) { s.Peers[0].AllowedIPs[0] = pfx("10.2.0.0/24") }, "peers[0].allowed_ips[0]"},
		{"allowed everything", func(s *NRSpec) { s.Peers[0].AllowedIPs[0] = pfx("0.0.0.0/0") }, "peers[0].allowed_ips[0]"},
		{"allowed host bits", func(s *NRSpec) { s.Peers[0].AllowedIPs[0] = pfx("10.1.2.1/24") }, "peers[0].allowed_ips[0]"},
		{"allowed own subnet", func(s *NRSpec) { s.Peers[0].AllowedIPs[0] = pfx("10.1.1.128/25") }, "peers[0].allowed_ips[0]"},
		{"allowed own v6", func(s *NRSpec) { s.Peers[0].AllowedIPs[0] = s.Subnet6() }, "peers[0].allowed_ips[0]"},
		{"overlap between peers", func(s *NRSpec) { s.Peers[1].AllowedIPs[1] = pfx("10.1.2.0/25") }, "peers[1].allowed_ips[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := goodSpec()
			tt.mod(&s)
			err := s.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid naming %s, got %v", tt.field, err)
			}
			if !strings.HasPrefix(err.Error(), "invalid network resource: "+tt.field+": ") {
				t.Fatalf("error %q does not name field %s", err, tt.field)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	s := goodSpec()
	var got []string
	for _, r := range s.Routes() {
		got = append(got, r.String())
	}
	want := "10.1.2.0/24 fd6c:270e:f2f2:102::/64 10.1.3.0/24 fd6c:270e:f2f2:103::/64 10.1.4.5/32 fd6c:270e:f2f2:104::5/128"
	if strings.Join(got, " ") != want {
		t.Fatalf("Routes = %v, want %s", got, want)
	}
	if g := s.Gateway().String(); g != "10.1.1.1" {
		t.Fatalf("Gateway = %s", g)
	}
}
