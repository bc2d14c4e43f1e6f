package wgquick

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/plan"
	"github.com/zosnet/zosnet/internal/testkit"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

// labDevice plans the lab's network with a laptop and returns its view.
func labDevice(t *testing.T) plan.DevicePlan {
	t.Helper()
	in := plan.Input{
		Network: plan.Network{ID: "net1", Range: netip.MustParsePrefix("10.1.0.0/16")},
		Members: []plan.Member{
			{NodeID: "farm1", PublicKey: key(1), ListenPort: 51820, Subnet: netip.MustParsePrefix("10.1.1.0/24"),
				Endpoints: []plan.Endpoint{{Addr: netip.MustParseAddr("198.51.100.11"), Reachable: true}, {Addr: netip.MustParseAddr("2001:db8:1::11"), Reachable: true}}},
			{NodeID: "home1", PublicKey: key(4), ListenPort: 51820, Subnet: netip.MustParsePrefix("10.1.4.0/24"),
				Endpoints: []plan.Endpoint{{Addr: netip.MustParseAddr("192.168.1.10")}}},
		},
		Access: []plan.AccessPeer{{Name: "laptop", PublicKey: key(9), Address: netip.MustParseAddr("10.1.255.10")}},
	}
	p, err := plan.New(in)
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Device("laptop")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRenderDeviceGolden(t *testing.T) {
	var b bytes.Buffer
	if err := RenderDevice(&b, "net1", labDevice(t), key(10), 1380); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "laptop.conf")
	testkit.Golden(t, golden, b.String()) // -update rewrites it
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	// Parsed back, it is the config it was made from.
	got, err := Parse(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := FromDevice(labDevice(t), key(10), 1380)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("parsed back:\n%+v\nwant\n%+v", got, c)
	}
}

// wg-quick itself (wireguard-tools) accepts the file: `wg-quick strip` parses it and
// prints what it would hand to `wg setconf`.
func TestRenderAcceptedByWgQuick(t *testing.T) {
	if _, err := exec.LookPath("wg-quick"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("wg-quick not installed (Debian package wireguard-tools)")
		}
		t.Skip("wg-quick not installed")
	}
	testkit.RequireRoot(t) // peer credentials / wg-quick need root; never skipped in CI
	path := filepath.Join(t.TempDir(), "zt-laptop.conf")
	var b bytes.Buffer
	if err := RenderDevice(&b, "net1", labDevice(t), key(10), 1380); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("wg-quick", "strip", path).CombinedOutput()
	if err != nil {
		t.Fatalf("wg-quick strip: %v\n%s", err, out)
	}
	for _, want := range []string{"PrivateKey = " + key(10), "PublicKey = " + key(1), "Endpoint = 198.51.100.11:51820",
		"AllowedIPs = 10.1.0.0/16, fd6c:270e:f2f2:100::/56", "PersistentKeepalive = 25"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("wg-quick strip output lacks %q:\n%s", want, out)
		}
	}
}

