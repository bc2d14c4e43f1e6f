package lab

import (
	"strings"
	"testing"
)

func TestServerConfigs(t *testing.T) {
	s, err := ParseSpec([]byte(netinitSpec))
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{name: "x", dir: "/run/zoslab/x", st: &state{Spec: s, DHCPRange: map[string]string{"good": "10.7.3.200-10.7.3.210"}}}
	cases := []struct {
		seg       string
		ping      bool
		want, not []string
	}{
		{"late", false, []string{"interface=late\n", "no-ping\n", "dhcp-range=10.7.1.100,10.7.1.199,255.255.255.0,1h\n",
			"dhcp-option=option:router,10.7.1.1\n", "port=0\n", "dhcp-authoritative\n",
			"dhcp-leasefile=/run/zoslab/x/servers/dnsmasq-late.leases\n", "pid-file=/run/zoslab/x/servers/dnsmasq-late.pid\n"}, nil},
		{"norouter", false, []string{"dhcp-option=3\n"}, []string{"option:router"}},
		{"good", true, []string{"dhcp-range=10.7.3.200,10.7.3.210,"}, []string{"no-ping"}},
	}
	for _, c := range cases {
		g := s.segment(c.seg)
		g.DHCP.Ping = c.ping
		conf, err := l.dnsmasqConf(g)
		if err != nil {
			t.Fatalf("%s: %v", c.seg, err)
		}
		for _, w := range c.want {
			if !strings.Contains(conf, w) {
				t.Errorf("%s: config lacks %q:\n%s", c.seg, w, conf)
			}
		}
		for _, w := range c.not {
			if strings.Contains(conf, w) {
				t.Errorf("%s: config has %q:\n%s", c.seg, w, conf)
			}
		}
	}
	dns := l.dnsConf(&Router{Name: "res", Interfaces: []Interface{{Segment: "wan", IPv4: "198.51.100.53/24", IPv6: "2001:db8::53/64"}},
		DNS: &DNSServer{Records: map[string][]string{"registry.lab": {"198.51.100.10", "2001:db8::10"}, "a.lab": {"198.51.100.1"}},
			Wildcards: map[string][]string{"gw1.farm1.test": {"203.0.113.10", "2001:db8:100::10"}}}})
	for _, w := range []string{"listen-address=198.51.100.53\n", "listen-address=2001:db8::53\n", "no-resolv\n",
		"host-record=a.lab,198.51.100.1\nhost-record=registry.lab,198.51.100.10,2001:db8::10\n", "pid-file=/run/zoslab/x/servers/dns-res.pid\n",
		"address=/gw1.farm1.test/203.0.113.10\naddress=/gw1.farm1.test/2001:db8:100::10\n"} {
		if !strings.Contains(dns, w) {
			t.Errorf("dns config lacks %q:\n%s", w, dns)
		}
	}
	g := s.segment("late")
	g.DHCP.DNS = []string{"198.51.100.53"}
	if conf, _ := l.dnsmasqConf(g); !strings.Contains(conf, "dhcp-option=option:dns-server,198.51.100.53\n") {
		t.Errorf("dhcp config lacks the dns-server option:\n%s", conf)
	}
	ra := radvdConf(&Segment{Name: "pub", RA: RA{Enabled: true, Prefix: "2001:db8:1::/64"}})
	for _, w := range []string{"interface pub {", "AdvSendAdvert on;", "prefix 2001:db8:1::/64 {", "AdvAutonomous on;"} {
		if !strings.Contains(ra, w) {
			t.Errorf("radvd config lacks %q:\n%s", w, ra)
		}
	}
}
