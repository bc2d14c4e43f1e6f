package provision

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeagent"
	"github.com/zosnet/zosnet/internal/plan"
)

const (
	k1 = "R5A/K0Rr5sayMuiDUfodRqFHEA4UCgMVrJ4wzv4vTVw="
	k2 = "mNnedxa0LIxktdE7v1BW5IJt6v8Ul7+fi1Lpp0UFC0I="
	k3 = "X3W21/+mgBYJ8sbnRy3DFvXZXJGE1aEfJPWArekBEBA="
	k4 = "ZpbE6FXDIaAoIxKmIs8VvQRROU5rdwn2ZQbQRmg+ilw="
	kd = "skYscKmF31VtKnuI8Ebf2r2/p6btLbUVUMP4wk2ScTA="
)

// lab is the default farm's shape as the registry reports it: farm1 public (farmer's
// public config), home1 and home2 behind one NAT on one LAN, home6 with a SLAAC IPv6
// behind a firewalling home router.
func lab() gridapi.DesiredNetwork {
	nic := func(name string, addrs ...string) gridapi.NIC { return gridapi.NIC{Name: name, Addrs: addrs} }
	nr := func(k string) *gridapi.NRReport {
		return &gridapi.NRReport{PublicKey: k, ListenPort: 3000, State: "up"}
	}
	return gridapi.DesiredNetwork{
		Network: gridapi.Network{ID: "net1", IPRange: "10.100.0.0/16", SubnetSize: 24,
			AccessPeers: []gridapi.AccessPeer{{Name: "laptop", PublicKey: kd, Address: "10.100.255.2/32"}}},
		Peers: []gridapi.PeerFacts{
			{NodeID: 1, Name: "farm1", Subnet: "10.100.0.0/24", SourceAddr: "198.51.100.2", NR: nr(k1),
				Facts: gridapi.NodeFacts{NICs: []gridapi.NIC{nic("zos", "10.201.0.101/24")},
					Endpoints: []gridapi.Endpoint{{IP: "203.0.113.10", Family: 4, Reason: "public-config"}, {IP: "2001:db8:100::10", Family: 6, Reason: "public-config"}}}},
			{NodeID: 2, Name: "home1", Subnet: "10.100.1.0/24", SourceAddr: "198.51.100.3", NR: nr(k2),
				Facts: gridapi.NodeFacts{NICs: []gridapi.NIC{nic("zos", "172.29.1.101/24"), nic("b-net1", "10.9.9.9/24")}, Hidden: true}},
			{NodeID: 3, Name: "home2", Subnet: "10.100.2.0/24", SourceAddr: "198.51.100.3", NR: nr(k3),
				Facts: gridapi.NodeFacts{NICs: []gridapi.NIC{nic("zos", "172.29.1.102/24")}, Hidden: true}},
			{NodeID: 4, Name: "home6", Subnet: "10.100.3.0/24", SourceAddr: "198.51.100.4", NR: nr(k4),
				Facts: gridapi.NodeFacts{NICs: []gridapi.NIC{nic("zos", "172.29.6.100/24", "2001:db8:600::5/64")},
					Endpoints: []gridapi.Endpoint{{IP: "2001:db8:600::5", Family: 6, Reason: "global-ipv6"}}}},
			{NodeID: 5, Name: "farm3", Subnet: "10.100.4.0/24"}, // no report yet
		},
	}
}

func TestInput(t *testing.T) {
	in, err := Input(lab(), Self{NodeID: 2, PublicKey: k2, ListenPort: 3001})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Members) != 4 {
		t.Fatalf("members %d, want 4 (farm3 has not reported)", len(in.Members))
	}
	byName := map[string]plan.Member{}
	for _, m := range in.Members {
		byName[m.Name] = m
	}
	tests := []struct {
		name   string
		hidden bool
		lan    []string
		src    string
	}{
		{"farm1", false, []string{"10.201.0.101/24"}, "198.51.100.2"},
		{"home1", true, []string{"172.29.1.101/24"}, "198.51.100.3"}, // b-net1 left out
		{"home2", true, []string{"172.29.1.102/24"}, "198.51.100.3"},
		{"home6", true, []string{"172.29.6.100/24"}, "198.51.100.4"}, // SLAAC IPv6 alone is not reachable
	}
	for _, tc := range tests {
		m := byName[tc.name]
		if m.Hidden != tc.hidden {
			t.Errorf("%s: hidden %v, want %v", tc.name, m.Hidden, tc.hidden)
		}
		var lan []string
		for _, a := range m.LAN.Addresses {
			lan = append(lan, a.String())
		}
		if strings.Join(lan, ",") != strings.Join(tc.lan, ",") || m.LAN.PublicSource.String() != tc.src {
			t.Errorf("%s: LAN %v from %s, want %v from %s", tc.name, lan, m.LAN.PublicSource, tc.lan, tc.src)
		}
	}
	if byName["home1"].ListenPort != 3001 {
		t.Errorf("self's port %d, want the local 3001", byName["home1"].ListenPort)
	}
	if len(in.Access) != 1 || in.Access[0].Address != netip.MustParseAddr("10.100.255.2") {
		t.Errorf("access %+v", in.Access)
	}
}

