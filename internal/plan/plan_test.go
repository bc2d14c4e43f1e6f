package plan

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zosnet/zosnet/internal/ula"
)

// twin is shorthand for a subnet's ULA twin in the test networks.
func twin(id, v4 string) netip.Prefix { return ula.Twin(id, pfx(v4)) }

func routes(id, rng string) []netip.Prefix { return []netip.Prefix{pfx(rng), twin(id, rng)} }

func TestPlanSmallNetworks(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want Plan
	}{
		{
			name: "two public dual-stack members peer over IPv6",
			in: Input{Network: Network{ID: "a", Range: pfx("10.2.0.0/16")}, Members: []Member{
				{NodeID: "m2", PublicKey: key(2), ListenPort: 51821, Subnet: pfx("10.2.2.0/24"),
					Endpoints: []Endpoint{pub("198.51.100.2"), pub("2001:db8::2")}},
				{NodeID: "m1", Name: "first", PublicKey: key(1), ListenPort: 51820, Subnet: pfx("10.2.1.0/24"),
					Endpoints: []Endpoint{pub("2001:db8::1"), pub("198.51.100.1")}},
			}},
			want: Plan{NetworkID: "a", Range: pfx("10.2.0.0/16"), ULA: twin("a", "10.2.0.0/16"), Members: []MemberPlan{
				{NodeID: "m1", Name: "first", Subnet: pfx("10.2.1.0/24"), ULA: twin("a", "10.2.1.0/24"), ListenPort: 51820,
					Routes: routes("a", "10.2.0.0/16"), Peers: []Peer{
						{NodeID: "m2", Name: "m2", PublicKey: key(2), Endpoint: ap("[2001:db8::2]:51821"),
							AllowedIPs: []netip.Prefix{pfx("10.2.2.0/24"), twin("a", "10.2.2.0/24")}, Path: PathDirect},
					}},
				{NodeID: "m2", Name: "m2", Subnet: pfx("10.2.2.0/24"), ULA: twin("a", "10.2.2.0/24"), ListenPort: 51821,
					Routes: routes("a", "10.2.0.0/16"), Peers: []Peer{
						{NodeID: "m1", Name: "first", PublicKey: key(1), Endpoint: ap("[2001:db8::1]:51820"),
							AllowedIPs: []netip.Prefix{pfx("10.2.1.0/24"), twin("a", "10.2.1.0/24")}, Path: PathDirect},
					}},
			}},
		},
		{
			name: "hidden member behind NAT dials the public one with keepalive",
			in: Input{Network: Network{ID: "b", Range: pfx("10.3.0.0/16")}, Members: []Member{
				{NodeID: "pub", PublicKey: key(1), ListenPort: 7000, Subnet: pfx("10.3.1.0/24"),
					Endpoints: []Endpoint{pub("198.51.100.1"), priv("2001:db8::1")}},
				{NodeID: "hid", PublicKey: key(2), ListenPort: 7001, Subnet: pfx("10.3.2.0/24"),
					Endpoints: []Endpoint{priv("192.168.1.5"), pub("198.51.100.9")}, Hidden: true},
			}},
			want: Plan{NetworkID: "b", Range: pfx("10.3.0.0/16"), ULA: twin("b", "10.3.0.0/16"), Members: []MemberPlan{
				{NodeID: "hid", Name: "hid", Hidden: true, Subnet: pfx("10.3.2.0/24"), ULA: twin("b", "10.3.2.0/24"), ListenPort: 7001,
					Routes: routes("b", "10.3.0.0/16"), Peers: []Peer{
						{NodeID: "pub", Name: "pub", PublicKey: key(1), Endpoint: ap("198.51.100.1:7000"), Keepalive: Keepalive,
							AllowedIPs: []netip.Prefix{pfx("10.3.1.0/24"), twin("b", "10.3.1.0/24")}, Path: PathDirect},
					}},
				{NodeID: "pub", Name: "pub", Subnet: pfx("10.3.1.0/24"), ULA: twin("b", "10.3.1.0/24"), ListenPort: 7000,
					Routes: routes("b", "10.3.0.0/16"), Peers: []Peer{
						{NodeID: "hid", Name: "hid", PublicKey: key(2),
							AllowedIPs: []netip.Prefix{pfx("10.3.2.0/24"), twin("b", "10.3.2.0/24")}, Path: PathDirect},
					}},
			}},
		},
		relayedPublicPair(),
		hiddenLANAndRelay(),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
				cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", d)
			}
		})
	}
}

