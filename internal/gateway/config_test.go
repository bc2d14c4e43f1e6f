package gateway

import (
	"net/netip"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	b := []netip.AddrPort{netip.MustParseAddrPort("10.1.1.10:80")}
	web := httpRoute("a", "web", "terminate", b...)
	tcp := Route{ID: "t", Network: "net1", Kind: "tcp", Port: 5432, Backends: b}
	udp := Route{ID: "u", Network: "net1", Kind: "udp", Port: 5432, Backends: b}
	mod := func(r Route, f func(*Route)) Route { f(&r); return r }
	for _, c := range []struct {
		name   string
		routes []Route
		err    string // "" = builds
	}{
		{"empty", nil, ""},
		{"one of each", []Route{web, tcp, udp}, ""},
		{"same id twice", []Route{web, mod(tcp, func(r *Route) { r.ID = "a" })}, "id"},
		{"same name twice", []Route{web, mod(web, func(r *Route) { r.ID = "b" })}, "routed twice"},
		{"same tcp port twice", []Route{tcp, mod(tcp, func(r *Route) { r.ID = "t2" })}, "routed twice"},
		{"name under another domain", []Route{mod(web, func(r *Route) { r.FQDN = "web.gw2.farm1.test" })}, "under the gateway domain"},
		{"the domain itself", []Route{mod(web, func(r *Route) { r.FQDN = testDomain })}, "under the gateway domain"},
		{"two labels", []Route{mod(web, func(r *Route) { r.FQDN = "a.b." + testDomain })}, "fqdn"},
		{"tls mode", []Route{mod(web, func(r *Route) { r.TLS = "" })}, "tls"},
		{"no backends", []Route{mod(web, func(r *Route) { r.Backends = nil })}, "backends"},
		{"ipv6 backend", []Route{mod(web, func(r *Route) { r.Backends = []netip.AddrPort{netip.MustParseAddrPort("[fd00::1]:80")} })}, "backends"},
		{"network id", []Route{mod(web, func(r *Route) { r.Network = "Net_1" })}, "network_id"},
		{"wireguard port", []Route{mod(tcp, func(r *Route) { r.Port = 3001 })}, "port"},
		{"kind", []Route{mod(tcp, func(r *Route) { r.Kind = "sctp" })}, "kind"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb, err := Build(Config{Domain: testDomain, Routes: c.routes})
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("got %v, want an error about %q", err, c.err)
			case c.err == "" && len(tb.Routes()) != len(c.routes):
				t.Fatalf("%d routes in the table", len(tb.Routes()))
			}
		})
	}
	tb, err := Build(Config{Domain: testDomain, Routes: []Route{web, tcp, udp}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"web." + testDomain: true, "WEB.gw1.Farm1.test": true, "web." + testDomain + ":8443": true,
		"web." + testDomain + ".": true, "other." + testDomain: false, testDomain: false, "10.1.1.10": false, "": false} {
		if got := tb.HTTP(host) != nil; got != want {
			t.Errorf("HTTP(%q) found=%v, want %v", host, got, want)
		}
	}
	if tb.Port("tcp", 5432) != &tb.Routes()[1] || tb.Port("udp", 5432) != &tb.Routes()[2] || tb.Port("tcp", 5433) != nil {
		t.Error("port lookup")
	}
	if got := tb.Backends()["net1"]; len(got) != 1 || got[0] != b[0] {
		t.Errorf("backends allow-list: %v", got)
	}
}
