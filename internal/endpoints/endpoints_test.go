package endpoints

import (
	"net/netip"
	"reflect"
	"testing"
)

func a(p string, where Where) Addr {
	return Addr{Prefix: netip.MustParsePrefix(p), Iface: string(where), Where: where}
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name      string
		in        []Addr
		hidden    bool
		endpoints []string
		refused   map[string]string
		outgoing  []string
	}{
		{name: "nothing", hidden: true},
		{name: "farm1 two NICs: SLAAC on public segment", in: []Addr{
			a("10.201.0.101/24", Management), a("2001:db8:100::5/64", PublicSegment), a("fe80::1/64", PublicSegment),
		}, endpoints: []string{"2001:db8:100::5"}, refused: map[string]string{
			"10.201.0.101": "private IPv4 (RFC 1918): behind NAT", "fe80::1": "link-local"}},
		{name: "farm1 with public config", in: []Addr{
			a("203.0.113.10/24", PublicConfig), a("2001:db8:100::10/64", PublicConfig),
		}, endpoints: []string{"2001:db8:100::10", "203.0.113.10"}},
		{name: "farm3 OOB only", in: []Addr{a("10.201.0.103/24", Management)}, hidden: true,
			refused: map[string]string{"10.201.0.103": "private IPv4 (RFC 1918): behind NAT"}},
		{name: "home6: global IPv6 on home LAN is firewalled", in: []Addr{
			a("172.29.6.100/24", Management), a("2001:db8:600::7/64", Management),
		}, hidden: true, outgoing: []string{"2001:db8:600::7"}, refused: map[string]string{
			"172.29.6.100":    "private IPv4 (RFC 1918): behind NAT",
			"2001:db8:600::7": "global IPv6 on the management/home LAN: inbound may be firewalled (plug the public segment or set a public config)"}},
		{name: "public IPv4 on zos", in: []Addr{a("198.51.100.77/24", Management)}, endpoints: []string{"198.51.100.77"}},
		{name: "CGNAT and ULA and loopback", in: []Addr{
			a("100.72.0.1/16", Management), a("fd12::1/64", PublicSegment), a("127.0.0.1/8", Management), a("::1/128", Management),
		}, hidden: true, refused: map[string]string{
			"100.72.0.1": "shared address space (100.64.0.0/10): carrier NAT or node-internal",
			"fd12::1":    "unique local IPv6 (fc00::/7)", "127.0.0.1": "loopback", "::1": "loopback"}},
		{name: "tentative and deprecated", in: []Addr{
			{Prefix: netip.MustParsePrefix("2001:db8:100::6/64"), Where: PublicSegment, Tentative: true},
			{Prefix: netip.MustParsePrefix("2001:db8:100::7/64"), Where: PublicSegment, Deprecated: true},
		}, hidden: true, refused: map[string]string{
			"2001:db8:100::6": "tentative: duplicate address detection still running",
			"2001:db8:100::7": "deprecated: preferred lifetime expired"}},
		{name: "duplicates counted once", in: []Addr{
			a("2001:db8:100::5/64", PublicSegment), a("2001:db8:100::5/64", PublicSegment),
		}, endpoints: []string{"2001:db8:100::5"}},
		{name: "home6: the firewalled global IPv6 can still dial out", in: []Addr{
			a("172.29.6.100/24", Management), a("2001:db8:600::7/64", Management), a("fd00::7/64", Management),
		}, hidden: true, outgoing: []string{"2001:db8:600::7"}, refused: map[string]string{
			"172.29.6.100":    "private IPv4 (RFC 1918): behind NAT",
			"fd00::7":         "unique local IPv6 (fc00::/7)",
			"2001:db8:600::7": "global IPv6 on the management/home LAN: inbound may be firewalled (plug the public segment or set a public config)"}},
		{name: "unknown role", in: []Addr{a("198.51.100.9/24", "weird")}, hidden: true,
			refused: map[string]string{"198.51.100.9": "unknown interface role weird"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compute(tt.in)
			if r.Hidden != tt.hidden {
				t.Errorf("hidden = %v, want %v", r.Hidden, tt.hidden)
			}
			var got []string
			for _, e := range r.Endpoints {
				got = append(got, e.Addr.String())
			}
			if !reflect.DeepEqual(got, tt.endpoints) {
				t.Errorf("endpoints = %v, want %v", got, tt.endpoints)
			}
			ref := map[string]string{}
			var out []string
			for _, x := range r.Refused {
				ref[x.Addr.String()] = x.Reason
				if x.Outgoing {
					out = append(out, x.Addr.String())
				}
			}
			if !reflect.DeepEqual(out, tt.outgoing) {
				t.Errorf("outgoing = %v, want %v", out, tt.outgoing)
			}
			if tt.refused == nil {
				tt.refused = map[string]string{}
			}
			if !reflect.DeepEqual(ref, tt.refused) {
				t.Errorf("refused = %v, want %v", ref, tt.refused)
			}
		})
	}
}

func TestComputeOrderIndependent(t *testing.T) {
	in := []Addr{a("203.0.113.10/24", PublicConfig), a("2001:db8:100::10/64", PublicConfig), a("10.0.0.1/8", Management)}
	r1 := Compute(in)
	r2 := Compute([]Addr{in[2], in[1], in[0]})
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("order changes the result:\n%+v\n%+v", r1, r2)
	}
}
