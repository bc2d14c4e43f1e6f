package plan_test

import (
	"fmt"
	"net/netip"

	"github.com/zosnet/zosnet/internal/plan"
)

// A public node and two hidden nodes behind one home NAT, on one LAN: the hidden nodes
// dial the public node with keepalive and peer with each other over their LAN.
func Example() {
	key := func(c byte) string { // a placeholder base64 WireGuard key
		return fmt.Sprintf("%c%s=", c, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	}
	home := func(a string) plan.LAN {
		return plan.LAN{PublicSource: netip.MustParseAddr("203.0.113.7"), Addresses: []netip.Prefix{netip.MustParsePrefix(a)}}
	}
	p, err := plan.New(plan.Input{
		Network: plan.Network{ID: "demo", Range: netip.MustParsePrefix("10.9.0.0/16")},
		Members: []plan.Member{
			{NodeID: "farm1", PublicKey: key('A'), ListenPort: 51820, Subnet: netip.MustParsePrefix("10.9.1.0/24"),
				Endpoints: []plan.Endpoint{{Addr: netip.MustParseAddr("198.51.100.11"), Reachable: true}}},
			{NodeID: "home1", PublicKey: key('B'), ListenPort: 51820, Subnet: netip.MustParsePrefix("10.9.2.0/24"), LAN: home("192.168.1.10/24")},
			{NodeID: "home2", PublicKey: key('C'), ListenPort: 51820, Subnet: netip.MustParsePrefix("10.9.3.0/24"), LAN: home("192.168.1.11/24")},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _ := p.Member("home1")
	for _, pe := range m.Peers {
		fmt.Println(pe.NodeID, pe.Path, pe.Endpoint, pe.AllowedIPs, pe.Keepalive)
	}
	// Output:
	// farm1 direct 198.51.100.11:51820 [10.9.1.0/24 fd2a:9751:6c35:901::/64] 25
	// home2 same-lan 192.168.1.11:51820 [10.9.3.0/24 fd2a:9751:6c35:903::/64] 25
}