// relayedPublicPair: an IPv4-only and an IPv6-only public member cannot peer; the
// dual-stack one relays between them and is the only possible relay.
func relayedPublicPair() struct {
	name string
	in   Input
	want Plan
} {
	const id = "c"
	in := Input{Network: Network{ID: id, Range: pfx("10.4.0.0/22")}, Members: []Member{
		{NodeID: "p4", PublicKey: key(1), ListenPort: 1, Subnet: pfx("10.4.0.0/24"), Endpoints: []Endpoint{pub("198.51.100.4")}},
		{NodeID: "p6", PublicKey: key(2), ListenPort: 2, Subnet: pfx("10.4.1.0/24"), Endpoints: []Endpoint{pub("2001:db8::6")}},
		{NodeID: "pd", PublicKey: key(3), ListenPort: 3, Subnet: pfx("10.4.2.0/24"), Endpoints: []Endpoint{pub("198.51.100.5"), pub("2001:db8::5")}},
	}}
	sub := func(s string) []netip.Prefix { return []netip.Prefix{pfx(s), twin(id, s)} }
	rel4 := []RelayGroup{{Relays: []string{"pd"}, Members: []string{"p6"}, AllowedIPs: sub("10.4.1.0/24")}}
	rel6 := []RelayGroup{{Relays: []string{"pd"}, Members: []string{"p4"}, AllowedIPs: sub("10.4.0.0/24")}}
	want := Plan{NetworkID: id, Range: pfx("10.4.0.0/22"), ULA: twin(id, "10.4.0.0/22"), Relays: []string{"pd"}, Members: []MemberPlan{
		{NodeID: "p4", Name: "p4", Subnet: pfx("10.4.0.0/24"), ULA: twin(id, "10.4.0.0/24"), ListenPort: 1, Routes: routes(id, "10.4.0.0/22"),
			Relays: []string{"pd"}, RelayGroups: rel4, Peers: []Peer{
				{NodeID: "pd", Name: "pd", PublicKey: key(3), Endpoint: ap("198.51.100.5:3"), Path: PathDirect,
					AllowedIPs: []netip.Prefix{pfx("10.4.1.0/24"), pfx("10.4.2.0/24"), twin(id, "10.4.1.0/24"), twin(id, "10.4.2.0/24")}},
			}},
		{NodeID: "p6", Name: "p6", Subnet: pfx("10.4.1.0/24"), ULA: twin(id, "10.4.1.0/24"), ListenPort: 2, Routes: routes(id, "10.4.0.0/22"),
			Relays: []string{"pd"}, RelayGroups: rel6, Peers: []Peer{
				{NodeID: "pd", Name: "pd", PublicKey: key(3), Endpoint: ap("[2001:db8::5]:3"), Path: PathDirect,
					AllowedIPs: []netip.Prefix{pfx("10.4.0.0/24"), pfx("10.4.2.0/24"), twin(id, "10.4.0.0/24"), twin(id, "10.4.2.0/24")}},
			}},
		{NodeID: "pd", Name: "pd", Subnet: pfx("10.4.2.0/24"), ULA: twin(id, "10.4.2.0/24"), ListenPort: 3, Routes: routes(id, "10.4.0.0/22"), Peers: []Peer{
			{NodeID: "p4", Name: "p4", PublicKey: key(1), Endpoint: ap("198.51.100.4:1"), AllowedIPs: sub("10.4.0.0/24"), Path: PathDirect},
			{NodeID: "p6", Name: "p6", PublicKey: key(2), Endpoint: ap("[2001:db8::6]:2"), AllowedIPs: sub("10.4.1.0/24"), Path: PathDirect},
		}},
	}}
	return struct {
		name string
		in   Input
		want Plan
	}{"public members without a common family go through a dual-stack relay", in, want}
}

