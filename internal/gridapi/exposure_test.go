package gridapi

import (
	"errors"
	"testing"
)

func TestExposureSpecValidate(t *testing.T) {
	ok := func(s ExposureSpec) ExposureSpec {
		if s.Network == "" {
			s.Network = "abc"
		}
		if s.Backends == nil {
			s.Backends = []string{"10.1.0.10:80"}
		}
		s.Normalize()
		return s
	}
	for _, c := range []struct {
		name  string
		spec  ExposureSpec
		field string // "" = valid
	}{
		{"http", ok(ExposureSpec{Kind: "http", Name: "shop"}), ""},
		{"http passthrough", ok(ExposureSpec{Kind: "http", Name: "a-b1", TLS: "passthrough"}), ""},
		{"tcp auto port", ok(ExposureSpec{Kind: "tcp"}), ""},
		{"udp port", ok(ExposureSpec{Kind: "udp", Port: 5353}), ""},
		{"workload backend", ok(ExposureSpec{Kind: "http", Name: "w", Backends: []string{"web1:8080", "10.1.0.11:8080"}}), ""},
		{"no network", ExposureSpec{Kind: "tcp", Backends: []string{"10.1.0.1:1"}}, "network"},
		{"kind", ok(ExposureSpec{Kind: "sctp"}), "kind"},
		{"upper-case name", ok(ExposureSpec{Kind: "http", Name: "Shop"}), "name"},
		{"dotted name", ok(ExposureSpec{Kind: "http", Name: "a.b"}), "name"},
		{"leading hyphen", ok(ExposureSpec{Kind: "http", Name: "-a"}), "name"},
		{"idn prefix", ok(ExposureSpec{Kind: "http", Name: "xn--abc"}), "name"},
		{"all digits", ok(ExposureSpec{Kind: "http", Name: "123"}), "name"},
		{"64 chars", ok(ExposureSpec{Kind: "http", Name: "a234567890123456789012345678901234567890123456789012345678901234"}), "name"},
		{"empty name", ok(ExposureSpec{Kind: "http"}), "name"},
		{"tls mode", ok(ExposureSpec{Kind: "http", Name: "a", TLS: "none"}), "tls"},
		{"http port", ok(ExposureSpec{Kind: "http", Name: "a", Port: 8080}), "port"},
		{"tcp name", ok(ExposureSpec{Kind: "tcp", Name: "a"}), "name"},
		{"tcp tls", ok(ExposureSpec{Kind: "tcp", TLS: "terminate"}), "tls"},
		{"privileged port", ok(ExposureSpec{Kind: "tcp", Port: 22}), "port"},
		{"wireguard port", ok(ExposureSpec{Kind: "udp", Port: 3001}), "port"},
		{"port too big", ok(ExposureSpec{Kind: "tcp", Port: 70000}), "port"},
		{"no backends", ok(ExposureSpec{Kind: "tcp", Backends: []string{}}), "backends"},
		{"two udp backends", ok(ExposureSpec{Kind: "udp", Backends: []string{"10.1.0.1:1", "10.1.0.2:1"}}), "backends"},
		{"duplicate backend", ok(ExposureSpec{Kind: "tcp", Backends: []string{"10.1.0.1:1", "10.1.0.1:1"}}), "backends[1]"},
		{"ipv6 backend", ok(ExposureSpec{Kind: "tcp", Backends: []string{"[fd00::1]:80"}}), "backends[0]"},
		{"no port", ok(ExposureSpec{Kind: "tcp", Backends: []string{"10.1.0.1"}}), "backends[0]"},
		{"port 0", ok(ExposureSpec{Kind: "tcp", Backends: []string{"10.1.0.1:0"}}), "backends[0]"},
		{"bad workload", ok(ExposureSpec{Kind: "tcp", Backends: []string{"a b:80"}}), "backends[0]"},
		{"negative gateway", ok(ExposureSpec{Kind: "tcp", Gateway: -1}), "gateway"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.spec.Validate()
			var fe *FieldError
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("valid spec refused: %v", err)
			case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field):
				t.Fatalf("got %v, want an error on %q", err, c.field)
			}
		})
	}
}

func TestParseBackend(t *testing.T) {
	b, err := ParseBackend("b", "10.1.2.3:8080")
	if err != nil || b.Addr.String() != "10.1.2.3" || b.Port != 8080 || b.Workload != "" {
		t.Fatalf("address backend: %+v %v", b, err)
	}
	b, err = ParseBackend("b", "web1:443")
	if err != nil || b.Workload != "web1" || b.Port != 443 || b.Addr.IsValid() {
		t.Fatalf("workload backend: %+v %v", b, err)
	}
}
