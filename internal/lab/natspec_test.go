package lab

import (
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/nat"
)

func TestNATSpecErrors(t *testing.T) {
	const from = "nat: {mode: masquerade, out: wan, segments: [lan]}"
	for _, c := range []struct{ name, to, want string }{
		{"full cone without host", "nat: {mode: full-cone, out: wan, segments: [lan]}", `routers[0].nat.host: "" is not an IPv4 address (mode full-cone`},
		{"host outside", "nat: {mode: one-to-one, out: wan, segments: [lan], host: 10.8.0.5}", "routers[0].nat.host: 10.8.0.5 is in none of the NAT's inside segments [lan]"},
		{"host v6", "nat: {mode: address-restricted, out: wan, segments: [lan], host: \"2001:db8:9::5\"}", "is not an IPv4 address"},
		{"host for masquerade", "nat: {mode: masquerade, out: wan, segments: [lan], host: 10.9.0.5}", "routers[0].nat.host: only full-cone"},
		{"timeout fraction", "nat: {mode: masquerade, out: wan, segments: [lan], udp_timeout: 1500ms}", "routers[0].nat.udp_timeout: 1.5s is not whole seconds"},
		{"timeout long", "nat: {mode: masquerade, out: wan, segments: [lan], udp_timeout: 2h}", "routers[0].nat.udp_timeout: 2h0m0s is not whole seconds between 1s and 1h"},
		{"firewall drops forwarded", "nat: {mode: one-to-one, out: wan, segments: [lan], host: 10.9.0.100}\n    firewall: {out: wan, inbound4: true}",
			"routers[0].firewall.inbound4: would drop what nat mode one-to-one lets in"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(miniSpec, from, c.to, 1)
			if src == miniSpec {
				t.Fatal("case does not change the spec")
			}
			_, err := ParseSpec([]byte(src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestNATSpec: the embedded NAT grid is valid, every hidden node's routers exist and
// give the type NATNodes claims (in series for CGNAT), with the short UDP timeout.
func TestNATSpec(t *testing.T) {
	s := NATSpec()
	for node, want := range NATNodes {
		if s.node(node) == nil {
			t.Fatalf("NATNodes names %s, not in the spec", node)
		}
		var b nat.Behavior
		for i, r := range want.Routers {
			rt := s.router(r)
			if rt == nil {
				t.Fatalf("%s: no router %s", node, r)
			}
			if rt.NAT.UDPTimeout != 30*time.Second {
				t.Errorf("%s: udp_timeout %s", r, rt.NAT.UDPTimeout)
			}
			rb, err := rt.NAT.Type().Behavior()
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if i == 0 {
				b = rb
			} else {
				b = nat.Series(b, rb)
			}
		}
		if tb, _ := want.Type.Behavior(); tb != b {
			t.Errorf("%s: routers give %+v, type %s is %+v", node, b, want.Type, tb)
		}
	}
}