func TestInputErrors(t *testing.T) {
	for name, mut := range map[string]func(*gridapi.DesiredNetwork){
		"range":  func(d *gridapi.DesiredNetwork) { d.IPRange = "10.100.0.0/33" },
		"subnet": func(d *gridapi.DesiredNetwork) { d.Peers[0].Subnet = "x" },
		"access": func(d *gridapi.DesiredNetwork) { d.AccessPeers[0].Address = "nope" },
	} {
		d := lab()
		mut(&d)
		if _, err := Input(d, Self{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestPlanAndSpec plans the lab network from home1's view and checks the spec networkd
// gets: same-LAN peer home2 over its LAN address, the public member direct with a
// keepalive, home6 through the relay, no IPv6 ULA prefixes (networkd adds the twins).
func TestPlanAndSpec(t *testing.T) {
	in, err := Input(lab(), Self{NodeID: 2, PublicKey: k2, ListenPort: 3000})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(in)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := p.Member("2")
	if err != nil {
		t.Fatal(err)
	}
	s := Spec(mp, in.Network.Range, "net1", plan.WithRelay(mp, mp.Relays[0]), 3000)
	if err := s.Validate(); err != nil {
		t.Fatalf("spec invalid: %v", err)
	}
	peers := map[string]string{}
	for _, pe := range s.Peers {
		var a []string
		for _, x := range pe.AllowedIPs {
			if x.Addr().Is6() {
				t.Errorf("peer %s: IPv6 allowed IP %s (networkd adds the twins)", pe.PublicKey, x)
			}
			a = append(a, x.String())
		}
		peers[pe.PublicKey] = pe.Endpoint + " " + strings.Join(a, ",")
	}
	if got := peers[k3]; !strings.HasPrefix(got, "172.29.1.102:3000 10.100.2.0/24") {
		t.Errorf("home2 (same LAN): %q", got)
	}
	if got := peers[k1]; !strings.HasPrefix(got, "203.0.113.10:3000 ") || !strings.Contains(got, "10.100.3.0/24") {
		t.Errorf("farm1 (public, relay for home6): %q", got)
	}
	if _, ok := peers[k4]; ok {
		t.Error("home6 is a direct peer of home1; want it relayed")
	}
}

func TestPublicConfig(t *testing.T) {
	c, err := PublicConfig(&gridapi.PublicConfig{IPv4: "203.0.113.10/24", GW4: "203.0.113.1", IPv6: "2001:db8:100::10/64", GW6: "2001:db8:100::1"})
	if err != nil || c.IPv4.String() != "203.0.113.10/24" || c.GW6.String() != "2001:db8:100::1" {
		t.Fatalf("%+v %v", c, err)
	}
	if c, err := PublicConfig(nil); c != nil || err != nil {
		t.Errorf("nil: %+v %v", c, err)
	}
	if _, err := PublicConfig(&gridapi.PublicConfig{IPv4: "203.0.113.10", GW4: "x"}); err == nil || !strings.Contains(err.Error(), "ipv4") || !strings.Contains(err.Error(), "gw4") {
		t.Errorf("bad config: %v", err)
	}
}

func TestEcho(t *testing.T) {
	b := echo(0x1234, 7)
	if checksum(b) != 0 {
		t.Errorf("checksum of a finished packet is %#x, want 0", checksum(b))
	}
	if b[0] != 8 || b[4] != 0x12 || b[5] != 0x34 || b[7] != 7 {
		t.Errorf("header % x", b[:8])
	}
}

func TestReachable(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   bool
	}{
		{nodeagent.ReasonPublicConfig, true},
		{nodeagent.ReasonPublicIPv4, true},
		{nodeagent.ReasonPublicSegment, true}, // networkd: SLAAC on br-pub's own NIC
		{"global-ipv6", false},                // NIC fallback: maybe a firewalled home LAN (home6)
		{nodeagent.ReasonNetworkd, false},
		{"", false},
	} {
		if got := Reachable(gridapi.Endpoint{IP: "2001:db8::1", Family: 6, Reason: tc.reason}); got != tc.want {
			t.Errorf("Reachable(reason %q) = %v, want %v", tc.reason, got, tc.want)
		}
	}
}
