package nodeapi

import (
	"errors"
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