// hiddenLANAndRelay: two hidden members on one LAN peer over it; a third hidden member
// elsewhere reaches them through the public member; a device joins through it too.
func hiddenLANAndRelay() struct {
	name string
	in   Input
	want Plan
} {
	const id = "d"
	lan := func(a string) LAN { return LAN{PublicSource: addr("203.0.113.7"), Addresses: pfxs(a)} }
	in := Input{Network: Network{ID: id, Range: pfx("10.5.0.0/21")}, Members: []Member{
		{NodeID: "h3", PublicKey: key(4), ListenPort: 4, Subnet: pfx("10.5.3.0/24"), Endpoints: []Endpoint{priv("192.168.9.3")},
			LAN: LAN{PublicSource: addr("203.0.113.9"), Addresses: pfxs("192.168.9.3/24")}},
		{NodeID: "h1", PublicKey: key(2), ListenPort: 2, Subnet: pfx("10.5.1.0/24"), LAN: lan("192.168.1.1/24")},
		{NodeID: "h2", PublicKey: key(3), ListenPort: 3, Subnet: pfx("10.5.2.0/24"), LAN: lan("192.168.1.2/24")},
		{NodeID: "p", PublicKey: key(1), ListenPort: 1, Subnet: pfx("10.5.0.0/24"), Endpoints: []Endpoint{pub("198.51.100.1")}},
	}, Access: []AccessPeer{{Name: "phone", PublicKey: key(9), Address: addr("10.5.7.77")}}}
	pSub := []netip.Prefix{pfx("10.5.0.0/24"), twin(id, "10.5.0.0/24")}
	pPeer := func(extra ...netip.Prefix) Peer {
		ips := append([]netip.Prefix{pfx("10.5.0.0/24"), pfx("10.5.7.77/32")}, extra...)
		ips = append(ips, pSub[1])
		sortPrefixes(ips)
		return Peer{NodeID: "p", Name: "p", PublicKey: key(1), Endpoint: ap("198.51.100.1:1"), Keepalive: Keepalive, Path: PathDirect, AllowedIPs: ips}
	}
	// through p: the other members' subnets and twins only (no unassigned space)
	relayedFor := func(others ...string) []netip.Prefix {
		var ips []netip.Prefix
		for _, o := range others {
			ips = append(ips, pfx(o), twin(id, o))
		}
		sortPrefixes(ips)
		return ips
	}
	r1, r2, r3 := relayedFor("10.5.3.0/24"), relayedFor("10.5.3.0/24"), relayedFor("10.5.1.0/24", "10.5.2.0/24")
	group := func(ips []netip.Prefix, members ...string) []RelayGroup {
		return []RelayGroup{{Relays: []string{"p"}, Members: members, AllowedIPs: ips}}
	}
	hid := func(n, s string, port int) MemberPlan {
		return MemberPlan{NodeID: n, Name: n, Hidden: true, Subnet: pfx(s), ULA: twin(id, s), ListenPort: port, Routes: routes(id, "10.5.0.0/21")}
	}
	h1, h2, h3 := hid("h1", "10.5.1.0/24", 2), hid("h2", "10.5.2.0/24", 3), hid("h3", "10.5.3.0/24", 4)
	h1.Relays, h1.RelayGroups = []string{"p"}, group(r1, "h3")
	h1.Peers = []Peer{{NodeID: "h2", Name: "h2", PublicKey: key(3), Endpoint: ap("192.168.1.2:3"), Keepalive: Keepalive, Path: PathSameLAN,
		AllowedIPs: []netip.Prefix{pfx("10.5.2.0/24"), twin(id, "10.5.2.0/24")}}, pPeer(r1...)}
	h2.Relays, h2.RelayGroups = []string{"p"}, group(r2, "h3")
	h2.Peers = []Peer{{NodeID: "h1", Name: "h1", PublicKey: key(2), Path: PathSameLAN,
		AllowedIPs: []netip.Prefix{pfx("10.5.1.0/24"), twin(id, "10.5.1.0/24")}}, pPeer(r2...)}
	h3.Relays, h3.RelayGroups = []string{"p"}, group(r3, "h1", "h2")
	h3.Peers = []Peer{pPeer(r3...)}
	pm := MemberPlan{NodeID: "p", Name: "p", Subnet: pfx("10.5.0.0/24"), ULA: pSub[1], ListenPort: 1, Routes: routes(id, "10.5.0.0/21")}
	for _, h := range []MemberPlan{h1, h2, h3} {
		pm.Peers = append(pm.Peers, Peer{NodeID: h.NodeID, Name: h.NodeID, PublicKey: map[string]string{"h1": key(2), "h2": key(3), "h3": key(4)}[h.NodeID],
			AllowedIPs: []netip.Prefix{h.Subnet, h.ULA}, Path: PathDirect})
	}
	pm.Peers = append(pm.Peers, Peer{Name: "phone", PublicKey: key(9), AllowedIPs: pfxs("10.5.7.77/32"), Path: PathAccess})
	want := Plan{NetworkID: id, Range: pfx("10.5.0.0/21"), ULA: twin(id, "10.5.0.0/21"), Relays: []string{"p"},
		Members: []MemberPlan{h1, h2, h3, pm},
		Devices: []DevicePlan{{Name: "phone", Address: addr("10.5.7.77"), Address6: ula.Addr(id, addr("10.5.7.77")), AccessNode: "p", Peer: Peer{NodeID: "p", Name: "p", PublicKey: key(1),
			Endpoint: ap("198.51.100.1:1"), AllowedIPs: []netip.Prefix{pfx("10.5.0.0/21"), twin(id, "10.5.0.0/21")}, Keepalive: Keepalive, Path: PathAccess}}}}
	return struct {
		name string
		in   Input
		want Plan
	}{"hidden members on one LAN peer directly, the others through the relay", in, want}
}

