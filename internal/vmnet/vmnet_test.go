package vmnet

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/mdlayher/ndp"
)

var (
	vmMAC  = net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	cfg    = Config{Gateway: netip.MustParseAddr("10.100.1.1"), MTU: 1420, DNS: []netip.Addr{netip.MustParseAddr("10.100.1.1")}, LeaseTime: 10 * time.Minute}
	leases = []Lease{{MAC: vmMAC, IPv4: netip.MustParsePrefix("10.100.1.77/24")}}
)

func request(t *testing.T, mac net.HardwareAddr, typ dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(typ)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReply: only the VM's MAC is answered, with its address, the gateway, the lease
// time, the MTU and the name servers; a REQUEST for another address is refused.
func TestReply(t *testing.T) {
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 9}
	for _, tc := range []struct {
		name string
		req  *dhcpv4.DHCPv4
		want dhcpv4.MessageType // 0: not answered
	}{
		{"discover", request(t, vmMAC, dhcpv4.MessageTypeDiscover), dhcpv4.MessageTypeOffer},
		{"request", request(t, vmMAC, dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 100, 1, 77)))), dhcpv4.MessageTypeAck},
		{"renew", request(t, vmMAC, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(net.IPv4(10, 100, 1, 77))), dhcpv4.MessageTypeAck},
		{"request another address", request(t, vmMAC, dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 100, 1, 9)))), dhcpv4.MessageTypeNak},
		{"another MAC", request(t, other, dhcpv4.MessageTypeDiscover), 0},
		{"release", request(t, vmMAC, dhcpv4.MessageTypeRelease), 0},
		{"inform", request(t, vmMAC, dhcpv4.MessageTypeInform), 0},
	} {
		resp, err := Reply(cfg, leases, tc.req)
		if tc.want == 0 {
			if !errors.Is(err, ErrNotOurs) || resp != nil {
				t.Errorf("%s: %v %v, want not answered", tc.name, resp, err)
			}
			continue
		}
		if err != nil || resp.MessageType() != tc.want {
			t.Fatalf("%s: %v %v, want %s", tc.name, resp, err, tc.want)
		}
		if !resp.ServerIdentifier().Equal(net.IPv4(10, 100, 1, 1)) || resp.TransactionID != tc.req.TransactionID {
			t.Errorf("%s: server id %s xid %s", tc.name, resp.ServerIdentifier(), resp.TransactionID)
		}
		if tc.want == dhcpv4.MessageTypeNak {
			if !resp.YourIPAddr.IsUnspecified() {
				t.Errorf("%s: NAK carries address %s", tc.name, resp.YourIPAddr)
			}
			continue
		}
		mtu := resp.Options.Get(dhcpv4.OptionInterfaceMTU)
		if !resp.YourIPAddr.Equal(net.IPv4(10, 100, 1, 77)) || net.IP(resp.SubnetMask()).String() != "255.255.255.0" ||
			len(resp.Router()) != 1 || !resp.Router()[0].Equal(net.IPv4(10, 100, 1, 1)) ||
			resp.IPAddressLeaseTime(0) != 10*time.Minute || len(mtu) != 2 || int(mtu[0])<<8|int(mtu[1]) != 1420 ||
			len(resp.DNS()) != 1 {
			t.Errorf("%s: %s", tc.name, resp.Summary())
		}
	}
}

func TestEUI64(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		mac    net.HardwareAddr
		want   string
	}{
		{"fd64:1:2:3::/64", vmMAC, "fd64:1:2:3:11:22ff:fe33:4455"},
		{"2001:db8::/64", net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}, "2001:db8::5054:ff:fe12:3456"},
	} {
		if got := EUI64(netip.MustParsePrefix(tc.prefix), tc.mac); got.String() != tc.want {
			t.Errorf("EUI64(%s, %s) = %s, want %s", tc.prefix, tc.mac, got, tc.want)
		}
	}
	if got := LinkLocal(vmMAC); got.String() != "fe80::11:22ff:fe33:4455" {
		t.Errorf("LinkLocal = %s", got)
	}
}

func TestRA(t *testing.T) {
	c := cfg
	c.Prefixes = []netip.Prefix{netip.MustParsePrefix("fd64:1:2:3::/64"), netip.MustParsePrefix("2001:db8:1::/64")}
	ra := RA(c, net.HardwareAddr{0x02, 0, 0, 0, 0, 1})
	b, err := ndp.MarshalMessage(ra)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ndp.ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	got := m.(*ndp.RouterAdvertisement)
	var prefixes []string
	mtu := 0
	for _, o := range got.Options {
		switch o := o.(type) {
		case *ndp.PrefixInformation:
			if !o.OnLink || !o.AutonomousAddressConfiguration || o.PrefixLength != 64 {
				t.Errorf("prefix option %+v", o)
			}
			prefixes = append(prefixes, o.Prefix.String())
		case *ndp.MTU:
			mtu = int(o.MTU)
		}
	}
	if got.RouterLifetime != 30*time.Minute || mtu != 1420 || len(prefixes) != 2 || prefixes[0] != "fd64:1:2:3::" {
		t.Errorf("RA: lifetime %s mtu %d prefixes %v", got.RouterLifetime, mtu, prefixes)
	}
}

func FuzzReply(f *testing.F) {
	f.Add(request(&testing.T{}, vmMAC, dhcpv4.MessageTypeDiscover).ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		resp, err := Reply(cfg, leases, m)
		if err == nil && resp.ClientHWAddr.String() != vmMAC.String() {
			t.Fatalf("answered %s", resp.ClientHWAddr)
		}
	})
}
