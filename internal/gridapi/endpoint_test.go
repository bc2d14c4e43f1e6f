package gridapi

import "testing"

func TestEndpointReachable(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   bool
	}{
		{ReasonPublicConfig, true},
		{ReasonPublicIPv4, true},
		{ReasonPublicSegment, true}, // networkd: SLAAC on br-pub's own NIC
		{ReasonGlobalIPv6, false},   // NIC fallback: maybe a firewalled home LAN (home6)
		{ReasonNetworkd, false},
		{"", false},
	} {
		if got := (Endpoint{IP: "2001:db8::1", Family: 6, Reason: tc.reason}).Reachable(); got != tc.want {
			t.Errorf("Reachable(reason %q) = %v, want %v", tc.reason, got, tc.want)
		}
	}
}
