package plan

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzPlanInput feeds arbitrary JSON to the planner: it must never panic, must reject
// bad input with ErrInvalid or ErrImpossible, and every plan it returns must satisfy the
// same invariants as the property tests (checked on small networks to stay fast).
func FuzzPlanInput(f *testing.F) {
	for _, in := range []Input{labInput(), relayedPublicPair().in, hiddenLANAndRelay().in} {
		b, err := json.Marshal(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"network":{"id":"x","range":"10.0.0.0/30","subnet_bits":30},"members":[{"node_id":"a","public_key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","listen_port":1,"endpoints":[{"addr":"198.51.100.1","reachable":true}]}]}`))
	f.Add([]byte(`{"network":{"id":"x","range":"10.0.0.0/8"},"members":[{"node_id":"a","public_key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","listen_port":1,"lan":{"public_source":"203.0.113.1","addresses":["192.168.1.1/24"]}},{"node_id":"b","public_key":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=","listen_port":1,"lan":{"public_source":"203.0.113.1","addresses":["192.168.1.2/24"]}}]}`))
	f.Add([]byte(`{"network":{"id":"x","range":"10.0.0.0/16"},"members":[],"access":[{"name":"d","public_key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","address":"10.0.0.1"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in Input
		if json.Unmarshal(data, &in) != nil || len(in.Members) > 12 || len(in.Access) > 4 {
			return
		}
		pl, err := Compute(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrImpossible) {
				t.Fatalf("error wraps neither ErrInvalid nor ErrImpossible: %v", err)
			}
			return
		}
		checkPlan(t, in, pl, "fuzz")
	})
}
