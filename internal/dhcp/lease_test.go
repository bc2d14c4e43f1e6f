package dhcp

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func ack(t *testing.T, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	base := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.IPv4(10, 5, 0, 100)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithServerIP(net.IPv4(10, 5, 0, 1)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 5, 0, 1))),
		dhcpv4.WithLeaseTime(120),
		dhcpv4.WithRouter(net.IPv4(10, 5, 0, 1)),
		dhcpv4.WithDNS(net.IPv4(10, 5, 0, 53)),
	}
	m, err := dhcpv4.New(append(base, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFromACK(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name   string
		mods   []dhcpv4.Modifier
		errHas string
		check  func(*Lease) bool
	}{
		{"full", nil, "", func(l *Lease) bool {
			return l.Addr == netip.MustParsePrefix("10.5.0.100/24") && l.Router == netip.MustParseAddr("10.5.0.1") &&
				l.Server == netip.MustParseAddr("10.5.0.1") && l.Duration == 2*time.Minute &&
				l.T1 == time.Minute && l.T2 == 105*time.Second && len(l.DNS) == 1 && l.HasGateway() &&
				l.Expiry() == now.Add(2*time.Minute)
		}},
		{"no router", []dhcpv4.Modifier{func(d *dhcpv4.DHCPv4) { d.Options.Del(dhcpv4.OptionRouter) }}, "",
			func(l *Lease) bool { return !l.HasGateway() }},
		{"router off link", []dhcpv4.Modifier{dhcpv4.WithRouter(net.IPv4(192, 0, 2, 1))}, "",
			func(l *Lease) bool { return !l.HasGateway() }},
		{"second router on link", []dhcpv4.Modifier{dhcpv4.WithRouter(net.IPv4(192, 0, 2, 1), net.IPv4(10, 5, 0, 254))}, "",
			func(l *Lease) bool { return l.Router == netip.MustParseAddr("10.5.0.254") }},
		{"explicit t1 t2", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(30 * time.Second)),
			dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(90 * time.Second))}, "",
			func(l *Lease) bool { return l.T1 == 30*time.Second && l.T2 == 90*time.Second }},
		{"inconsistent t1", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(500 * time.Second))}, "",
			func(l *Lease) bool { return l.T1 == time.Minute }},
		{"offer not ack", []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer)}, "not an ACK", nil},
		{"zero yiaddr", []dhcpv4.Modifier{dhcpv4.WithYourIP(net.IPv4zero)}, "yiaddr", nil},
		{"multicast yiaddr", []dhcpv4.Modifier{dhcpv4.WithYourIP(net.IPv4(224, 0, 0, 1))}, "yiaddr", nil},
		{"no mask", []dhcpv4.Modifier{func(d *dhcpv4.DHCPv4) { d.Options.Del(dhcpv4.OptionSubnetMask) }}, "subnet mask", nil},
		{"bad mask", []dhcpv4.Modifier{dhcpv4.WithNetmask(net.IPMask{255, 0, 255, 0})}, "subnet mask", nil},
		{"no server id", []dhcpv4.Modifier{func(d *dhcpv4.DHCPv4) { d.Options.Del(dhcpv4.OptionServerIdentifier) }}, "server identifier", nil},
		{"no lease time", []dhcpv4.Modifier{func(d *dhcpv4.DHCPv4) { d.Options.Del(dhcpv4.OptionIPAddressLeaseTime) }}, "lease time", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := FromACK(ack(t, tt.mods...), now)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(l) {
				t.Fatalf("lease %+v not as expected", l)
			}
		})
	}
}

func TestLeaseJSON(t *testing.T) {
	l, err := FromACK(ack(t), time.Unix(1000, 0).UTC())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back Lease
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.String() != l.String() || !back.Acquired.Equal(l.Acquired) || back.T2 != l.T2 {
		t.Fatalf("round trip: %v != %v", back.String(), l.String())
	}
	if err := json.Unmarshal([]byte(`{"ack":"AAAA"}`), &back); err == nil {
		t.Fatal("garbage ACK accepted")
	}
}

func TestRetransmit(t *testing.T) {
	want := []time.Duration{1, 1, 1, 2, 2, 2, 4, 4, 4, 4}
	for i, w := range want {
		if got := retransmitAfter(i); got != w*time.Second {
			t.Errorf("retransmitAfter(%d) = %v, want %v", i, got, w*time.Second)
		}
	}
	for left, want := range map[time.Duration]time.Duration{
		10 * time.Minute: time.Minute, 10 * time.Second: 5 * time.Second, 1500 * time.Millisecond: time.Second,
		700 * time.Millisecond: 700 * time.Millisecond, 10 * time.Millisecond: 100 * time.Millisecond,
	} {
		if got := retryWait(left); got != want {
			t.Errorf("retryWait(%v) = %v, want %v", left, got, want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	got := ResolvConf([]netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("10.0.0.54")})
	if !strings.Contains(got, "nameserver 10.0.0.53\nnameserver 10.0.0.54\n") {
		t.Fatalf("ResolvConf = %q", got)
	}
	if b := broadcast(netip.MustParsePrefix("10.1.2.3/22")); b.String() != "10.1.3.255" {
		t.Fatalf("broadcast = %v", b)
	}
}

func FuzzFromACK(f *testing.F) {
	f.Add(dhcpv4FromMods(f).ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		l, err := FromACK(m, time.Unix(0, 0))
		if err != nil {
			return
		}
		if !l.Addr.Addr().Is4() || !l.Server.IsValid() || l.Duration <= 0 || l.T1 <= 0 || l.T1 >= l.T2 || l.T2 >= l.Duration {
			t.Fatalf("accepted an inconsistent lease: %+v", l)
		}
		if l.HasGateway() && !l.Addr.Masked().Contains(l.Router) {
			t.Fatalf("gateway %v outside %v", l.Router, l.Addr)
		}
	})
}

func dhcpv4FromMods(f *testing.F) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithYourIP(net.IPv4(10, 5, 0, 100)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 5, 0, 1))),
		dhcpv4.WithLeaseTime(120), dhcpv4.WithRouter(net.IPv4(10, 5, 0, 1)))
	if err != nil {
		f.Fatal(err)
	}
	return m
}