func TestParse(t *testing.T) {
	ok := "[Interface]\nPrivateKey = " + key(1) + "\n"
	tests := []struct {
		name, text, err string
		want            Config
	}{
		{name: "minimal", text: ok, want: Config{Interface: Interface{PrivateKey: key(1)}}},
		{name: "case, comments, blanks, ipv6 endpoint", text: "# hi\n[interface]\n privatekey=" + key(1) + " # inline\n\n[PEER]\nPublicKey = " + key(2) +
			"\nEndpoint = [2001:db8::1]:51820\nAllowedIPs = 10.0.0.0/8,fd00::/8\nPersistentKeepalive = off\n",
			want: Config{Interface: Interface{PrivateKey: key(1)}, Peers: []Peer{{PublicKey: key(2),
				Endpoint: netip.MustParseAddrPort("[2001:db8::1]:51820"), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}}}},
		{name: "no section", text: "PrivateKey = " + key(1), err: "line 1: privatekey: outside of a section"},
		{name: "no equals", text: "[Interface]\nPrivateKey\n", err: "line 2: want [Section]"},
		{name: "unknown key", text: ok + "PostUp = rm -rf /\n", err: "line 3: postup: unknown key"},
		{name: "bad key", text: "[Interface]\nPrivateKey = abc\n", err: "interface.private_key"},
		{name: "missing key", text: "[Peer]\nPublicKey = " + key(1) + "\n", err: "interface.private_key"},
		{name: "bad allowed ip", text: ok + "[Peer]\nPublicKey = " + key(2) + "\nAllowedIPs = 10.1.2.3/8\n", err: "host bits"},
		{name: "bad endpoint", text: ok + "[Peer]\nPublicKey = " + key(2) + "\nEndpoint = example.com:1\n", err: "line 5: endpoint"},
		{name: "bad port", text: ok + "ListenPort = 70000\n", err: "listen_port"},
		{name: "bad mtu", text: ok + "MTU = x\n", err: "line 3: mtu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.text))
			if tt.err != "" {
				if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrSyntax containing %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestRenderRefusesInvalid(t *testing.T) {
	err := Render(&bytes.Buffer{}, Config{Interface: Interface{PrivateKey: "x"}, Peers: []Peer{{PublicKey: key(1), PersistentKeepalive: -1}}}, "")
	if err == nil || !strings.Contains(err.Error(), "interface.private_key") || !strings.Contains(err.Error(), "peers[0].persistent_keepalive") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzParse: Parse never panics, and whatever it accepts renders to a file that parses
// back to the same config.
func FuzzParse(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "laptop.conf"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(golden))
	f.Add("[Interface]\nPrivateKey = " + key(1) + "\n[Peer]\nPublicKey = " + key(2) + "\nEndpoint = [::1]:1\nAllowedIPs = ::/0\n")
	f.Add("[Peer]\n[Interface]\nMTU=1")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(strings.NewReader(text))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := Render(&b, c, ""); err != nil {
			t.Fatalf("render of a parsed config: %v", err)
		}
		again, err := Parse(&b)
		if err != nil || !reflect.DeepEqual(normalize(c), normalize(again)) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, c, again)
		}
	})
}

// normalize maps empty lists to nil (Render leaves empty lists out).
func normalize(c Config) Config {
	if len(c.Interface.Address) == 0 {
		c.Interface.Address = nil
	}
	for i := range c.Peers {
		if len(c.Peers[i].AllowedIPs) == 0 {
			c.Peers[i].AllowedIPs = nil
		}
	}
	return c
}

// The default file name is one wg-quick accepts, and CheckFileName says why a name is
// refused (issue 19: "production-mylaptop.conf" was refused by wg-quick).
func TestFileNames(t *testing.T) {
	for _, tc := range []struct{ net, dev, want string }{
		{"demo", "laptop", "demo-laptop.conf"},
		{"production", "mylaptop", "produc-mylaptop.conf"},
		{"production", "averyveryverylongdevice", "produ-averyvery.conf"},
		{"a", "b", "a-b.conf"},
		{"n", "my_phone.x", "n-my_phone.x.conf"},
	} {
		got := DefaultFileName(tc.net, tc.dev)
		if got != tc.want {
			t.Errorf("DefaultFileName(%q, %q) = %q, want %q", tc.net, tc.dev, got, tc.want)
		}
		if err := CheckFileName("/some/dir/" + got); err != nil {
			t.Errorf("CheckFileName(%q): %v", got, err)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{"production-mylaptop.conf", "at most 15 characters (this one has 19)"},
		{"dir/laptop.wg", `"laptop.wg" must end in .conf`},
		{".conf", "no interface name"},
		{"my laptop.conf", `holds ' '`},
		{"wg0.conf", ""},
		{"/etc/wireguard/a=b+c.conf", ""},
	} {
		err := CheckFileName(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckFileName(%q): %v", tc.path, err)
		case tc.want != "" && (err == nil || !errors.Is(err, ErrFileName) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckFileName(%q) = %v, want an ErrFileName saying %q", tc.path, err, tc.want)
		}
	}
}
