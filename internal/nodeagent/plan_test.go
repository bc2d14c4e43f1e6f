package nodeagent

import (
	"net/netip"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// TestPlanInput: a desired network with a public node, two hidden nodes behind one NAT
// and a member that has not reported yet plans without error, with the hidden pair
// on the same LAN.
func TestPlanInput(t *testing.T) {
	nr := func(key string, port int) *gridapi.NRReport {
		return &gridapi.NRReport{PublicKey: key, ListenPort: port, State: "up"}
	}
	hidden := func(addr string) gridapi.NodeFacts {
		return gridapi.NodeFacts{Hidden: true, NICs: []gridapi.NIC{{Name: "zos", Addrs: []string{addr, "fe80::1/64"}}}}
	}
	dn := gridapi.DesiredNetwork{
		Network: gridapi.Network{ID: "n1abc", IPRange: "10.1.0.0/16", SubnetSize: 24,
			AccessPeers: []gridapi.AccessPeer{{Name: "laptop", PublicKey: "r1FJwTZZtgNRA0Me0kExYyZ8ZsfjmIpHRmtvO1CUhwI=", Address: "10.1.255.2/32"}}},
		Peers: []gridapi.PeerFacts{
			{NodeID: 1, Name: "farm1", Subnet: "10.1.0.0/24", SourceAddr: "198.51.100.2",
				Facts:        gridapi.NodeFacts{Endpoints: []gridapi.Endpoint{{IP: "2001:db8:100::5", Family: 6, Reason: "global-ipv6"}}},
				PublicConfig: &gridapi.PublicConfig{IPv4: "203.0.113.10/24"},
				NR:           nr("GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", 3000)},
			{NodeID: 4, Name: "home1", Subnet: "10.1.1.0/24", SourceAddr: "198.51.100.3", Facts: hidden("172.29.1.100/24"),
				NR: nr("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 3000)},
			{NodeID: 5, Name: "home2", Subnet: "10.1.2.0/24", SourceAddr: "198.51.100.3", Facts: hidden("172.29.1.101/24"),
				NR: nr("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 3001)},
			{NodeID: 6, Name: "farm3", Subnet: "10.1.3.0/24"},
		},
	}
	in, pending, err := PlanInput(dn)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0] != 6 || len(in.Members) != 3 || len(in.Access) != 1 {
		t.Fatalf("pending %v, members %d, access %d", pending, len(in.Members), len(in.Access))
	}
	f1 := in.Members[0]
	if len(f1.Endpoints) != 2 || f1.Endpoints[0].Addr != netip.MustParseAddr("203.0.113.10") || !f1.Endpoints[0].Reachable {
		t.Fatalf("farm1 endpoints: %+v", f1.Endpoints)
	}
	if h := in.Members[1]; !h.Hidden || len(h.LAN.Addresses) != 1 || h.LAN.PublicSource != netip.MustParseAddr("198.51.100.3") {
		t.Fatalf("home1: %+v", h)
	}
	p, err := plan.Compute(in)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var path plan.Path
	for _, m := range p.Members {
		for _, peer := range m.Peers {
			if m.NodeID == "4" && peer.NodeID == "5" {
				path = peer.Path
			}
		}
	}
	if path != plan.PathSameLAN {
		t.Errorf("home1 → home2: path %q, want same-lan", path)
	}
	dn.IPRange = "bad"
	if _, _, err := PlanInput(dn); err == nil {
		t.Fatal("a bad range must fail")
	}
}
