package workload

import (
	"net/netip"
	"testing"

	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/ula"
	"github.com/zosnet/zosnet/internal/vmnet"
)

func nr(subnet string) nodeapi.NRSpec {
	return nodeapi.NRSpec{NetworkID: "net1", IPRange: netip.MustParsePrefix("10.1.0.0/16"), Subnet: netip.MustParsePrefix(subnet)}
}

func TestPlanDeterministic(t *testing.T) {
	s := nodeapi.WorkloadSpec{Name: "web", NetworkID: "net1", Kind: nodeapi.KindNetns}
	a, err := Plan(nr("10.1.1.0/24"), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Plan(nr("10.1.1.0/24"), s, nil)
	if a != b {
		t.Fatalf("not deterministic: %+v vs %+v", a, b)
	}
	if !netip.MustParsePrefix("10.1.1.0/24").Contains(a.IPv4.Addr()) || a.IPv4.Bits() != 24 {
		t.Fatalf("ipv4 %s", a.IPv4)
	}
	if a.IPv6 != netip.PrefixFrom(ula.Addr("net1", a.IPv4.Addr()), 64) {
		t.Fatalf("ipv6 %s is not the twin of %s", a.IPv6, a.IPv4)
	}
	if a.Gateway.String() != "10.1.1.1" || a.Netns != "wl-web" || len(a.HostIf) != 12 || a.MAC[:3] != "02:" {
		t.Fatalf("info %+v", a)
	}
	tap := s
	tap.Kind = nodeapi.KindTap
	ti, _ := Plan(nr("10.1.1.0/24"), tap, nil)
	if ti.Tap == "" || ti.Netns != "" || ti.HostIf[:2] != "t-" {
		t.Fatalf("tap info %+v", ti)
	}
	n := nr("10.1.1.0/24")
	if want := vmnet.EUI64(n.Subnet6(), MAC(tap)); ti.IPv6.Addr() != want {
		t.Fatalf("tap IPv6 %s, want its SLAAC address %s", ti.IPv6, want)
	}
}

// In a /29 there are 5 workload addresses (.2-.6): all are handed out without
// collisions, never the network, gateway or broadcast address, then the subnet is full.
func TestPlanFillsSubnet(t *testing.T) {
	used := map[netip.Addr]bool{}
	n := nr("10.1.1.8/29")
	for i := 0; i < 5; i++ {
		info, err := Plan(n, nodeapi.WorkloadSpec{Name: string(rune('a' + i)), NetworkID: "net1"}, used)
		if err != nil {
			t.Fatal(err)
		}
		a := info.IPv4.Addr()
		if used[a] || a == netip.MustParseAddr("10.1.1.8") || a == netip.MustParseAddr("10.1.1.9") || a == netip.MustParseAddr("10.1.1.15") {
			t.Fatalf("bad address %s (used %v)", a, used)
		}
		used[a] = true
	}
	if _, err := Plan(n, nodeapi.WorkloadSpec{Name: "z", NetworkID: "net1"}, used); err == nil {
		t.Fatal("full subnet accepted another workload")
	}
}

func TestIsHostIf(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{HostIf(nodeapi.WorkloadSpec{Name: "a", NetworkID: "net1", Kind: nodeapi.KindNetns}), true},
		{HostIf(nodeapi.WorkloadSpec{Name: "a", NetworkID: "net1", Kind: nodeapi.KindTap}), true},
		{"c-0123456789", true},
		{"t-abcdef0123", true},
		{PublicIf(nodeapi.WorkloadSpec{Name: "a", NetworkID: "net1"}), true},
		{"p-0123456789", true},
		{"p-zzzzzzzzzz", false},  // not hex
		{"pub-zos", false},       // br-pub's own port
		{"c-012345678", false},   // too short
		{"c-0123456789a", false}, // too long
		{"c-notourslin", false},  // not hex
		{"b-0123456789", false},  // not a workload prefix
		{"eth0", false},
	} {
		if got := IsHostIf(tt.name); got != tt.want {
			t.Errorf("IsHostIf(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestPlanPublic: a public workload gets its br-pub interface name and MAC (not its
// NR MAC); its IPv6 is the EUI-64 of that MAC in the public /64; a private one has none.
func TestPlanPublic(t *testing.T) {
	s := nodeapi.WorkloadSpec{Name: "web", NetworkID: "net1", PublicIPv6: true}
	w, err := Plan(nr("10.1.1.0/24"), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w.PublicIf != PublicIf(s) || w.PublicMAC != PublicMAC(s).String() || w.PublicMAC == w.MAC || !IsHostIf(w.PublicIf) {
		t.Fatalf("public if %q mac %q (nr mac %q)", w.PublicIf, w.PublicMAC, w.MAC)
	}
	if w.NetworkRange != netip.MustParsePrefix("10.1.0.0/16") {
		t.Errorf("network range %v", w.NetworkRange)
	}
	a := PublicAddr6(netip.MustParsePrefix("2001:db8:100::10/64"), s)
	if !netip.MustParsePrefix("2001:db8:100::/64").Contains(a.Addr()) || a.Bits() != 64 || a.Addr() != vmnet.EUI64(a.Masked(), PublicMAC(s)) {
		t.Errorf("public ipv6 %v", a)
	}
	s.PublicIPv6 = false
	if w, _ := Plan(nr("10.1.1.0/24"), s, nil); w.PublicIf != "" || w.PublicMAC != "" {
		t.Errorf("private workload has a public interface: %+v", w)
	}
}
