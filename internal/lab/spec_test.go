package lab

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const miniSpec = `
segments:
  - name: wan
    ipv4: 198.51.100.0/24
    ipv6: 2001:db8::/64
  - name: lan
    ipv4: 10.9.0.0/24
    ipv6: 2001:db8:9::/64
    gateway: gw
    dhcp: {enabled: true}
    ra: {enabled: true}
routers:
  - name: gw
    interfaces:
      - {segment: wan, ipv4: 198.51.100.2/24}
      - {segment: lan, ipv4: 10.9.0.1/24, ipv6: 2001:db8:9::1/64}
    nat: {mode: masquerade, out: wan, segments: [lan]}
hosts:
  - name: srv
    interfaces: [{segment: wan, ipv4: 198.51.100.10/24}]
    routes: [{to: default, via: 198.51.100.2}]
nodes:
  - name: n1
    cmdline: farmer_id=7
    nics: [{segment: lan}, {segment: lan, carrier: false}]
`

func TestParseSpecDefaults(t *testing.T) {
	s, err := ParseSpec([]byte(miniSpec))
	if err != nil {
		t.Fatal(err)
	}
	lan := s.segment("lan")
	checks := []struct {
		what, got, want string
	}{
		{"mtu", strconv.Itoa(lan.MTU), "1500"},
		{"dhcp range", lan.DHCP.Range, "10.9.0.100-10.9.0.199"},
		{"dhcp router", boolStr(*lan.DHCP.Router), "true"},
		{"ra prefix", lan.RA.Prefix, "2001:db8:9::/64"},
		{"nic0 name", s.Nodes[0].NICs[0].Name, "eth0"},
		{"nic1 name", s.Nodes[0].NICs[1].Name, "eth1"},
		{"nic0 mac", s.Nodes[0].NICs[0].MAC, "02:5a:4c:00:01:00"},
		{"nic1 mac", s.Nodes[0].NICs[1].MAC, "02:5a:4c:00:01:01"},
		{"nic0 carrier", boolStr(*s.Nodes[0].NICs[0].Carrier), "true"},
		{"nic1 carrier", boolStr(*s.Nodes[0].NICs[1].Carrier), "false"},
		{"router forwarding", boolStr(*s.Routers[0].Forwarding), "true"},
		{"host forwarding", boolStr(*s.Hosts[0].Forwarding), "false"},
		{"host nat", s.Hosts[0].NAT.Mode, NATNone},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if err := s.Validate(); err != nil {
		t.Errorf("validate twice: %v", err)
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestSpecErrors(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"unknown field", "    ipv4: 198.51.100.0/24\n", "    ipv4: 198.51.100.0/24\n    colour: red\n", "field colour not found"},
		{"bad segment name", "name: wan", "name: Wan", "segments[0].name: \"Wan\" must be"},
		{"long name", "name: wan", "name: abcdefghijklm", "segments[0].name: \"abcdefghijklm\" longer than 12"},
		{"duplicate segment", "name: lan", "name: wan", "segments[1].name: segment \"wan\" defined twice"},
		{"mtu", "    ipv4: 198.51.100.0/24\n", "    ipv4: 198.51.100.0/24\n    mtu: 1000\n", "segments[0].mtu: 1000 outside"},
		{"prefix host bits", "ipv4: 10.9.0.0/24", "ipv4: 10.9.0.5/24", "segments[1].ipv4: \"10.9.0.5/24\" has host bits set"},
		{"v6 as v4", "ipv4: 10.9.0.0/24", "ipv4: 2001:db8:5::/64", "segments[1].ipv4: \"2001:db8:5::/64\" is not IPv4"},
		{"dhcp range outside", "dhcp: {enabled: true}", "dhcp: {enabled: true, range: 10.8.0.10-10.8.0.20}", "segments[1].dhcp.range: \"10.8.0.10-10.8.0.20\": not inside"},
		{"dhcp range reversed", "dhcp: {enabled: true}", "dhcp: {enabled: true, range: 10.9.0.20-10.9.0.10}", "segments[1].dhcp.range: \"10.9.0.20-10.9.0.10\": last address before first"},
		{"dhcp range garbage", "dhcp: {enabled: true}", "dhcp: {enabled: true, range: lots}", "segments[1].dhcp.range: \"lots\": neither"},
		{"dhcp negative delay", "dhcp: {enabled: true}", "dhcp: {enabled: true, delay: -1s}", "segments[1].dhcp.delay: negative"},
		{"dhcp without gateway", "    gateway: gw\n", "", "segments[1].dhcp.enabled: the segment has no gateway"},
		{"ra prefix not /64", "ra: {enabled: true}", "ra: {enabled: true, prefix: \"2001:db8:9::/56\"}", "segments[1].ra.prefix: \"2001:db8:9::/56\" must be a /64"},
		{"unknown gateway", "gateway: gw", "gateway: gx", "segments[1].gateway: no router named \"gx\""},
		{"router unknown segment", "{segment: wan, ipv4: 198.51.100.2/24}", "{segment: wam, ipv4: 198.51.100.2/24}", "routers[0].interfaces[0].segment: unknown segment \"wam\""},
		{"router addr outside", "198.51.100.2/24}", "198.51.101.2/24}", "routers[0].interfaces[0].ipv4: \"198.51.101.2/24\" is not inside"},
		{"router network addr", "198.51.100.2/24}", "198.51.100.0/24}", "routers[0].interfaces[0].ipv4: \"198.51.100.0/24\" is the network"},
		{"nat mode", "mode: masquerade", "mode: cone", "routers[0].nat.mode: \"cone\" is not one of"},
		{"nat out", "out: wan, segments", "out: lan, segments", "routers[0].nat.segments[0]: \"lan\" is not an inside segment"},
		{"nat no segments", "segments: [lan]}", "segments: []}", "routers[0].nat.segments: list the segments"},
		{"route via", "via: 198.51.100.2}", "via: nowhere}", "hosts[0].routes[0].via: \"nowhere\" is not an address"},
		{"route to", "to: default", "to: 10.0.0.1/8", "hosts[0].routes[0].to: \"10.0.0.1/8\" is not"},
		{"route family", "to: default", "to: 2001:db8::/32", "hosts[0].routes[0].via: \"198.51.100.2\" is not of the same family"},
		{"name clash", "name: srv", "name: gw", "hosts[0].name: \"gw\" already used by routers[0]"},
		{"node clash", "name: n1", "name: srv", "nodes[0].name: \"srv\" already used by hosts[0]"},
		{"nic segment", "nics: [{segment: lan},", "nics: [{segment: lab},", "nodes[0].nics[0].segment: unknown segment \"lab\""},
		{"nic mac", "{segment: lan, carrier: false}", "{segment: lan, mac: \"zz\"}", "nodes[0].nics[1].mac: \"zz\" is not a MAC"},
		{"nic multicast mac", "{segment: lan, carrier: false}", "{segment: lan, mac: \"01:00:5e:00:00:01\"}", "nodes[0].nics[1].mac: \"01:00:5e:00:00:01\" is a multicast"},
		{"nic name twice", "{segment: lan, carrier: false}", "{segment: lan, name: eth0}", "nodes[0].nics[1].name: \"eth0\" used twice"},
		{"boot name", "cmdline: farmer_id=7", "cmdline: farmer_id=7\n    boot: [\"../x\"]", "nodes[0].boot[0]: \"../x\" is not a service binary name"},
		{"no segments", miniSpec, "nodes: []\n", "segments: at least one segment"},
		{"dns name", "routes: [{to: default, via: 198.51.100.2}]\nnodes", "routes: [{to: default, via: 198.51.100.2}]\n    dns: {records: {Reg_1: [198.51.100.10]}}\nnodes",
			"hosts[0].dns.records: \"Reg_1\" is not a dotted lowercase host name"},
		{"dns addr", "routes: [{to: default, via: 198.51.100.2}]\nnodes", "routes: [{to: default, via: 198.51.100.2}]\n    dns: {records: {reg.lab: [nowhere]}}\nnodes",
			"hosts[0].dns.records[reg.lab]: \"nowhere\" is not an IP address"},
		{"dns empty", "routes: [{to: default, via: 198.51.100.2}]\nnodes", "routes: [{to: default, via: 198.51.100.2}]\n    dns: {records: {}}\nnodes",
			"hosts[0].dns.records: at least one record"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(miniSpec, c.from, c.to, 1)
			if src == miniSpec && c.from != c.to {
				t.Fatalf("test case does not change the spec: %q not found", c.from)
			}
			_, err := ParseSpec([]byte(src))
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestTooManyNodes(t *testing.T) {
	var b strings.Builder
	b.WriteString("segments: [{name: lan}]\nnodes:\n")
	for i := range MaxNodes + 1 {
		fmt.Fprintf(&b, "  - {name: n%d, nics: [{segment: lan}]}\n", i)
	}
	if _, err := ParseSpec([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "nodes: 101 nodes, at most 100") {
		t.Errorf("error %v", err)
	}
}

func TestParseRange(t *testing.T) {
	cases := []struct{ r, first, last, err string }{
		{"10.0.0.10-10.0.0.20", "10.0.0.10", "10.0.0.20", ""},
		{"10.0.0.128/25", "10.0.0.129", "10.0.0.254", ""},
		{"10.0.0.0/30", "10.0.0.1", "10.0.0.2", ""},
		{"10.0.0.0/31", "", "", "smaller than a /30"},
		{"10.0.1.0/25", "", "", "not inside"},
		{"2001:db8::1-2001:db8::5", "", "", "not IPv4"},
	}
	for _, c := range cases {
		f, l, err := ParseRange(c.r, "10.0.0.0/24")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseRange(%q) error %v, want %q", c.r, err, c.err)
			}
			continue
		}
		if err != nil || f.String() != c.first || l.String() != c.last {
			t.Errorf("ParseRange(%q) = %s, %s, %v; want %s, %s", c.r, f, l, err, c.first, c.last)
		}
	}
}

func TestDefaultSpec(t *testing.T) {
	s := DefaultSpec()
	want := map[string]int{"farm1": 2, "farm2": 2, "farm3": 1, "home1": 1, "home2": 1, "home6": 1}
	if len(s.Nodes) != len(want) {
		t.Fatalf("%d nodes, want %d", len(s.Nodes), len(want))
	}
	for _, n := range s.Nodes {
		if len(n.NICs) != want[n.Name] {
			t.Errorf("node %s has %d NICs, want %d", n.Name, len(n.NICs), want[n.Name])
		}
		if n.Cmdline != "farmer_id=1 zosnet.registry=https://198.51.100.10:8443 zosnet.acme=https://198.51.100.11:14000/dir zosnet.punch=off" {
			t.Errorf("node %s cmdline %q", n.Name, n.Cmdline)
		}
	}
	for _, r := range []string{"internet", "farmgw", "homegw", "home6gw", "registry", "user", "farmer", "resolver", "acme"} {
		if s.router(r) == nil {
			t.Errorf("no router or host %s", r)
		}
	}
	// the farmer's DNS answers each public node's gateway domain with its public addresses
	for i, n := range PublicNodes {
		v4, v6 := publicAddrs(i)
		if got := s.router("resolver").DNS.Wildcards[GatewayDomains[n]]; len(got) != 2 || got[0] != v4 || got[1] != v6 {
			t.Errorf("resolver's wildcard for %s (%s): %v, want [%s %s]", n, GatewayDomains[n], got, v4, v6)
		}
	}
	if s.segment("public").DHCP.Enabled || !s.segment("public").RA.Enabled || !s.segment("oob").DHCP.Enabled {
		t.Error("PUBLIC must have RA and no DHCP, OOB must have DHCP")
	}
	if s.router("homegw").Firewall.Inbound6 || !s.router("home6gw").Firewall.Inbound6 {
		t.Error("only home6gw firewalls IPv6 inbound")
	}
}

// TestFarmSpecs checks the benchmark farms: node count, the mix of two-NIC (public),
// OOB-only and home nodes, and that no MAC is used twice.
func TestFarmSpecs(t *testing.T) {
	for _, tc := range []struct {
		file                     string
		nodes, twoNIC, oob, home int
	}{
		{"specs/farm20.yaml", 20, 10, 6, 4},
		{"specs/farm50.yaml", 50, 20, 14, 16},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s, err := LoadSpec(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Nodes) != tc.nodes {
				t.Fatalf("%d nodes, want %d", len(s.Nodes), tc.nodes)
			}
			macs := map[string]bool{}
			kinds := map[string]int{}
			for _, n := range s.Nodes {
				switch {
				case len(n.NICs) == 2:
					kinds["two-nic"]++
				case n.NICs[0].Segment == "oob":
					kinds["oob"]++
				default:
					kinds["home"]++
				}
				for _, c := range n.NICs {
					if macs[c.MAC] {
						t.Errorf("MAC %s used twice", c.MAC)
					}
					macs[c.MAC] = true
				}
			}
			if tc.nodes == 50 {
				for _, n := range s.Nodes {
					if !slices.Equal(n.Boot, []string{"netinit", "networkd", "provisiond"}) {
						t.Errorf("node %s boots %v, want the whole OS", n.Name, n.Boot)
					}
				}
			}
			if kinds["two-nic"] != tc.twoNIC || kinds["oob"] != tc.oob || kinds["home"] != tc.home {
				t.Errorf("node kinds %v, want two-nic %d, oob %d, home %d", kinds, tc.twoNIC, tc.oob, tc.home)
			}
		})
	}
}

func FuzzParseSpec(f *testing.F) {
	b, _ := os.ReadFile("specs/default.yaml")
	f.Add(b)
	f.Add([]byte(miniSpec))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSpec(in)
		if err == nil {
			if err := s.Validate(); err != nil {
				t.Fatalf("valid spec does not validate again: %v", err)
			}
		}
	})
}
