package nodeapi

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEgressAllow(t *testing.T) {
	for _, tt := range []struct {
		in, want, err string
	}{
		{"10.201.0.50/32:873/tcp", "10.201.0.50/32:873/tcp", ""},
		{"10.201.0.0/24", "10.201.0.0/24", ""},
		{"10.201.0.9", "10.201.0.9/32", ""},
		{"2001:db8:600::/64:53/udp", "2001:db8:600::/64:53/udp", ""},
		{"2001:db8:600::7", "2001:db8:600::7/128", ""},
		{"10.201.0.0/24:0/udp", "10.201.0.0/24:0/udp", ""},
		{"10.201.0.7/24", "", "host bits set (did you mean 10.201.0.0/24?)"},
		{"0.0.0.0/0", "", "default route"},
		{"::/0:53/udp", "", "default route"},
		{"nas.lan/32", "", `"nas.lan" is not an IP address`},
		{"10.0.0.0/33", "", "prefix length \"33\" is not 0-32"},
		{"10.0.0.0/8:873", "", "is not port/proto"},
		{"10.0.0.0/8:99999/tcp", "", "is not port/proto"},
		{"10.0.0.0/8:53/sctp", "", `proto "sctp" is not tcp or udp`},
		{"::ffff:10.0.0.1/128", "", "IPv4-mapped"},
		{"", "", "is not an IP address"},
	} {
		a, err := ParseEgressAllow(tt.in)
		if tt.err != "" {
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want invalid with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || a.String() != tt.want {
			t.Errorf("%q: %v %v, want %s", tt.in, a, err, tt.want)
		}
	}
}

func TestValidateEgressAllow(t *testing.T) {
	ok, _ := ParseEgressAllow("10.201.0.50/32:873/tcp")
	list := make([]EgressAllow, MaxEgressAllow+1)
	for i := range list {
		list[i] = ok
	}
	if err := ValidateEgressAllow(list[:MaxEgressAllow]); err != nil {
		t.Errorf("%d entries: %v", MaxEgressAllow, err)
	}
	if err := ValidateEgressAllow(list); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("%d entries: %v, want refused", len(list), err)
	}
	bad := []EgressAllow{ok, {Prefix: ok.Prefix, Port: 80}}
	if err := ValidateEgressAllow(bad); err == nil || !strings.Contains(err.Error(), "allow[1]") || !strings.Contains(err.Error(), "needs a proto") {
		t.Errorf("port without proto: %v", err)
	}
}

func FuzzParseEgressAllow(f *testing.F) {
	for _, s := range []string{"10.201.0.50/32:873/tcp", "2001:db8::/64", "1.2.3.4", "::/0:1/udp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseEgressAllow(s)
		if err != nil {
			return
		}
		b, err := ParseEgressAllow(a.String())
		if err != nil || b != a {
			t.Fatalf("%q → %v → %v %v", s, a, b, err)
		}
	})
}
