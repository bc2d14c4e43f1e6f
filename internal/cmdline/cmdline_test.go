package cmdline

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     func(Config) bool
		errHas   string
	}{
		{"empty", "", func(c Config) bool { return c.Static == nil && c.NIC == "" && c.Registry == nil }, ""},
		{"typical", `BOOT_IMAGE=/vmlinuz farmer_id=42 zosnet.registry=https://reg.example:8443/ quiet`,
			func(c Config) bool { return c.FarmerID == 42 && c.Registry.Host == "reg.example:8443" }, ""},
		{"unknown ignored", "foo=bar zosnet.unknown=1 vlan:pub=5 ro", func(c Config) bool { return c.VLANPriv == 0 }, ""},
		{"nic", "zosnet.nic=eth1", func(c Config) bool { return c.NIC == "eth1" }, ""},
		{"acme", "zosnet.acme=https://198.51.100.11:14000/dir", func(c Config) bool { return c.ACME.String() == "https://198.51.100.11:14000/dir" }, ""},
		{"acme over http", "zosnet.acme=http://198.51.100.11/dir", nil, "zosnet.acme"},
		{"last wins", "zosnet.nic=eth1 zosnet.nic=eth2", func(c Config) bool { return c.NIC == "eth2" }, ""},
		{"quoted", `zosnet.nic="eth3"`, func(c Config) bool { return c.NIC == "eth3" }, ""},
		{"vlan", "vlan:priv=100", func(c Config) bool { return c.VLANPriv == 100 }, ""},
		{"relay weight", "zosnet.relay_weight=3", func(c Config) bool { return c.RelayWeight == 3 }, ""},
		{"punch on by default", "farmer_id=1", func(c Config) bool { return c.Punch }, ""},
		{"punch on", "zosnet.punch=on", func(c Config) bool { return c.Punch }, ""},
		{"punch off last wins", "zosnet.punch=on zosnet.punch=off", func(c Config) bool { return !c.Punch }, ""},
		{"punch off", "zosnet.punch=off", func(c Config) bool { return !c.Punch }, ""},
		{"punch bad", "zosnet.punch=yes", nil, "zosnet.punch"},
		{"ca", "zosnet.ca=/etc/zos/ca.pem", func(c Config) bool { return c.CAFile == "/etc/zos/ca.pem" }, ""},
		{"static", "zosnet.static=10.1.0.5/24,10.1.0.1,10.1.0.53", func(c Config) bool {
			s := c.Static
			return s != nil && s.Addr == netip.MustParsePrefix("10.1.0.5/24") &&
				s.Gateway == netip.MustParseAddr("10.1.0.1") && s.DNS == netip.MustParseAddr("10.1.0.53")
		}, ""},
		{"static no dns", "zosnet.static=192.0.2.10/31,192.0.2.11", func(c Config) bool { return !c.Static.DNS.IsValid() }, ""},
		{"farmer zero", "farmer_id=0", nil, "farmer_id"},
		{"farmer text", "farmer_id=abc", nil, "farmer_id"},
		{"farmer empty", "farmer_id=", nil, "missing value"},
		{"farmer bare", "farmer_id", nil, "farmer_id: missing value"},
		{"registry scheme", "zosnet.registry=ftp://x", nil, "scheme must be http or https"},
		{"registry no host", "zosnet.registry=http://", nil, "no host"},
		{"registry user", "zosnet.registry=http://a:b@x/", nil, "user info"},
		{"nic long", "zosnet.nic=abcdefghijklmnopq", nil, "zosnet.nic"},
		{"nic slash", "zosnet.nic=a/b", nil, "zosnet.nic"},
		{"vlan 0", "vlan:priv=0", nil, "vlan:priv"},
		{"vlan 4095", "vlan:priv=4095", nil, "1 and 4094"},
		{"relay weight 0", "zosnet.relay_weight=0", nil, "zosnet.relay_weight=\"0\": not an integer between 1 and 1000"},
		{"relay weight big", "zosnet.relay_weight=1001", nil, "between 1 and 1000"},
		{"relay weight word", "zosnet.relay_weight=lots", nil, "zosnet.relay_weight"},
		{"ca relative", "zosnet.ca=ca.pem", nil, "absolute"},
		{"static one field", "zosnet.static=10.1.0.5/24", nil, "2 or 3"},
		{"static four fields", "zosnet.static=10.1.0.5/24,10.1.0.1,1.1.1.1,2.2.2.2", nil, "2 or 3"},
		{"static no len", "zosnet.static=10.1.0.5,10.1.0.1", nil, "address: not an IPv4 ADDR/LEN"},
		{"static v6", "zosnet.static=2001:db8::5/64,2001:db8::1", nil, "address"},
		{"static network addr", "zosnet.static=10.1.0.0/24,10.1.0.1", nil, "network address"},
		{"static broadcast", "zosnet.static=10.1.0.255/24,10.1.0.1", nil, "broadcast"},
		{"static /32", "zosnet.static=10.1.0.5/32,10.1.0.1", nil, "/32"},
		{"static gw outside", "zosnet.static=10.1.0.5/24,10.2.0.1", nil, "gateway: must be another address inside 10.1.0.0/24"},
		{"static gw self", "zosnet.static=10.1.0.5/24,10.1.0.5", nil, "gateway"},
		{"static bad dns", "zosnet.static=10.1.0.5/24,10.1.0.1,nope", nil, "dns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.in)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tt.in, err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !tt.want(c) {
				t.Fatalf("Parse(%q) = %+v: not what was expected", tt.in, c)
			}
		})
	}
}

func TestFields(t *testing.T) {
	got := Fields("  a=1\tb=\"x y\"  c\n")
	want := []string{"a=1", "b=x y", "c"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Fields = %q, want %q", got, want)
	}
}

func TestReadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(p, []byte("farmer_id=7 zosnet.nic=eth0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ReadFile(p)
	if err != nil || c.FarmerID != 7 || c.NIC != "eth0" {
		t.Fatalf("ReadFile = %+v, %v", c, err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("ReadFile of a missing file: no error")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"farmer_id=1", "zosnet.static=10.0.0.2/24,10.0.0.1,1.1.1.1", `a="b c" vlan:priv=7`, "zosnet.registry=http://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		if c.Static != nil && !c.Static.Addr.Masked().Contains(c.Static.Gateway) {
			t.Fatalf("accepted a gateway outside the subnet: %+v", c.Static)
		}
		if c.VLANPriv > 4094 {
			t.Fatalf("accepted VLAN %d", c.VLANPriv)
		}
		if c.NIC != "" && ValidIfName(c.NIC) != nil {
			t.Fatalf("accepted NIC %q", c.NIC)
		}
	})
}
