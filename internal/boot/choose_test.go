package boot

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/zosnet/zosnet/internal/dhcp"
)

func lease(t *testing.T, addr, router string) *dhcp.Lease {
	t.Helper()
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.ParseIP(addr)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(addr).To4())),
		dhcpv4.WithLeaseTime(120),
	}
	if router != "" {
		mods = append(mods, dhcpv4.WithRouter(net.ParseIP(router)))
	}
	m, err := dhcpv4.New(mods...)
	if err != nil {
		t.Fatal(err)
	}
	l, err := dhcp.FromACK(m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestChoose(t *testing.T) {
	priv := lease(t, "10.1.0.50", "10.1.0.1")
	privLow := lease(t, "10.0.9.7", "10.0.9.1")
	pub := lease(t, "198.51.100.20", "198.51.100.1")
	noGW := lease(t, "10.3.0.9", "")
	tests := []struct {
		name   string
		probes []Probe
		forced string
		want   string // "" = none
		whyHas string
	}{
		{"only second qualifies", []Probe{{NIC: "eth0"}, {NIC: "eth1", Lease: priv}, {NIC: "eth2", Lease: noGW}}, "", "eth1", ""},
		{"private over public", []Probe{{NIC: "eth0", Lease: pub}, {NIC: "eth1", Lease: priv}}, "", "eth1", ""},
		{"lowest address", []Probe{{NIC: "eth0", Lease: priv}, {NIC: "eth1", Lease: privLow}}, "", "eth1", ""},
		{"name breaks ties", []Probe{{NIC: "eth1", Lease: priv}, {NIC: "eth0", Lease: priv}}, "", "eth0", ""},
		{"public if only one", []Probe{{NIC: "eth0", Lease: pub}, {NIC: "eth1", Lease: noGW}}, "", "eth0", ""},
		{"forced wins", []Probe{{NIC: "eth0", Lease: privLow}, {NIC: "eth1", Lease: pub}}, "eth1", "eth1", ""},
		{"forced without gateway", []Probe{{NIC: "eth0", Lease: priv}, {NIC: "eth1", Lease: noGW}}, "eth1", "", "eth1: lease 10.3.0.9/24 has no default gateway"},
		{"none", []Probe{{NIC: "eth0", Err: errString("no DHCP lease")}, {NIC: "eth2", Lease: noGW}}, "", "", "eth0: no lease (no DHCP lease); eth2: lease"},
		{"nothing to probe", nil, "", "", "no NIC to probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, why := Choose(tt.probes, tt.forced)
			if tt.want == "" {
				if ok || !strings.Contains(why, tt.whyHas) {
					t.Fatalf("Choose = %v %v %q, want none with %q", got.NIC, ok, why, tt.whyHas)
				}
				return
			}
			if !ok || got.NIC != tt.want {
				t.Fatalf("Choose = %q (ok %v, why %q), want %q", got.NIC, ok, why, tt.want)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestBackoff(t *testing.T) {
	var b backoff
	var got []time.Duration
	for range 7 {
		got = append(got, b.next(30*time.Second))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("backoff = %v, want %v s", got, want)
		}
	}
}
