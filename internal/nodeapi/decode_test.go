package nodeapi

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeNamesTheField: bad bodies → messages that name the field and say why, with
// no Go internals (issue 19: `body: netip.ParsePrefix("10.9.0.0/33"): prefix length
// out of range`).
func TestDecodeNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		v          func() any
		want       string
	}{
		{"subnet", `{"network_id":"n1","ip_range":"10.9.0.0/16","subnet":"10.9.0.0/33"}`, nrv,
			`subnet: "10.9.0.0/33": prefix length out of range`},
		{"ip_range", `{"network_id":"n1","ip_range":"10.9.0.0"}`, nrv, `ip_range: "10.9.0.0": no '/'`},
		{"allowed_ips", `{"network_id":"n1","ip_range":"10.9.0.0/16","peers":[{"public_key":"k","allowed_ips":["10.9.1.0/24"]},{"public_key":"k","allowed_ips":["10.9.2.0/24","nope"]}]}`, nrv,
			`peers[1].allowed_ips[1]: "nope": no '/'`},
		{"listen_port type", `{"network_id":"n1","listen_port":"51820"}`, nrv, `listen_port: want a whole number, got a JSON string`},
		{"listen_port range", `{"network_id":"n1","listen_port":70000}`, nrv, `listen_port: want a whole number, got a JSON number 70000`},
		{"peers type", `{"network_id":"n1","peers":{}}`, nrv, `peers: want a list`},
		{"unknown field", `{"network_id":"n1","color":"red"}`, nrv, `body: unknown field "color"`},
		{"trailing", `{"network_id":"n1"} {}`, nrv, `body: trailing data`},
		{"syntax", `{"network_id":`, nrv, `body: empty or cut short`},
		{"not json", `nope`, nrv, `body: not valid JSON at byte 2`},
		{"empty", ``, nrv, `body: empty or cut short`},
		{"public ipv4", `{"ipv4":"198.51.100.7/33","gw4":"198.51.100.1"}`, pcv, `ipv4: "198.51.100.7/33": prefix length out of range`},
		{"public gw6", `{"ipv4":"198.51.100.7/24","gw6":"2001:db8::zz"}`, pcv, `gw6: "2001:db8::zz"`},
		{"workload kind type", `{"name":"w1","network_id":"n1","kind":7}`, wlv, `kind: want a string, got a JSON number`},
	} {
		err := Decode([]byte(tc.body), tc.v())
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an ErrInvalid containing %q", tc.name, err, tc.want)
			continue
		}
		for _, bad := range []string{"netip.", "json:", "Go value", "uint16", "Parse"} {
			if strings.Contains(err.Error(), bad) {
				t.Errorf("%s: %q shows Go internals (%s)", tc.name, err, bad)
			}
		}
	}
	var s NRSpec
	if err := Decode([]byte(`{"network_id":"n1","ip_range":"10.9.0.0/16","subnet":"10.9.1.0/24","peers":[]}`), &s); err != nil || s.Subnet.String() != "10.9.1.0/24" {
		t.Fatalf("good body: %+v %v", s, err)
	}
}

func nrv() any { return new(NRSpec) }
func pcv() any { return new(PublicConfig) }
func wlv() any { return new(WorkloadSpec) }
