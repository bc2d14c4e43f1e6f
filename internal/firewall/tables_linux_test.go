package firewall

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/nft"
	"github.com/zosnet/zosnet/internal/testkit"
)

type inputs struct {
	gwSocket Socket
	gateway  []Backend
	host     Host
	ndmz     NDMZ
	socket   []uint16
	uplink   string
	ports    []Port
}

// goldenInputs are the policies the golden files show (and the root test applies).
func goldenInputs() inputs {
	mac, _ := net.ParseMAC("02:00:00:00:00:07")
	mac2, _ := net.ParseMAC("02:00:00:00:00:08")
	mac3, _ := net.ParseMAC("02:00:00:00:00:09")
	ap := netip.MustParseAddrPort
	return inputs{
		gwSocket: Socket{WGPorts: []uint16{3002}, GatewayTCP: []uint16{443, 80, 20000}, GatewayUDP: []uint16{20000}},
		gateway: []Backend{{ap("10.1.2.10:8080"), "tcp"}, {ap("10.1.2.10:80"), "tcp"}, {ap("10.1.3.10:8080"), "tcp"},
			{ap("10.1.3.11:53"), "udp"}},
		host: Host{WGPorts: []uint16{3001, 3000, 3001}, NDMZLink: "ndmz-h", NDMZNet: netip.MustParsePrefix("100.126.0.0/30")},
		ndmz: NDMZ{UplinkPrefix: "u-", Egress: []string{"to-host", "pub6"}, Uplinks: []string{"u-net2", "u-net1"},
			Resolver: netip.MustParseAddr("100.126.53.53"),
			Deny: prefixes("10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
				"192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
				"2001:db8:600::/64", "2001:db8:600::5/128", "198.51.100.7/32"),
			Allow: []Allow{{Prefix: netip.MustParsePrefix("10.201.0.50/32"), Proto: unix.IPPROTO_TCP, Port: 873},
				{Prefix: netip.MustParsePrefix("2001:db8:600::/64")},
				{Prefix: netip.MustParsePrefix("10.201.0.0/24"), Proto: unix.IPPROTO_UDP}}},
		socket: []uint16{3002},
		uplink: "u-net1",
		// c-w2 first: the table sorts ports; c-w2 has no addresses yet (like a
		// public port with IPv6 only); t-w3 is a VM's tap, which asks for DHCP.
		ports: []Port{{Iface: "c-w2", MAC: mac2},
			{Iface: "t-w3", MAC: mac3, IPv4: netip.MustParseAddr("10.1.1.3"), IPv6: netip.MustParseAddr("fd00::3"), DHCP: true},
			{Iface: "c-w1", MAC: mac, IPv4: netip.MustParseAddr("10.1.1.2"), IPv6: netip.MustParseAddr("fd00::2")}},
	}
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

type golden struct {
	file  string
	table *nft.Table
}

func goldenTables() []golden {
	in := goldenInputs()
	return []golden{
		{"testdata/host.nft", hostTable(in.host)},
		{"testdata/host-no-ndmz.nft", hostTable(Host{})},
		{"testdata/ndmz.nft", ndmzTable(in.ndmz)},
		{"testdata/ndmz-bare.nft", ndmzTable(NDMZ{UplinkPrefix: "u-", Egress: []string{"to-host"}})},
		{"testdata/socket.nft", socketTable(in.socket)},
		{"testdata/uplink.nft", uplinkTable(in.uplink)},
		{"testdata/antispoof.nft", antiSpoofTable(in.ports)},
		{"testdata/socket-gateway.nft", socketTableWith(in.gwSocket)},
		{"testdata/gateway.nft", gatewayTable(in.gateway)},
	}
}

// TestGolden: every table networkd owns outside the NRs, whole, as `nft list table`
// prints it (no root needed; TestTablesRenderAndReapply checks the kernel agrees).
func TestGolden(t *testing.T) {
	for _, g := range goldenTables() {
		testkit.Golden(t, g.file, nft.Render(g.table))
	}
}

// TestAntiSpoofKeepsCallerOrder: building the table does not reorder the caller's ports.
func TestAntiSpoofKeepsCallerOrder(t *testing.T) {
	in := goldenInputs()
	antiSpoofTable(in.ports)
	if in.ports[0].Iface != "c-w2" {
		t.Errorf("ports reordered: %v", in.ports)
	}
}
