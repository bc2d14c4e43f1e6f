package plan

import (
	"fmt"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestDualStackHiddenDialsIPv6Public is issue 19's 20-node farm in small, from the
// registry's view: dual-stack hidden members (IPv4 behind NAT, a global IPv6 firewalled
// inbound, reported as an unreachable candidate) peer directly with IPv6-only public
// members, dialing them; an IPv4-only hidden member reaches them through a relay.
func TestDualStackHiddenDialsIPv6Public(t *testing.T) {
	dn := gridapi.DesiredNetwork{Network: gridapi.Network{ID: "net1", IPRange: "10.1.0.0/16"}}
	add := func(id int64, name, src string, eps ...gridapi.Endpoint) {
		dn.Peers = append(dn.Peers, gridapi.PeerFacts{NodeID: id, Name: name, Subnet: fmt.Sprintf("10.1.%d.0/24", id), SourceAddr: src,
			Facts: gridapi.NodeFacts{Endpoints: eps, NICs: []gridapi.NIC{{Name: "zos", Addrs: []string{fmt.Sprintf("192.168.%d.10/24", id)}}}},
			NR:    &gridapi.NRReport{PublicKey: key(byte(id)), ListenPort: 5000 + int(id)}})
	}
	add(1, "pub4", "198.51.100.1", gridapi.Endpoint{IP: "198.51.100.1", Family: 4, Reason: gridapi.ReasonPublicIPv4})
	add(2, "pub6a", "2001:db8:2::1", gridapi.Endpoint{IP: "2001:db8:2::1", Family: 6, Reason: gridapi.ReasonPublicSegment})
	add(3, "pub6b", "2001:db8:3::1", gridapi.Endpoint{IP: "2001:db8:3::1", Family: 6, Reason: gridapi.ReasonPublicSegment})
	add(4, "pub46", "198.51.100.4", gridapi.Endpoint{IP: "198.51.100.4", Family: 4, Reason: gridapi.ReasonPublicIPv4},
		gridapi.Endpoint{IP: "2001:db8:4::1", Family: 6, Reason: gridapi.ReasonPublicSegment})
	add(5, "dual", "203.0.113.5", gridapi.Endpoint{IP: "2001:db8:5::7", Family: 6, Reason: gridapi.ReasonGlobalIPv6})
	add(6, "v4only", "203.0.113.6")
	in, err := FromGrid(dn, Self{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		path Path
		ep   string
		ka   int
	}
	for _, tc := range []struct {
		from, to string
		want     want
	}{
		{"5", "2", want{PathDirect, "[2001:db8:2::1]:5002", Keepalive}},
		{"5", "3", want{PathDirect, "[2001:db8:3::1]:5003", Keepalive}},
		{"5", "1", want{PathDirect, "198.51.100.1:5001", Keepalive}},
		{"2", "5", want{PathDirect, "", 0}}, // it cannot dial the hidden member: it waits
		{"6", "2", want{}},                  // IPv4-only: relayed
		{"6", "4", want{PathDirect, "198.51.100.4:5004", Keepalive}},
	} {
		mp, err := p.Member(tc.from)
		if err != nil {
			t.Fatal(err)
		}
		var got want
		for _, pe := range mp.Peers {
			if pe.NodeID == tc.to {
				got = want{pe.Path, "", pe.Keepalive}
				if pe.Endpoint.IsValid() {
					got.ep = pe.Endpoint.String()
				}
			}
		}
		if got != tc.want {
			t.Errorf("%s → %s: %+v, want %+v", tc.from, tc.to, got, tc.want)
		}
	}
}
