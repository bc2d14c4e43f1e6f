package lab

import (
	_ "embed"
	"fmt"

	"github.com/zosnet/zosnet/internal/nat"
)

//go:embed specs/nat.yaml
var natYAML []byte

// NATSpec returns specs/nat.yaml (issue 14): the default farm's internet and farm plus
// one hidden node behind each NAT type (NATNodes), three outside probe hosts, and a
// carrier-grade NAT made of two routers in series. Each call returns a fresh copy.
func NATSpec() *Spec {
	s, err := ParseSpec(natYAML)
	if err != nil {
		panic(fmt.Sprintf("lab: embedded nat spec is invalid: %v", err))
	}
	return s
}

// NATNodes maps each hidden node of NATSpec to the NAT type it sits behind, and the
// routers its packets cross (innermost first).
var NATNodes = map[string]struct {
	Type    nat.Type
	Routers []string
}{
	"easy1": {nat.Easy, []string{"easygw"}},
	"easy2": {nat.Easy, []string{"easygw"}},
	"full":  {nat.FullCone, []string{"fullgw"}},
	"addr":  {nat.AddressRestricted, []string{"addrgw"}},
	"hard":  {nat.Hard, []string{"hardgw"}},
	"one":   {nat.OneToOne, []string{"onegw"}},
	"cg":    {nat.CGNAT, []string{"cghome", "cgngw"}},
}

// Type is the NAT type a router's mode gives (empty for none).
func (n NAT) Type() nat.Type {
	return map[string]nat.Type{NATMasquerade: nat.Easy, NATFullyRandom: nat.Hard, NATFullCone: nat.FullCone,
		NATAddressRestricted: nat.AddressRestricted, NATOneToOne: nat.OneToOne}[n.Mode]
}
