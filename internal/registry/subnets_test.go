package registry

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
)

func TestAssignSubnets(t *testing.T) {
	peer := func(n, k string) gridapi.AccessPeerSpec { return gridapi.AccessPeerSpec{Name: n, PublicKey: k} }
	prev := &gridapi.Network{IPRange: "10.1.0.0/16", SubnetSize: 24,
		Members:     []gridapi.Member{{NodeID: 1, Subnet: "10.1.0.0/24"}, {NodeID: 2, Subnet: "10.1.1.0/24"}, {NodeID: 3, Subnet: "10.1.2.0/24"}},
		AccessPeers: []gridapi.AccessPeer{{Name: "a", PublicKey: wgKey1, Address: "10.1.255.2/32"}, {Name: "b", PublicKey: wgKey2, Address: "10.1.255.3/32"}}}
	cases := []struct {
		name        string
		spec        gridapi.NetworkSpec
		prev        *gridapi.Network
		wantMembers []string
		wantPeers   []string
		wantErr     string
	}{
		{"fresh", gridapi.NetworkSpec{IPRange: "10.1.0.0/16", SubnetSize: 24, Members: []int64{5, 6}}, nil,
			[]string{"10.1.0.0/24", "10.1.1.0/24"}, []string{}, ""},
		{"odd range and size", gridapi.NetworkSpec{IPRange: "172.16.4.0/22", SubnetSize: 26, Members: []int64{5, 6, 7}}, nil,
			[]string{"172.16.4.0/26", "172.16.4.64/26", "172.16.4.128/26"}, []string{}, ""},
		{"keeps subnets, fills holes", gridapi.NetworkSpec{IPRange: "10.1.0.0/16", SubnetSize: 24, Members: []int64{3, 4, 1},
			AccessPeers: []gridapi.AccessPeerSpec{peer("b", wgKey2), peer("c", wgKey1)}}, prev,
			[]string{"10.1.2.0/24", "10.1.1.0/24", "10.1.0.0/24"}, []string{"10.1.255.3/32", "10.1.255.2/32"}, ""},
		{"range change reassigns", gridapi.NetworkSpec{IPRange: "10.2.0.0/16", SubnetSize: 24, Members: []int64{3}}, prev,
			[]string{"10.2.0.0/24"}, []string{}, ""},
		{"exactly full", gridapi.NetworkSpec{IPRange: "10.0.0.0/23", SubnetSize: 24, Members: []int64{1, 2}}, nil,
			[]string{"10.0.0.0/24", "10.0.1.0/24"}, []string{}, ""},
		{"full with access subnet", gridapi.NetworkSpec{IPRange: "10.0.0.0/23", SubnetSize: 24, Members: []int64{1, 2},
			AccessPeers: []gridapi.AccessPeerSpec{peer("a", wgKey1)}}, nil, nil, nil, "members"},
		{"too many peers for /30", gridapi.NetworkSpec{IPRange: "10.0.0.0/29", SubnetSize: 30, Members: []int64{1},
			AccessPeers: []gridapi.AccessPeerSpec{peer("a", wgKey1), peer("b", wgKey2)}}, nil, nil, nil, "access_peers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, p, err := assignSubnets(&tc.spec, tc.prev)
			if tc.wantErr != "" {
				e, ok := err.(*Error)
				if !ok || e.Field != tc.wantErr {
					t.Fatalf("err %v, want field %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gm, gp []string
			for _, x := range m {
				gm = append(gm, x.Subnet)
			}
			gp = []string{}
			for _, x := range p {
				gp = append(gp, x.Address)
			}
			if !reflect.DeepEqual(gm, tc.wantMembers) || !reflect.DeepEqual(gp, tc.wantPeers) {
				t.Fatalf("members %v peers %v, want %v %v", gm, gp, tc.wantMembers, tc.wantPeers)
			}
		})
	}
}

// FuzzAssignSubnets: for any valid spec, subnets are distinct, inside the range, and
// never the access subnet.
func FuzzAssignSubnets(f *testing.F) {
	f.Add("10.0.0.0", 16, 24, 3, 1)
	f.Add("192.168.0.0", 24, 30, 63, 0)
	f.Fuzz(func(t *testing.T, base string, bits, size, members, peers int) {
		spec := gridapi.NetworkSpec{Name: "f", SubnetSize: size}
		a, err := netip.ParseAddr(base)
		if err != nil || bits < 0 || bits > 32 || members < 0 || members > 300 || peers < 0 || peers > 3 {
			return
		}
		p, err := a.Prefix(bits)
		if err != nil {
			return
		}
		spec.IPRange = p.String()
		for i := range members {
			spec.Members = append(spec.Members, int64(i+1))
		}
		keys := []string{wgKey1, wgKey2, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
		for i := range peers {
			spec.AccessPeers = append(spec.AccessPeers, gridapi.AccessPeerSpec{Name: string(rune('a' + i)), PublicKey: keys[i]})
		}
		if spec.Validate() != nil {
			return
		}
		m, ps, err := assignSubnets(&spec, nil)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, x := range m {
			s := netip.MustParsePrefix(x.Subnet)
			if seen[x.Subnet] || !p.Contains(s.Addr()) || s.Bits() != size {
				t.Fatalf("bad subnet %s in %s", x.Subnet, p)
			}
			seen[x.Subnet] = true
		}
		for _, x := range ps {
			if !p.Contains(netip.MustParsePrefix(x.Address).Addr()) {
				t.Fatalf("peer address %s outside %s", x.Address, p)
			}
		}
	})
}