func TestPlanErrors(t *testing.T) {
	base := func() Input {
		return Input{Network: Network{ID: "net1", Range: pfx("10.1.0.0/16")}, Members: []Member{
			{NodeID: "p", PublicKey: key(1), ListenPort: 1, Endpoints: []Endpoint{pub("198.51.100.1")}},
			{NodeID: "h", PublicKey: key(2), ListenPort: 2, Endpoints: []Endpoint{priv("192.168.1.2")}},
		}}
	}
	tests := []struct {
		name   string
		mutate func(*Input)
		is     error
		want   string
	}{
		{"bad network id", func(in *Input) { in.Network.ID = "Net_1" }, ErrInvalid, "network.id"},
		{"long network id", func(in *Input) { in.Network.ID = "abcdefghijkl" }, ErrInvalid, "network.id"},
		{"missing range", func(in *Input) { in.Network.Range = netip.Prefix{} }, ErrInvalid, "network.range: missing"},
		{"ipv6 range", func(in *Input) { in.Network.Range = pfx("fd00::/48") }, ErrInvalid, "not IPv4"},
		{"host bits", func(in *Input) { in.Network.Range = pfx("10.1.2.0/16") }, ErrInvalid, "did you mean 10.1.0.0/16"},
		{"range too wide", func(in *Input) { in.Network.Range = pfx("10.0.0.0/7") }, ErrInvalid, "between /8 and /30"},
		{"subnet shorter than range", func(in *Input) { in.Network.Range, in.Network.SubnetBits = pfx("10.1.0.0/24"), 20 }, ErrInvalid, "network.subnet_bits"},
		{"duplicate node", func(in *Input) { in.Members[1].NodeID = "p" }, ErrInvalid, `members[1].node_id: "p" appears twice`},
		{"bad key", func(in *Input) { in.Members[0].PublicKey = "abc" }, ErrInvalid, "members[0].public_key"},
		{"shared key", func(in *Input) { in.Members[1].PublicKey = key(1) }, ErrInvalid, `already used by member "p"`},
		{"port", func(in *Input) { in.Members[1].ListenPort = 70000 }, ErrInvalid, "members[1].listen_port: 70000"},
		{"family mismatch", func(in *Input) { in.Members[0].Endpoints[0].Family = IPv6 }, ErrInvalid, "members[0].endpoints[0].family"},
		{"loopback endpoint", func(in *Input) { in.Members[0].Endpoints[0].Addr = addr("127.0.0.1") }, ErrInvalid, "not a unicast address"},
		{"reachable ULA", func(in *Input) { in.Members[0].Endpoints = []Endpoint{pub("fd00::1")} }, ErrInvalid, "not a global IPv6"},
		{"public LAN address", func(in *Input) { in.Members[1].LAN.Addresses = pfxs("8.8.8.8/24") }, ErrInvalid, "lan.addresses[0]"},
		{"too many LAN addresses", func(in *Input) {
			for i := range MaxAddresses + 1 {
				in.Members[1].LAN.Addresses = append(in.Members[1].LAN.Addresses, pfx(fmt.Sprintf("192.168.%d.1/24", i)))
			}
		}, ErrInvalid, "members[1].lan.addresses: 17 addresses, at most 16"},
		{"subnet outside", func(in *Input) { in.Members[0].Subnet = pfx("10.2.0.0/24") }, ErrInvalid, "outside the range"},
		{"subnet size", func(in *Input) { in.Members[0].Subnet = pfx("10.1.0.0/25") }, ErrInvalid, "must be an IPv4 /24"},
		{"subnet twice", func(in *Input) { in.Members[0].Subnet, in.Members[1].Subnet = pfx("10.1.5.0/24"), pfx("10.1.5.0/24") }, ErrInvalid, "already used by member p"},
		{"device in member subnet", func(in *Input) {
			in.Members[0].Subnet = pfx("10.1.5.0/24")
			in.Access = []AccessPeer{{Name: "l", PublicKey: key(9), Address: addr("10.1.5.9")}}
		}, ErrInvalid, "inside the subnet 10.1.5.0/24 of member p"},
		{"device outside range", func(in *Input) { in.Access = []AccessPeer{{Name: "l", PublicKey: key(9), Address: addr("10.2.5.9")}} }, ErrInvalid, "access[0].address"},
		{"device key reused", func(in *Input) { in.Access = []AccessPeer{{Name: "l", PublicKey: key(2), Address: addr("10.1.200.9")}} }, ErrInvalid, "access[0].public_key"},
		{"range too small", func(in *Input) { in.Network.Range = pfx("10.1.0.0/24") }, ErrImpossible, "use a range of /23 or larger"},
		{"only hidden members", func(in *Input) {
			in.Members[0].Endpoints[0].Reachable = false
			in.Members = append(in.Members, Member{NodeID: "x", PublicKey: key(3), ListenPort: 3, Endpoints: []Endpoint{priv("192.168.7.1")}})
		}, ErrImpossible, "add a node with a reachable endpoint"},
		{"hidden ipv6-only and public ipv4-only", func(in *Input) { in.Members[1].Endpoints = []Endpoint{priv("2001:db8::2")} }, ErrImpossible, "add a public member reachable over ipv4 and ipv6"},
		{"hidden with no address", func(in *Input) { in.Members[1].Endpoints = nil }, ErrImpossible, "members h report no address"},
		{"device without public member", func(in *Input) {
			in.Members = in.Members[1:]
			in.Access = []AccessPeer{{Name: "l", PublicKey: key(9), Address: addr("10.1.200.9")}}
		}, ErrImpossible, `access device "l" needs a public member`},
		{"device via hidden member", func(in *Input) {
			in.Access = []AccessPeer{{Name: "l", PublicKey: key(9), Address: addr("10.1.200.9"), Via: "h"}}
		}, ErrImpossible, `via "h" is not a public member`},
		{"device over ipv6 to an ipv4 node", func(in *Input) {
			in.Access = []AccessPeer{{Name: "l", PublicKey: key(9), Address: addr("10.1.200.9"), Family: IPv6}}
		}, ErrImpossible, "reachable over ipv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			tt.mutate(&in)
			_, err := Compute(in)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.is, tt.want)
			}
		})
	}
	if _, err := Compute(base()); err != nil {
		t.Fatalf("base network: %v", err)
	}
}
