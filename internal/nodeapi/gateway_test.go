package nodeapi

import (
	"errors"
	"testing"
)

func TestGatewayFirewallValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		g    GatewayFirewall
		ok   bool
	}{
		{"empty", GatewayFirewall{}, true},
		{"typical", GatewayFirewall{TCPPorts: []uint16{80, 443, 20000}, UDPPorts: []uint16{20000},
			Backends: map[string][]string{"net1": {"tcp:10.1.2.10:8080", "udp:10.1.2.11:53"}}}, true},
		{"port 0", GatewayFirewall{TCPPorts: []uint16{0}}, false},
		{"bad network id", GatewayFirewall{Backends: map[string][]string{"Net_1": {"tcp:10.1.2.10:80"}}}, false},
		{"no proto", GatewayFirewall{Backends: map[string][]string{"net1": {"10.1.2.10:80"}}}, false},
		{"sctp", GatewayFirewall{Backends: map[string][]string{"net1": {"sct:10.1.2.10:80"}}}, false},
		{"ipv6", GatewayFirewall{Backends: map[string][]string{"net1": {"tcp:[fd00::1]:80"}}}, false},
		{"no port", GatewayFirewall{Backends: map[string][]string{"net1": {"tcp:10.1.2.10"}}}, false},
	} {
		err := c.g.Validate()
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
