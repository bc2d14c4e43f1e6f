package zinit

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	def := Config{State: "auto", Services: AllServices}
	for _, tc := range []struct {
		line string
		want Config
		err  string
	}{
		{"console=ttyS0 farmer_id=1", def, ""},
		{"zosnet.name=vm1 zosnet.wireguard=userspace zosnet.state=vdb zosnet.services=netinit,networkd",
			Config{Name: "vm1", WireGuard: "userspace", State: "vdb", Services: []string{"netinit", "networkd"}}, ""},
		{"zosnet.state=/dev/sdb zosnet.services=none", Config{State: "sdb", Services: []string{}}, ""},
		{"zosnet.state=ram", Config{State: "ram", Services: AllServices}, ""},
		{"zosnet.name=a_b", def, `zosnet.name="a_b": only letters, digits and '-'`},
		{"zosnet.wireguard=fast", def, `zosnet.wireguard="fast": want auto, kernel or userspace`},
		{"zosnet.services=netinit,sshd", def, `unknown service "sshd"`},
		{"zosnet.state=", def, "zosnet.state"},
		{"zosnet.state=../x", def, "zosnet.state"},
		{"zosnet.state=/dev/../x", def, "zosnet.state"},
	} {
		got, err := ParseConfig(tc.line)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v %v, want %+v", tc.line, got, err, tc.want)
		}
	}
}

// TestParseConfigKeepsGoodParameters: one bad parameter keeps its default; the others apply.
func TestParseConfigKeepsGoodParameters(t *testing.T) {
	c, err := ParseConfig("zosnet.wireguard=fast zosnet.name=vm9 zosnet.services=none")
	if err == nil || c.Name != "vm9" || c.WireGuard != "" || len(c.Services) != 0 {
		t.Fatalf("got %+v %v", c, err)
	}
}

func TestPlan(t *testing.T) {
	c := Config{Name: "vm1", WireGuard: "kernel", Services: AllServices}
	p := Plan(c, "/bin", "/var/lib/zosnet")
	if len(p) != 3 || p[0].Name != "netinit" || !p[0].OneShot || p[1].OneShot || p[2].OneShot {
		t.Fatalf("plan %+v", p)
	}
	if got := strings.Join(p[1].Argv, " "); got != "/bin/networkd --wireguard kernel" {
		t.Errorf("networkd argv %q", got)
	}
	if p[1].ReadyFile != "/run/zosnet/networkd.sock" || p[2].ReadyFile != "" {
		t.Errorf("ready files %q %q", p[1].ReadyFile, p[2].ReadyFile)
	}
	want := []string{"ZOSNET_NODE=vm1", "ZOSNET_STATE_DIR=/var/lib/zosnet", "PATH=/bin:/sbin:/usr/bin:/usr/sbin"}
	if !reflect.DeepEqual(p[2].Env, want) || !reflect.DeepEqual(p[2].Argv, []string{"/bin/provisiond"}) {
		t.Errorf("provisiond %+v", p[2])
	}
	if p := Plan(Config{Services: []string{}}, "/bin", "/s"); len(p) != 0 {
		t.Errorf("services none: %+v", p)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct{ prev, ran, want time.Duration }{
		{0, time.Second, time.Second},
		{time.Second, time.Second, 2 * time.Second},
		{8 * time.Second, 0, 16 * time.Second},
		{16 * time.Second, 0, 30 * time.Second},
		{30 * time.Second, 0, 30 * time.Second},
		{30 * time.Second, 2 * time.Minute, time.Second},
	} {
		if got := Backoff(tc.prev, tc.ran); got != tc.want {
			t.Errorf("Backoff(%s, %s) = %s, want %s", tc.prev, tc.ran, got, tc.want)
		}
	}
}

func TestExt4Label(t *testing.T) {
	b := make([]byte, 4096)
	if ext4Label(b) != "" || ext4Label(b[:100]) != "" {
		t.Fatal("label on zeros")
	}
	b[1024+56], b[1024+57] = 0x53, 0xEF
	copy(b[1024+120:], "zosnet-state")
	if got := ext4Label(b); got != StateLabel {
		t.Errorf("label %q", got)
	}
}
