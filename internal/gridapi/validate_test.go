package gridapi

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"farm1", true}, {"my-net_2.x", true}, {"A", true},
		{"", false}, {"123", false}, {"-a", false}, {"a b", false}, {"é", false},
		{string(make([]byte, 64)), false},
	} {
		if err := ValidName("name", tc.s); (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.s, err, tc.ok)
		}
	}
}

func TestValidateFields(t *testing.T) {
	cases := []struct {
		name  string
		v     interface{ Validate() error }
		field string // "" = valid
	}{
		{"spec ok", &NetworkSpec{Name: "n", IPRange: "10.0.0.0/16", SubnetSize: 24, Members: []int64{1, 2}}, ""},
		{"spec negative member", &NetworkSpec{Name: "n", IPRange: "10.0.0.0/16", SubnetSize: 24, Members: []int64{-1}}, "members[0]"},
		{"spec dup peer name", &NetworkSpec{Name: "n", IPRange: "10.0.0.0/16", SubnetSize: 24,
			AccessPeers: []AccessPeerSpec{{"a", "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE="}, {"a", "r1FJwTZZtgNRA0Me0kExYyZ8ZsfjmIpHRmtvO1CUhwI="}}}, "access_peers[1].name"},
		{"spec dup peer key", &NetworkSpec{Name: "n", IPRange: "10.0.0.0/16", SubnetSize: 24,
			AccessPeers: []AccessPeerSpec{{"a", "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE="}, {"b", "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE="}}}, "access_peers[1].public_key"},
		{"spec range too big", &NetworkSpec{Name: "n", IPRange: "10.0.0.0/7", SubnetSize: 24}, "ip_range"},
		{"spec long peer name", &NetworkSpec{Name: "n", IPRange: "10.0.0.0/16", SubnetSize: 24,
			AccessPeers: []AccessPeerSpec{{"a123456789012345678901234567890123", "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE="}}}, "access_peers[0].name"},
		{"pc v6 ok", &PublicConfig{IPv6: "2001:db8::5/64", GW6: "2001:db8::1"}, ""},
		{"pc v6 link-local gw", &PublicConfig{IPv6: "2001:db8::5/64", GW6: "fe80::1", Domain: "node1.example.org"}, ""},
		{"pc network address", &PublicConfig{IPv4: "198.51.100.0/24", GW4: "198.51.100.1"}, "ipv4"},
		{"pc v4 /32", &PublicConfig{IPv4: "198.51.100.5/32", GW4: "198.51.100.1"}, "ipv4"},
		{"pc gw is self", &PublicConfig{IPv4: "198.51.100.5/24", GW4: "198.51.100.5"}, "gw4"},
		{"pc mapped v4", &PublicConfig{IPv6: "::ffff:1.2.3.4/120"}, "ipv6"},
		{"facts route gw", &NodeFacts{NICs: []NIC{{Name: "e", Routes: []Route{{Dst: "0.0.0.0/0", Gw: "x"}}}}}, "nics[0].routes[0].gw"},
		{"facts route dst", &NodeFacts{NICs: []NIC{{Name: "e", Routes: []Route{{Dst: "default"}}}}}, "nics[0].routes[0].dst"},
		{"facts reason", &NodeFacts{Endpoints: []Endpoint{{IP: "2001:db8::1", Family: 6}}}, "endpoints[0].reason"},
		{"nr ok", &NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", ListenPort: 1, Endpoints: []string{"[2001:db8::1]:1"}, State: "up"}, ""},
		{"nr endpoint", &NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", Endpoints: []string{"2001:db8::1:1"}, State: "up"}, "endpoints[0]"},
		{"nr port", &NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", ListenPort: 65536, State: "up"}, "listen_port"},
		{"nr peers ok", &NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", State: "up", Peers: []int64{1, 7}}, ""},
		{"nr peer id", &NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", State: "up", Peers: []int64{1, 0}}, "peers[1]"},
		{"nr peers too many", &NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", State: "up", Peers: make([]int64, MaxMembers+1)}, "peers"},
		{"nr relay groups ok", &NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", State: "up", RelayGroups: []RelayGroupUse{{Relays: []string{"1", "2"}, Current: "2"}}}, ""},
		{"nr relay group current", &NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", State: "up", RelayGroups: []RelayGroupUse{{Relays: []string{"1", "2"}, Current: "3"}}}, "relay_groups[0].current"},
		{"nr relay group three", &NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", State: "up", RelayGroups: []RelayGroupUse{{Relays: []string{"1", "2", "3"}, Current: "1"}}}, "relay_groups[0].relays"},
		{"nr relay group empty id", &NRReport{PublicKey: "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", State: "up", RelayGroups: []RelayGroupUse{{Relays: []string{"1", ""}, Current: "1"}}}, "relay_groups[0].relays[1]"},
		{"facts relay weight", &NodeFacts{RelayWeight: 3}, ""},
		{"facts relay weight big", &NodeFacts{RelayWeight: 1001}, "relay_weight"},
		{"facts relay weight negative", &NodeFacts{RelayWeight: -1}, "relay_weight"},
		{"register", &NodeRegister{FarmID: 1, Name: "n", Version: string(make([]byte, 65))}, "version"},
	}
	for _, tc := range cases {
		err := tc.v.Validate()
		var fe *FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%s: %v, want field %s", tc.name, err, tc.field)
		}
	}
}

// fuzzDecode decodes data into v and validates it; neither may panic, and whatever
// validates must survive a JSON round trip and still validate.
func fuzzDecode[T any, P interface {
	*T
	Validate() error
}](t *testing.T, data []byte) {
	var v T
	if json.Unmarshal(data, &v) != nil {
		return
	}
	if P(&v).Validate() != nil {
		return
	}
	b, err := json.Marshal(&v)
	if err != nil {
		t.Fatal(err)
	}
	var w T
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if err := P(&w).Validate(); err != nil {
		t.Fatalf("valid value invalid after round trip: %v", err)
	}
}

func FuzzNetworkSpec(f *testing.F) {
	f.Add([]byte(`{"name":"n","ip_range":"10.0.0.0/16","subnet_size":24,"members":[1,2],"access_peers":[{"name":"a","public_key":"GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE="}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode[NetworkSpec](t, b) })
}

func FuzzNodeFacts(f *testing.F) {
	f.Add([]byte(`{"nics":[{"name":"zos","mac":"52:54:00:00:00:01","addrs":["10.0.0.2/24"],"routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1"}]}],"endpoints":[{"ip":"2001:db8::1","family":6,"reason":"global-ipv6"}],"wg_ports":[3000]}`))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode[NodeFacts](t, b) })
}

func FuzzPublicConfig(f *testing.F) {
	f.Add([]byte(`{"ipv4":"198.51.100.5/24","gw4":"198.51.100.1","ipv6":"2001:db8::5/64","gw6":"2001:db8::1"}`))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode[PublicConfig](t, b) })
}

func FuzzNRReport(f *testing.F) {
	f.Add([]byte(`{"public_key":"GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=","listen_port":3000,"endpoints":["[2001:db8::1]:3000"],"state":"up"}`))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode[NRReport](t, b) })
}

func FuzzRegisterAndFarm(f *testing.F) {
	f.Add([]byte(`{"farm_id":1,"name":"farm1","version":"v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode[NodeRegister](t, b)
		fuzzDecode[FarmCreate](t, b)
	})
}
