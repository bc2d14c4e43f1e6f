package nodeapi

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestWorkloadValidate(t *testing.T) {
	for _, tt := range []struct {
		s     WorkloadSpec
		field string // "" = valid
	}{
		{WorkloadSpec{Name: "web-1", NetworkID: "net1"}, ""},
		{WorkloadSpec{Name: "vm", NetworkID: "net1", Kind: "tap"}, ""},
		{WorkloadSpec{Name: "", NetworkID: "net1"}, "name"},
		{WorkloadSpec{Name: "Web", NetworkID: "net1"}, "name"},
		{WorkloadSpec{Name: "-x", NetworkID: "net1"}, "name"},
		{WorkloadSpec{Name: "web", NetworkID: "NET"}, "network_id"},
		{WorkloadSpec{Name: "web", NetworkID: "net1", Kind: "vm"}, "kind"},
		{WorkloadSpec{Name: "web", NetworkID: "net1", ManagedBy: "me"}, "managed_by"},
		{WorkloadSpec{Name: "web", NetworkID: "net1", ManagedBy: ManagedByGrid, PublicIPv6: true}, ""},
		{WorkloadSpec{Name: "web", NetworkID: "net1", PublicIPv4: netip.MustParsePrefix("203.0.113.5/24"), PublicGW4: netip.MustParseAddr("203.0.113.1")}, ""},
		{WorkloadSpec{Name: "web", NetworkID: "net1", PublicIPv4: netip.MustParsePrefix("203.0.113.5/24")}, "public_gw4"},
		{WorkloadSpec{Name: "web", NetworkID: "net1", PublicIPv4: netip.MustParsePrefix("203.0.113.5/24"), PublicGW4: netip.MustParseAddr("198.51.100.1")}, "public_gw4"},
		{WorkloadSpec{Name: "web", NetworkID: "net1", PublicIPv4: netip.MustParsePrefix("2001:db8::5/64"), PublicGW4: netip.MustParseAddr("203.0.113.1")}, "public_ipv4"},
		{WorkloadSpec{Name: "web", NetworkID: "net1", PublicGW4: netip.MustParseAddr("203.0.113.1")}, "public_gw4"},
	} {
		err := tt.s.Validate()
		if tt.field == "" {
			if err != nil || tt.s.Kind == "" {
				t.Errorf("%+v: err %v, want valid with a kind", tt.s, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "invalid workload: "+tt.field+": ") {
			t.Errorf("%+v: err %v, want ErrInvalid naming %s", tt.s, err, tt.field)
		}
	}
}
