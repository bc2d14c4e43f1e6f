package nodeapi

import (
	"encoding/json"
	"testing"
)

// FuzzNRSpec decodes outside JSON into an NRSpec and validates it: no panic, and a spec that
// validates has routes that never include the node's own subnet.
func FuzzNRSpec(f *testing.F) {
	f.Add(`{"network_id":"net1","ip_range":"10.1.0.0/16","subnet":"10.1.1.0/24","peers":[{"public_key":"YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=","endpoint":"192.0.2.1:3000","allowed_ips":["10.1.2.0/24"]}]}`)
	f.Add(`{"network_id":"x","ip_range":"10.0.0.0/8","subnet":"10.255.255.0/30","peers":[]}`)
	f.Add(`{"network_id":"a","ip_range":"10.1.0.0/16","subnet":"10.1.1.0/24","peers":[{"public_key":"","allowed_ips":["::/0"]}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		var s NRSpec
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		if s.Validate() != nil {
			return
		}
		for _, r := range s.Routes() {
			if r.Overlaps(s.Subnet) || r.Overlaps(s.Subnet6()) {
				t.Fatalf("valid spec routes its own subnet: %s", r)
			}
		}
	})
}
